"""What the dataset builders share: sequence checks, seeded splits (label-stratified or
homology-aware), and the atomic write of a dataset TSV with its summary JSON.

Split names are train, valid, test and any further named test split `test_<name>`
(e.g. test_challenge), so that evaluation can run per test split. Rows that arrive
with a test split (separate test inputs) keep it; the others are split seeded.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd

from genomic_ulmfit.homology import blast_all_vs_all, homology_aware_split, stratified_split
from genomic_ulmfit.io.atomic import atomic_path, json_safe

__all__ = [
    "DATASET_COLUMNS",
    "SPLIT_FRACTIONS",
    "add_split_args",
    "assign_splits",
    "atomic_target",
    "check_sequence",
    "is_test_split",
    "read_dataset",
    "split_counts",
    "split_from_args",
    "write_dataset",
]

logger = logging.getLogger(__name__)

DATASET_COLUMNS = ("id", "sequence", "label", "split")
SPLIT_FRACTIONS = (0.81, 0.09, 0.10)
_SEQUENCE = re.compile(r"^[ACGTUNRYKMSWBDHV]+$")
_TEST_SPLIT = re.compile(r"^test(_[A-Za-z0-9]+)*$")


def is_test_split(name: str) -> bool:
    return bool(_TEST_SPLIT.match(name))


def check_sequence(seq: str, where: str) -> str:
    """The sequence uppercased; ValueError naming `where` when it holds a non-nucleotide letter."""
    seq = seq.upper()
    if not _SEQUENCE.match(seq):
        bad = next((c for c in seq if not _SEQUENCE.match(c)), "") if seq else ""
        found = f"character {bad!r}" if seq else "an empty sequence"
        raise ValueError(f"{where}: {found}; expected nucleotides (A, C, G, T, U, N or IUPAC codes)")
    return seq


def check_split_name(name: str, where: str) -> str:
    if name not in ("train", "valid") and not is_test_split(name):
        raise ValueError(f"{where}: split {name!r}; expected train, valid, test or test_<name>")
    return name


def read_dataset(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a dataset TSV (id, sequence, label, split, ...) and check its columns."""
    df = pd.read_csv(path, sep="\t", dtype={"id": str, "sequence": str, "label": str, "split": str},
                     keep_default_na=False)
    missing = [c for c in DATASET_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; a dataset TSV has columns "
                         f"{list(DATASET_COLUMNS)} (and optional provenance columns)")
    # 'promoter ' and 'promoter' are one class: a stray space must not add a model output
    df["label"] = df["label"].str.strip()
    bad = sorted(s for s in set(df["split"]) if s not in ("train", "valid") and not is_test_split(s))
    if bad:
        row = int(df.index[df["split"].isin(bad)][0]) + 2
        raise ValueError(f"{path}: line {row}: split {bad[0]!r}; expected train, valid, test "
                         "or a named test split test_<name>")
    df.attrs["source"] = str(path)  # later errors (class_names, encode_split) name the file
    return df


# --------------------------------------------------------------------------- splits


def _stratified(df: pd.DataFrame, fixed: pd.Series, seed: int, fractions: tuple[float, float, float],
                stratify: bool = True) -> pd.DataFrame:
    free = df.loc[~fixed].drop(columns="split")
    if fixed.any() and df.loc[fixed, "split"].map(is_test_split).any():
        f_train, f_valid, _ = fractions  # the test split(s) came with the data
        fractions = (f_train / (f_train + f_valid), f_valid / (f_train + f_valid), 0.0)
    part = stratified_split(free, fractions, seed, stratify=stratify) if len(free) else free.assign(split=[])
    return pd.concat([df.loc[fixed], part]).loc[df.index]


def _homology(
    df: pd.DataFrame, fixed: pd.Series, seed: int, fractions: tuple[float, float, float],
    word_size: int, min_length: int, threads: int, n_test: int | None, n_valid: int | None,
) -> tuple[pd.DataFrame, dict]:
    if (df.loc[fixed, "split"].isin(["train", "valid"])).any():
        raise ValueError("homology_split draws train and valid itself; the input may fix only test splits")
    pairs = blast_all_vs_all(df, word_size=word_size, min_length=min_length, threads=threads)
    free = df.loc[~fixed].drop(columns="split")
    free_ids, fixed_ids = set(free["id"]), set(df.loc[fixed, "id"])
    f_train, f_valid, f_test = fractions
    if fixed.any():
        n_test, f_valid = 0, f_valid / (f_train + f_valid)
    n_test = round(f_test * len(free)) if n_test is None else n_test
    n_valid = round(f_valid * len(free)) if n_valid is None else n_valid
    inner = [(a, b) for a, b in pairs if a in free_ids and b in free_ids]
    part = homology_aware_split(free, inner, n_test, n_valid, seed)
    # Training sequences homologous to a given test sequence leave training too.
    near_fixed = {a for x, y in pairs for a, b in ((x, y), (y, x)) if b in fixed_ids and a in free_ids}
    drop = (part["split"] == "train") & part["id"].isin(near_fixed)
    info = {"method": "homology", "word_size": word_size, "min_length": min_length,
            **part.attrs["homology_split"], "removed_near_given_test": int(drop.sum())}
    out = pd.concat([df.loc[fixed], part.loc[~drop]])
    return out.loc[[i for i in df.index if i in out.index]], info


