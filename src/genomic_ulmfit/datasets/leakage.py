"""Leakage audit of a dataset: the share of held-out sequences (valid and every test
split) with a blastn hit to the training set: an alignment of at least `min_length`
bp (word size `word_size`) at `min_identity` percent identity or more, on either strand.
A model can score well on such sequences by recognising what it was trained on.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pandas as pd

from genomic_ulmfit.datasets.common import read_dataset
from genomic_ulmfit.homology import blast_between
from genomic_ulmfit.io.atomic import atomic_path, write_json

__all__ = ["dataset_leakage", "leakage_main", "leakage_table", "leakage_table_main"]

logger = logging.getLogger(__name__)


def dataset_leakage(
    df: pd.DataFrame, word_size: int = 15, min_length: int = 15, min_identity: float = 0.0, threads: int = 1,
) -> dict:
    """{"splits": {split: {n, n_with_hit, share}}} for every split but train, and the settings."""
    train, held = df[df["split"] == "train"], df[df["split"] != "train"]
    if train.empty or held.empty:
        raise ValueError(f"leakage audit needs a train split and a held-out split; splits: "
                         f"{sorted(set(df['split']))}")
    pairs = blast_between(held[["id", "sequence"]], train[["id", "sequence"]], word_size=word_size,
                          min_length=min_length, threads=threads, min_identity=min_identity)
    hit = {q for q, _ in pairs}
    splits = {}
    for name, part in held.groupby("split", sort=True):
        n_hit = int(part["id"].isin(hit).sum())
        splits[name] = {"n": len(part), "n_with_hit": n_hit, "share": n_hit / len(part)}
    logger.info("leakage vs train (>= %d bp, >= %.0f%% identity): %s", min_length, min_identity,
                {k: round(v["share"], 4) for k, v in splits.items()})
    return {"word_size": word_size, "min_length": min_length, "min_identity": min_identity,
            "n_train": len(train), "n_pairs": len(pairs), "splits": splits}


def leakage_table(reports: dict[str, Path], out: Path) -> pd.DataFrame:
    """One row per (task, held-out split) from the tasks' leakage JSONs; written as CSV."""
    rows = []
    for task, path in reports.items():
        report = json.loads(Path(path).read_text())
        for split, r in report["splits"].items():
            rows.append({"task": task, "split": split, "n": r["n"], "n_with_hit": r["n_with_hit"],
                         "share": round(r["share"], 4), "min_length": report["min_length"],
                         "min_identity": report["min_identity"]})
    table = pd.DataFrame(rows, columns=["task", "split", "n", "n_with_hit", "share", "min_length", "min_identity"])
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
    return table


def _logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def leakage_main(argv: list[str] | None = None) -> None:
    """CLI: leakage JSON of one dataset TSV."""
    p = argparse.ArgumentParser(prog="leakage", description=__doc__)
    p.add_argument("--dataset", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="leakage JSON")
    p.add_argument("--word-size", type=int, default=15)
    p.add_argument("--min-length", type=int, default=15)
    p.add_argument("--min-identity", type=float, default=0.0, help="percent identity of a hit (0-100)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    _logging(args.log_level)
    report = dataset_leakage(read_dataset(args.dataset), args.word_size, args.min_length,
                             args.min_identity, args.threads)
    write_json(args.out, {"dataset": str(args.dataset), **report})


def leakage_table_main(argv: list[str] | None = None) -> None:
    """CLI: TASK=JSON pairs -> one CSV."""
    p = argparse.ArgumentParser(prog="leakage-table", description="Leakage of every task in one CSV.")
    p.add_argument("reports", nargs="+", help="TASK=LEAKAGE_JSON")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    _logging(args.log_level)
    pairs = [r.split("=", 1) for r in args.reports]
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError(f"expected TASK=JSON arguments, got {args.reports}")
    leakage_table({task: Path(path) for task, path in pairs}, args.out)
