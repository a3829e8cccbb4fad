"""The paper's E. coli promoter set, built from the RefSeq GenBank flat file.

Positives: the window -upstream/+downstream around each CDS start, on the CDS's
sense strand (base `upstream` is the A of the start codon). Negatives: windows of
the same length at random positions fully inside CDSs, on the CDS's sense strand.

CDS features are skipped when they cannot give one unambiguous start codon:
  * /pseudo or /pseudogene (no functional start; often a fragment),
  * compound locations (join(...): ribosomal slippage, genes across the origin),
  * fuzzy ends (<, >: the start codon lies outside the annotation).
Negative windows never overlap a positive window nor another negative on either
strand: an overlap would share sequence, link the two in the homology graph and
shrink what the homology-aware split can keep.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from Bio import SeqIO
from Bio.SeqFeature import CompoundLocation, ExactPosition, SeqFeature
from Bio.SeqRecord import SeqRecord

from genomic_ulmfit.datasets.common import cap_per_class, split_counts
from genomic_ulmfit.fasta import is_gzip, reverse_complement
from genomic_ulmfit.homology import blast_all_vs_all, homology_aware_split, leakage_report
from genomic_ulmfit.io.atomic import atomic_path, write_json

__all__ = ["build_ecoli_promoter_set", "ecoli_dataset_main"]

logger = logging.getLogger(__name__)

COLUMNS = ["id", "sequence", "label", "chrom", "start", "end", "strand"]
OUTPUT_COLUMNS = ["id", "sequence", "label", "split", "chrom", "start", "end", "strand"]
_ACGT = re.compile(r"^[ACGT]+$")
_MAX_DRAWS_PER_NEGATIVE = 200


@dataclass(frozen=True)
class _Cds:
    chrom: str
    start: int  # 0-based, half-open genomic interval
    end: int
    strand: str  # "+" or "-"
    name: str


@dataclass(frozen=True)
class _Chrom:
    name: str
    sequence: str


def _read_genbank(gbff: Path) -> Iterator[SeqRecord]:
    opener = gzip.open if is_gzip(gbff) else open
    with opener(gbff, "rt") as handle:
        yield from SeqIO.parse(handle, "genbank")


def _cds_name(feature: SeqFeature, chrom: str) -> str:
    for key in ("locus_tag", "gene", "protein_id"):
        if key in feature.qualifiers:
            return feature.qualifiers[key][0]
    return f"{chrom}_{int(feature.location.start)}"


def _usable_cds(feature: SeqFeature, chrom: str, skipped: Counter) -> _Cds | None:
    """The CDS as a simple interval, or None (counted in `skipped`) when it has no clear start."""
    loc = feature.location
    if "pseudo" in feature.qualifiers or "pseudogene" in feature.qualifiers:
        skipped["pseudo"] += 1
    elif isinstance(loc, CompoundLocation):
        skipped["compound_location"] += 1
    elif not (isinstance(loc.start, ExactPosition) and isinstance(loc.end, ExactPosition)):
        skipped["fuzzy_location"] += 1
    elif loc.strand not in (1, -1):
        skipped["no_strand"] += 1
    else:
        return _Cds(chrom, int(loc.start), int(loc.end), "+" if loc.strand == 1 else "-", _cds_name(feature, chrom))
    return None


def _load(gbff: Path) -> tuple[list[_Chrom], list[_Cds], Counter]:
    chroms, cdss, skipped = [], [], Counter()
    for record in _read_genbank(gbff):
        sequence = str(record.seq).upper()
        if not sequence:
            raise ValueError(f"{gbff}: record '{record.id}' has no sequence; expected a GenBank file with ORIGIN")
        chroms.append(_Chrom(record.id, sequence))
        for feature in record.features:
            if feature.type == "CDS":
                cds = _usable_cds(feature, record.id, skipped)
                if cds is not None:
                    cdss.append(cds)
    if not chroms:
        raise ValueError(f"{gbff}: no GenBank record found; expected a RefSeq .gbff(.gz) file")
    if not cdss:
        raise ValueError(f"{gbff}: no usable CDS feature (skipped: {dict(skipped)})")
    return chroms, cdss, skipped


def _promoter_interval(cds: _Cds, upstream: int, downstream: int) -> tuple[int, int]:
    """Genomic [start, end) of the window; on '-' the start codon is the CDS's last 3 bases."""
    if cds.strand == "+":
        return cds.start - upstream, cds.start + downstream
    return cds.end - downstream, cds.end + upstream


