"""Language-model corpora: genome FASTA streamed to token arrays on disk.

A corpus directory holds, per split (train, valid):
  {split}.npy        all tokens of the split, concatenated (memory-mappable)
  {split}.lens.npy   lengths of the documents the tokens are made of
  {split}.sources.npy  index (into meta.json "sources") of the genome each document came from
  meta.json          tokenization, sources (per genome: records, bases, tokens and
                     documents per split), counts
Documents are the runs of unambiguous k-mers inside one region: genomes are
cut into regions of `region_bp` bases, each region goes wholly to train or to
validation (so no sequence leaks across), and every k-mer holding an N or
other ambiguity code ends a document. Runs shorter than `min_doc_tokens` are
dropped, which removes N-heavy stretches as the paper does.
Memory stays bounded by the region and read-block sizes, whatever the genome.
"""
from __future__ import annotations

import gzip
import json
import logging
import os
import re
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from .errors import InputError
from .fasta import is_gzip
from .io.atomic import atomic_dir
from .kmers import INVALID_CODE, N_SPECIAL, UNK_ID, KmerTokenizer, encode_bases, kmer_ids
from .logs import progress

logger = logging.getLogger(__name__)

READ_BLOCK = 8 << 20
# Dropped from sequence pieces (with encode_bases(ignore=...)). A space or tab is not: dropping
# it would shift every coordinate after it, so encode_bases reports it with its position.
LINE_BREAKS = b"\r\n"
SPLITS = ("train", "valid")


def open_binary(path: Path) -> tuple[BinaryIO, BinaryIO]:
    """Open a plain or gzip file for reading; returns (stream, raw file) for progress."""
    raw = open(path, "rb")
    return (gzip.GzipFile(fileobj=raw) if is_gzip(path) else raw), raw


def iter_sequence_blocks(path: Path, block_bytes: int = READ_BLOCK) -> Iterator[tuple[str, bytes]]:
    """Stream a FASTA file as (record name, sequence bytes) pieces of bounded size.

    Pieces of one record come in order and keep their line breaks (LINE_BREAKS;
    encode_bases drops them while coding, in one pass). Memory does not grow
    with record or file size.
    """
    stream, raw = open_binary(path)
    name, carry, at_line_start = None, b"", True
    with raw, progress(total=os.path.getsize(path), unit="B", unit_scale=True,
                       desc=f"reading {Path(path).name}") as bar:
        while True:
            block = _read_block(stream, path, block_bytes)
            bar.update(raw.tell() - bar.n)
            if not block and not carry:
                break
            text, carry = (carry + block if carry else block), b""
            if block:
                text, carry = _hold_back_open_header(text, at_line_start)
            if text:
                for name, piece in _split_records(text, name, path, at_line_start):
                    yield name, piece
                at_line_start = text.endswith(b"\n")
    if name is None:
        raise ValueError(f"{path}: no FASTA record found (expected a line starting with '>')")


def _read_block(stream: BinaryIO, path: Path, size: int) -> bytes:
    try:
        return stream.read(size)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise InputError(f"{path}: truncated or corrupt gzip data ({err}); expected a complete "
                         "gzip-compressed FASTA") from None


def _hold_back_open_header(text: bytes, at_line_start: bool) -> tuple[bytes, bytes]:
    """Split off a header line that the next block completes. Sequence lines may
    be cut anywhere, so only headers are ever carried over (and text rarely copied)."""
    last_break = text.rfind(b"\n")
    begin = last_break + 1
    if text[begin : begin + 1] == b">" and (last_break >= 0 or at_line_start):
        return text[:begin], text[begin:]
    return text, b""


def _split_records(text: bytes, name: str | None, path: Path,
                   at_line_start: bool) -> Iterator[tuple[str, bytes]]:
    pos = 0
    while True:
        h = text.find(b">", pos)
        body = text[pos:] if h < 0 else text[pos:h]
        if body and not body.isspace():
            if name is None:
                raise ValueError(f"{path}: sequence data before the first '>' header line")
            yield name, body
        if h < 0:
            return
        if (text[h - 1 : h] != b"\n") if h > 0 else not at_line_start:
            raise ValueError(f"{path}: '>' inside a sequence line of record {name!r}")
        end = text.find(b"\n", h)
        end = len(text) if end < 0 else end
        header = text[h + 1 : end].decode("ascii", errors="replace").strip()
        if not header:
            raise ValueError(f"{path}: empty FASTA header after record {name!r}")
        name = header.split()[0]
        yield name, b""  # announces the record even if it turns out empty
        pos = end + 1


