"""Classifier inference throughput: our batched `predict` against one sequence at a time.

Scores N sequences of the E. coli promoter length (150 bp) with a classifier of
the given preset (weights as initialised: speed does not depend on them), as
  per-sequence : one forward pass per sequence under torch.no_grad (what a
                 loop over fastai's learn.predict amounts to, without its decoding);
  ours         : genomic_ulmfit.train.predict, length-sorted batches, on --device.
Prints sequences/s for each at each batch size, then the ratio last.

    python benchmarks/inference_benchmark.py --preset cpu --n 2000
    python benchmarks/inference_benchmark.py --preset paper --device cuda --n 50000
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from genomic_ulmfit.checkpoint import save_checkpoint
from genomic_ulmfit.kmers import KmerTokenizer
from genomic_ulmfit.models import classifier, get_preset
from genomic_ulmfit.train import predict


def random_dataset(n: int, length: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    bases = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, (n, length))]
    seqs = [row.tobytes().decode() for row in bases]
    return pd.DataFrame({"id": [f"s{i}" for i in range(n)], "sequence": seqs,
                         "label": np.where(np.arange(n) % 2, "promoter", "non_promoter"), "split": "test"})


def per_sequence(model: torch.nn.Module, tok: KmerTokenizer, seqs: list[str], device) -> float:
    model.eval().to(device)
    t0 = time.perf_counter()
    with torch.no_grad():
        for s in seqs:
            x = torch.from_numpy(tok.encode(s).astype(np.int64))[None].to(device)
            model.reset()
            torch.softmax(model(x)[0].float(), -1).cpu()
    return len(seqs) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="cpu")
    p.add_argument("--model", default="{}", help="JSON model overrides")
    p.add_argument("--device", default="cpu")
    p.add_argument("--n", type=int, default=2000, help="sequences scored by the batched path")
    p.add_argument("--n-single", type=int, default=200, help="sequences scored one at a time")
    p.add_argument("--length", type=int, default=150)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--stride", type=int, default=2)
    p.add_argument("--batch-sizes", default="64,256,1024")
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg = get_preset(args.preset, **json.loads(args.model))
    tok = KmerTokenizer(args.k, args.stride)
    model = classifier(cfg, tok.vocab_size, 2)
    df = random_dataset(args.n, args.length)
    print(f"device {device}, preset {args.preset} (emb {cfg.emb_sz}, hidden {cfg.n_hid}), "
          f"{args.length} bp sequences, k={args.k} s={args.stride}", flush=True)
    single = per_sequence(model, tok, df["sequence"].tolist()[:args.n_single], device)
    print(f"{'per-sequence':<24} {single:>12,.0f} sequences/s", flush=True)
    best = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clf.pth"
        save_checkpoint(path, model, "classifier", tok, cfg, classes=["non_promoter", "promoter"])
        predict(path, df.head(256), "test", device)  # warm-up
        for bs in [int(b) for b in args.batch_sizes.split(",")]:
            t0 = time.perf_counter()
            out = predict(path, df, "test", device, batch_size=bs)
            rate = len(out) / (time.perf_counter() - t0)
            best = max(best, rate)
            print(f"{f'ours, batch {bs}':<24} {rate:>12,.0f} sequences/s", flush=True)
    print(f"ratio ours (best batch) / per-sequence: {best / single:.1f}x")


if __name__ == "__main__":
    sys.exit(main())
