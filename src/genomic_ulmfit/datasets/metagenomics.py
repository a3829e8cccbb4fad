"""Metagenomic 16S reads labelled by genus (Fiannaca et al. 2018, MetagenomicDC).

Input: 16S rRNA sequences whose FASTA headers carry the taxonomy, `>id class order
family genus` (MetagenomicDC's 1000seq.fasta: 100 genera x 10 species), optionally
checked against a taxonomy table with the same lines (their taxonomy.txt).

Amplicon reads: in-silico PCR with degenerate primers (default the V3-V4 pair of
MetagenomicDC's simulated amplicon set, CCTACGGGAGGCAGCAG / CCGTCAATTCMTTTRAGT). A
primer base matches a template base A, C, G or T in its IUPAC base set (an ambiguous
template base counts as a mismatch), and up to `max_mismatches` positions may not.
Both strands are searched; of all (forward site, reverse-primer site downstream) pairs
the shortest amplicon is kept, primers trimmed by default (their read set is named
"trimmed"). With the default primers 96 of the 100 genera of 1000seq.fasta give an
amplicon, as in MetagenomicDC's own amplicon set. A read starts at either end of the
amplicon (the direction drawn per read, as Grinder does by default); paired reads
give both ends of one fragment. Sequences without an amplicon are counted and
listed in the summary.

Shotgun reads: fragments at uniform random positions on either strand of the whole
sequence (what Grinder's shotgun mode does with an equal abundance per sequence).

Both: read lengths ~ Normal(read_length, read_length_sd), rounded and clipped to
[min_read_length, what the template offers]; substitutions at `error_rate` per base,
uniform along the read, to one of the three other bases (seeded numpy). Reads that
cover a non-ACGT template base are dropped and counted, as the paper's notebooks
dropped them. A repeated read (or read pair) is kept once.

Split: label(genus)-stratified and seeded, by read as the paper did (reads of one 16S
sequence reach every split), or by sequence (`split_by: sequence`: all reads of a 16S
sequence in one split, so the test genera are recognised from unseen species).
Mates of a pair always share a split.

MetagenomicDC's sets hold 28,000 amplicon and 28,224 shotgun reads from the 1000
sequences (28 per sequence, hence the default); their read-length and error settings
are not published with the data, so the defaults here (250 +- 25 bp, 1% substitutions)
are this project's choice, recorded in each summary.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from genomic_ulmfit.corpus import reverse_complement_codes
from genomic_ulmfit.datasets.common import assign_splits, check_sequence, write_dataset
from genomic_ulmfit.datasets.fasta_sets import dedupe_sequences
from genomic_ulmfit.fasta import iter_fasta_records, open_text
from genomic_ulmfit.kmers import INVALID_CODE, encode_bases

__all__ = [
    "FORWARD_PRIMER",
    "REVERSE_PRIMER",
    "Amplicon",
    "ReadSettings",
    "build_metagenomics_reads",
    "find_amplicon",
    "iupac_masks",
    "metagenomics_amplicon_main",
    "metagenomics_shotgun_main",
    "primer_sites",
    "read_16s",
]

logger = logging.getLogger(__name__)

FORWARD_PRIMER = "CCTACGGGAGGCAGCAG"
REVERSE_PRIMER = "CCGTCAATTCMTTTRAGT"
OUTPUT_COLUMNS = ["id", "sequence", "label", "split", "record", "taxonomy", "fragment", "mate",
                  "strand", "start", "end", "errors"]
AMPLICON_COLUMNS = ["amplicon_strand", "amplicon_start", "amplicon_end"]

# IUPAC code -> bit set of A=1, C=2, G=4, T=8.
_IUPAC = {"A": 1, "C": 2, "G": 4, "T": 8, "U": 8, "R": 5, "Y": 10, "S": 6, "W": 9, "K": 12,
          "M": 3, "B": 14, "D": 13, "H": 11, "V": 7, "N": 15}
_MASKS = np.zeros(256, dtype=np.uint8)
for _code, _bits in _IUPAC.items():
    _MASKS[ord(_code)] = _MASKS[ord(_code.lower())] = _bits
_ACGT = np.frombuffer(b"ACGT", dtype=np.uint8)


def iupac_masks(seq: str, where: str) -> np.ndarray:
    """Base-set bit masks of an IUPAC sequence; ValueError naming `where` on another letter."""
    masks = _MASKS[np.frombuffer(seq.encode("ascii", errors="replace"), dtype=np.uint8)]
    if len(masks) == 0 or not masks.all():
        bad = seq[int(np.flatnonzero(masks == 0)[0])] if len(masks) else "(empty)"
        raise ValueError(f"{where}: {bad!r} is not an IUPAC nucleotide code")
    return masks


def _complement_masks(masks: np.ndarray) -> np.ndarray:
    """Reverse complement of base-set masks (A<->T, C<->G bits, order reversed)."""
    m = masks[::-1]
    return ((m & 1) << 3) | ((m & 8) >> 3) | ((m & 2) << 1) | ((m & 4) >> 1)


def primer_sites(template: np.ndarray, primer: np.ndarray, max_mismatches: int = 0) -> np.ndarray:
    """Start positions where `primer` (masks) matches `template` (masks) with at most
    `max_mismatches` positions whose base sets do not intersect."""
    if len(template) < len(primer):
        return np.zeros(0, dtype=np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(template, len(primer))
    mismatches = ((windows & primer) == 0).sum(axis=1)
    return np.flatnonzero(mismatches <= max_mismatches)


@dataclass(frozen=True)
class Amplicon:
    """An amplicon on the record: [start, end) on its given strand ('+') or on the
    reverse complement ('-': the primers bind the record reversed); `pairs` counts
    the primer-site pairs found (the shortest amplicon is the one kept)."""

    strand: str
    start: int
    end: int
    pairs: int


def find_amplicon(seq: str, forward: str, reverse: str, max_mismatches: int = 0,
                  trim_primers: bool = True, where: str = "sequence") -> Amplicon | None:
    """The shortest amplicon of `seq` between a forward-primer site and a downstream site
    of the reverse primer's reverse complement, on either strand; None if there is none."""
    fwd = iupac_masks(forward, "forward primer")
    rev = _complement_masks(iupac_masks(reverse, "reverse primer"))
    plus = iupac_masks(seq, where)
    plus = np.where(np.isin(plus, (1, 2, 4, 8)), plus, 0)  # an unknown template base is a mismatch
    best, pairs = None, 0
    for strand, template in (("+", plus), ("-", _complement_masks(plus))):
        f = primer_sites(template, fwd, max_mismatches)
        r = primer_sites(template, rev, max_mismatches)
        ok = r[None, :] >= f[:, None] + len(fwd)  # the reverse site after the forward primer
        pairs += int(ok.sum())
        if not ok.any():
            continue
        fi, ri = np.nonzero(ok)
        lengths = r[ri] + len(rev) - f[fi]
        i = int(np.argmin(lengths))
        start, end = int(f[fi[i]]), int(r[ri[i]] + len(rev))
        if trim_primers:
            start, end = start + len(fwd), end - len(rev)
        if best is None or end - start < best.end - best.start:
            best = Amplicon(strand, start, end, 0)
    return None if best is None else Amplicon(best.strand, best.start, best.end, pairs)


