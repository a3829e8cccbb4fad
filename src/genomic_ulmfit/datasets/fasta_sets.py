"""Labelled datasets from sequence files.

`fasta_classes`: one or more FASTA files per class label (e.g. CNNPromoterData's
Ecoli_prom.fa -> promoter, Ecoli_non_prom.fa -> non_promoter; mRNA / lncRNA), or
files of one sequence per line (Cohn et al. 2018's enhancer / negative samples per
species; record ids `<file name>:<line number>`). Format `auto` reads a file as FASTA
when its first non-empty line starts with '>', else as lines. Optional separate test inputs per class
go to named test splits (test, test_challenge, ...) as given; everything else is
split seeded into train/valid/test, or train/valid when test inputs are given.

`labelled_table`: a user's labelled FASTA (header `>id label [split]`, or any
regex with named groups id, label and optionally split) or TSV (columns sequence,
label, optional id and split).

Repeated sequences are kept once (the first occurrence; test inputs are read first,
so a test sequence never reappears in training); a sequence found under two labels
is dropped everywhere. Records shorter than --min-seq-length (default: the longest k-mer a
tokenizer takes, so that every k works) are dropped too, or refused with
--short-records error. All three are counted in the summary. Labels are stripped of
surrounding whitespace ('promoter ' is the class promoter).
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

import pandas as pd

from genomic_ulmfit.datasets.common import (
    add_split_args, check_sequence, check_split_name, split_from_args, write_dataset,
)
from genomic_ulmfit.errors import InputError
from genomic_ulmfit.fasta import iter_fasta_records, open_text
from genomic_ulmfit.kmers import MAX_K

__all__ = [
    "build_fasta_classes",
    "dedupe_sequences",
    "drop_short_sequences",
    "fasta_classes_main",
    "labelled_table_main",
    "read_labelled_table",
]

logger = logging.getLogger(__name__)

OUTPUT_COLUMNS = ["id", "sequence", "label", "split", "source", "record"]
HEADER_REGEX = r"^(?P<id>\S+)\s+(?P<label>\S+)(?:\s+(?P<split>\S+))?"
CLASS_FORMATS = ("auto", "fasta", "lines")
SHORT_RECORDS = ("drop", "error")


def _first_line(path: Path) -> str:
    """The first non-empty line of a (possibly gzipped) text file ('' if none)."""
    with open_text(path, encoding="utf-8") as fh:
        return next((line for line in fh if line.strip()), "")


def _line_of_record(path: Path, index: int) -> int:
    """Line number of the header of the `index`-th (1-based) record, for error messages."""
    n = 0
    with open_text(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            n += line.startswith(">")
            if n == index:
                return lineno
    return 0


def _fasta_rows(path: Path, label: str | None, split: str, header: re.Pattern | None = None) -> list[dict]:
    rows = []
    for n, rec in enumerate(iter_fasta_records(path), start=1):
        where = f"{path}: record #{n} '{rec.name}'"
        row = {"id": rec.name, "label": label, "split": split}
        if header is not None:
            m = header.match(rec.header)
            if m is None or not m.groupdict().get("label"):
                raise ValueError(f"{where} (line {_line_of_record(path, n)}): header {rec.header!r} does "
                                 f"not match {header.pattern!r}; expected '>id label [split]'")
            row.update({k: v for k, v in m.groupdict().items() if v is not None})
        try:
            seq = check_sequence(rec.sequence, where)
        except ValueError as err:
            raise ValueError(f"{err} (the record starts on line {_line_of_record(path, n)})") from None
        rows.append({**row, "sequence": seq, "source": str(path), "record": rec.name})
    return rows


def _line_rows(path: Path, label: str, split: str) -> list[dict]:
    """One sequence per line (blank lines skipped); ids `<file name>:<line number>`."""
    rows = []
    with open_text(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            text = line.strip()
            if not text:
                continue
            where = f"{path}: line {lineno}"
            if text.startswith(">"):
                raise ValueError(f"{where}: FASTA header {text[:60]!r}; expected one sequence per line "
                                 "(format lines; use fasta or auto for FASTA files)")
            rid = f"{path.name}:{lineno}"
            rows.append({"id": rid, "label": label, "split": split, "sequence": check_sequence(text, where),
                         "source": str(path), "record": rid})
    if not rows:
        raise ValueError(f"{path}: no sequence found (only empty lines); expected one sequence per line")
    return rows


def _class_rows(path: Path, label: str, split: str, fmt: str) -> list[dict]:
    """Rows of one class file in `fmt` (auto: FASTA if the first non-empty line starts with '>')."""
    if fmt == "auto":
        fmt = "fasta" if _first_line(path).startswith(">") else "lines"
    return _fasta_rows(path, label, split) if fmt == "fasta" else _line_rows(path, label, split)


def _unique_ids(df: pd.DataFrame) -> pd.Series:
    """Ids made unique by a _2, _3, ... suffix on repeats."""
    rank = df.groupby("id").cumcount()
    return df["id"].where(rank == 0, df["id"] + "_" + (rank + 1).astype(str))


def dedupe_sequences(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Keep each sequence once (first row); drop sequences that carry two labels."""
    labels_per_seq = df.groupby("sequence")["label"].nunique()
    conflicting = df["sequence"].isin(labels_per_seq.index[labels_per_seq > 1])
    repeated = df["sequence"].duplicated() & ~conflicting
    stats = {"duplicate_sequences": int(repeated.sum()),
             "conflicting_label_sequences": int(conflicting.sum())}
    out = df.loc[~conflicting & ~repeated].reset_index(drop=True)
    return out.assign(id=_unique_ids(out)), stats