def _window(chrom: _Chrom, start: int, end: int, strand: str) -> str:
    seq = chrom.sequence[start:end]
    return seq if strand == "+" else reverse_complement(seq)


def _positives(
    chroms: dict[str, _Chrom], cdss: list[_Cds], upstream: int, downstream: int,
    seen: set[str], occupied: dict[str, np.ndarray], dropped: Counter,
) -> list[dict]:
    rows, used_ids = [], Counter()
    for cds in cdss:
        chrom = chroms[cds.chrom]
        start, end = _promoter_interval(cds, upstream, downstream)
        if start < 0 or end > len(chrom.sequence):
            dropped["positive_outside_chromosome"] += 1
            continue
        occupied[cds.chrom][start:end] = True  # even if dropped below: negatives stay clear of it
        seq = _window(chrom, start, end, cds.strand)
        if not _ACGT.match(seq):
            dropped["positive_non_acgt"] += 1
        elif seq in seen:
            dropped["positive_duplicate"] += 1
        else:
            seen.add(seq)
            used_ids[cds.name] += 1
            suffix = "" if used_ids[cds.name] == 1 else f"_{used_ids[cds.name]}"
            rows.append(dict(id=f"prom_{cds.name}{suffix}", sequence=seq, label="promoter",
                             chrom=cds.chrom, start=start, end=end, strand=cds.strand))
    return rows


def _negatives(
    chroms: dict[str, _Chrom], cdss: list[_Cds], width: int, target: int, rng: np.random.Generator,
    seen: set[str], occupied: dict[str, np.ndarray], dropped: Counter,
) -> list[dict]:
    """Rejection sampling, uniform over all in-CDS window positions (weight = positions per CDS)."""
    hosts = [c for c in cdss if c.end - c.start >= width]
    weights = np.array([c.end - c.start - width + 1 for c in hosts], dtype=np.int64)
    if target and not len(hosts):
        raise ValueError(f"no CDS is at least {width} bp long; cannot draw negatives")
    cum = np.cumsum(weights)
    rows: list[dict] = []
    draws, max_draws = 0, max(target, 1) * _MAX_DRAWS_PER_NEGATIVE
    while len(rows) < target:
        for k in rng.integers(0, cum[-1], size=1024):
            draws += 1
            i = int(np.searchsorted(cum, k, side="right"))
            cds = hosts[i]
            start = cds.start + int(k - (cum[i] - weights[i]))
            end = start + width
            mask = occupied[cds.chrom]
            if mask[start:end].any():
                dropped["negative_overlap"] += 1
                continue
            seq = _window(chroms[cds.chrom], start, end, cds.strand)
            if not _ACGT.match(seq):
                dropped["negative_non_acgt"] += 1
                continue
            if seq in seen:
                dropped["negative_duplicate"] += 1
                continue
            seen.add(seq)
            mask[start:end] = True
            rows.append(dict(id=f"neg_{len(rows):06d}", sequence=seq, label="non_promoter",
                             chrom=cds.chrom, start=start, end=end, strand=cds.strand))
            if len(rows) == target:
                break
        if len(rows) < target and draws >= max_draws:
            raise RuntimeError(
                f"drew {draws} in-CDS windows but found only {len(rows)} of {target} negatives "
                f"that avoid positives and each other (rejections: {dict(dropped)})"
            )
    return rows


