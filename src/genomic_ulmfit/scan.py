"""Long-sequence inference: a trained classifier over a genome, region or variant.

* `WindowClassifier` loads a classifier checkpoint once and gives the positive
  class's probability of many equal-length token windows, batched, under
  torch.inference_mode (no autograd graph, no gradients), on CPU or CUDA.
* `scan_genome` slides windows of the training length over chromosomes or
  regions, every `step` bases, on both strands. The genome is tokenized once per
  chunk and each window's tokens are a slice of that (k-mers every `stride`
  bases), so scanning costs the model's forward passes and little else.
* `write_bedgraph` / `write_called_regions`: browser tracks (IGV, UCSC): a
  bedGraph of the probability and a BED of the windows above a threshold,
  merged per strand with `bedtools merge` (pybedtools).
* `annotation_agreement`: share of annotated starts (CDS starts from a GenBank
  file) near a called region, against randomly placed regions of the same
  lengths (`bedtools shuffle`, seeded).
* `score_variants`: reference against alternate windows centred on each VCF
  record (SNVs and indels), both strands averaged.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .checkpoint import checkpoint_config, checkpoint_tokenizer, load_checkpoint
from .errors import InputError
from .io.atomic import atomic_open, atomic_path, write_json, write_text
from .kmers import N_SPECIAL, UNK_ID, encode_bases, kmer_ids, n_tokens
from .logs import progress
from .metrics import positive_class
from .models import classifier

logger = logging.getLogger(__name__)

_COMPLEMENT_CODES = np.array([3, 2, 1, 0, 4], dtype=np.uint8)  # A<->T, C<->G, ambiguous stays


def reverse_complement_codes(codes: np.ndarray) -> np.ndarray:
    """Base codes (0..3 ACGT, 4 ambiguous) of the reverse complement."""
    return _COMPLEMENT_CODES[codes[..., ::-1]]


def tokens_2d(codes: np.ndarray, k: int, stride: int) -> np.ndarray:
    """Token ids of equal-length sequences given as an (n, L) array of base codes:
    the same ids as KmerTokenizer.encode row by row, in one vectorized pass."""
    n, length = codes.shape
    t = n_tokens(length, k, stride)
    idx = np.arange(t)[:, None] * stride + np.arange(k)[None, :]  # (t, k) base positions
    window = codes[:, idx]  # (n, t, k)
    powers = 4 ** np.arange(k - 1, -1, -1, dtype=np.int64)
    ids = (window.astype(np.int64) & 3) @ powers + N_SPECIAL
    ids[(window == 4).any(axis=2)] = UNK_ID
    return ids


# -- the model ---------------------------------------------------------------------------------

class WindowClassifier:
    """A classifier checkpoint ready for inference: probabilities of the positive class."""

    def __init__(self, path: Path, device: torch.device | str = "cpu", batch_size: int = 256,
                 positive: str | None = None):
        meta, state = load_checkpoint(path, "classifier")
        self.path = Path(path)
        self.config = checkpoint_config(meta)
        self.tokenizer = checkpoint_tokenizer(meta)
        self.classes = list(meta["classes"])
        self.positive = positive_class(self.classes, positive)
        self.positive_index = self.classes.index(self.positive)
        self.device = torch.device(device)
        self.batch_size = batch_size
        model = classifier(self.config, self.tokenizer.vocab_size, len(self.classes))
        model.load_state_dict(state)
        self.model = model.to(self.device).eval()

    @property
    def k(self) -> int:
        return self.tokenizer.k

    @property
    def stride(self) -> int:
        return self.tokenizer.stride

    def n_tokens(self, length: int) -> int:
        return n_tokens(length, self.k, self.stride)

    @torch.inference_mode()
    def probabilities(self, tokens: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """P(positive) of each row of an (n, T) array of token ids (windows of one length)."""
        tokens = np.asarray(tokens)
        bs = batch_size or self.batch_size
        out = np.empty(len(tokens), dtype=np.float32)
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.device.type == "cuda" \
            else torch.autocast("cpu", enabled=False)
        with autocast:
            for i in range(0, len(tokens), bs):
                x = torch.from_numpy(np.ascontiguousarray(tokens[i:i + bs], dtype=np.int64))
                logits = self.model(x.to(self.device, non_blocking=True))[0]
                probs = torch.softmax(logits.float(), dim=-1)[:, self.positive_index]
                out[i:i + len(x)] = probs.cpu().numpy()
        return out

    def sequence_probabilities(self, sequences: list[str], names: list[str] | None = None,
                               batch_size: int | None = None) -> np.ndarray:
        """P(positive) of DNA strings; strings of different lengths are batched by length."""
        names = names or [f"sequence {i + 1}" for i in range(len(sequences))]
        tokens = [self.tokenizer.encode(s, n) for s, n in zip(sequences, names)]
        out = np.empty(len(tokens), dtype=np.float32)
        lengths = np.array([len(t) for t in tokens])
        for length in np.unique(lengths):
            rows = np.flatnonzero(lengths == length)
            out[rows] = self.probabilities(np.stack([tokens[i] for i in rows]), batch_size)
        return out


def training_window(dataset: Path, split: str = "train") -> int:
    """The sequence length the classifier was trained on: the most common one of its split."""
    df = pd.read_csv(dataset, sep="\t", usecols=["sequence", "split"], keep_default_na=False)
    lengths = df.loc[df["split"] == split, "sequence"].str.len()
    if lengths.empty:
        raise ValueError(f"{dataset}: no {split!r} sequences to take the window length from")
    return int(lengths.mode().iloc[0])


# -- regions -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Region:
    chrom: str
    start: int  # 0-based, half-open
    end: int

    def __str__(self) -> str:
        return f"{self.chrom}:{self.start + 1}-{self.end}"


def parse_region(text: str, sizes: dict[str, int]) -> Region:
    """'chrom', 'chrom:start-end' (1-based, inclusive, commas allowed) -> a Region in bounds."""
    chrom, _, span = text.rpartition(":") if ":" in text else (text, "", "")
    if chrom not in sizes:
        raise ValueError(f"region {text!r}: chromosome {chrom!r} is not in the genome "
                         f"(it has {sorted(sizes)[:5]}{' ...' if len(sizes) > 5 else ''})")
    if not span:
        return Region(chrom, 0, sizes[chrom])
    try:
        a, b = (int(x.replace(",", "")) for x in span.split("-"))
    except ValueError:
        raise ValueError(f"region {text!r}: expected chrom:start-end (1-based, inclusive)") from None
    if not 1 <= a <= b <= sizes[chrom]:
        raise ValueError(f"region {text!r} lies outside {chrom} (1-{sizes[chrom]})")
    return Region(chrom, a - 1, b)


# -- scanning ----------------------------------------------------------------------------------

def window_tokens(codes: np.ndarray, offsets: np.ndarray, window: int, k: int,
                  stride: int) -> np.ndarray:
    """Tokens of the windows codes[o:o+window] for each offset o: the sequence is
    tokenized once per reading phase (o mod stride) and each window is a slice."""
    t = n_tokens(window, k, stride)
    out = np.empty((len(offsets), t), dtype=np.int64)
    for phase in np.unique(offsets % stride):
        ids = kmer_ids(codes[phase:], k, stride)
        view = np.lib.stride_tricks.sliding_window_view(ids, t)
        rows = np.flatnonzero(offsets % stride == phase)
        out[rows] = view[(offsets[rows] - phase) // stride]
    return out


def scan_genome(genome, clf: WindowClassifier, window: int, step: int,
                regions: list[Region] | None = None, strands: str = "both",
                chunk_windows: int = 20_000) -> pd.DataFrame:
    """P(positive) of every window [start, start + window) every `step` bases of the
    regions (default: every chromosome), on '+' and/or '-' (the reverse complement
    of the same bases). Windows holding N or another ambiguity code are skipped.
    Returns chrom, start, end, strand, prob, sorted by chrom, start, strand."""
    if window < clf.k:
        raise ValueError(f"window {window} bp is shorter than k={clf.k}")
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    regions = regions or [Region(c, 0, n) for c, n in genome.sizes.items()]
    which = {"both": ("+", "-"), "+": ("+",), "-": ("-",)}[strands]
    n_total = sum(max(0, (r.end - r.start - window) // step + 1) for r in regions) * len(which)
    bar = progress(total=n_total, desc="scan", unit="window")
    parts, skipped = [], 0
    for region in regions:
        starts = np.arange(region.start, region.end - window + 1, step, dtype=np.int64)
        for i in range(0, len(starts), chunk_windows):
            chunk = starts[i:i + chunk_windows]
            c0, c1 = int(chunk[0]), int(chunk[-1]) + window
            codes = encode_bases(genome.fetch(region.chrom, c0, c1), f"{region.chrom}:{c0 + 1}-{c1}")
            for strand in which:
                if strand == "+":
                    tokens = window_tokens(codes, chunk - c0, window, clf.k, clf.stride)
                else:
                    tokens = window_tokens(reverse_complement_codes(codes), c1 - (chunk + window),
                                           window, clf.k, clf.stride)
                ok = ~(tokens == UNK_ID).any(axis=1)
                skipped += int((~ok).sum())
                probs = clf.probabilities(tokens[ok])
                parts.append(pd.DataFrame({"chrom": region.chrom, "start": chunk[ok],
                                           "end": chunk[ok] + window, "strand": strand,
                                           "prob": probs}))
                bar.update(len(chunk))
    bar.close()
    if skipped:
        logger.info("skipped %d window(s) holding N or other ambiguity codes", skipped)
    cols = {"chrom": str, "start": np.int64, "end": np.int64, "strand": str, "prob": np.float32}
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(cols))
    df = df.astype(cols).sort_values(["chrom", "start", "strand"], kind="stable")
    df.attrs["skipped_ambiguous"] = skipped
    return df.reset_index(drop=True)


# -- browser tracks ----------------------------------------------------------------------------

def _track_line(kind: str, name: str, description: str, extra: str = "") -> str:
    line = f'track type={kind} name="{name}" description="{description}"' if kind else \
        f'track name="{name}" description="{description}"'
    return f"{line}{' ' + extra if extra else ''}\n"


def bedgraph_rows(windows: pd.DataFrame, step: int, sizes: dict[str, int]) -> pd.DataFrame:
    """One bedGraph interval per window position: the `step` bases around the window's
    centre, holding the highest probability of the strands given; sorted, in bounds,
    never overlapping."""
    if windows.empty:
        return pd.DataFrame(columns=["chrom", "start", "end", "value"])
    best = windows.groupby(["chrom", "start", "end"], sort=True, as_index=False)["prob"].max()
    centre = (best["start"] + best["end"]) // 2
    lo = centre - step // 2
    rows = pd.DataFrame({"chrom": best["chrom"], "start": lo, "end": lo + step, "value": best["prob"]})
    size = rows["chrom"].map(sizes)
    rows["start"] = rows["start"].clip(lower=0)
    rows["end"] = np.minimum(rows["end"], size)
    return rows[rows["end"] > rows["start"]].sort_values(["chrom", "start"]).reset_index(drop=True)


def write_bedgraph(windows: pd.DataFrame, step: int, sizes: dict[str, int], path: Path,
                   name: str, description: str) -> int:
    """The track as bedGraph at `path` and as BigWig beside it (`.bw`: what IGV and the UCSC
    browser read quickly at genome scale); both hold the same intervals and 4-decimal values."""
    rows = bedgraph_rows(windows, step, sizes)
    rows["value"] = rows["value"].astype(float).round(4)
    with atomic_open(path) as fh:
        fh.write(_track_line("bedGraph", name, description,
                             "visibility=full autoScale=off viewLimits=0:1 color=31,119,180"))
        for c, s, e, v in rows.itertuples(index=False):
            fh.write(f"{c}\t{s}\t{e}\t{v:.4f}\n")
    write_bigwig(rows, sizes, bigwig_path(path))
    return len(rows)


def bigwig_path(bedgraph: Path) -> Path:
    """scan.plus.bedgraph -> scan.plus.bw"""
    return Path(bedgraph).with_suffix(".bw")


def write_bigwig(rows: pd.DataFrame, sizes: dict[str, int], path: Path) -> None:
    """bedGraph rows (chrom, start, end, value; sorted, non-overlapping) as a BigWig whose
    header holds every chromosome of the genome index, in the rows' (sorted) order."""
    import pyBigWig
    with atomic_path(path, suffix=".bw") as tmp:
        bw = pyBigWig.open(str(tmp), "w")
        try:
            bw.addHeader([(c, int(sizes[c])) for c in sorted(sizes)])
            for chrom, part in rows.groupby("chrom", sort=True):
                bw.addEntries([str(chrom)] * len(part), part["start"].astype(int).tolist(),
                              ends=part["end"].astype(int).tolist(),
                              values=part["value"].astype(float).tolist())
        finally:
            bw.close()


