"""FASTA input/output and sequence helpers.

Reading streams records one at a time (genomes can be large) and accepts plain
or gzip-compressed files; compression is detected from the magic bytes, so a
misnamed file still reads correctly.
"""

from __future__ import annotations

import gzip
import io
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple, TextIO

from Bio.Seq import reverse_complement as _bio_reverse_complement
from Bio.SeqIO.FastaIO import SimpleFastaParser

__all__ = [
    "FastaRecord",
    "is_gzip",
    "iter_fasta_records",
    "open_text",
    "read_fasta",
    "reverse_complement",
    "write_fasta",
]

_GZIP_MAGIC = b"\x1f\x8b"


class FastaRecord(NamedTuple):
    """One FASTA record: `name` is the first word of `header`."""

    name: str
    header: str
    sequence: str


def is_gzip(path: str | os.PathLike[str]) -> bool:
    """True when the file starts with the gzip magic bytes."""
    with open(path, "rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def open_text(path: str | os.PathLike[str], encoding: str = "ascii") -> TextIO:
    """Open a plain or gzip-compressed text file (compression detected from the magic bytes)."""
    if is_gzip(path):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=encoding)
    return open(path, encoding=encoding)


def iter_fasta_records(path: str | os.PathLike[str]) -> Iterator[FastaRecord]:
    """Stream the records of a (possibly gzipped) FASTA file with their full headers.

    Raises ValueError naming the file and record for a record without a name or
    without sequence, and for a file that holds no '>' record at all.
    """
    path = Path(path)
    n = 0
    with open_text(path) as handle:
        for header, sequence in SimpleFastaParser(handle):
            n += 1
            words = header.split(maxsplit=1)
            if not words:
                raise ValueError(f"{path}: record #{n} has an empty header; expected '>name ...'")
            if not sequence:
                raise ValueError(
                    f"{path}: record #{n} '{words[0]}' has no sequence; expected at least one base"
                )
            yield FastaRecord(words[0], header, sequence)
    if n == 0:
        raise ValueError(f"{path}: no FASTA record found; expected at least one line starting with '>'")


def read_fasta(path: str | os.PathLike[str]) -> Iterator[tuple[str, str]]:
    """Stream (name, sequence) pairs; name is the first word of the header."""
    for record in iter_fasta_records(path):
        yield record.name, record.sequence


def write_fasta(
    records: Iterable[tuple[str, str]],
    path: str | os.PathLike[str],
    line_width: int = 60,
) -> int:
    """Write (header, sequence) pairs; gzip when `path` ends in '.gz'. Returns the record count.

    The file appears atomically (temp file + os.replace), so a crash never leaves
    a half-written FASTA that a later step could mistake for a finished one.
    `line_width` <= 0 writes each sequence on one line.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    n = 0
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(tmp, "wt", encoding="ascii") as out:
            for n, (header, sequence) in enumerate(records, start=1):
                if not header or not header.strip() or "\n" in header:
                    raise ValueError(f"{path}: record #{n} has an invalid header {header!r}")
                if not sequence:
                    raise ValueError(f"{path}: record #{n} '{header}' has an empty sequence")
                out.write(f">{header}\n")
                step = line_width if line_width > 0 else len(sequence)
                for i in range(0, len(sequence), step):
                    out.write(sequence[i : i + step])
                    out.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n


def reverse_complement(seq: str) -> str:
    """Reverse complement of a DNA string; IUPAC ambiguity codes and case are preserved."""
    return _bio_reverse_complement(seq)