NPY_HEADER_BYTES = 128  # fixed, so the header can be rewritten in place once the length is known


def npy_header(dtype: np.dtype, length: int) -> bytes:
    """A .npy (format 1.0) header for a 1-D array, padded to NPY_HEADER_BYTES."""
    fields = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (length,)}
    text = repr(fields).encode("latin1")
    body_bytes = NPY_HEADER_BYTES - len(np.lib.format.MAGIC_PREFIX) - 4
    return (np.lib.format.MAGIC_PREFIX + bytes([1, 0]) + struct.pack("<H", body_bytes)
            + text.ljust(body_bytes - 1) + b"\n")


@dataclass
class _SplitWriter:
    """Streams token documents of one split straight into {split}.npy."""

    directory: Path
    split: str
    dtype: np.dtype
    lens: list[int] = field(default_factory=list)
    sources: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.out = open(self.directory / f"{self.split}.npy", "wb")
        self.out.write(npy_header(self.dtype, 0))

    def add(self, doc: np.ndarray, source: int) -> None:
        self.out.write(memoryview(np.ascontiguousarray(doc, dtype=self.dtype)))
        self.lens.append(len(doc))
        self.sources.append(source)

    def finish(self) -> int:
        """Rewrite the header with the final length; write {split}.lens.npy."""
        total = int(sum(self.lens))
        self.out.seek(0)
        self.out.write(npy_header(self.dtype, total))
        self.out.close()
        np.save(self.directory / f"{self.split}.lens.npy", np.asarray(self.lens, dtype=np.int64))
        np.save(self.directory / f"{self.split}.sources.npy", np.asarray(self.sources, dtype=np.int32))
        return total

    def per_source(self, n_sources: int) -> tuple[list[int], list[int]]:
        """(tokens, documents) of each source in this split."""
        src = np.asarray(self.sources, dtype=np.int64)
        tokens = np.bincount(src, weights=np.asarray(self.lens, dtype=np.float64), minlength=n_sources)
        return [int(t) for t in tokens], np.bincount(src, minlength=n_sources).tolist()


