"""FASTA input/output and sequence helpers.

Reading streams records one at a time (genomes can be large) and accepts plain
or gzip-compressed files; compression is detected from the magic bytes, so a
misnamed file still reads correctly.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple, TextIO

from Bio.Seq import reverse_complement as _bio_reverse_complement

from .errors import InputError
from .io.atomic import atomic_path

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
_WHITESPACE = re.compile(r"[ \t\v\f]")


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

    Raises InputError naming the file and record for a record without a name or without
    sequence, a space or tab inside a sequence line (dropping it would shift every coordinate
    after it), a truncated or corrupt gzip stream, and a file that holds no '>' record at all.
    """
    path = Path(path)
    n = 0
    try:
        with open_text(path) as handle:
            for n, (header, lines) in enumerate(_raw_records(handle, path), start=1):
                yield _record(path, n, header, lines)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise InputError(f"{path}: truncated or corrupt gzip data ({err}); expected a complete "
                         "gzip-compressed FASTA") from None
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: byte 0x{err.object[err.start]:02x} is not ASCII; expected a "
                         "text FASTA (plain or gzip)") from None
    if n == 0:
        raise InputError(f"{path}: no FASTA record found; expected at least one line starting with '>'")


def _raw_records(handle: TextIO, path: Path) -> Iterator[tuple[str, list[tuple[int, str]]]]:
    """(header, [(line number, sequence line)]) per record; text before the first '>' is skipped."""
    header: str | None = None
    lines: list[tuple[int, str]] = []
    for lineno, line in enumerate(handle, start=1):
        if line.startswith(">"):
            if header is not None:
                yield header, lines
            header, lines = line[1:].rstrip("\r\n"), []
        elif header is not None:
            lines.append((lineno, line.rstrip("\r\n")))
    if header is not None:
        yield header, lines


def _record(path: Path, n: int, header: str, lines: list[tuple[int, str]]) -> FastaRecord:
    words = header.split(maxsplit=1)
    if not words:
        raise InputError(f"{path}: record #{n} has an empty header; expected '>name ...'")
    done, kept = 0, []
    for lineno, line in lines:
        line = line.rstrip()  # trailing blanks (editors, Windows tools) shift no coordinate
        if not line:
            continue  # a blank line between sequence lines holds no base
        blank = _WHITESPACE.search(line)
        if blank:
            raise InputError(
                f"{path}: line {lineno}: record '{words[0]}' position {done + blank.start() + 1}: "
                f"{'space' if blank.group() == ' ' else 'whitespace'} inside a sequence line; expected "
                "bases only (dropping it would shift every coordinate after it)")
        done += len(line)
        kept.append(line)
    sequence = "".join(kept)
    if not sequence:
        raise InputError(f"{path}: record #{n} '{words[0]}' has no sequence; expected at least one base")
    return FastaRecord(words[0], header.rstrip(), sequence)


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

    The file appears atomically (io.atomic), so a crash never leaves
    a half-written FASTA that a later step could mistake for a finished one.
    `line_width` <= 0 writes each sequence on one line.
    """
    path = Path(path)
    n = 0
    with atomic_path(path) as tmp:
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
    return n


def reverse_complement(seq: str) -> str:
    """Reverse complement of a DNA string; IUPAC ambiguity codes and case are preserved."""
    return _bio_reverse_complement(seq)
