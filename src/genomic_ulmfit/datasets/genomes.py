"""Reference genomes for the window builders.

A genome is a plain, faidx-indexed FASTA (pyfaidx) with a chromosome sizes file
(`<fasta>.sizes`, the genome file bedtools expects). `prepare_genome` (the `genome`
command) writes both next to its output; for any other FASTA they, and the plain copy
of a .gz, go to a per-user cache (genome_cache_dir), never next to the input. NCBI serves
genomes gzip-compressed and bgzip is not guaranteed, so `prepare_genome`
rewrites a .gz into a plain FASTA (uniform line width, as faidx needs) first.

Annotations and genomes often name chromosomes differently (RefSeq NC_000001.11
against UCSC chr1). `match_names` maps annotation names onto the genome's,
directly or through a name map: an NCBI *_assembly_report.txt or a two-column
table; names it cannot place stop the build with examples from both sides.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyfaidx

from genomic_ulmfit.errors import InputError
from genomic_ulmfit.fasta import is_gzip, open_text, read_fasta, reverse_complement, write_fasta
from genomic_ulmfit.io.atomic import atomic_path, write_text

__all__ = [
    "Genome",
    "genome_cache_dir",
    "genome_main",
    "iter_bed",
    "match_names",
    "open_genome",
    "prepare_genome",
    "read_name_map",
]

logger = logging.getLogger(__name__)

_EXAMPLES = 5
CACHE_ENV = "GULMFIT_CACHE_DIR"


class Genome:
    """A plain FASTA with its faidx index; windows come back uppercase, on the given strand.

    The index (and sizes file) beside the FASTA is used when it is there and current (the
    `genome` command writes them so); otherwise they are written to `index_dir` (default: the
    per-user cache, see genome_cache_dir), never beside a user's input.
    """

    def __init__(self, fasta: str | os.PathLike[str], index_dir: str | os.PathLike[str] | None = None) -> None:
        self.fasta = Path(fasta)
        _check_plain(self.fasta)
        self.index_dir = Path(index_dir) if index_dir is not None else genome_cache_dir(self.fasta)
        fai = _index(self.fasta, self.index_dir)
        self._fa = pyfaidx.Fasta(str(self.fasta), indexname=str(fai), as_raw=True,
                                 sequence_always_upper=True)
        self.sizes = {name: len(record) for name, record in self._fa.records.items()}

    def sizes_file(self) -> Path:
        """The bedtools genome file (chromosome<TAB>size): beside the FASTA if current, else
        written (once) to the index directory."""
        beside = self.fasta.with_name(self.fasta.name + ".sizes")
        if _current(beside, self.fasta):
            return beside
        path = self.index_dir / beside.name
        if not _current(path, self.fasta):
            write_text(path, "".join(f"{name}\t{size}\n" for name, size in self.sizes.items()))
        return path

    def fetch(self, chrom: str, start: int, end: int, strand: str = "+") -> str:
        """Bases [start, end) (0-based) of `chrom`, reverse-complemented on '-'."""
        size = self.sizes[chrom]
        if not 0 <= start < end <= size:
            raise ValueError(f"{self.fasta}: window {chrom}:{start}-{end} lies outside the "
                             f"chromosome (0-{size})")
        seq = self._fa[chrom][start:end]
        return reverse_complement(seq) if strand == "-" else seq


def genome_cache_dir(fasta: str | os.PathLike[str]) -> Path:
    """Where the index and plain copy of a user's genome go: $GULMFIT_CACHE_DIR (else
    $XDG_CACHE_HOME/genomic-ulmfit, else ~/.cache/genomic-ulmfit) / genomes / one folder per
    FASTA path."""
    fasta = Path(fasta)
    root = os.environ.get(CACHE_ENV) or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "genomic-ulmfit"
    key = hashlib.sha256(str(fasta.resolve()).encode()).hexdigest()[:16]
    return Path(root) / "genomes" / f"{fasta.name}-{key}"


def _current(path: Path, source: Path) -> bool:
    return path.is_file() and path.stat().st_mtime >= source.stat().st_mtime


def _check_plain(fasta: Path) -> None:
    """A faidx-readable plain FASTA: not compressed, and not named as if it were (pyfaidx
    takes a .gz name for BGZF and fails on anything else with a message naming neither)."""
    if not fasta.is_file():
        raise FileNotFoundError(f"{fasta}: no such genome FASTA")
    if is_gzip(fasta):
        raise InputError(f"{fasta}: gzip-compressed; expected a plain FASTA "
                         "(use open_genome or `genomic-ulmfit genome` first)")
    if fasta.name.lower().endswith((".gz", ".bgz")):
        raise InputError(f"{fasta}: named {fasta.suffix} but not gzip-compressed (a plain FASTA?); "
                         "rename it without the suffix or compress it")


def _index(fasta: Path, index_dir: Path) -> Path:
    """The current .fai of `fasta`: beside it, else in `index_dir` (built there atomically)."""
    beside = fasta.with_name(fasta.name + ".fai")
    if _current(beside, fasta):
        return beside
    fai = index_dir / beside.name
    if _current(fai, fasta):
        return fai
    try:
        with atomic_path(fai) as tmp:
            tmp.unlink()  # pyfaidx would read the empty temp file as an index
            pyfaidx.Faidx(str(fasta), indexname=str(tmp)).close()
    except (ValueError, pyfaidx.FastaIndexingError) as err:
        raise InputError(f"{fasta}: cannot be indexed ({' '.join(str(err).split())}); expected unique "
                         "record names and one line width per record (`genomic-ulmfit genome` "
                         "writes such a copy)") from None
    return fai


_NOT_IUPAC = re.compile(r"[^ACGTURYSWKMBDHVNacgturyswkmbdhvn-]")
_IUPAC = "A, C, G, T/U or one of NRYSWKMBDHV (any case) or '-'"


def _checked_records(src: Path) -> Iterator[tuple[str, str]]:
    """(name, sequence) of `src`, refusing a repeated name or a character that is no base."""
    seen: dict[str, int] = {}
    for n, (name, seq) in enumerate(read_fasta(src), start=1):
        if name in seen:
            raise InputError(f"{src}: record #{n} '{name}' repeats the name of record #{seen[name]}; "
                             "expected unique sequence names (windows are looked up by name)")
        seen[name] = n
        bad = _NOT_IUPAC.search(seq)
        if bad:
            raise InputError(f"{src}: record '{name}' position {bad.start() + 1}: character "
                             f"{bad.group()!r} is not an IUPAC nucleotide code; expected {_IUPAC}")
        yield name, seq


def prepare_genome(src: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Genome:
    """Write `src` (plain or .gz FASTA) as a plain FASTA at `dest`, index it, write its sizes.
    A bad record (repeated name, a character that is no base) leaves none of the three."""
    src, dest = Path(src), Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    side = [dest.with_name(dest.name + ".fai"), dest.with_name(dest.name + ".sizes")]
    for stale in side:
        stale.unlink(missing_ok=True)
    n = write_fasta(_checked_records(src), dest)
    try:
        genome = Genome(dest, index_dir=dest.parent)
        genome.sizes_file()
    except BaseException:
        for path in (dest, *side):
            path.unlink(missing_ok=True)
        raise
    logger.info("%s -> %s: %d sequences, %d bp", src, dest, n, sum(genome.sizes.values()))
    return genome


def open_genome(fasta: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None) -> Genome:
    """A Genome from a plain FASTA, or from a .gz via a cached plain copy in `cache_dir`
    (default: the per-user cache, genome_cache_dir; never beside the input)."""
    fasta = Path(fasta)
    if not fasta.is_file():
        raise FileNotFoundError(f"{fasta}: no such genome FASTA")
    if not is_gzip(fasta):
        return Genome(fasta, index_dir=cache_dir)
    folder = Path(cache_dir) if cache_dir is not None else genome_cache_dir(fasta)
    plain = folder / (fasta.name[:-3] if fasta.name.endswith(".gz") else fasta.name + ".fa")
    fai = plain.with_name(plain.name + ".fai")
    if _current(plain, fasta) and _current(fai, plain):
        return Genome(plain)
    return prepare_genome(fasta, plain)


# --------------------------------------------------------------------------- BED


def iter_bed(path: str | os.PathLike[str], min_columns: int, expected: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each BED record with at least `min_columns` tab-separated
    fields and integer start < end; header, comment and blank lines are skipped."""
    path = Path(path)
    with open_text(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            fields = line.rstrip("\n\r").split("\t")
            if len(fields) < min_columns:
                raise ValueError(f"{path}: line {lineno}: {len(fields)} tab-separated field(s); "
                                 f"expected {expected}")
            try:
                start, end = int(fields[1]), int(fields[2])
            except ValueError:
                raise ValueError(f"{path}: line {lineno}: start/end {fields[1]!r}/{fields[2]!r}; "
                                 f"expected integers ({expected})") from None
            if not 0 <= start < end:
                raise ValueError(f"{path}: line {lineno}: start {start}, end {end}; expected "
                                 "0 <= start < end (BED is 0-based, half-open)")
            yield lineno, fields


# --------------------------------------------------------------------------- names


def _read_assembly_report(path: Path, lines: list[str]) -> dict[str, str]:
    header = [line for line in lines if line.startswith("# Sequence-Name")]
    columns = header[-1][2:].rstrip("\n").split("\t")
    try:
        refseq, ucsc = columns.index("RefSeq-Accn"), columns.index("UCSC-style-name")
    except ValueError:
        raise ValueError(f"{path}: assembly report header lacks RefSeq-Accn or UCSC-style-name; "
                         f"found {columns}") from None
    names = {}
    for lineno, line in enumerate(lines, start=1):
        if line.startswith("#") or not line.strip():
            continue
        fields = line.rstrip("\n").split("\t")
        if len(fields) != len(columns):
            raise ValueError(f"{path}: line {lineno}: {len(fields)} tab-separated fields; expected "
                             f"{len(columns)} ({', '.join(columns)})")
        if fields[refseq] != "na" and fields[ucsc] != "na":
            names[fields[refseq]] = fields[ucsc]
    return names


def _read_name_table(path: Path, lines: list[str]) -> dict[str, str]:
    names = {}
    for lineno, line in enumerate(lines, start=1):
        if line.startswith("#") or not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2:
            raise ValueError(f"{path}: line {lineno}: {len(fields)} field(s); expected two columns: "
                             "a name and its alias (e.g. 'NC_000001.11 chr1')")
        names[fields[0]] = fields[1]
    return names


def read_name_map(path: str | os.PathLike[str]) -> dict[str, str]:
    """Name -> alias pairs from an NCBI assembly report (RefSeq-Accn -> UCSC-style-name)
    or a two-column table."""
    path = Path(path)
    with open_text(path, encoding="utf-8") as fh:
        lines = fh.readlines()
    if any(line.startswith("# Sequence-Name") for line in lines):
        return _read_assembly_report(path, lines)
    return _read_name_table(path, lines)


def match_names(
    names: Iterable[str], genome: Genome, name_map: dict[str, str] | None = None, what: str = "annotation",
) -> dict[str, str]:
    """Map every annotation sequence name onto a genome name, directly or through `name_map`
    (either direction). Raises ValueError listing names from each side when one is not found."""
    lookup = dict(name_map or {})
    lookup.update({alias: name for name, alias in (name_map or {}).items() if alias not in lookup})
    mapping, missing = {}, []
    for name in dict.fromkeys(names):
        if name in genome.sizes:
            mapping[name] = name
        elif lookup.get(name) in genome.sizes:
            mapping[name] = lookup[name]
        else:
            missing.append(name)
    if missing:
        hint = ("the name map does not place them" if name_map else
                "give a name map (an NCBI *_assembly_report.txt or a two-column table)")
        raise ValueError(
            f"{what}: {len(missing)} sequence name(s) are not in the genome {genome.fasta}: "
            f"{missing[:_EXAMPLES]}; the genome has {list(genome.sizes)[:_EXAMPLES]}; {hint}")
    return mapping


# --------------------------------------------------------------------------- command line


def genome_main(argv: list[str] | None = None) -> None:
    """CLI: plain, indexed copy of a genome FASTA with its chromosome sizes."""
    p = argparse.ArgumentParser(prog="genome", description="Write a genome FASTA(.gz) as a plain "
                                "FASTA with its faidx index (.fai) and chromosome sizes (.sizes).")
    p.add_argument("--fasta", type=Path, required=True, help="genome FASTA, plain or gzip")
    p.add_argument("--out", type=Path, required=True, help="plain FASTA to write")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    prepare_genome(args.fasta, args.out)
