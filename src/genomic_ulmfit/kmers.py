"""k-mer tokenization and numericalization of DNA (methods-long-form section 1).

A sequence of length L tokenized with k-mer length k and stride s gives
floor((L - k) / s) + 1 tokens: the k-mers starting at 0, s, 2s, ... that fit
whole. The vocabulary depends on k alone, so a model pretrained with k
transfers to any dataset tokenized with the same k without remapping:

    id 0      xxunk  (a k-mer holding N or another IUPAC ambiguity code)
    id 1      xxpad  (padding; fastai's default pad id)
    id 2 + i  the i-th k-mer in lexicographic ACGT order

Everything is vectorized with numpy and returns compact integer arrays.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from .errors import GenomicUlmfitError, InputError

UNK, PAD = "xxunk", "xxpad"
SPECIAL_TOKENS = (UNK, PAD)
UNK_ID, PAD_ID = 0, 1
N_SPECIAL = len(SPECIAL_TOKENS)
MAX_K = 8

BASES = "ACGT"
INVALID_CODE = 4  # N and the other IUPAC ambiguity codes
_IUPAC_AMBIGUOUS = "NRYSWKMBDHV"
_NOT_IUPAC = 255


def _base_lookup() -> np.ndarray:
    """Byte -> base code: ACGT (either case, U as T) -> 0..3, IUPAC codes -> 4, else 255."""
    table = np.full(256, _NOT_IUPAC, dtype=np.uint8)
    for code, bases in enumerate((b"Aa", b"Cc", b"Gg", b"TtUu")):
        for b in bases:
            table[b] = code
    for b in (_IUPAC_AMBIGUOUS + _IUPAC_AMBIGUOUS.lower() + "-").encode():
        table[b] = INVALID_CODE
    return table


BASE_LOOKUP = _base_lookup()
_BASE_TRANSLATION = BASE_LOOKUP.tobytes()
_NOT_IUPAC_BYTE = bytes([_NOT_IUPAC])


class SequenceError(GenomicUlmfitError, ValueError):
    """A sequence that cannot be tokenized; the message names the record."""


def encode_bases(seq: str | bytes | np.ndarray, name: str = "sequence", ignore: bytes = b"",
                 offset: int = 0) -> np.ndarray:
    """Map a DNA sequence to base codes (uint8, 0..3 for ACGT, 4 for ambiguity codes).

    Bytes listed in `ignore` (line breaks of a FASTA block) are dropped in the same
    pass. Raises SequenceError naming `name` and the first offending character (its
    position counted from base `offset` + 1: a piece of a longer record reports the
    record's coordinate) if the sequence holds a character that is not an IUPAC code.
    """
    if isinstance(seq, str):
        seq = seq.encode("ascii", errors="replace")
    if isinstance(seq, (bytes, bytearray)):
        # bytes.translate and the memchr behind `in` run at memory speed.
        translated = bytes(seq).translate(_BASE_TRANSLATION, ignore)
        if _NOT_IUPAC_BYTE in translated:
            raw = np.frombuffer(bytes(seq).translate(None, ignore), dtype=np.uint8)
            _raise_not_iupac(raw, translated.index(_NOT_IUPAC_BYTE), name, offset)
        return np.frombuffer(translated, dtype=np.uint8)
    codes = BASE_LOOKUP[seq]
    bad = np.flatnonzero(codes == _NOT_IUPAC)
    if bad.size:
        _raise_not_iupac(seq, int(bad[0]), name, offset)
    return codes


def _raise_not_iupac(raw: np.ndarray, pos: int, name: str, offset: int = 0) -> None:
    char = chr(raw[pos]) if raw[pos] < 128 else f"byte 0x{raw[pos]:02x}"
    raise SequenceError(
        f"{name}: character {char!r} at position {offset + pos + 1} is not an IUPAC nucleotide code "
        f"(expected A, C, G, T/U or one of {_IUPAC_AMBIGUOUS}, any case)"
    )


def n_tokens(length: int, k: int, stride: int) -> int:
    """Number of whole k-mers in a sequence of `length` bases."""
    return 0 if length < k else (length - k) // stride + 1


def kmer_ids(codes: np.ndarray, k: int, stride: int) -> np.ndarray:
    """Token ids of the k-mers of base `codes` (from encode_bases), in the vocabulary of k."""
    n = n_tokens(len(codes), k, stride)
    dtype = token_dtype(k)
    if n == 0:
        return np.zeros(0, dtype=dtype)
    # A k-mer starting at t*stride is q whole stride-long "digits" d[t..t+q-1] and
    # the first r bases of d[t+q] (k = q*stride + r). Digits take `stride` strided
    # passes; joining them takes q + 1 contiguous ones, instead of k strided passes.
    q, r = divmod(k, stride)
    n_digits = n + q if r else n + q - 1
    clean = codes & 3  # ambiguity codes masked to UNK below
    if n_digits * stride > len(clean):  # the last digit runs past the end: pad with zeros
        clean = np.concatenate([clean, np.zeros(n_digits * stride - len(clean), np.uint8)])
    digits = clean[0 : n_digits * stride : stride].astype(dtype)
    for j in range(1, stride):
        digits <<= 2
        digits |= clean[j : n_digits * stride : stride]
    ids = digits[0:n].copy()
    for i in range(1, q):
        ids <<= 2 * stride
        ids |= digits[i : n + i]
    if r:
        ids <<= 2 * r
        ids |= digits[q : n + q] >> (2 * (stride - r))
    ids += N_SPECIAL
    ids[_ambiguous_kmers(codes, n, k, stride)] = UNK_ID
    return ids


def _ambiguous_kmers(codes: np.ndarray, n: int, k: int, stride: int) -> np.ndarray | slice:
    """Indices (as a mask) of the k-mers that cover an ambiguity code; an empty slice if none."""
    bad = np.flatnonzero(codes == INVALID_CODE)
    if not bad.size:
        return slice(0, 0)
    first = np.maximum(0, -((k - 1 - bad) // stride))  # ceil((p - k + 1) / stride)
    last = np.minimum(n - 1, bad // stride)
    keep = first <= last
    # +1 where a run of covered k-mers starts, -1 after it ends; covered where the sum > 0.
    delta = np.bincount(first[keep], minlength=n + 1) - np.bincount(last[keep] + 1, minlength=n + 1)
    return np.cumsum(delta[:n]) > 0


def token_dtype(k: int) -> np.dtype:
    """Smallest unsigned dtype that holds every id of the vocabulary of k."""
    return np.dtype(np.uint16) if 4**k + N_SPECIAL <= 2**16 else np.dtype(np.uint32)


@dataclass(frozen=True)
class KmerTokenizer:
    """k-mer tokenizer with a vocabulary fixed by k (see the module docstring)."""

    k: int
    stride: int

    def __post_init__(self) -> None:
        for what, value in (("k", self.k), ("stride", self.stride)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise InputError(f"k-mer tokenizer: {what}={value!r}; expected a whole number")
        if not 1 <= self.k <= MAX_K:
            raise InputError(f"k-mer tokenizer: k={self.k}; the k-mer length must be at least 1 and at "
                             f"most {MAX_K} (a vocabulary of 4^k k-mers)")
        if not 1 <= self.stride <= self.k:
            raise InputError(f"k-mer tokenizer: stride={self.stride} with k={self.k}; the stride must be "
                             f"at least 1 and at most k (a larger one would skip bases between k-mers)")

    @property
    def vocab_size(self) -> int:
        return 4**self.k + N_SPECIAL

    @cached_property
    def vocab(self) -> list[str]:
        kmers = ("".join(p) for p in itertools.product(BASES, repeat=self.k))
        return [*SPECIAL_TOKENS, *kmers]

    @property
    def dtype(self) -> np.dtype:
        return token_dtype(self.k)

    def encode(self, seq: str | bytes, name: str = "sequence") -> np.ndarray:
        """Token ids of one sequence; a sequence shorter than k is an error."""
        codes = encode_bases(seq, name)
        if len(codes) < self.k:
            what = "is empty" if len(codes) == 0 else f"has {len(codes)} bases"
            raise SequenceError(f"{name}: sequence {what}, fewer than k={self.k}; no k-mer fits")
        return kmer_ids(codes, self.k, self.stride)

    def decode(self, ids: np.ndarray) -> list[str]:
        """Token strings of `ids` (for display and tests, never on a hot path)."""
        vocab = self.vocab
        return [vocab[i] for i in np.asarray(ids).tolist()]

    def tokenize(self, seq: str) -> list[str]:
        """The k-mer strings of a sequence, as the seed writes them."""
        return self.decode(self.encode(seq))

    def to_dict(self) -> dict:
        return {"k": self.k, "stride": self.stride, "vocab_size": self.vocab_size,
                "special_tokens": list(SPECIAL_TOKENS), "order": "lexicographic ACGT after specials"}

    @classmethod
    def from_dict(cls, d: dict) -> "KmerTokenizer":
        return cls(k=int(d["k"]), stride=int(d["stride"]))