# --------------------------------------------------------------------------- input


def read_16s(fasta: Path, taxonomy: Path | None = None) -> pd.DataFrame:
    """Records (record, sequence, taxonomy, label = genus) of a 16S FASTA whose headers
    read `>id rank ... genus`; with `taxonomy` (lines `>id rank ... genus`), every record
    must appear there with the same ranks."""
    rows = []
    for n, rec in enumerate(iter_fasta_records(fasta), start=1):
        ranks = rec.header.split()[1:]
        where = f"{fasta}: record #{n} '{rec.name}'"
        if not ranks:
            raise ValueError(f"{where}: header {rec.header!r} has no taxonomy; expected '>id class order family genus'")
        rows.append({"record": rec.name, "sequence": check_sequence(rec.sequence, where),
                     "taxonomy": ";".join(ranks), "label": ranks[-1]})
    df = pd.DataFrame(rows)
    repeated = df["record"][df["record"].duplicated()]
    if len(repeated):
        raise ValueError(f"{fasta}: record id {repeated.iloc[0]!r} appears more than once; expected unique ids")
    if taxonomy is not None:
        _check_taxonomy(df, taxonomy)
    return df


def _check_taxonomy(df: pd.DataFrame, taxonomy: Path) -> None:
    table = {}
    with open_text(taxonomy) as fh:
        for lineno, line in enumerate(fh, start=1):
            words = line.strip().lstrip(">").split()
            if words:
                table[words[0]] = (";".join(words[1:]), lineno)
    for rec, tax in zip(df["record"], df["taxonomy"]):
        if rec not in table:
            raise ValueError(f"{taxonomy}: no line for record {rec!r} of the FASTA; expected one per record")
        if table[rec][0] != tax:
            raise ValueError(f"{taxonomy}: line {table[rec][1]}: record {rec!r} has taxonomy "
                             f"{table[rec][0]!r}, but its FASTA header says {tax!r}")


