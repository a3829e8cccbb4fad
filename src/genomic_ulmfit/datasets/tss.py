"""Promoter sets from TSS windows: the paper's human long promoters (after PromID),
and the same for any genome with a TSS table or a gene annotation.

Positives: the window -upstream/+downstream around each TSS, read on the TSS's
strand (so the TSS is always at index `upstream`; minus-strand windows are
reverse-complemented). The TSS table comes from
  * EPDnew SGA: chromosome (RefSeq accession), feature, 1-based position, strand,
    count, promoter name, e.g. `NC_000001.11  TSS  959256  -  1  NOC2L_1`;
  * BED: EPDnew's (-49..+10 around the TSS, thick part = TSS..+10) or one interval
    per TSS; the TSS is the 5' end of the thick part when there is one, else of the
    interval;
  * GFF3/GTF: the 5' ends (start on +, end on -) of one feature type (gene, mRNA,
    transcript), deduplicated; for genomes that have no EPDnew file.
Windows off a chromosome end or holding a base other than ACGT are dropped and
counted, as are repeated sequences.

Negatives, windows of the same length that overlap no promoter window (even a
dropped one) nor each other, by one of two samplers:
  * shuffle: bedtools shuffle of windows over the whole genome, seeded, with the
    promoter windows excluded and -noOverlapping (the paper: "randomly selected
    from regions in the genome not overlapping with regions taken for promoter
    sequences");
  * between_tss: windows from the gaps between consecutive promoter windows of a
    chromosome (each gap tiled with non-overlapping windows at a seeded random
    offset, then a seeded random subset of them), on a random strand.
"""

from __future__ import annotations

import argparse
import logging
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pybedtools

from genomic_ulmfit.datasets.common import add_split_args, split_from_args, write_dataset
from genomic_ulmfit.datasets.genomes import Genome, iter_bed, match_names, open_genome, read_name_map
from genomic_ulmfit.errors import InputError
from genomic_ulmfit.fasta import open_text

__all__ = [
    "build_tss_dataset",
    "read_gff_tss",
    "read_sga",
    "read_tss",
    "read_tss_bed",
    "tss_dataset_main",
    "window_interval",
]

logger = logging.getLogger(__name__)

TSS_COLUMNS = ["chrom", "tss", "strand", "name"]  # tss: 0-based position of the TSS base
OUTPUT_COLUMNS = ["id", "sequence", "label", "split", "chrom", "start", "end", "strand", "origin"]
NEGATIVE_SAMPLERS = ("shuffle", "between_tss")
_ACGT = re.compile(r"^[ACGT]+$")
_SHUFFLE_ROUNDS = 20
_SGA_FIELDS = "at least 5 tab-separated fields: chromosome, feature, position (1-based), strand (+/-), count[, name]"
_GFF_FIELDS = "9 tab-separated fields: seqid, source, type, start, end, score, strand, phase, attributes"
_GFF_NAME_KEYS = ("ID", "transcript_id", "gene_id", "Name")


# --------------------------------------------------------------------------- TSS tables


def _tss_frame(rows: list[tuple[str, int, str, str]], path: Path, what: str) -> pd.DataFrame:
    if not rows:
        raise ValueError(f"{path}: no {what} found")
    df = pd.DataFrame(rows, columns=TSS_COLUMNS)
    n = len(df)
    df = df.drop_duplicates(["chrom", "tss", "strand"]).reset_index(drop=True)
    logger.info("%s: %d TSSs (%d duplicates removed)", path, len(df), n - len(df))
    df.attrs["tss_read"] = n
    return df


def _strand(value: str, path: Path, lineno: int) -> str:
    if value not in ("+", "-"):
        raise ValueError(f"{path}: line {lineno}: strand {value!r}; expected '+' or '-' (a TSS has a strand)")
    return value