def reverse_complement_codes(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of base codes: A<->T, C<->G; ambiguity codes stay ambiguous."""
    rc = codes[::-1].copy()
    valid = rc < INVALID_CODE
    rc[valid] = 3 - rc[valid]
    return rc


def _documents(ids: np.ndarray, min_tokens: int) -> Iterator[np.ndarray]:
    """Runs of ids between UNK tokens, at least `min_tokens` long."""
    breaks = np.flatnonzero(ids == UNK_ID)
    if not breaks.size:
        if len(ids) >= min_tokens:
            yield ids
        return
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(ids)]))
    for s, e in zip(starts.tolist(), ends.tolist()):
        if e - s >= min_tokens:
            yield ids[s:e]


def build_corpus(fastas: list[Path], out_dir: Path, tokenizer: KmerTokenizer,
                 valid_fraction: float = 0.1, region_bp: int = 100_000,
                 min_doc_tokens: int = 64, seed: int = 0, max_bases: int | None = None,
                 both_strands: bool = False, names: list[str] | None = None,
                 records: str | None = None) -> dict:
    """Tokenize genome FASTA files into a corpus directory (see module docstring).

    Several FASTAs make one corpus (an ensemble of genomes); `names` (default: the file
    names) label them in meta.json's per-genome provenance and the documents' source index.
    `max_bases` keeps only the first bases of each file (quick runs and tests).
    `both_strands` adds each region's reverse complement to the same split, so
    the LM reads every gene in its sense orientation too. `records`, a regular expression,
    keeps only the records whose name it matches from the start (the paper's human and
    primate corpora: '^NC_', the assembled chromosomes).
    """
    if not 0 < valid_fraction < 1:
        raise ValueError(f"valid_fraction={valid_fraction} must lie strictly between 0 and 1")
    names = list(names) if names is not None else [Path(f).name for f in fastas]
    if len(names) != len(fastas) or len(set(names)) != len(names):
        raise ValueError(f"corpus names {names}: expected one distinct name per FASTA "
                         f"({len(fastas)}: {[str(f) for f in fastas]})")
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp_dir:  # a failure leaves neither a half corpus nor a temp dir
        meta = _write_corpus(fastas, names, tmp_dir, tokenizer, valid_fraction, region_bp,
                             min_doc_tokens, seed, max_bases, both_strands, records)
    logger.info("corpus %s: %d train / %d valid tokens in %d / %d documents", out_dir,
                meta["train_tokens"], meta["valid_tokens"], meta["train_documents"],
                meta["valid_documents"])
    return meta


def _write_corpus(fastas: list[Path], names: list[str], tmp_dir: Path, tokenizer: KmerTokenizer,
                  valid_fraction: float, region_bp: int, min_doc_tokens: int, seed: int,
                  max_bases: int | None, both_strands: bool, records: str | None) -> dict:
    """build_corpus's body: the split files and meta.json, written into `tmp_dir`."""
    writers = {s: _SplitWriter(tmp_dir, s, tokenizer.dtype) for s in SPLITS}
    # Every `period`-th region goes to validation, from a seeded offset: an even,
    # reproducible spread of held-out regions along each genome.
    period = max(2, round(1 / valid_fraction))
    offset = int(np.random.default_rng(seed).integers(period))
    stats = {"regions": {s: 0 for s in SPLITS}, "bases": 0, "sources": []}
    region_index = 0

    def flush(codes: list[np.ndarray], source: int) -> None:
        nonlocal region_index
        seq = np.concatenate(codes) if len(codes) > 1 else codes[0]
        split = "valid" if (region_index + offset) % period == 0 else "train"
        region_index += 1
        stats["regions"][split] += 1
        strands = (seq, reverse_complement_codes(seq)) if both_strands else (seq,)
        for strand in strands:
            if len(strand) >= tokenizer.k:
                for doc in _documents(kmer_ids(strand, tokenizer.k, tokenizer.stride), min_doc_tokens):
                    writers[split].add(doc, source)

    keep = re.compile(records).match if records else (lambda _name: True)
    for index, fasta in enumerate(fastas):
        source = {"name": names[index], "path": str(fasta), "records": 0, "bases": 0,
                  "records_skipped": 0}
        current, codes, filled, at = None, [], 0, 0
        for name, piece in iter_sequence_blocks(fasta):
            if name != current:
                if codes:
                    flush(codes, index)
                current, codes, filled, at = name, [], 0, 0
                wanted = bool(keep(name))
                source["records" if wanted else "records_skipped"] += 1
            if not wanted:
                continue
            # `at`: bases of this record before the piece, so an error names the record's position
            base_codes = encode_bases(piece, f"{fasta}: record {name}", ignore=LINE_BREAKS, offset=at)
            at += len(base_codes)
            if max_bases is not None:
                base_codes = base_codes[: max(0, max_bases - source["bases"])]
            source["bases"] += len(base_codes)
            while len(base_codes):
                take = min(region_bp - filled, len(base_codes))
                codes.append(base_codes[:take])
                filled += take
                base_codes = base_codes[take:]
                if filled == region_bp:
                    flush(codes, index)
                    codes, filled = [], 0
        if codes:
            flush(codes, index)
        stats["bases"] += source["bases"]
        stats["sources"].append(source)
        logger.info("%s: %d records, %.2f Mbp", fasta, source["records"], source["bases"] / 1e6)

    meta = {
        "tokenizer": tokenizer.to_dict(),
        "valid_fraction": valid_fraction, "region_bp": region_bp,
        "min_doc_tokens": min_doc_tokens, "seed": seed, "max_bases": max_bases,
        "both_strands": both_strands, "records_filter": records, **stats,
    }
    for s in SPLITS:
        meta[f"{s}_tokens"] = writers[s].finish()
        meta[f"{s}_documents"] = len(writers[s].lens)
        tokens, docs = writers[s].per_source(len(fastas))
        for source, n_tok, n_doc in zip(meta["sources"], tokens, docs):
            source[f"{s}_tokens"], source[f"{s}_documents"] = n_tok, n_doc
    if meta["train_tokens"] == 0 or meta["valid_tokens"] == 0:
        raise ValueError(
            f"corpus from {[str(f) for f in fastas]} has {meta['train_tokens']} training and "
            f"{meta['valid_tokens']} validation tokens; expected both > 0 (genome too short for "
            f"region_bp={region_bp} and valid_fraction={valid_fraction}, or mostly N)")
    (tmp_dir / "meta.json").write_text(json.dumps(meta, indent=2))
    return meta


@dataclass
class Corpus:
    """A corpus directory opened read-only, its token arrays memory-mapped."""

    path: Path
    meta: dict

    @classmethod
    def open(cls, path: Path) -> "Corpus":
        path = Path(path)
        meta_file = path / "meta.json"
        if not meta_file.exists():
            raise FileNotFoundError(f"{path}: not a corpus directory (no meta.json); build it with "
                                    "`genomic-ulmfit corpus`")
        return cls(path, json.loads(meta_file.read_text()))

    @property
    def tokenizer(self) -> KmerTokenizer:
        return KmerTokenizer.from_dict(self.meta["tokenizer"])

    def stream(self, split: str) -> "TokenStream":
        """The split's tokens, memory-mapped, with its document lengths (nothing read yet)."""
        from .data import TokenStream
        # copy-on-write: torch wants writable arrays; nothing is ever written back
        tokens = np.load(self.path / f"{split}.npy", mmap_mode="c")
        return TokenStream(tokens, np.load(self.path / f"{split}.lens.npy"))

    def documents(self, split: str) -> list[np.ndarray]:
        """Memory-mapped views of the split's documents (no tokens are read yet)."""
        return self.stream(split).documents()

    def document_sources(self, split: str) -> list[str]:
        """The name of the genome each document of `split` came from, in document order."""
        index = np.load(self.path / f"{split}.sources.npy")
        names = [s.get("name", s["path"]) for s in self.meta["sources"]]
        return [names[i] for i in index.tolist()]

    def markov_baseline_loss(self, smoothing: float = 0.5) -> float:
        """Validation cross-entropy (nats per token) of a k-mer Markov chain counted
        on the training tokens: the s new bases of each token given the k-mer
        before it (an order-k Markov model of the genome, add-`smoothing` counts).

        A language model that does not beat this has learned no more than k-mer
        transition counts; one at the stride prior ln(4^s) has learned nothing.
        """
        tok = self.tokenizer
        successors = 4**tok.stride
        counts = np.full((tok.vocab_size, successors), smoothing)
        for prev, new in self._transitions("train"):
            counts += np.bincount(prev * successors + new,
                                  minlength=tok.vocab_size * successors).reshape(counts.shape)
        log_p = np.log(counts / counts.sum(axis=1, keepdims=True))
        total, n = 0.0, 0
        for prev, new in self._transitions("valid"):
            total -= log_p[prev, new].sum()
            n += len(prev)
        return float(total / max(n, 1))

    def _transitions(self, split: str, chunk: int = 1 << 24) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(previous token id, the next token's last `stride` bases as 0..4^s-1) for
        consecutive tokens of one document, in chunks of bounded memory."""
        mask = 4**self.tokenizer.stride - 1
        tokens = np.load(self.path / f"{split}.npy", mmap_mode="r")
        doc_starts = np.cumsum(np.load(self.path / f"{split}.lens.npy"))[:-1]
        for a in range(0, max(len(tokens) - 1, 0), chunk):
            b = min(a + chunk, len(tokens) - 1)  # pairs (i, i+1) for i in [a, b)
            ids = np.asarray(tokens[a : b + 1], dtype=np.int64)
            keep = np.ones(b - a, dtype=bool)
            starts = doc_starts[(doc_starts > a) & (doc_starts <= b)]
            keep[starts - a - 1] = False  # token i+1 opens a new document
            yield ids[:-1][keep], (ids[1:][keep] - N_SPECIAL) & mask
