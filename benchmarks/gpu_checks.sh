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
timeout 120 $PY -m pytest -q -p no:cacheprovider tests/test_training.py 2>&1 | tail -5 | tee "$OUT/pytest_training_cuda.txt"
# Genome scan: the whole E. coli genome every 10 bp on both strands (needs ../shared/data
# or GULMFIT_SHARED_DATA), the CPU-sized model, then the paper model on its first 1 Mbp.
timeout 150 $PY benchmarks/scan_benchmark.py --device cuda --batch-sizes 256,1024,4096 \
  --compare-bp 100000 --loop-windows 300 2>&1 | grep -v Warning | tee "$OUT/scan_cpu_preset.txt"
timeout 90 $PY benchmarks/scan_benchmark.py --device cuda --preset paper --batch-sizes 1024,4096 \
  --compare-bp 50000 --loop-windows 100 --max-bp 1000000 2>&1 | grep -v Warning | tee "$OUT/scan_paper.txt"
timeout 150 $PY -m pytest -q -x -p no:cacheprovider tests/test_deepsea.py 2>&1 | tail -3 | tee "$OUT/pytest_deepsea_cuda.txt"