def build_ecoli_promoter_set(
    gbff: Path,
    seed: int,
    upstream: int = 100,
    downstream: int = 50,
    negatives_per_positive: float = 1.0,
) -> pd.DataFrame:
    """Promoter (-upstream/+downstream around CDS starts) and in-CDS negative windows.

    Windows leaving the chromosome or holding a non-ACGT base are dropped, as are
    repeated sequences (the first one is kept; positives come first). Columns:
    id, sequence, label, chrom, start (0-based), end, strand. Counts are logged and
    kept in `result.attrs["build_stats"]`.
    """
    gbff = Path(gbff)
    if upstream < 0 or downstream < 3:
        raise ValueError(f"upstream must be >= 0 and downstream >= 3 (the start codon), got {upstream}/{downstream}")
    chrom_list, cdss, skipped = _load(gbff)
    chroms = {c.name: c for c in chrom_list}
    occupied = {c.name: np.zeros(len(c.sequence), dtype=bool) for c in chrom_list}
    seen: set[str] = set()
    dropped: Counter = Counter()
    positives = _positives(chroms, cdss, upstream, downstream, seen, occupied, dropped)
    target = int(round(len(positives) * negatives_per_positive))
    rng = np.random.default_rng(seed)
    negatives = _negatives(chroms, cdss, upstream + downstream, target, rng, seen, occupied, dropped)
    df = pd.DataFrame(positives + negatives, columns=COLUMNS).astype({"start": "int64", "end": "int64"})
    codons = Counter(s[upstream : upstream + 3] for s in df.loc[df["label"] == "promoter", "sequence"])
    stats = {
        "cds_features_used": len(cdss),
        "cds_skipped": dict(skipped),
        "dropped": dict(dropped),
        "positives": len(positives),
        "negatives": len(negatives),
        "start_codons": dict(codons.most_common()),
    }
    df.attrs["build_stats"] = stats
    logger.info(
        "%s: %d usable CDS (skipped %s); %d promoters, %d negatives; dropped/rejected %s; start codons %s",
        gbff, len(cdss), dict(skipped), len(positives), len(negatives), dict(dropped), dict(codons.most_common(4)),
    )
    return df


# --------------------------------------------------------------------------- command line


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="ecoli-dataset",
        description="Build the E. coli promoter set from a RefSeq .gbff(.gz) and split it homology-aware.",
    )
    p.add_argument("--gbff", type=Path, required=True, help="GenBank flat file (plain or gzip)")
    p.add_argument("--out", type=Path, required=True, help="output TSV; a .summary.json is written next to it")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--n-test", type=int, default=830)
    p.add_argument("--n-valid", type=int, default=750)
    p.add_argument("--upstream", type=int, default=100)
    p.add_argument("--downstream", type=int, default=50)
    p.add_argument("--negatives-per-positive", type=float, default=1.0)
    p.add_argument("--max-per-class", type=int, default=None,
                   help="a seeded subset of at most this many windows per class before the split (default: all)")
    p.add_argument("--word-size", type=int, default=15, help="blastn word size")
    p.add_argument("--min-length", type=int, default=15, help="shortest alignment that counts as homology")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p.parse_args(argv)


def ecoli_dataset_main(argv: list[str] | None = None) -> None:
    """CLI: build the set, split it with BLAST homology, write the TSV and its summary JSON."""
    args = _parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    df = build_ecoli_promoter_set(args.gbff, args.seed, args.upstream, args.downstream, args.negatives_per_positive)
    if args.max_per_class is not None:
        stats = dict(df.attrs["build_stats"])
        df = cap_per_class(df, args.max_per_class, args.seed)
        df.attrs["build_stats"] = {**stats, "max_per_class": args.max_per_class}
    started = time.monotonic()
    pairs = blast_all_vs_all(df, word_size=args.word_size, min_length=args.min_length, threads=args.threads)
    blast_seconds = time.monotonic() - started
    logger.info("blastn all-vs-all took %.1f s", blast_seconds)
    split = homology_aware_split(df, pairs, args.n_test, args.n_valid, args.seed)
    summary = {
        "gbff": str(args.gbff),
        "seed": args.seed,
        "window": {"upstream": args.upstream, "downstream": args.downstream},
        "build": df.attrs["build_stats"],
        "homology": {"word_size": args.word_size, "min_length": args.min_length,
                     "blast_seconds": round(blast_seconds, 2), **split.attrs["homology_split"]},
        "counts": split_counts(split),
        "leakage": leakage_report(split, pairs),
    }
    with atomic_path(args.out) as tmp:
        split[OUTPUT_COLUMNS].to_csv(tmp, sep="\t", index=False,
                                     compression="gzip" if args.out.suffix == ".gz" else None)
    summary_path = args.out.with_name(args.out.stem + ".summary.json")
    write_json(summary_path, summary)
    logger.info("wrote %s (%d rows) and %s", args.out, len(split), summary_path)


if __name__ == "__main__":
    ecoli_dataset_main()
