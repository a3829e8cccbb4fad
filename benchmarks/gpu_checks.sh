#!/usr/bin/env bash
# The GPU checks of the benchmark suite, as one script for a machine with CUDA
# (the figures in README's "Benchmarks" section). Writes logs to $OUT (or ./benchmarks/out).
# Usage: bash benchmarks/gpu_checks.sh [python]
set -uo pipefail
PY=${1:-python3}
OUT=${OUT:-benchmarks/out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
$PY -c "import torch; print('torch', torch.__version__, 'cuDNN', torch.backends.cudnn.version())" | tee -a "$OUT/gpu.txt"
timeout 180 $PY benchmarks/lm_training_benchmark.py --preset paper --device cuda --batches 20 \
  --json "$OUT/lm_paper.json" 2>&1 | grep -v Warning | tee "$OUT/lm_paper.txt"
timeout 45 $PY benchmarks/lm_training_benchmark.py --preset paper --device cuda --batches 10 \
  --model '{"lm_batch_size": 1600}' --no-variants 2>&1 | grep -v Warning | tee "$OUT/lm_paper_bs1600.txt"
timeout 60 $PY benchmarks/inference_benchmark.py --preset paper --device cuda --n 20000 \
  --n-single 300 --batch-sizes 256,1024,4096 2>&1 | grep -v Warning | tee "$OUT/inference_paper.txt"
timeout 120 $PY -m pytest -q -x -p no:cacheprovider tests/test_training.py 2>&1 | tail -5 | tee "$OUT/pytest_training_cuda.txt"
