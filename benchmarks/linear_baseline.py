"""How much of a labelled set a linear model already gets: logistic regression on one-hot
bases by position plus k-mer counts, trained on the training split (or a label-stratified
subset of it, as the workflow's train_size does), its C chosen on the validation split,
scored on the test split. The reference line for the E. coli naive/pre-trained tables.

    python benchmarks/linear_baseline.py results/datasets/ecoli_promoters.tsv --sizes 500,1000,2000,all
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from genomic_ulmfit.datasets.common import read_dataset  # noqa: E402
from genomic_ulmfit.train import subsample_train  # noqa: E402

BASES = "ACGT"


def features(seqs: list[str], k: int, kinds: str = "onehot,kmers") -> np.ndarray:
    """One-hot bases by position (sequences padded to the longest) and/or k-mer counts."""
    length = max(map(len, seqs))
    index = {"".join(p): i for i, p in enumerate(itertools.product(BASES, repeat=k))}
    onehot = np.zeros((len(seqs), length, 4), np.float32)
    counts = np.zeros((len(seqs), len(index)), np.float32)
    for row, s in enumerate(seqs):
        s = s.upper()
        for pos, base in enumerate(s):
            if base in BASES:
                onehot[row, pos, BASES.index(base)] = 1
        for pos in range(len(s) - k + 1):
            j = index.get(s[pos:pos + k])
            if j is not None:
                counts[row, j] += 1
    parts = {"onehot": onehot.reshape(len(seqs), -1), "kmers": counts}
    return np.hstack([parts[kind] for kind in kinds.split(",")])


def fit_and_score(df, size: int | None, seed: int, k: int, cs: list[float],
                  kinds: str = "onehot,kmers") -> tuple[float, float, float]:
    """(C, validation accuracy, test accuracy) of the C best on validation."""
    if size is not None:
        df = subsample_train(df, size, seed, "dataset")
    split = {s: df[df["split"] == s] for s in ("train", "valid", "test")}
    x = {s: features(list(d["sequence"]), k, kinds) for s, d in split.items()}
    y = {s: d["label"].to_numpy() for s, d in split.items()}
    scaler = StandardScaler().fit(x["train"])
    x = {s: scaler.transform(v) for s, v in x.items()}
    best = None
    for c in cs:
        model = LogisticRegression(C=c, max_iter=5000).fit(x["train"], y["train"])
        valid = model.score(x["valid"], y["valid"])
        if best is None or valid > best[1]:
            best = (c, valid, model.score(x["test"], y["test"]))
    return best


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", type=Path)
    p.add_argument("--sizes", default="all", help="labelled training sequences, comma-separated; all = every one")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--k", type=int, default=4)
    p.add_argument("--features", default="onehot,kmers", choices=["onehot,kmers", "onehot", "kmers"],
                   help="one-hot bases by position (where a motif sits), k-mer counts (what is there)")
    p.add_argument("--c", default="0.001,0.01,0.1,1", help="inverse regularization strengths to choose from")
    args = p.parse_args(argv)
    df = read_dataset(args.dataset)
    cs = [float(c) for c in args.c.split(",")]
    print(f"{'size':>6} {'seed':>4} {'C':>6} {'valid':>6} {'test':>6}")
    for size in args.sizes.split(","):
        n = None if size == "all" else int(size)
        tests = []
        for seed in (int(s) for s in args.seeds.split(",")):
            c, valid, test = fit_and_score(df, n, seed, args.k, cs, args.features)
            tests.append(test)
            print(f"{size:>6} {seed:>4} {c:>6g} {valid:6.3f} {test:6.3f}", flush=True)
            if n is None:
                break  # every label: the seed changes nothing
        print(f"{size:>6} mean test accuracy {np.mean(tests):.3f} ± {np.std(tests, ddof=1) if len(tests) > 1 else 0:.3f}")


if __name__ == "__main__":
    main()