def build_fasta_classes(
    classes: dict[str, list[Path]], tests: dict[str, dict[str, list[Path]]] | None = None,
    fmt: str = "auto",
) -> pd.DataFrame:
    """Rows (id, sequence, label, split, source, record) of every class file (`fmt`: auto,
    fasta or lines); rows of `tests` ({split name: {label: files}}) carry their split, the
    others an empty one."""
    if not classes:
        raise ValueError("fasta_classes: no class given; expected at least one LABEL=FILE")
    if fmt not in CLASS_FORMATS:
        raise ValueError(f"fasta_classes: format {fmt!r}; expected one of {', '.join(CLASS_FORMATS)}")
    rows = []
    for split, per_label in (tests or {}).items():
        check_split_name(split, "fasta_classes test inputs")
        unknown = sorted(set(per_label) - set(classes))
        if unknown:
            raise ValueError(f"fasta_classes: test split {split!r} has label(s) {unknown} "
                             f"that are not classes; classes: {sorted(classes)}")
        rows += [r for label, files in per_label.items() for f in files for r in _class_rows(Path(f), label, split, fmt)]
    rows += [r for label, files in classes.items() for f in files for r in _class_rows(Path(f), label, "", fmt)]
    df = pd.DataFrame(rows)
    df["label"] = df["label"].str.strip()
    df["id"] = df["label"] + ":" + df["id"]
    df, stats = dedupe_sequences(df)
    df.attrs["build_stats"] = {**stats, "read": len(rows)}
    logger.info("fasta_classes: %d records read, %s; kept %d %s", len(rows), stats, len(df),
                df.groupby(["split", "label"]).size().to_dict())
    return df


# --------------------------------------------------------------------------- labelled table


def _table_rows(path: Path) -> list[dict]:
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment=None)
    missing = [c for c in ("sequence", "label") if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected tab-separated columns "
                         f"sequence and label (optional id, split); found {list(df.columns)}")
    rows = []
    for i, r in enumerate(df.to_dict("records")):
        where = f"{path}: line {i + 2}"
        if not r["label"].strip():
            raise ValueError(f"{where}: empty label; expected a class name")
        split = check_split_name(r["split"], where) if r.get("split") else ""
        rows.append({**r, "id": r.get("id") or f"row{i + 1}", "sequence": check_sequence(r["sequence"], where),
                     "split": split, "source": str(path), "record": str(i + 1)})
    return rows


def read_labelled_table(path: str | Path, fmt: str = "auto", header_regex: str = HEADER_REGEX) -> pd.DataFrame:
    """Rows of a labelled FASTA or TSV (format told by the first character when 'auto')."""
    path = Path(path)
    if fmt == "auto":
        fmt = "fasta" if _first_line(path).startswith(">") else "tsv"
    if fmt == "fasta":
        rows = _fasta_rows(path, None, "", re.compile(header_regex))
        for n, r in enumerate(rows, start=1):
            r["split"] = check_split_name(r["split"], f"{path}: record #{n}") if r["split"] else ""
    elif fmt == "tsv":
        rows = _table_rows(path)
    else:
        raise ValueError(f"{path}: format {fmt!r}; expected auto, fasta or tsv")
    if not rows:
        raise ValueError(f"{path}: no labelled sequence found")
    rows = pd.DataFrame(rows)
    rows["label"] = rows["label"].str.strip()
    if (rows["label"] == "").any():
        raise InputError(f"{path}: record {rows['record'][rows['label'] == ''].iloc[0]}: empty label; "
                         "expected a class name")
    df, stats = dedupe_sequences(rows)
    df.attrs["build_stats"] = {**stats, "read": len(rows)}
    return df