def assign_splits(
    df: pd.DataFrame,
    seed: int,
    fractions: tuple[float, float, float] = SPLIT_FRACTIONS,
    *,
    homology: bool = False,
    word_size: int = 15,
    min_length: int = 15,
    threads: int = 1,
    n_test: int | None = None,
    n_valid: int | None = None,
    max_per_class: int | None = None,
    stratify: bool = True,
    acgt_only: bool = False,
) -> tuple[pd.DataFrame, dict]:
    """Fill the 'split' column where it is empty: label-stratified (train, valid, test)
    `fractions`, or homology-aware (BLAST, as for E. coli) with `homology=True`.

    When some rows already carry a test split, the others are split into train and
    valid only, in the ratio of the first two fractions. `max_per_class` first keeps a
    seeded subset of at most that many rows per label (per given split and label for rows
    that come with one). `acgt_only` drops, before anything else, every sequence with a letter
    other than A, C, G, T (the metagenomics notebooks' filter); `stratify=False` splits at
    random over all rows instead of per label (their amplicon split). Returns (frame, split info).
    """
    df = df.reset_index(drop=True)
    if "split" not in df.columns:
        df["split"] = ""
    n_non_acgt = 0
    if acgt_only:
        acgt = df["sequence"].str.fullmatch(r"[ACGT]+")
        n_non_acgt = int((~acgt).sum())
        df = df.loc[acgt].reset_index(drop=True)
    n_before = len(df)
    if max_per_class is not None:
        df = cap_per_class(df, max_per_class, seed)
    fixed = df["split"].fillna("").ne("")
    if homology:
        out, info = _homology(df, fixed, seed, fractions, word_size, min_length, threads, n_test, n_valid)
    else:
        out = _stratified(df, fixed, seed, fractions, stratify)
        info = {"method": "stratified" if stratify else "random"}
    info.update(seed=seed, fractions=list(fractions), n_given_split=int(fixed.sum()))
    if acgt_only:
        info.update(acgt_only=True, n_dropped_non_acgt=n_non_acgt)
    if max_per_class is not None:
        info.update(max_per_class=max_per_class, n_before_cap=n_before)
    return out.reset_index(drop=True), info


def cap_per_class(df: pd.DataFrame, cap: int, seed: int) -> pd.DataFrame:
    """At most `cap` rows per (given split, label), a seeded sample, in the input order."""
    given = df["split"].fillna("") if "split" in df.columns else pd.Series("", index=df.index)
    groups = df.groupby([given, df["label"]], sort=False).groups
    rng = np.random.default_rng(seed)
    keep = [i for idx in groups.values()
            for i in (idx if len(idx) <= cap else rng.choice(idx, size=cap, replace=False))]
    return df.loc[sorted(keep)].reset_index(drop=True)


def add_split_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fractions", default="0.81,0.09,0.10",
                   help="train,valid,test fractions of the label-stratified split")
    p.add_argument("--homology-split", action="store_true",
                   help="split homology-aware (blastn, as for E. coli) instead of stratified")
    p.add_argument("--n-test", type=int, default=None, help="homology split: test size (default: fraction)")
    p.add_argument("--n-valid", type=int, default=None, help="homology split: validation size")
    p.add_argument("--word-size", type=int, default=15, help="blastn word size (homology split)")
    p.add_argument("--min-length", type=int, default=15, help="shortest alignment that counts as homology")
    p.add_argument("--no-stratify", dest="stratify", action="store_false",
                   help="split at random over all rows, not per label")
    p.add_argument("--acgt-only", action="store_true",
                   help="drop sequences with any letter other than A, C, G, T first")
    p.add_argument("--max-per-class", type=int, default=None,
                   help="a seeded subset of at most this many examples per class first (default: all)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def split_from_args(df: pd.DataFrame, args: argparse.Namespace) -> tuple[pd.DataFrame, dict]:
    fractions = tuple(float(x) for x in args.fractions.split(","))
    return assign_splits(df, args.seed, fractions, homology=args.homology_split,
                         word_size=args.word_size, min_length=args.min_length, threads=args.threads,
                         n_test=args.n_test, n_valid=args.n_valid, max_per_class=args.max_per_class,
                         stratify=args.stratify, acgt_only=args.acgt_only)


# --------------------------------------------------------------------------- output


# The package's one atomic writer; the old name stays for callers outside this package.
atomic_target = atomic_path


def split_counts(df: pd.DataFrame) -> dict[str, dict[str, int]]:
    """{split: {label: n}}, train and valid first, then the test split(s) by name."""
    table = df.groupby(["split", "label"]).size()
    order = sorted(set(df["split"]), key=lambda s: (s != "train", s != "valid", s))
    return {s: {lab: int(n) for lab, n in table[s].items()} for s in order}


def summary_path(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(".gz").removesuffix(".tsv") + ".summary.json")


def write_dataset(df: pd.DataFrame, out: Path, summary: dict, columns: list[str]) -> Path:
    """Write the TSV (`columns`, in that order) and `<stem>.summary.json` (with split counts
    added), both atomically: on any error neither file is replaced. Returns the summary path."""
    out = Path(out)
    missing = [c for c in ("id", "sequence", "label", "split") if c not in columns]
    if missing:
        raise ValueError(f"write_dataset: columns {columns} lack {missing}")
    summary = {**summary, "n": len(df), "counts": split_counts(df)}
    json_path = summary_path(out)
    with ExitStack() as stack:
        tsv_tmp = stack.enter_context(atomic_path(out))
        json_tmp = stack.enter_context(atomic_path(json_path))
        df[columns].to_csv(tsv_tmp, sep="\t", index=False, compression="gzip" if out.suffix == ".gz" else None)
        json_tmp.write_text(json.dumps(json_safe(summary), indent=2, default=str, allow_nan=False) + "\n")
    logger.info("wrote %s (%d rows: %s) and %s", out, len(df), summary["counts"], json_path)
    return json_path