# --------------------------------------------------------------------------- reads


@dataclass(frozen=True)
class ReadSettings:
    reads_per_sequence: int = 28
    read_length: int = 250
    read_length_sd: float = 25.0
    min_read_length: int = 50
    error_rate: float = 0.01
    paired: bool = False

    def __post_init__(self) -> None:
        if self.reads_per_sequence < 1 or self.read_length < 1 or self.min_read_length < 1:
            raise ValueError(f"read settings {self}: counts and lengths must be >= 1")
        if not 0 <= self.error_rate < 1 or self.read_length_sd < 0:
            raise ValueError(f"read settings {self}: error_rate must lie in [0, 1) and read_length_sd >= 0")


def _lengths(rng: np.random.Generator, n: int, s: ReadSettings, available: int, scale: int = 1) -> np.ndarray:
    """n lengths ~ Normal(scale x read_length, read_length_sd), within [min_read_length, available]."""
    mean = scale * s.read_length
    raw = rng.normal(mean, s.read_length_sd, n) if s.read_length_sd else np.full(n, mean)
    return np.clip(np.rint(raw), min(s.min_read_length, available), available).astype(np.int64)


def _to_record(n: int, template_strand: str, start: int, end: int, read_strand: str) -> tuple[int, int, str]:
    """Interval and strand on the record of a read given on the (possibly reversed) template."""
    if template_strand == "+":
        return start, end, read_strand
    return n - end, n - start, "-" if read_strand == "+" else "+"


def _read(codes: np.ndarray, start: int, end: int, strand: str, rate: float,
          rng: np.random.Generator) -> tuple[str, int] | None:
    """The read's bases with substitutions and its error count; None if it covers a non-ACGT base."""
    piece = codes[start:end] if strand == "+" else reverse_complement_codes(codes[start:end])
    if (piece >= INVALID_CODE).any():
        return None
    piece = piece.copy()
    hit = np.flatnonzero(rng.random(len(piece)) < rate)
    piece[hit] = (piece[hit] + rng.integers(1, 4, len(hit))) % 4  # always another base
    return _ACGT[piece].tobytes().decode(), len(hit)


def _shotgun_fragments(rng: np.random.Generator, n: int, s: ReadSettings) -> list[list[tuple[int, int, str]]]:
    """Fragments (each a list of mates (start, end, strand) on the record) of a sequence of n bases."""
    out = []
    for _ in range(s.reads_per_sequence):
        if s.paired:  # a template fragment of ~2 read lengths, read from both ends
            frag = int(_lengths(rng, 1, s, n, scale=2)[0])
            a = int(rng.integers(0, n - frag + 1))
            l1, l2 = _lengths(rng, 2, s, frag)
            mates = [(a, a + int(l1), "+"), (a + frag - int(l2), a + frag, "-")]
            out.append(mates if rng.random() < 0.5 else mates[::-1])
        else:
            length = int(_lengths(rng, 1, s, n)[0])
            a = int(rng.integers(0, n - length + 1))
            out.append([(a, a + length, "+" if rng.random() < 0.5 else "-")])
    return out


def _amplicon_fragments(rng: np.random.Generator, n: int, amp: Amplicon,
                        s: ReadSettings) -> list[list[tuple[int, int, str]]]:
    """Reads from the ends of the amplicon, in record coordinates."""
    size = amp.end - amp.start
    out = []
    for _ in range(s.reads_per_sequence):
        lengths = _lengths(rng, 2 if s.paired else 1, s, size)
        ends = [("+", int(lengths[0])), ("-", int(lengths[-1]))] if s.paired else \
            [("+" if rng.random() < 0.5 else "-", int(lengths[0]))]
        mates = []
        for strand, length in ends:
            a, b = (amp.start, amp.start + length) if strand == "+" else (amp.end - length, amp.end)
            mates.append(_to_record(n, amp.strand, a, b, strand))
        out.append(mates)
    return out