def drop_short_sequences(df: pd.DataFrame, min_length: int, on_short: str = "drop") -> tuple[pd.DataFrame, dict]:
    """Rows with at least `min_length` bases, and the count of the others (by label).

    A record shorter than k has no k-mer: kept, it would fail only at `classify`, long after
    the dataset was built. `on_short="error"` refuses it instead, naming file and record.
    """
    if on_short not in SHORT_RECORDS:
        raise InputError(f"short records: {on_short!r}; expected one of {', '.join(SHORT_RECORDS)}")
    short = df["sequence"].str.len() < min_length
    if short.any() and on_short == "error":
        first = df.loc[short].iloc[0]
        raise InputError(f"{first['source']}: record {first['record']!r} has {len(first['sequence'])} bases, "
                         f"fewer than --min-seq-length {min_length}; remove it, lower --min-seq-length "
                         "or drop such records with --short-records drop")
    by_label = {str(k): int(v) for k, v in df.loc[short, "label"].value_counts().sort_index().items()}
    if short.any():
        logger.warning("dropped %d record(s) shorter than %d bases %s (e.g. %s)", int(short.sum()),
                       min_length, by_label, df.loc[short, "id"].iloc[0])
    stats = {"min_seq_length": min_length, "too_short_sequences": int(short.sum()),
             "too_short_by_label": by_label}
    return df.loc[~short].reset_index(drop=True), stats


# --------------------------------------------------------------------------- command line


def _files_of(text: str, what: str) -> tuple[str, list[Path]]:
    key, sep, files = text.partition("=")
    key = key.strip()  # '--class "promoter =a.fa"' names the class promoter
    if not sep or not key or not files:
        raise ValueError(f"{what} {text!r}; expected LABEL=FILE[,FILE...]")
    return key, [Path(f) for f in files.split(",")]


def _class_args(items: list[str]) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for item in items:
        label, files = _files_of(item, "--class")
        out.setdefault(label, []).extend(files)
    return out


def _test_args(items: list[str]) -> dict[str, dict[str, list[Path]]]:
    out: dict[str, dict[str, list[Path]]] = {}
    for item in items:
        split, sep, rest = item.partition(":")
        if not sep:
            raise ValueError(f"--test {item!r}; expected SPLIT:LABEL=FILE[,FILE...] (e.g. test_challenge:mRNA=x.fa)")
        label, files = _files_of(rest, "--test")
        out.setdefault(split, {}).setdefault(label, []).extend(files)
    return out


def _write(df: pd.DataFrame, args: argparse.Namespace, summary: dict) -> None:
    build = dict(df.attrs["build_stats"])
    df, short = drop_short_sequences(df, args.min_seq_length, args.short_records)
    split, info = split_from_args(df, args)
    write_dataset(split, args.out, {**summary, "build": {**build, **short}, "split": info}, OUTPUT_COLUMNS)


def _setup(p: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    p.add_argument("--out", type=Path, required=True, help="output TSV; .summary.json next to it")
    p.add_argument("--min-seq-length", type=int, default=MAX_K,
                   help=f"shortest record kept, in bases (default {MAX_K}, the longest k-mer a tokenizer "
                        "takes; a record shorter than a model's k cannot be classified)")
    p.add_argument("--short-records", default="drop", choices=SHORT_RECORDS,
                   help="records shorter than --min-seq-length: drop and count them in the summary "
                        "(default), or error")
    add_split_args(p)
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return args


def fasta_classes_main(argv: list[str] | None = None) -> None:
    """CLI: class FASTA / one-sequence-per-line files (+ optional named test inputs) -> labelled, split dataset."""
    p = argparse.ArgumentParser(prog="fasta-classes", description="A labelled dataset from sequence files per class.")
    p.add_argument("--class", dest="classes", action="append", default=[], metavar="LABEL=FILE[,FILE]",
                   help="the FASTA or one-sequence-per-line file(s) of one class; repeat per class")
    p.add_argument("--test", dest="tests", action="append", default=[], metavar="SPLIT:LABEL=FILE[,FILE]",
                   help="separate test input of a class for split SPLIT (test, test_challenge, ...)")
    p.add_argument("--format", default="auto", choices=CLASS_FORMATS,
                   help="input files: fasta, lines (one sequence per line) or auto (FASTA if the first "
                        "non-empty line starts with '>', else lines)")
    args = _setup(p, argv)
    classes, tests = _class_args(args.classes), _test_args(args.tests)
    df = build_fasta_classes(classes, tests, args.format)
    summary = {"builder": "fasta_classes", "seed": args.seed, "format": args.format,
               "classes": {k: [str(f) for f in v] for k, v in classes.items()},
               "tests": {s: {k: [str(f) for f in v] for k, v in t.items()} for s, t in tests.items()}}
    _write(df, args, summary)


def labelled_table_main(argv: list[str] | None = None) -> None:
    """CLI: a labelled FASTA or TSV -> labelled, split dataset (given splits are kept)."""
    p = argparse.ArgumentParser(prog="labelled-table", description="A dataset from a labelled FASTA or TSV.")
    p.add_argument("--table", type=Path, required=True, help="labelled FASTA or TSV (sequence, label[, id, split])")
    p.add_argument("--format", default="auto", choices=["auto", "fasta", "tsv"])
    p.add_argument("--header-regex", default=HEADER_REGEX,
                   help="FASTA header regex with named groups id, label and optionally split")
    args = _setup(p, argv)
    df = read_labelled_table(args.table, args.format, args.header_regex)
    _write(df, args, {"builder": "labelled_table", "seed": args.seed, "table": str(args.table)})
