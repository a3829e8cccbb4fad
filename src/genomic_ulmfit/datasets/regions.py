"""A user's labelled genomic regions: a BED file (name column = label, strand column
optional) cut from a genome, read on each region's strand (minus reverse-complemented).

Regions off a chromosome end or holding a base other than ACGT are dropped and
counted; repeated sequences are kept once (see fasta_sets.dedupe_sequences).
"""

from __future__ import annotations

import argparse
import logging
import re
from collections import Counter
from pathlib import Path

import pandas as pd

from genomic_ulmfit.datasets.common import add_split_args, split_from_args, write_dataset
from genomic_ulmfit.datasets.fasta_sets import dedupe_sequences
from genomic_ulmfit.datasets.genomes import Genome, iter_bed, match_names, open_genome, read_name_map

__all__ = ["bed_regions_main", "build_bed_regions", "read_regions"]

logger = logging.getLogger(__name__)

OUTPUT_COLUMNS = ["id", "sequence", "label", "split", "chrom", "start", "end", "strand"]
_ACGT = re.compile(r"^[ACGT]+$")
_BED = "BED4+: chrom, start, end, name (the label)[, score, strand]"


def read_regions(path: str | Path) -> pd.DataFrame:
    """chrom, start, end, label, strand of each BED record ('.' or no strand column: '+')."""
    path, rows = Path(path), []
    for lineno, f in iter_bed(path, 4, _BED):
        strand = f[5] if len(f) > 5 else "."
        if strand not in ("+", "-", "."):
            raise ValueError(f"{path}: line {lineno}: strand {strand!r}; expected '+', '-' or '.'")
        if not f[3]:
            raise ValueError(f"{path}: line {lineno}: empty name; expected the region's label ({_BED})")
        rows.append((f[0], int(f[1]), int(f[2]), f[3], "-" if strand == "-" else "+"))
    if not rows:
        raise ValueError(f"{path}: no BED record found; expected {_BED}")
    return pd.DataFrame(rows, columns=["chrom", "start", "end", "label", "strand"])


def build_bed_regions(
    genome: Genome, regions: pd.DataFrame, name_map: dict[str, str] | None = None, source: str = "regions",
) -> pd.DataFrame:
    """Sequences of `regions` on their strands (columns OUTPUT_COLUMNS but split)."""
    names = match_names(regions["chrom"], genome, name_map, what=source)
    dropped, rows = Counter(), []
    for r in regions.assign(chrom=regions["chrom"].map(names)).itertuples(index=False):
        if r.end > genome.sizes[r.chrom]:
            dropped["off_chromosome"] += 1
            continue
        seq = genome.fetch(r.chrom, r.start, r.end, r.strand)
        if not _ACGT.match(seq):
            dropped["non_acgt"] += 1
            continue
        rows.append(dict(id=f"{r.label}:{r.chrom}:{r.start}-{r.end}{r.strand}", sequence=seq,
                         label=r.label, chrom=r.chrom, start=r.start, end=r.end, strand=r.strand))
    if not rows:
        raise ValueError(f"{source}: no region lies inside the genome with only ACGT (dropped: {dict(dropped)})")
    df, stats = dedupe_sequences(pd.DataFrame(rows))
    df.attrs["build_stats"] = {"regions": len(regions), "dropped": dict(dropped), **stats}
    logger.info("%s: %d regions -> %d sequences %s; dropped %s, %s", source, len(regions), len(df),
                df["label"].value_counts().to_dict(), dict(dropped), stats)
    return df


def bed_regions_main(argv: list[str] | None = None) -> None:
    """CLI: labelled BED regions + genome -> labelled, split dataset."""
    p = argparse.ArgumentParser(prog="bed-regions", description="A dataset from labelled BED regions of a genome.")
    p.add_argument("--genome", type=Path, required=True, help="genome FASTA (plain; .gz is cached plain)")
    p.add_argument("--regions", type=Path, required=True, help=_BED)
    p.add_argument("--names", type=Path, help="name map: NCBI *_assembly_report.txt or two columns")
    p.add_argument("--out", type=Path, required=True, help="output TSV; .summary.json next to it")
    add_split_args(p)
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    name_map = read_name_map(args.names) if args.names else None
    df = build_bed_regions(open_genome(args.genome), read_regions(args.regions), name_map, str(args.regions))
    split, info = split_from_args(df, args)
    summary = {"builder": "bed_regions", "genome": str(args.genome), "regions": str(args.regions),
               "seed": args.seed, "build": df.attrs["build_stats"], "split": info}
    write_dataset(split, args.out, summary, OUTPUT_COLUMNS)