def read_sga(path: str | Path) -> pd.DataFrame:
    """TSSs of an SGA file (EPDnew): 1-based positions become 0-based `tss`."""
    path, rows = Path(path), []
    with open_text(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip() or line.startswith("#"):
                continue
            f = line.rstrip("\n\r").split("\t")
            if len(f) < 5 or not f[2].isdigit() or int(f[2]) < 1:
                raise ValueError(f"{path}: line {lineno}: {line.strip()[:80]!r}; expected {_SGA_FIELDS}")
            name = f[5] if len(f) > 5 and f[5] else f"{f[1]}_{lineno}"
            rows.append((f[0], int(f[2]) - 1, _strand(f[3], path, lineno), name))
    return _tss_frame(rows, path, "SGA record")


def read_tss_bed(path: str | Path) -> pd.DataFrame:
    """TSSs of a BED6+ file: the 5' end of the thick part (EPDnew BED) or of the interval."""
    path, rows = Path(path), []
    for lineno, f in iter_bed(path, 6, "BED6+: chrom, start, end, name, score, strand"):
        start, end, strand = int(f[1]), int(f[2]), _strand(f[5], path, lineno)
        if len(f) >= 8 and f[6].isdigit() and f[7].isdigit() and int(f[6]) < int(f[7]):
            start, end = int(f[6]), int(f[7])
        rows.append((f[0], start if strand == "+" else end - 1, strand, f[3] or f"tss_{lineno}"))
    return _tss_frame(rows, path, "BED record")


def _gff_name(attributes: str, fallback: str) -> str:
    for key in _GFF_NAME_KEYS:
        m = re.search(rf'(?:^|;)\s*{key}[= ]"?([^";]+)', attributes)
        if m:
            return m.group(1).strip()
    return fallback


def read_gff_tss(path: str | Path, feature_type: str = "gene") -> pd.DataFrame:
    """TSSs of a GFF3 or GTF file: start (+) or end (-) of every `feature_type` feature."""
    path, rows, skipped, types = Path(path), [], Counter(), Counter()
    with open_text(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.startswith("##FASTA"):
                break
            if not line.strip() or line.startswith("#"):
                continue
            f = line.rstrip("\n\r").split("\t")
            if len(f) != 9 or not (f[3].isdigit() and f[4].isdigit()) or int(f[3]) > int(f[4]):
                raise ValueError(f"{path}: line {lineno}: {line.strip()[:80]!r}; expected {_GFF_FIELDS} "
                                 "with 1-based start <= end")
            types[f[2]] += 1
            if f[2] != feature_type:
                continue
            if f[6] not in ("+", "-"):
                skipped["no_strand"] += 1
                continue
            tss = int(f[3]) - 1 if f[6] == "+" else int(f[4]) - 1
            rows.append((f[0], tss, f[6], _gff_name(f[8], f"{f[0]}_{tss}{f[6]}")))
    if skipped:
        logger.info("%s: skipped %s", path, dict(skipped))
    if types and feature_type not in types:
        found = ", ".join(f"{t} ({n})" for t, n in types.most_common())
        raise InputError(f"{path}: no '{feature_type}' feature (column 3); the feature types in it are "
                         f"{found}; choose one with --feature-type")
    return _tss_frame(rows, path, f"'{feature_type}' feature with a strand")


def tss_format(path: Path, fmt: str = "auto") -> str:
    if fmt != "auto":
        return fmt
    name = path.name.lower().removesuffix(".gz")
    for suffix, found in ((".sga", "sga"), (".bed", "bed"), (".gff3", "gff"), (".gff", "gff"), (".gtf", "gff")):
        if name.endswith(suffix):
            return found
    raise ValueError(f"{path}: cannot tell the TSS format from the name; expected .sga, .bed, "
                     ".gff, .gff3 or .gtf (optionally .gz), or give the format (sga, bed, gff)")


def read_tss(path: str | Path, fmt: str = "auto", feature_type: str = "gene") -> pd.DataFrame:
    """A TSS table (chrom, tss, strand, name) from SGA, BED or GFF3/GTF."""
    path = Path(path)
    fmt = tss_format(path, fmt)
    if fmt == "sga":
        return read_sga(path)
    if fmt == "bed":
        return read_tss_bed(path)
    if fmt in ("gff", "gtf"):
        return read_gff_tss(path, feature_type)
    raise ValueError(f"{path}: unknown TSS format {fmt!r}; expected sga, bed, gff or gtf")


# --------------------------------------------------------------------------- windows


def window_interval(tss: int, strand: str, upstream: int, downstream: int) -> tuple[int, int]:
    """Genomic [start, end) of the window with the TSS at index `upstream` once read on `strand`."""
    if strand == "+":
        return tss - upstream, tss + downstream
    return tss - downstream + 1, tss + upstream + 1


def _positives(
    tss: pd.DataFrame, genome: Genome, upstream: int, downstream: int, label: str,
    seen: set[str], dropped: Counter,
) -> tuple[list[dict], list[tuple[str, int, int]]]:
    rows, occupied, used = [], [], Counter()
    for t in tss.itertuples(index=False):
        start, end = window_interval(t.tss, t.strand, upstream, downstream)
        size = genome.sizes[t.chrom]
        if max(start, 0) < min(end, size):
            occupied.append((t.chrom, max(start, 0), min(end, size)))
        if start < 0 or end > size:
            dropped["positive_off_chromosome"] += 1
            continue
        seq = genome.fetch(t.chrom, start, end, t.strand)
        if not _ACGT.match(seq):
            dropped["positive_non_acgt"] += 1
        elif seq in seen:
            dropped["positive_duplicate"] += 1
        else:
            seen.add(seq)
            used[t.name] += 1
            suffix = "" if used[t.name] == 1 else f"_{used[t.name]}"
            rows.append(dict(id=f"tss_{t.name}{suffix}", sequence=seq, label=label, chrom=t.chrom,
                             start=start, end=end, strand=t.strand, origin=t.name))
    return rows, occupied


def _accept(genome: Genome, chrom: str, start: int, end: int, strand: str, seen: set[str],
            dropped: Counter) -> str | None:
    """The window's sequence, or None (counted) when it holds non-ACGT or repeats a sequence."""
    if start < 0 or end > genome.sizes[chrom]:
        dropped["negative_off_chromosome"] += 1
        return None
    seq = genome.fetch(chrom, start, end, strand)
    if not _ACGT.match(seq):
        dropped["negative_non_acgt"] += 1
        return None
    if seq in seen:
        dropped["negative_duplicate"] += 1
        return None
    seen.add(seq)
    return seq


def _negative(seq: str, label: str, chrom: str, start: int, end: int, strand: str, origin: str, i: int) -> dict:
    return dict(id=f"neg_{i:06d}", sequence=seq, label=label, chrom=chrom, start=start, end=end,
                strand=strand, origin=origin)


def shuffle_negatives(
    genome: Genome, occupied: list[tuple[str, int, int]], width: int, strands: list[str],
    seed: int, label: str, seen: set[str], dropped: Counter,
) -> list[dict]:
    """bedtools shuffle of len(strands) windows, clear of `occupied` and of each other."""
    rows: list[dict] = []
    excl = list(occupied)
    host = max(genome.sizes, key=genome.sizes.get)
    for round_ in range(_SHUFFLE_ROUNDS):
        need = strands[len(rows):]
        if not need:
            break
        windows = pybedtools.BedTool([(host, 0, width, f"w{i}", 0, s) for i, s in enumerate(need)])
        placed = windows.shuffle(g=str(genome.sizes_file()), excl=pybedtools.BedTool(excl).sort().fn,
                                 noOverlapping=True, seed=seed + round_)
        for iv in placed:
            seq = _accept(genome, iv.chrom, iv.start, iv.end, iv.strand, seen, dropped)
            if seq is not None:
                excl.append((iv.chrom, iv.start, iv.end))
                rows.append(_negative(seq, label, iv.chrom, iv.start, iv.end, iv.strand, "shuffle", len(rows)))
    if len(rows) < len(strands):
        raise RuntimeError(f"bedtools shuffle found only {len(rows)} of {len(strands)} negative windows "
                           f"of {width} bp clear of promoters in {_SHUFFLE_ROUNDS} rounds "
                           f"(rejections: {dict(dropped)}); the genome is too small for this many")
    return rows


def _gaps(occupied: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Gaps between consecutive (merged) promoter windows of each chromosome."""
    merged = pybedtools.BedTool(occupied).sort().merge()
    gaps, last = [], None
    for iv in merged:
        if last is not None and last.chrom == iv.chrom:
            gaps.append((iv.chrom, last.end, iv.start))
        last = iv
    return gaps


def _gap_slots(gaps: list[tuple[str, int, int]], width: int, rng: np.random.Generator,
               dropped: Counter) -> list[tuple[str, int]]:
    """Non-overlapping window starts tiling each gap, the tiling shifted by a random offset."""
    slots = []
    for chrom, a, b in gaps:
        fit = (b - a) // width
        if not fit:
            dropped["gap_too_short"] += 1
            continue
        offset = a + int(rng.integers(0, (b - a) - fit * width + 1))
        slots += [(chrom, offset + i * width) for i in range(fit)]
    return slots


def between_tss_negatives(
    genome: Genome, occupied: list[tuple[str, int, int]], width: int, target: int,
    seed: int, label: str, seen: set[str], dropped: Counter,
) -> list[dict]:
    """`target` windows drawn at random among the non-overlapping windows that fit in the
    gaps between consecutive promoter windows, each on a random strand."""
    rng = np.random.default_rng(seed)
    slots = _gap_slots(_gaps(occupied), width, rng, dropped)
    rows: list[dict] = []
    for i in rng.permutation(len(slots)):
        if len(rows) == target:
            break
        (chrom, start), strand = slots[i], "+-"[int(rng.integers(2))]
        seq = _accept(genome, chrom, start, start + width, strand, seen, dropped)
        if seq is not None:
            rows.append(_negative(seq, label, chrom, start, start + width, strand, "between_tss", len(rows)))
    if len(rows) < target:
        logger.warning("between_tss: the gaps between TSS windows give only %d of %d negatives",
                       len(rows), target)
    return rows


def build_tss_dataset(
    genome: Genome,
    tss: pd.DataFrame,
    seed: int,
    upstream: int = 500,
    downstream: int = 500,
    negatives: str = "shuffle",
    negatives_per_positive: float = 1.0,
    max_positives: int | None = None,
    name_map: dict[str, str] | None = None,
    labels: tuple[str, str] = ("promoter", "non_promoter"),
    source: str = "TSS table",
) -> pd.DataFrame:
    """Promoter windows around `tss` and negatives from `genome` (columns of OUTPUT_COLUMNS
    but split). Counts of what was dropped are logged and kept in attrs["build_stats"]."""
    if upstream < 0 or downstream < 1:
        raise ValueError(f"upstream must be >= 0 and downstream >= 1 (the TSS), got {upstream}/{downstream}")
    if negatives not in NEGATIVE_SAMPLERS:
        raise ValueError(f"negatives: {negatives!r}; expected one of {list(NEGATIVE_SAMPLERS)}")
    names = match_names(tss["chrom"], genome, name_map, what=source)
    tss = tss.assign(chrom=tss["chrom"].map(names))
    seen: set[str] = set()
    dropped: Counter = Counter()
    positives, occupied = _positives(tss, genome, upstream, downstream, labels[0], seen, dropped)
    rng = np.random.default_rng(seed)
    if max_positives is not None and len(positives) > max_positives:
        positives = [positives[i] for i in sorted(rng.choice(len(positives), max_positives, replace=False))]
    if not positives:
        raise ValueError(f"{source}: no TSS window lies wholly inside the genome with only ACGT "
                         f"(dropped: {dict(dropped)})")
    width, target = upstream + downstream, int(round(len(positives) * negatives_per_positive))
    if negatives == "shuffle":
        strands = [positives[i % len(positives)]["strand"] for i in range(target)]
        negs = shuffle_negatives(genome, occupied, width, strands, seed, labels[1], seen, dropped)
    else:
        negs = between_tss_negatives(genome, occupied, width, target, seed, labels[1], seen, dropped)
    stats = {"tss_read": int(tss.attrs.get("tss_read", len(tss))), "tss_unique": len(tss),
             "positives": len(positives), "negatives": len(negs), "dropped": dict(dropped)}
    logger.info("%s: %d TSSs -> %d promoter windows, %d %s negatives of %d bp; dropped %s",
                source, len(tss), len(positives), len(negs), negatives, width, dict(dropped))
    df = pd.DataFrame(positives + negs, columns=[c for c in OUTPUT_COLUMNS if c != "split"])
    df.attrs["build_stats"] = stats
    return df


# --------------------------------------------------------------------------- command line


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="tss-dataset", description="Promoter windows around TSSs "
                                "(EPDnew SGA/BED or GFF3/GTF) and genomic negatives, split seeded.")
    p.add_argument("--genome", type=Path, required=True, help="genome FASTA (plain; .gz is cached plain)")
    p.add_argument("--annotation", type=Path, required=True, help="TSS table: .sga, .bed, .gff(3), .gtf")
    p.add_argument("--format", default="auto", choices=["auto", "sga", "bed", "gff", "gtf"])
    p.add_argument("--feature-type", default="gene", help="GFF/GTF feature whose 5' end is the TSS")
    p.add_argument("--names", type=Path, help="name map: NCBI *_assembly_report.txt or two columns")
    p.add_argument("--upstream", type=int, default=500)
    p.add_argument("--downstream", type=int, default=500)
    p.add_argument("--negatives", default="shuffle", choices=NEGATIVE_SAMPLERS)
    p.add_argument("--negatives-per-positive", type=float, default=1.0)
    p.add_argument("--max-positives", type=int, default=None, help="seeded subset of the promoters")
    p.add_argument("--positive-label", default="promoter")
    p.add_argument("--negative-label", default="non_promoter")
    p.add_argument("--out", type=Path, required=True, help="output TSV; .summary.json next to it")
    add_split_args(p)
    return p.parse_args(argv)


def tss_dataset_main(argv: list[str] | None = None) -> None:
    """CLI: TSS windows + negatives, split, written with a summary JSON."""
    args = _parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    genome = open_genome(args.genome)
    tss = read_tss(args.annotation, args.format, args.feature_type)
    name_map = read_name_map(args.names) if args.names else None
    try:
        df = build_tss_dataset(genome, tss, args.seed, args.upstream, args.downstream, args.negatives,
                               args.negatives_per_positive, args.max_positives, name_map,
                               (args.positive_label, args.negative_label), source=str(args.annotation))
    finally:
        pybedtools.cleanup()
    split, info = split_from_args(df, args)
    summary = {
        "builder": "tss_windows", "genome": str(args.genome), "annotation": str(args.annotation),
        "format": tss_format(args.annotation, args.format), "feature_type": args.feature_type,
        "window": {"upstream": args.upstream, "downstream": args.downstream},
        "negatives": {"sampler": args.negatives, "per_positive": args.negatives_per_positive},
        "build": df.attrs["build_stats"], "split": info,
    }
    write_dataset(split, args.out, summary, OUTPUT_COLUMNS)