def called_regions(windows: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Windows with P >= threshold merged per strand (bedtools merge -s): BED6 rows with
    the highest probability in the name and 1000 x it as the score, sorted."""
    import pybedtools
    hits = windows[windows["prob"] >= threshold]
    cols = ["chrom", "start", "end", "name", "score", "strand"]
    if hits.empty:
        return pd.DataFrame(columns=cols + ["max_prob"])
    bed = pd.DataFrame({"chrom": hits["chrom"], "start": hits["start"], "end": hits["end"],
                        "name": "w", "score": hits["prob"].round(6), "strand": hits["strand"]})
    merged = pybedtools.BedTool.from_dataframe(bed).sort().merge(s=True, c="5,6", o="max,distinct")
    try:
        out = merged.to_dataframe(names=["chrom", "start", "end", "max_prob", "strand"],
                                  dtype={"chrom": str})
    finally:
        pybedtools.cleanup()
    out["name"] = [f"p={p:.3f}" for p in out["max_prob"]]
    out["score"] = (out["max_prob"] * 1000).round().astype(int).clip(0, 1000)
    return out.sort_values(["chrom", "start", "strand"]).reset_index(drop=True)[cols + ["max_prob"]]


def write_called_regions(regions: pd.DataFrame, path: Path, name: str, description: str) -> None:
    with atomic_open(path) as fh:
        fh.write(_track_line("", name, description, "useScore=1 visibility=pack"))
        for row in regions[["chrom", "start", "end", "name", "score", "strand"]].itertuples(index=False):
            fh.write("\t".join(map(str, row)) + "\n")


def write_region_bed(regions: list[Region], path: Path) -> None:
    with atomic_open(path) as fh:
        for r in sorted(regions, key=lambda r: (r.chrom, r.start)):
            fh.write(f"{r.chrom}\t{r.start}\t{r.end}\n")


def scan_main(model: Path, genome_fasta: Path, out_prefix: Path, window: int, step: int,
              threshold: float, regions: list[str] | None = None, strands: str = "both",
              batch_size: int = 256, device: str = "cpu", positive: str | None = None,
              track_name: str = "Genomic-ULMFiT") -> dict:
    """Scan and write <prefix>.windows.tsv.gz, .bedgraph (max of strands), .plus.bedgraph,
    .minus.bedgraph (each with its BigWig, .bw, .plus.bw, .minus.bw), .called.bed,
    .regions.bed (what was scanned) and .summary.json."""
    from .datasets.genomes import open_genome
    import time
    genome = open_genome(genome_fasta)
    clf = WindowClassifier(model, device, batch_size, positive)
    wanted = [parse_region(r, genome.sizes) for r in regions] if regions else \
        [Region(c, 0, n) for c, n in genome.sizes.items()]
    t0 = time.perf_counter()
    windows = scan_genome(genome, clf, window, step, wanted, strands)
    seconds = time.perf_counter() - t0
    prefix = str(out_prefix)
    with atomic_open(Path(prefix + ".windows.tsv.gz")) as fh:
        windows.to_csv(fh, sep="\t", index=False, float_format="%.5f")
    what = f"P({clf.positive}), windows of {window} bp every {step} bp"
    write_bedgraph(windows, step, genome.sizes, Path(prefix + ".bedgraph"), f"{track_name} P({clf.positive})",
                   f"{what}, higher strand")
    for strand, word in (("+", "plus"), ("-", "minus")):
        if strand in (("+", "-") if strands == "both" else (strands,)):
            write_bedgraph(windows[windows["strand"] == strand], step, genome.sizes,
                           Path(f"{prefix}.{word}.bedgraph"), f"{track_name} {strand}",
                           f"{what}, {word} strand")
        else:
            write_bedgraph(windows.iloc[0:0], step, genome.sizes, Path(f"{prefix}.{word}.bedgraph"),
                           f"{track_name} {strand}", f"{word} strand not scanned")
    called = called_regions(windows, threshold)
    write_called_regions(called, Path(prefix + ".called.bed"), f"{track_name} calls",
                         f"windows with P({clf.positive}) >= {threshold}, merged per strand")
    write_region_bed(wanted, Path(prefix + ".regions.bed"))
    summary = {"model": str(model), "genome": str(genome_fasta), "positive": clf.positive,
               "window": window, "step": step, "strands": strands, "threshold": threshold,
               "regions": [str(r) for r in wanted], "bases_scanned": sum(r.end - r.start for r in wanted),
               "windows": len(windows), "skipped_ambiguous": windows.attrs.get("skipped_ambiguous", 0),
               "called_regions": len(called), "called_bp": int((called["end"] - called["start"]).sum()),
               "mean_prob": float(windows["prob"].mean()) if len(windows) else None,
               "seconds": round(seconds, 2),
               "windows_per_second": round(len(windows) / seconds, 1) if seconds > 0 else None,
               "device": str(clf.device), "batch_size": batch_size}
    write_json(Path(prefix + ".summary.json"), summary)
    logger.info("scanned %d windows in %.1f s (%.0f windows/s); %d called region(s), %d bp",
                len(windows), seconds, summary["windows_per_second"] or 0, len(called), summary["called_bp"])
    return summary


# -- agreement with the annotation -------------------------------------------------------------

def genbank_cds_starts(gbff: Path) -> pd.DataFrame:
    """Start-codon positions of the usable CDSs of a GenBank file (the E. coli dataset's
    rules: no pseudo genes, joins or fuzzy ends): chrom, start (0-based first base of
    the start codon on its strand), end = start + 1, name, strand."""
    from collections import Counter
    from .datasets.ecoli import _read_genbank, _usable_cds
    rows, skipped = [], Counter()
    for record in _read_genbank(gbff):
        for feature in record.features:
            if feature.type == "CDS":
                cds = _usable_cds(feature, record.id, skipped)
                if cds is not None:
                    pos = cds.start if cds.strand == "+" else cds.end - 1
                    rows.append((cds.chrom, pos, pos + 1, cds.name, 0, cds.strand))
    if not rows:
        raise ValueError(f"{gbff}: no usable CDS feature")
    return (pd.DataFrame(rows, columns=["chrom", "start", "end", "name", "score", "strand"])
            .sort_values(["chrom", "start"]).reset_index(drop=True))


def annotation_agreement(called_bed: Path, starts: pd.DataFrame, sizes_file: Path,
                         scanned_bed: Path, distance: int = 100, same_strand: bool = True,
                         n_shuffles: int = 10, seed: int = 0) -> dict:
    """Share of the annotated starts inside the scanned regions that lie within `distance`
    bp of a called region, and the same share for the called regions placed at random
    inside the scanned regions (bedtools shuffle -incl, seeded, lengths and strands kept)."""
    import pybedtools
    try:
        scanned = pybedtools.BedTool(str(scanned_bed)).sort()
        inside = pybedtools.BedTool.from_dataframe(starts).sort().intersect(scanned, u=True)
        n_starts = inside.count()
        called = pybedtools.BedTool(str(called_bed)).sort()
        n_called = called.count()
        called_bp = sum(len(iv) for iv in called)

        def share(regions) -> float:
            if n_starts == 0 or regions.count() == 0:
                return 0.0
            hit = inside.window(regions, w=distance, u=True, sm=same_strand).count()
            return hit / n_starts

        observed = share(called)
        random_shares = []
        if n_called:
            for i in range(n_shuffles):
                shuffled = called.shuffle(g=str(sizes_file), incl=str(scanned_bed), seed=seed + i,
                                          chrom=True).sort()
                random_shares.append(share(shuffled))
    finally:
        pybedtools.cleanup()
    rand = float(np.mean(random_shares)) if random_shares else 0.0
    return {"annotated_starts": n_starts, "called_regions": n_called, "called_bp": called_bp,
            "distance": distance, "same_strand": same_strand, "n_shuffles": n_shuffles, "seed": seed,
            "observed_fraction": observed, "random_fraction_mean": rand,
            "random_fraction_sd": float(np.std(random_shares)) if random_shares else 0.0,
            "random_fractions": random_shares,
            "ratio": observed / rand if rand > 0 else (math.inf if observed > 0 else None)}


# -- variants ----------------------------------------------------------------------------------

INFO_ID = "GULMFIT_DP"
_VCF_COLUMNS = ["CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]


@dataclass
class VcfRecord:
    line_no: int
    fields: list[str]

    @property
    def chrom(self) -> str:
        return self.fields[0]

    @property
    def pos(self) -> int:
        return int(self.fields[1])

    @property
    def ref(self) -> str:
        return self.fields[3].upper()

    @property
    def alts(self) -> list[str]:
        return self.fields[4].upper().split(",")


def read_vcf(path: Path) -> tuple[list[str], list[VcfRecord]]:
    """Header lines (with the #CHROM line) and records of a plain or gzipped VCF."""
    from .fasta import open_text
    header, records = [], []
    with open_text(path) as fh:
        for n, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if line.startswith("#"):
                header.append(line)
            elif line.strip():
                fields = line.split("\t")
                if len(fields) < 8:
                    raise ValueError(f"{path}: line {n}: {len(fields)} tab-separated column(s); a VCF "
                                     f"record has at least 8 ({', '.join(_VCF_COLUMNS)})")
                if not fields[1].isdigit() or int(fields[1]) < 1:
                    raise InputError(f"{path}: line {n}: POS {fields[1]!r}; expected a 1-based position "
                                     "(an integer >= 1) of the variant's first REF base")
                records.append(VcfRecord(n, fields))
    if not header or not header[-1].startswith("#CHROM"):
        raise ValueError(f"{path}: no '#CHROM POS ID REF ALT ...' header line; not a VCF")
    return header, records


def _allele_window(genome, chrom: str, pos0: int, ref: str, allele: str, window: int) -> str | None:
    """`window` bases centred on `allele` placed at pos0 (replacing `ref`); None when the
    window would run off the chromosome."""
    size = genome.sizes[chrom]
    left0, right1 = pos0 - window, pos0 + len(ref) + window
    if left0 < 0 or right1 > size:
        return None
    hap = genome.fetch(chrom, left0, pos0) + allele + genome.fetch(chrom, pos0 + len(ref), right1)
    centre = window + len(allele) / 2
    s = int(math.floor(centre - window / 2))
    return hap[s:s + window]


def score_variants(vcf: Path, genome, clf: WindowClassifier, window: int) -> tuple[list[str], list[VcfRecord], pd.DataFrame]:
    """P(positive) of the reference and each alternate window centred on the variant,
    each the mean of both strands; delta = alt - ref. A REF that differs from the
    genome is an error naming the VCF line."""
    from .fasta import reverse_complement
    header, records = read_vcf(vcf)
    rows, seqs = [], []
    for rec in records:
        if rec.chrom not in genome.sizes:
            raise ValueError(f"{vcf}: line {rec.line_no}: chromosome {rec.chrom!r} is not in the genome "
                             f"{genome.fasta} (it has {sorted(genome.sizes)[:5]})")
        pos0 = rec.pos - 1
        if not set(rec.ref) <= set("ACGTN") or pos0 + len(rec.ref) > genome.sizes[rec.chrom]:
            raise ValueError(f"{vcf}: line {rec.line_no}: REF {rec.ref!r} at {rec.chrom}:{rec.pos} "
                             "is not a run of bases inside the chromosome")
        actual = genome.fetch(rec.chrom, pos0, pos0 + len(rec.ref))
        if actual != rec.ref:
            raise ValueError(f"{vcf}: line {rec.line_no}: REF {rec.ref} does not match the genome at "
                             f"{rec.chrom}:{rec.pos} ({actual}); is the VCF for this genome assembly?")
        ref_win = _allele_window(genome, rec.chrom, pos0, rec.ref, rec.ref, window)
        for alt in rec.alts:
            kind = ("SNV" if len(alt) == len(rec.ref) == 1 else
                    "MNV" if len(alt) == len(rec.ref) else "indel")
            row = {"line": rec.line_no, "chrom": rec.chrom, "pos": rec.pos, "id": rec.fields[2],
                   "ref": rec.ref, "alt": alt, "kind": kind, "note": ""}
            if not set(alt) <= set("ACGT"):
                row["note"] = "symbolic or non-ACGT ALT, not scored"
            elif ref_win is None:
                row["note"] = f"a {window} bp window around it runs off the chromosome"
            else:
                alt_win = _allele_window(genome, rec.chrom, pos0, rec.ref, alt, window)
                row["_i"] = len(seqs)
                seqs += [ref_win, reverse_complement(ref_win), alt_win, reverse_complement(alt_win)]
            rows.append(row)
    probs = clf.sequence_probabilities(seqs) if seqs else np.zeros(0)
    for row in rows:
        i = row.pop("_i", None)
        if i is None:
            row.update(p_ref_plus=np.nan, p_ref_minus=np.nan, p_alt_plus=np.nan, p_alt_minus=np.nan)
        else:
            row.update(p_ref_plus=probs[i], p_ref_minus=probs[i + 1], p_alt_plus=probs[i + 2],
                       p_alt_minus=probs[i + 3])
    df = pd.DataFrame(rows, columns=["line", "chrom", "pos", "id", "ref", "alt", "kind", "p_ref_plus",
                                     "p_ref_minus", "p_alt_plus", "p_alt_minus", "note"])
    df["p_ref"] = (df["p_ref_plus"] + df["p_ref_minus"]) / 2
    df["p_alt"] = (df["p_alt_plus"] + df["p_alt_minus"]) / 2
    df["delta"] = df["p_alt"] - df["p_ref"]
    return header, records, df


def write_annotated_vcf(header: list[str], records: list[VcfRecord], scores: pd.DataFrame,
                        path: Path, positive: str, window: int) -> None:
    """The VCF with INFO GULMFIT_DP (one delta per ALT, '.' when not scored), declared in the header."""
    by_line = scores.groupby("line")["delta"].apply(list).to_dict()
    info = (f'##INFO=<ID={INFO_ID},Number=A,Type=Float,Description="Genomic-ULMFiT: change in '
            f'P({positive}) from the reference to this alternate allele, {window} bp windows '
            f'centred on the variant, mean of both strands">')
    lines = [h for h in header[:-1] if not h.startswith(f"##INFO=<ID={INFO_ID},")]
    with atomic_open(path) as fh:
        fh.write("\n".join(lines + [info, header[-1]]) + "\n")
        for rec in records:
            deltas = ",".join("." if pd.isna(d) else f"{d:.4f}" for d in by_line[rec.line_no])
            fields = list(rec.fields)
            kept = [x for x in fields[7].split(";") if x and x != "." and not x.startswith(f"{INFO_ID}=")]
            fields[7] = ";".join(kept + [f"{INFO_ID}={deltas}"])
            fh.write("\t".join(fields) + "\n")


def variants_main(model: Path, genome_fasta: Path, vcf: Path, out_tsv: Path, out_vcf: Path,
                  window: int, plot: Path | None = None, top: int = 20, batch_size: int = 256,
                  device: str = "cpu", positive: str | None = None) -> pd.DataFrame:
    from .datasets.genomes import open_genome
    genome = open_genome(genome_fasta)
    clf = WindowClassifier(model, device, batch_size, positive)
    header, records, scores = score_variants(vcf, genome, clf, window)
    with atomic_open(out_tsv) as fh:
        scores.to_csv(fh, sep="\t", index=False, float_format="%.5f")
    write_annotated_vcf(header, records, scores, out_vcf, clf.positive, window)
    if plot:
        from .interpret import plot_variant_effects
        plot_variant_effects(scores, plot, top, clf.positive)
    logger.info("%d variant allele(s) scored, %d not scored", scores["delta"].notna().sum(),
                scores["delta"].isna().sum())
    return scores


def agreement_main(prefix: Path, gbff: Path, sizes_file: Path, out_json: Path, out_starts: Path,
                   figure: Path | None = None, figure_region: str | None = None,
                   figure_bp: int = 40_000, distance: int = 100, same_strand: bool = True,
                   n_shuffles: int = 10, seed: int = 0, title: str = "") -> dict:
    """Agreement of a scan (<prefix>.called.bed inside <prefix>.regions.bed) with the
    GenBank CDS starts, and the figure of a `figure_bp` region (default: the start of
    the first scanned region) with the CDS starts in red."""
    prefix = str(prefix)
    starts = genbank_cds_starts(gbff)
    with atomic_open(Path(out_starts)) as fh:
        fh.write(_track_line("", "CDS starts", f"start codons of the CDSs of {Path(gbff).name}",
                             "color=214,39,40"))
        starts.to_csv(fh, sep="\t", header=False, index=False)
    result = annotation_agreement(Path(prefix + ".called.bed"), starts, sizes_file,
                                  Path(prefix + ".regions.bed"), distance, same_strand, n_shuffles, seed)
    scan = json.loads(Path(prefix + ".summary.json").read_text())
    result.update({"scan": prefix, "threshold": scan["threshold"], "window": scan["window"],
                   "step": scan["step"], "bases_scanned": scan["bases_scanned"]})
    write_json(Path(out_json), result)
    logger.info("%.3f of %d CDS starts within %d bp of a called region; random placement %.3f; ratio %s",
                result["observed_fraction"], result["annotated_starts"], distance,
                result["random_fraction_mean"], result["ratio"])
    if figure:
        sizes = dict(pd.read_csv(sizes_file, sep="\t", header=None, dtype={0: str}).values)
        first = parse_region(scan["regions"][0], sizes)
        region = parse_region(figure_region, sizes) if figure_region else \
            Region(first.chrom, first.start, min(first.end, first.start + figure_bp))
        windows = pd.read_csv(prefix + ".windows.tsv.gz", sep="\t", dtype={"chrom": str})
        from .interpret import plot_scan_region
        plot_scan_region(windows, starts, region.chrom, region.start, region.end, scan["threshold"],
                         figure, scan["positive"], title)
    return result


def agreement_table(reports: dict[str, Path], csv: Path, md: Path) -> pd.DataFrame:
    """One line per scan: CDS starts near a called region, observed against random placement."""
    rows = []
    for label, path in reports.items():
        r = json.loads(Path(path).read_text())
        rows.append({"scan": label, "bases_scanned": r["bases_scanned"], "threshold": r["threshold"],
                     "called_regions": r["called_regions"], "called_bp": r["called_bp"],
                     "annotated_starts": r["annotated_starts"], "distance": r["distance"],
                     "observed_fraction": r["observed_fraction"],
                     "random_fraction": r["random_fraction_mean"], "ratio": r["ratio"]})
    df = pd.DataFrame(rows)
    with atomic_open(csv) as fh:
        df.to_csv(fh, index=False, float_format="%.4f")
    lines = ["| scan | bp scanned | threshold | called regions (bp) | CDS starts | within (bp) "
             "| near a call | random placement | ratio |", "|---|---|---|---|---|---|---|---|---|"]
    for r in df.itertuples():
        ratio = "n/a" if r.ratio is None or pd.isna(r.ratio) else f"{r.ratio:.2f}"
        lines.append(f"| {r.scan} | {r.bases_scanned:,} | {r.threshold} | {r.called_regions} "
                     f"({r.called_bp:,}) | {r.annotated_starts} | {r.distance} | {r.observed_fraction:.3f} "
                     f"| {r.random_fraction:.3f} | {ratio} |")
    write_text(md, "\n".join(lines) + "\n")
    return df
