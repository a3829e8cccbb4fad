"""Data-parallel pretraining: two CPU processes under torchrun (gloo), and the row
sharding of the LM loader that makes them train what one process would."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from fastai.torch_core import set_seed

from genomic_ulmfit.checkpoint import load_checkpoint
from genomic_ulmfit.corpus import Corpus, build_corpus
from genomic_ulmfit.data import StreamLMDataLoader
from genomic_ulmfit.kmers import KmerTokenizer
from test_training import planted_genome

SRC = Path(__file__).resolve().parents[1] / "src"


def _corpus(directory: Path) -> Corpus:
    genome = planted_genome(25_000)
    fasta = directory / "g.fa"
    fasta.write_text(">planted\n" + "\n".join(genome[i:i + 80] for i in range(0, len(genome), 80)) + "\n")
    build_corpus([fasta], directory / "corpus", KmerTokenizer(3, 3), region_bp=30_000)
    return Corpus.open(directory / "corpus")


def test_shards_together_are_the_whole_batch(tmp_path):
    stream = _corpus(tmp_path).stream("train")
    whole = StreamLMDataLoader(stream=stream, bs=12, seq_len=10, shuffle=True)
    shards = [StreamLMDataLoader(stream=stream, bs=4, seq_len=10, shuffle=True, shard=(r, 3)) for r in range(3)]
    assert all(len(s) == len(whole) for s in shards)  # same step count on every process: no DDP hang
    set_seed(3)
    expected = list(whole)
    for r, shard in enumerate(shards):
        set_seed(3)  # the same document order on every process
        for (x, y), (xw, yw) in zip(shard, expected):
            assert x.shape[0] == 4
            assert torch.equal(x, xw[4 * r:4 * (r + 1)]) and torch.equal(y, yw[4 * r:4 * (r + 1)])


def test_two_process_pretraining_learns_and_keeps_replicas_identical(tmp_path):
    corpus = _corpus(tmp_path)
    out, summary_path = tmp_path / "lm.pth", tmp_path / "summary.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "genomic_ulmfit", "pretrain", "--corpus", str(corpus.path), "--out", str(out),
           "--settings", json.dumps({"preset": "tiny", "model": {"lm_batch_size": 8},
                                     "cycles": [{"epochs": 2, "lr": 0.02}]}),
           "--device", "cpu", "--threads", "1", "--summary", str(summary_path),
           "--history", str(tmp_path / "history.csv")]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    assert summary["data_parallel"] == {"world_size": 2, "batch_rows_per_process": 8,
                                        "replicas_identical": True}
    # 2 x 8 rows learn the planted source (ln(8)/4 nats per token) as one process with 16 would
    assert summary["valid_loss"] < 0.5 * math.log(4**3), summary
    meta, state = load_checkpoint(out, "language_model")
    assert not any(k.startswith("module.") for k in state)  # saved unwrapped, loadable anywhere
    assert meta["training"]["data_parallel"]["world_size"] == 2