def _fragment_rows(record: pd.Series, fragments: list, s: ReadSettings, rng: np.random.Generator,
                   extra: dict, dropped: dict) -> list[dict]:
    codes = encode_bases(record["sequence"], record["record"])
    rows = []
    for i, mates in enumerate(fragments):
        reads = [_read(codes, a, b, strand, s.error_rate, rng) for a, b, strand in mates]
        if any(r is None for r in reads):
            dropped["ambiguous_base"] += 1
            continue
        for m, ((a, b, strand), (seq, errors)) in enumerate(zip(mates, reads), start=1):
            frag = f"{record['record']}_{i}"
            rows.append({"id": f"{frag}_{m}" if s.paired else frag, "sequence": seq,
                         "label": record["label"], "record": record["record"],
                         "taxonomy": record["taxonomy"], "fragment": frag,
                         "mate": m if s.paired else 0, "strand": strand, "start": a, "end": b,
                         "errors": errors, **extra})
    return rows


def build_metagenomics_reads(records: pd.DataFrame, mode: str, settings: ReadSettings, seed: int,
                             forward: str = FORWARD_PRIMER, reverse: str = REVERSE_PRIMER,
                             max_mismatches: int = 0, trim_primers: bool = True) -> pd.DataFrame:
    """Simulated reads (rows of OUTPUT_COLUMNS but split, plus AMPLICON_COLUMNS in amplicon
    mode) of the 16S `records` (from read_16s); counts in `result.attrs["build_stats"]`."""
    if mode not in ("amplicon", "shotgun"):
        raise ValueError(f"mode {mode!r}; expected amplicon or shotgun")
    rng = np.random.default_rng(seed)
    rows, dropped, no_amplicon, multi = [], {"ambiguous_base": 0}, [], 0
    for _, rec in records.iterrows():
        n = len(rec["sequence"])
        if mode == "shotgun":
            rows += _fragment_rows(rec, _shotgun_fragments(rng, n, settings), settings, rng, {}, dropped)
            continue
        amp = find_amplicon(rec["sequence"], forward, reverse, max_mismatches, trim_primers,
                            where=f"record {rec['record']}")
        if amp is None or amp.end <= amp.start:
            no_amplicon.append({"record": rec["record"], "label": rec["label"]})
            continue
        multi += amp.pairs > 1
        a, b, _ = _to_record(n, amp.strand, amp.start, amp.end, "+")
        extra = {"amplicon_strand": amp.strand, "amplicon_start": a, "amplicon_end": b}
        rows += _fragment_rows(rec, _amplicon_fragments(rng, n, amp, settings), settings, rng, extra, dropped)
    if not rows:
        raise ValueError(f"{mode}: no read from {len(records)} sequences "
                         f"({len(no_amplicon)} without an amplicon, {dropped} dropped)")
    df = pd.DataFrame(rows)
    stats = {"sequences": len(records), "genera": int(records["label"].nunique()),
             "fragments_dropped": dropped, "reads": len(df)}
    if mode == "amplicon":
        lost = sorted(set(records["label"]) - set(df["label"]))
        stats.update(no_amplicon=len(no_amplicon), no_amplicon_records=no_amplicon,
                     genera_without_reads=lost, several_primer_site_pairs=int(multi))
        if no_amplicon:
            logger.warning("%d of %d sequences give no amplicon with %s / %s (max %d mismatches); "
                           "genera left without reads: %s", len(no_amplicon), len(records), forward,
                           reverse, max_mismatches, lost or "none")
    df.attrs["build_stats"] = stats
    return df


# --------------------------------------------------------------------------- split


