"""Which known motifs sit in the segments a classifier finds important.

The highest-importance segments of the perturbation maps (the top window(s) of each
sequence, widened by a flank) are scanned with every JASPAR motif (TRANSFAC file,
read by Bio.motifs) on both strands, and so are dinucleotide-shuffled copies of the
same segments (same length, same base and dinucleotide counts: Altschul-Erickson).
A segment has a hit when some position scores at least `min_rel_score` of the way
from the motif's lowest to its highest log-odds score. Per motif: hits in the
segments against hits in the shuffles, one-sided Fisher exact test (scipy), and
Benjamini-Hochberg q-values over all motifs.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .fasta import open_text

logger = logging.getLogger(__name__)


@dataclass
class Motif:
    matrix_id: str
    name: str
    tax_group: str
    pssm: np.ndarray  # (length, 4) log-odds, columns A C G T

    @property
    def length(self) -> int:
        return len(self.pssm)


def read_jaspar(path: Path, tax_groups: list[str] | None = None, pseudocount: float = 0.8) -> list[Motif]:
    """JASPAR motifs from a (gzipped) TRANSFAC file, as log-odds matrices against a uniform
    background; `tax_groups` keeps only those groups (e.g. vertebrates, insects)."""
    from Bio import motifs as bio_motifs
    with open_text(path) as fh:
        records = bio_motifs.parse(fh, "TRANSFAC", strict=False)  # JASPAR: one space after keys
    out = []
    for m in records:
        group = ""
        for line in m.get("CC", []) if hasattr(m, "get") else []:
            if str(line).startswith("tax_group:"):
                group = str(line).split(":", 1)[1]
        if tax_groups and group not in tax_groups:
            continue
        pwm = m.counts.normalize(pseudocounts=pseudocount)
        pssm = np.array([[pwm[b][i] for b in "ACGT"] for i in range(m.length)], dtype=np.float64)
        out.append(Motif(m.get("AC", ""), m.get("ID", ""), group, np.log2(pssm / 0.25)))
    if not out:
        raise ValueError(f"{path}: no motif read" + (f" in tax groups {tax_groups}" if tax_groups else "")
                         + "; expected a JASPAR TRANSFAC file")
    return out


# -- shuffles ----------------------------------------------------------------------------------

def dinucleotide_shuffle(seq: str, rng: np.random.Generator) -> str:
    """A random sequence with the same dinucleotide counts, first and last base
    (Altschul & Erickson 1985: a random Eulerian walk of the transition graph)."""
    if len(seq) <= 2:
        return seq
    edges: dict[str, list[str]] = {}
    for a, b in zip(seq, seq[1:]):
        edges.setdefault(a, []).append(b)
    last = seq[-1]
    while True:  # each vertex's last exit must form a tree into `last`
        last_exit = {v: outs[rng.integers(len(outs))] for v, outs in edges.items() if v != last}
        if all(_reaches(v, last, last_exit) for v in last_exit):
            break
    order = {}
    for v, outs in edges.items():
        outs = list(outs)
        if v in last_exit:
            outs.remove(last_exit[v])
        rng.shuffle(outs)
        order[v] = outs + ([last_exit[v]] if v in last_exit else [])
    out, v = [seq[0]], seq[0]
    for _ in range(len(seq) - 1):
        v = order[v].pop(0)
        out.append(v)
    return "".join(out)


def _reaches(v: str, target: str, nxt: dict[str, str]) -> bool:
    seen = set()
    while v != target:
        if v in seen:
            return False
        seen.add(v)
        v = nxt[v]
    return True


# -- scanning ----------------------------------------------------------------------------------

_CODES = np.full(256, 4, dtype=np.int64)
for _i, _b in enumerate("ACGT"):
    _CODES[ord(_b)] = _CODES[ord(_b.lower())] = _i


def segment_hits(motifs: list[Motif], segments: list[str], min_rel_score: float = 0.85) -> np.ndarray:
    """(n_motifs, n_segments) bool: the motif scores >= min_rel_score (relative to its
    lowest..highest possible score) somewhere in the segment, on either strand. Bases
    other than ACGT score nothing and a motif must fit whole inside a segment.

    Motifs of one length are scored together: one matrix product of every placement's
    one-hot bases (placements x 4L) with all their forward and reverse-complement
    matrices (4L x 2m)."""
    text = "N".join(segments)  # no motif placement may span an N, so one separates segments
    codes = _CODES[np.frombuffer(text.encode(), dtype=np.uint8)]
    one_hot = np.zeros((len(codes), 4), dtype=np.float32)
    valid = codes < 4
    one_hot[np.flatnonzero(valid), codes[valid]] = 1.0
    seg_of = np.repeat(np.arange(len(segments) + 1), [len(s) + 1 for s in segments] + [0])[:len(text)]
    hits = np.zeros((len(motifs), len(segments)), dtype=bool)
    by_length: dict[int, list[int]] = {}
    for j, m in enumerate(motifs):
        by_length.setdefault(m.length, []).append(j)
    for length, idx in by_length.items():
        n = len(codes) - length + 1
        if n <= 0:
            continue
        x = np.lib.stride_tricks.sliding_window_view(one_hot, (length, 4))[:, 0].reshape(n, 4 * length)
        whole = np.convolve(valid.astype(np.int32), np.ones(length, dtype=np.int32), "valid") == length
        w = np.concatenate([np.stack([motifs[j].pssm.reshape(-1) for j in idx], axis=1),
                            np.stack([motifs[j].pssm[::-1, ::-1].reshape(-1) for j in idx], axis=1)],
                           axis=1).astype(np.float32)  # (4L, 2m): forward, then reverse complement
        scores = x @ w
        scores = np.maximum(scores[:, :len(idx)], scores[:, len(idx):])  # (n, m), best strand
        cuts = np.array([m.pssm.min(1).sum() + min_rel_score * (m.pssm.max(1).sum() - m.pssm.min(1).sum())
                         for m in (motifs[j] for j in idx)])
        pos, which = np.nonzero((scores >= cuts - 1e-4) & whole[:, None])
        hits[np.asarray(idx)[which], seg_of[pos]] = True
    return hits


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    from scipy.stats import false_discovery_control
    p = np.asarray(p, dtype=float)
    return false_discovery_control(p, method="bh") if len(p) else p


def motif_enrichment(motifs: list[Motif], segments: list[str], shuffles: int = 10, seed: int = 0,
                     min_rel_score: float = 0.85) -> pd.DataFrame:
    """Per motif: segments with a hit against shuffled segments with a hit, Fisher's
    exact test (one-sided, more hits in the segments), BH q-values; sorted by p."""
    from scipy.stats import fisher_exact
    if not segments:
        raise ValueError("no segment to scan")
    rng = np.random.default_rng(seed)
    background = [dinucleotide_shuffle(s, rng) for s in segments for _ in range(shuffles)]
    fg = segment_hits(motifs, segments, min_rel_score).sum(1)
    bg = segment_hits(motifs, background, min_rel_score).sum(1)
    n_fg, n_bg = len(segments), len(background)
    rows = []
    for m, a, b in zip(motifs, fg, bg):
        odds, p = fisher_exact([[a, n_fg - a], [b, n_bg - b]], alternative="greater")
        rows.append({"matrix_id": m.matrix_id, "name": m.name, "tax_group": m.tax_group,
                     "length": m.length, "segments_with_hit": int(a), "segments": n_fg,
                     "shuffled_with_hit": int(b), "shuffled": n_bg,
                     "fraction_segments": a / n_fg, "fraction_shuffled": b / n_bg,
                     "odds_ratio": float(odds), "p_value": float(p)})
    out = pd.DataFrame(rows)
    out["q_value"] = benjamini_hochberg(out["p_value"].to_numpy())
    return out.sort_values(["p_value", "odds_ratio"], ascending=[True, False]).reset_index(drop=True)


def top_segments(windows: pd.DataFrame, sequences: dict[str, str], per_sequence: int = 1,
                 flank: int = 10) -> pd.DataFrame:
    """The `per_sequence` highest-drop windows of each sequence (non-overlapping, drop > 0),
    each widened by `flank` bases on both sides (clipped to the sequence)."""
    rows = []
    for sid, w in windows.groupby("id", sort=False):
        taken: list[tuple[int, int]] = []
        for r in w.sort_values("drop", ascending=False).itertuples():
            if len(taken) == per_sequence or r.drop <= 0:
                break
            if any(r.window_start < e and s < r.window_end for s, e in taken):
                continue
            taken.append((r.window_start, r.window_end))
            seq = sequences[sid]
            a, b = max(0, r.window_start - flank), min(len(seq), r.window_end + flank)
            rows.append({"id": sid, "start": a, "end": b, "window_start": r.window_start,
                         "drop": r.drop, "sequence": seq[a:b]})
    return pd.DataFrame(rows, columns=["id", "start", "end", "window_start", "drop", "sequence"])


def motifs_main(importance: Path, dataset: Path, jaspar: Path, out_tsv: Path, out_md: Path,
                out_fasta: Path, per_sequence: int = 1, flank: int = 10, shuffles: int = 10,
                seed: int = 0, min_rel_score: float = 0.85, tax_groups: list[str] | None = None,
                fdr: float = 0.05, top: int = 25) -> pd.DataFrame:
    from .data import read_dataset
    windows = pd.read_csv(importance, sep="\t", dtype={"id": str})
    df = read_dataset(dataset)
    segs = top_segments(windows, dict(zip(df["id"], df["sequence"])), per_sequence, flank)
    motifs = read_jaspar(jaspar, tax_groups)
    logger.info("%d segment(s), %d JASPAR motif(s), %d shuffle(s) each", len(segs), len(motifs), shuffles)
    table = motif_enrichment(motifs, segs["sequence"].tolist(), shuffles, seed, min_rel_score)
    out_tsv.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_tsv, sep="\t", index=False, float_format="%.6g")
    with open(out_fasta, "w") as fh:
        for r in segs.itertuples():
            fh.write(f">{r.id}:{r.start}-{r.end} drop={r.drop:.4f}\n{r.sequence}\n")
    n_sig = int((table["q_value"] <= fdr).sum())
    shown = table.head(top)
    lines = [f"# JASPAR motifs in the highest-importance segments",
             "",
             f"{len(segs)} segments (top {per_sequence} window(s) per sequence, +-{flank} bp) against "
             f"{shuffles} dinucleotide shuffles of each; hit: relative score >= {min_rel_score} on either "
             f"strand; one-sided Fisher exact test, Benjamini-Hochberg q. {n_sig} of {len(table)} motifs "
             f"at q <= {fdr}.",
             "",
             "| motif | name | tax group | segments with hit | shuffled with hit | odds ratio | p | q |",
             "|---|---|---|---|---|---|---|---|"]
    for r in shown.itertuples():
        lines.append(f"| {r.matrix_id} | {r.name} | {r.tax_group} | {r.segments_with_hit}/{r.segments} "
                     f"| {r.shuffled_with_hit}/{r.shuffled} | {r.odds_ratio:.2f} | {r.p_value:.2g} "
                     f"| {r.q_value:.2g} |")
    Path(out_md).write_text("\n".join(lines) + "\n")
    return table
