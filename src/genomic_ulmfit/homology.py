"""Homology-aware train/validation/test splitting.

Sequences that share a BLAST hit (by default: an alignment of at least 15 bp
seeded by a 15 bp exact word) are linked in a graph. Test and validation
sequences are drawn only from a maximal independent set of that graph, so none
of them is homologous to another; then every sequence homologous to a test or
validation sequence is removed from training. A model therefore cannot score
well on the held-out sets by recognising sequence it was trained on.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from genomic_ulmfit.fasta import write_fasta

__all__ = [
    "blast_all_vs_all",
    "blast_between",
    "homology_aware_split",
    "homology_graph",
    "leakage_report",
    "stratified_split",
]

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


# --------------------------------------------------------------------------- BLAST


def _require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(f"'{name}' not found on PATH; install NCBI BLAST+ (Debian: ncbi-blast+)")
    return path


def _run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"command failed with exit status {result.returncode}: {' '.join(cmd)}\n{result.stderr.strip()}"
        )


def _check_frame(df: pd.DataFrame, what: str, id_col: str = "id", seq_col: str = "sequence") -> None:
    missing = [c for c in (id_col, seq_col) if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; expected '{id_col}' and '{seq_col}'")
    if df[id_col].duplicated().any():
        dup = df.loc[df[id_col].duplicated(), id_col].iloc[0]
        raise ValueError(f"{what}: id '{dup}' occurs more than once; ids must be unique")
    empty = df[seq_col].str.len().fillna(0) == 0
    if empty.any():
        raise ValueError(f"{what}: record '{df.loc[empty, id_col].iloc[0]}' has an empty sequence")


def _blastn_hits(
    query: Sequence[str],
    subject: Sequence[str],
    workdir: Path,
    word_size: int,
    min_length: int,
    threads: int,
    evalue: float,
    dust: bool,
    min_identity: float = 0.0,
) -> list[tuple[int, int]]:
    """(query index, subject index) of every hit with alignment length >= min_length and
    percent identity >= min_identity, both strands."""
    makeblastdb, blastn = _require_tool("makeblastdb"), _require_tool("blastn")
    # Index names, not the caller's ids, go to BLAST: it would parse ids with '|' or spaces.
    q_fa, s_fa = workdir / "query.fa", workdir / "subject.fa"
    write_fasta(((f"s{i}", s) for i, s in enumerate(subject)), s_fa)
    write_fasta(((f"q{i}", s) for i, s in enumerate(query)), q_fa)
    db, out = workdir / "subject_db", workdir / "hits.tsv"
    _run([makeblastdb, "-in", str(s_fa), "-dbtype", "nucl", "-out", str(db)])
    _run([
        blastn, "-task", "blastn", "-query", str(q_fa), "-db", str(db), "-out", str(out),
        "-word_size", str(word_size), "-strand", "both", "-evalue", str(evalue),
        "-dust", "yes" if dust else "no", "-num_threads", str(threads),
        # The default (500) would silently drop hits of sequences in large repeat families.
        "-max_target_seqs", str(max(len(subject), 1)),
        "-outfmt", "6 qseqid sseqid length pident",
    ])
    hits = set()
    with open(out) as fh:
        for line in fh:
            q, s, length, pident = line.split("\t")
            if int(length) >= min_length and float(pident) >= min_identity:
                hits.add((int(q[1:]), int(s[1:])))
    return sorted(hits)


def _workdir(workdir: str | Path | None) -> tuple[Path, tempfile.TemporaryDirectory | None]:
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="gulmfit-blast-")
        return Path(tmp.name), tmp
    path = Path(workdir)
    path.mkdir(parents=True, exist_ok=True)
    return path, None


def blast_all_vs_all(
    df: pd.DataFrame,
    word_size: int = 15,
    min_length: int = 15,
    threads: int = 1,
    workdir: str | Path | None = None,
    *,
    evalue: float = 1000.0,
    dust: bool = False,
) -> list[tuple[str, str]]:
    """Pairs of distinct ids (columns 'id', 'sequence') that share a blastn hit, each pair once.

    Runs makeblastdb + `blastn -task blastn` on both strands; self hits are ignored.
    The permissive e-value and disabled DUST filter make every shared exact
    `word_size`-mer count as homology, which is what the split must exclude.
    `workdir` keeps BLAST's files (a temporary directory when None).
    """
    _check_frame(df, "blast_all_vs_all")
    ids = df["id"].tolist()
    path, tmp = _workdir(workdir)
    try:
        seqs = df["sequence"].tolist()
        hits = _blastn_hits(seqs, seqs, path, word_size, min_length, threads, evalue, dust)
    finally:
        if tmp is not None:
            tmp.cleanup()
    pairs = {(min(q, s), max(q, s)) for q, s in hits if q != s}
    logger.info("blastn all-vs-all: %d sequences, %d homologous pairs", len(ids), len(pairs))
    return [(ids[a], ids[b]) for a, b in sorted(pairs)]


def blast_between(
    query: pd.DataFrame,
    subject: pd.DataFrame,
    word_size: int = 15,
    min_length: int = 15,
    threads: int = 1,
    workdir: str | Path | None = None,
    *,
    evalue: float = 1000.0,
    dust: bool = False,
    min_identity: float = 0.0,
) -> list[tuple[str, str]]:
    """(query id, subject id) pairs with a blastn hit of `query` against `subject`; same settings
    as blast_all_vs_all, and hits below `min_identity` percent identity ignored. Useful to
    check that held-out sequences have no hit in training."""
    _check_frame(query, "blast_between (query)")
    _check_frame(subject, "blast_between (subject)")
    path, tmp = _workdir(workdir)
    try:
        hits = _blastn_hits(
            query["sequence"].tolist(), subject["sequence"].tolist(), path,
            word_size, min_length, threads, evalue, dust, min_identity,
        )
    finally:
        if tmp is not None:
            tmp.cleanup()
    q_ids, s_ids = query["id"].tolist(), subject["id"].tolist()
    return [(q_ids[q], s_ids[s]) for q, s in hits]


# --------------------------------------------------------------------------- graph and splits


def homology_graph(ids: Iterable[str], pairs: Iterable[tuple[str, str]]) -> nx.Graph:
    """Undirected graph: one node per id (in the given order), one edge per homologous pair."""
    graph = nx.Graph()
    graph.add_nodes_from(ids)
    for a, b in pairs:
        if a == b:
            continue
        for node in (a, b):
            if node not in graph:
                raise ValueError(f"homology pair ({a}, {b}) names '{node}', which is not among the sequence ids")
        graph.add_edge(a, b)
    return graph


def _quotas(total: int, classes: Sequence[str]) -> dict[str, int]:
    """`total` spread evenly over classes; a remainder goes one each to the first classes (sorted)."""
    base, extra = divmod(total, len(classes))
    return {c: base + (1 if i < extra else 0) for i, c in enumerate(classes)}


def homology_aware_split(
    df: pd.DataFrame,
    pairs: Iterable[tuple[str, str]],
    n_test: int,
    n_valid: int,
    seed: int,
    label_col: str = "label",
) -> pd.DataFrame:
    """Add a 'split' column (train/valid/test) so that held-out sequences share no hit with
    training or with each other.

    Test and validation are drawn, balanced across labels, from a seeded maximal
    independent set of the homology graph; training sequences with a hit to any
    test or validation sequence are dropped from the returned frame. Counts are
    logged and kept in `result.attrs["homology_split"]`.
    """
    _check_frame(df, "homology_aware_split")
    if label_col not in df.columns:
        raise ValueError(f"homology_aware_split: no label column '{label_col}'")
    if n_test < 0 or n_valid < 0:
        raise ValueError(f"n_test and n_valid must be >= 0, got {n_test} and {n_valid}")
    graph = homology_graph(df["id"].tolist(), pairs)
    # Integer nodes (= row positions): networkx draws from list(set(nodes)), whose order
    # for strings changes with Python's hash seed, which would make the split irreproducible.
    indexed = nx.convert_node_labels_to_integers(graph, ordering="default")
    mis = sorted(nx.maximal_independent_set(indexed, seed=seed)) if len(indexed) else []
    labels = df[label_col].to_numpy()
    classes = sorted(pd.unique(labels).tolist())
    q_test, q_valid = _quotas(n_test, classes), _quotas(n_valid, classes)
    rng = np.random.default_rng(seed)
    split = np.full(len(df), "train", dtype=object)
    for cls in classes:
        members = np.array([i for i in mis if labels[i] == cls], dtype=int)
        need = q_test[cls] + q_valid[cls]
        if len(members) < need:
            raise ValueError(
                f"only {len(members)} mutually non-homologous '{cls}' sequences "
                f"(maximal independent set of {len(mis)} of {len(df)}); "
                f"need {q_test[cls]} test + {q_valid[cls]} validation"
            )
        chosen = rng.permutation(members)[:need]
        split[chosen[: q_test[cls]]] = "test"
        split[chosen[q_test[cls] :]] = "valid"
    held = np.flatnonzero(split != "train")
    # Held-out nodes are independent, so every neighbour of one is a training sequence.
    leaking = sorted({j for i in held for j in indexed.adj[i]})
    out = df.copy()
    out["split"] = split
    out = out.drop(index=out.index[leaking])
    stats = {
        "n_input": len(df),
        "n_pairs": graph.number_of_edges(),
        "n_isolated": sum(1 for _ in nx.isolates(graph)),
        "mis_size": len(mis),
        "mis_per_label": {c: int(sum(labels[i] == c for i in mis)) for c in classes},
        "removed_from_train": len(leaking),
        "n_train": int((out["split"] == "train").sum()),
        "n_valid": int((out["split"] == "valid").sum()),
        "n_test": int((out["split"] == "test").sum()),
    }
    out.attrs["homology_split"] = stats
    logger.info(
        "homology split: %d sequences, %d pairs, MIS %d %s; test %d, valid %d; "
        "removed %d training sequences homologous to test/valid; train %d",
        stats["n_input"], stats["n_pairs"], stats["mis_size"], stats["mis_per_label"],
        stats["n_test"], stats["n_valid"], stats["removed_from_train"], stats["n_train"],
    )
    return out


def stratified_split(
    df: pd.DataFrame,
    fractions: tuple[float, float, float] = (0.81, 0.09, 0.10),
    seed: int = 0,
    label_col: str = "label",
    stratify: bool = True,
) -> pd.DataFrame:
    """Add a label-stratified (with `stratify=False`: plain random), seeded 'split' column
    with (train, valid, test) `fractions`."""
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must be three non-negative numbers (train, valid, test) summing to 1, got {fractions}")
    if label_col not in df.columns:
        raise ValueError(f"stratified_split: no label column '{label_col}'")
    f_train, f_valid, f_test = fractions
    labels = df[label_col].to_numpy()
    strata = labels if stratify else None
    idx = np.arange(len(df))
    split = np.full(len(df), "train", dtype=object)
    try:
        rest = idx
        if f_test > 0:
            rest, test = train_test_split(idx, test_size=f_test, stratify=strata, random_state=seed)
            split[test] = "test"
        if f_valid > 0:
            _, valid = train_test_split(
                rest, test_size=f_valid / (f_train + f_valid), stratify=None if strata is None else labels[rest],
                random_state=seed,
            )
            split[valid] = "valid"
    except ValueError as err:
        counts = pd.Series(labels).value_counts().to_dict()
        raise ValueError(f"stratified_split of {len(df)} rows (labels {counts}) with fractions {fractions} failed: {err}") from err
    out = df.copy()
    out["split"] = split
    return out


def leakage_report(
    df: pd.DataFrame, pairs: Iterable[tuple[str, str]], split_col: str = "split"
) -> dict[str, dict[str, float]]:
    """Per split pair, how many (and what share) of the first split's sequences hit the second.

    Keys: test_vs_train, valid_vs_train, test_vs_valid, and test_vs_test / valid_vs_valid
    (a hit to another sequence of the same split). Pairs naming absent ids are ignored.
    """
    split_of = dict(zip(df["id"], df[split_col]))
    partners: dict[str, set[str]] = {}
    for a, b in pairs:
        if a != b and a in split_of and b in split_of:
            partners.setdefault(a, set()).add(split_of[b])
            partners.setdefault(b, set()).add(split_of[a])
    report: dict[str, dict[str, float]] = {}
    for query, target in (("test", "train"), ("valid", "train"), ("test", "valid"), ("test", "test"), ("valid", "valid")):
        members = [i for i, s in split_of.items() if s == query]
        hit = sum(1 for i in members if target in partners.get(i, ()))
        report[f"{query}_vs_{target}"] = {
            "n": len(members), "n_with_hit": hit, "share": hit / len(members) if members else 0.0,
        }
    return report