def split_reads(df: pd.DataFrame, seed: int, fractions: tuple[float, float, float],
                by: str = "read") -> tuple[pd.DataFrame, dict]:
    """Repeated fragments kept once, then a genus-stratified split of fragments (`by`
    read) or of 16S records (`by` sequence); mates follow their fragment."""
    group = {"read": "fragment", "sequence": "record"}.get(by)
    if group is None:
        raise ValueError(f"split_by {by!r}; expected read or sequence")
    frags = (df.groupby("fragment", sort=False)
             .agg(sequence=("sequence", ",".join), label=("label", "first"), record=("record", "first"))
             .reset_index().rename(columns={"fragment": "id"}))
    kept, stats = dedupe_sequences(frags)
    df = df[df["fragment"].isin(set(kept["id"]))]
    units = kept.rename(columns={"id": "fragment"})[[group, "label"]].drop_duplicates(group)
    n_genera = units["label"].nunique()
    small = [f for f in fractions if 0 < f * len(units) < n_genera]
    if by == "sequence" and small:
        raise ValueError(f"split_by sequence: {len(units)} sequences of {n_genera} genera cannot give "
                         f"every split of fractions {list(fractions)} one sequence per genus; "
                         f"expected each non-zero fraction >= {n_genera / len(units):.3f}")
    parts, info = assign_splits(units.rename(columns={group: "id"}), seed, fractions)
    split = dict(zip(parts["id"], parts["split"]))
    info.update(split_by=by, stratified_by="label (genus)", dedupe=stats)
    return df.assign(split=df[group].map(split)).reset_index(drop=True), info


# --------------------------------------------------------------------------- command line


def _parse_args(prog: str, argv: list[str] | None, amplicon: bool) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("--fasta", type=Path, required=True, help="16S FASTA, headers '>id class order family genus'")
    p.add_argument("--taxonomy", type=Path, help="taxonomy lines '>id ranks...' to check the headers against")
    p.add_argument("--out", type=Path, required=True, help="output TSV; .summary.json next to it")
    p.add_argument("--reads-per-sequence", type=int, default=28)
    p.add_argument("--read-length", type=int, default=250)
    p.add_argument("--read-length-sd", type=float, default=25.0)
    p.add_argument("--min-read-length", type=int, default=50)
    p.add_argument("--error-rate", type=float, default=0.01, help="substitutions per base")
    p.add_argument("--paired", action="store_true", help="both ends of each fragment (mates share a split)")
    if amplicon:
        p.add_argument("--forward-primer", default=FORWARD_PRIMER)
        p.add_argument("--reverse-primer", default=REVERSE_PRIMER)
        p.add_argument("--max-mismatches", type=int, default=0, help="per primer")
        p.add_argument("--keep-primers", action="store_true", help="reads may include the primer sites")
    p.add_argument("--split-by", default="read", choices=["read", "sequence"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fractions", default="0.81,0.09,0.10", help="train,valid,test fractions")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return args


def _main(argv: list[str] | None, mode: str) -> None:
    args = _parse_args(f"metagenomics-{mode}", argv, mode == "amplicon")
    settings = ReadSettings(args.reads_per_sequence, args.read_length, args.read_length_sd,
                            args.min_read_length, args.error_rate, args.paired)
    primers = {}
    if mode == "amplicon":
        primers = {"forward": args.forward_primer.upper(), "reverse": args.reverse_primer.upper(),
                   "max_mismatches": args.max_mismatches, "trim_primers": not args.keep_primers}
    records = read_16s(args.fasta, args.taxonomy)
    reads = build_metagenomics_reads(records, mode, settings, args.seed, **primers)
    fractions = tuple(float(x) for x in args.fractions.split(","))
    split, info = split_reads(reads, args.seed, fractions, args.split_by)
    summary = {"builder": f"metagenomics_{mode}", "fasta": str(args.fasta),
               "taxonomy": str(args.taxonomy) if args.taxonomy else None, "seed": args.seed,
               "reads": asdict(settings), "primers": primers or None,
               "build": reads.attrs["build_stats"], "split": info}
    columns = OUTPUT_COLUMNS + (AMPLICON_COLUMNS if mode == "amplicon" else [])
    write_dataset(split, args.out, summary, columns)


def metagenomics_amplicon_main(argv: list[str] | None = None) -> None:
    """CLI: amplicon reads of 16S sequences (in-silico PCR), labelled by genus and split."""
    _main(argv, "amplicon")


def metagenomics_shotgun_main(argv: list[str] | None = None) -> None:
    """CLI: shotgun reads of 16S sequences, labelled by genus and split."""
    _main(argv, "shotgun")

