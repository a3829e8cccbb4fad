"""The DeepSEA training bundle as compact, memory-mappable arrays.

The bundle (deepsea_train_bundle.v0.9.tar.gz) holds deepsea_train/{train,valid,test}.mat:

* train.mat is MATLAB 7.3, i.e. HDF5. MATLAB writes arrays column-major, so h5py sees
  them transposed: 'trainxdata' (1000, 4, N) (position, base, sample) and 'traindata'
  (919, N) (target, sample).
* valid.mat and test.mat are MATLAB 5 (scipy.io.loadmat): 'validxdata' (N, 4, 1000),
  'validdata' (N, 919); 'testxdata', 'testdata' likewise.

The one-hot channels are in DeepSEA's order A, G, C, T (`channel_order`). A position whose
four channels are all 0 is an N. Conversion writes, per split, into one directory:

    <split>.x.npy  uint8 (n, L): base codes in the project's ACGT order (0..3, 4 = N), so
                   k-mer ids come out in the vocabulary of genomic_ulmfit.kmers
    <split>.y.npy  uint8 (n, ceil(T / 8)): labels bit-packed along the targets (np.packbits)
    meta.json      sizes, per-target positive counts per split, the source of each split

Samples are read in chunks (HDF5 slices of `chunk_size` samples; the MATLAB 5 files, which
cannot be read partially, one variable at a time) and written into .npy files opened as
memory maps, so train's 4.4 M samples never sit in memory. Members are taken from the tar
one at a time into a temporary directory beside the output and deleted after use; the
output directory appears only when every split is written (atomic rename).
"""
from __future__ import annotations

import json
import logging
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ..errors import GenomicUlmfitError
from ..io.atomic import atomic_dir

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
DEEPSEA_CHANNELS = "AGCT"
N_CODE = 4
SEQ_LEN = 1000
N_TARGETS = 919


class DeepSeaFormatError(GenomicUlmfitError, ValueError):
    """A bundle or .mat file that is not what DeepSEA ships; the message names the file,
    the variable and the shape expected."""


def _variables(split: str) -> tuple[str, str]:
    return f"{split}xdata", f"{split}data"


def _channel_map(order: str) -> np.ndarray:
    order = order.upper()
    if sorted(order) != sorted("ACGT"):
        raise ValueError(f"channel_order {order!r} is not a permutation of ACGT")
    return np.array(["ACGT".index(b) for b in order], dtype=np.uint8)


def onehot_to_codes(x: np.ndarray, channel_map: np.ndarray, where: str) -> np.ndarray:
    """(c, 4, L) one-hot -> (c, L) uint8 base codes (ACGT order, 4 for an all-zero column)."""
    if x.dtype != np.uint8 and x.dtype != bool:
        if not np.isin(x, (0, 1)).all():
            raise DeepSeaFormatError(f"{where}: one-hot values other than 0 and 1")
    x = x.astype(np.uint8, copy=False)
    if x.max(initial=0) > 1:
        raise DeepSeaFormatError(f"{where}: one-hot values other than 0 and 1")
    total = x.sum(axis=1, dtype=np.uint8)
    if (total > 1).any():
        i, pos = np.argwhere(total > 1)[0]
        raise DeepSeaFormatError(f"{where}: sample {i}, position {pos} has {int(total[i, pos])} "
                                 "bases set; expected one-hot (at most one of 4 channels)")
    codes = channel_map[x.argmax(axis=1)]
    codes[total == 0] = N_CODE
    return codes


def pack_labels(y: np.ndarray, where: str) -> np.ndarray:
    """(c, T) 0/1 labels -> (c, ceil(T/8)) uint8, bit-packed along the targets."""
    if y.dtype != bool and not ((y == 0) | (y == 1)).all():
        raise DeepSeaFormatError(f"{where}: labels other than 0 and 1")
    return np.packbits(y.astype(bool), axis=1)


def unpack_labels(packed: np.ndarray, n_targets: int) -> np.ndarray:
    return np.unpackbits(packed, axis=-1, count=n_targets)


# -- readers: (n, seq_len, n_targets, chunks) per .mat file -------------------------------------

def _open_hdf5(path: Path, split: str):
    import h5py
    xname, yname = _variables(split)
    f = h5py.File(path, "r")
    try:
        missing = [v for v in (xname, yname) if v not in f]
        if missing:
            raise DeepSeaFormatError(f"{path}: HDF5 (MATLAB 7.3) file has no variable(s) {missing} "
                                     f"(has {sorted(f.keys())}); expected {xname!r} (L, 4, N) and "
                                     f"{yname!r} (T, N) as DeepSEA's train.mat")
        X, Y = f[xname], f[yname]
        if X.ndim != 3 or X.shape[1] != 4 or Y.ndim != 2 or Y.shape[1] != X.shape[2]:
            raise DeepSeaFormatError(
                f"{path}: {xname!r} has shape {X.shape} and {yname!r} {Y.shape}; expected "
                f"(L, 4, N) and (T, N) (MATLAB 7.3 / HDF5 layout, e.g. (1000, 4, 4400000) and "
                f"(919, 4400000))")
    except Exception:
        f.close()
        raise

    def chunks(n: int, size: int):
        for start in range(0, n, size):
            stop = min(n, start + size)
            # (L, 4, c) -> (c, 4, L); (T, c) -> (c, T)
            yield start, X[:, :, start:stop].transpose(2, 1, 0), Y[:, start:stop].T

    return f, X.shape[2], X.shape[0], Y.shape[0], chunks


def _open_mat5(path: Path, split: str):
    import scipy.io
    xname, yname = _variables(split)
    try:
        found = {name: shape for name, shape, _ in scipy.io.whosmat(path)}
    except Exception as e:
        raise DeepSeaFormatError(f"{path}: neither HDF5 (MATLAB 7.3) nor a readable MATLAB 5 "
                                 f"file ({e})") from e
    missing = [v for v in (xname, yname) if v not in found]
    if missing:
        raise DeepSeaFormatError(f"{path}: MATLAB file has no variable(s) {missing} (has "
                                 f"{sorted(found)}); expected {xname!r} (N, 4, L) and {yname!r} (N, T)")
    xs, ys = found[xname], found[yname]
    if len(xs) != 3 or xs[1] != 4 or len(ys) != 2 or ys[0] != xs[0]:
        raise DeepSeaFormatError(f"{path}: {xname!r} has shape {xs} and {yname!r} {ys}; expected "
                                 f"(N, 4, L) and (N, T) (MATLAB 5 layout, e.g. (8000, 4, 1000) and "
                                 f"(8000, 919))")

    def chunks(n: int, size: int):
        # MATLAB 5 variables cannot be read partially: one variable in memory at a time.
        X = scipy.io.loadmat(path, variable_names=[xname])[xname]
        for start in range(0, n, size):
            yield start, X[start:min(n, start + size)], None
        del X
        Y = scipy.io.loadmat(path, variable_names=[yname])[yname]
        for start in range(0, n, size):
            yield start, None, Y[start:min(n, start + size)]

    return None, xs[0], xs[2], ys[1], chunks


def open_mat(path: Path, split: str):
    """(file handle or None, n, seq_len, n_targets, chunks(n, size)) of one split's .mat file;
    HDF5 (MATLAB 7.3) or MATLAB 5, told apart by content."""
    import h5py
    path = Path(path)
    if h5py.is_hdf5(path):
        return _open_hdf5(path, split)
    return _open_mat5(path, split)


# -- conversion -----------------------------------------------------------------------------------

def convert_split(mat: Path, split: str, out_dir: Path, max_samples: int | None = None,
                  chunk_size: int = 10_000, channel_order: str = DEEPSEA_CHANNELS,
                  expect_targets: int | None = None, source: str | None = None) -> dict:
    """One split's .mat file -> <split>.x.npy and <split>.y.npy in `out_dir`; returns its meta."""
    channel_map = _channel_map(channel_order)
    xname, yname = _variables(split)
    t0 = time.perf_counter()
    handle, n_all, seq_len, n_targets, chunks = open_mat(mat, split)
    try:
        if expect_targets is not None and n_targets != expect_targets:
            raise DeepSeaFormatError(f"{mat}: {yname!r} has {n_targets} targets, but the other "
                                     f"splits have {expect_targets}")
        n = n_all if max_samples is None else min(n_all, max_samples)
        if n == 0:
            raise DeepSeaFormatError(f"{mat}: {xname!r} holds no samples")
        x_out = np.lib.format.open_memmap(out_dir / f"{split}.x.npy", mode="w+", dtype=np.uint8,
                                          shape=(n, seq_len))
        y_out = np.lib.format.open_memmap(out_dir / f"{split}.y.npy", mode="w+", dtype=np.uint8,
                                          shape=(n, (n_targets + 7) // 8))
        positives = np.zeros(n_targets, dtype=np.int64)
        n_chunks = 0
        for start, x, y in chunks(n, chunk_size):
            stop = start + len(x if x is not None else y)
            if x is not None:
                x_out[start:stop] = onehot_to_codes(np.asarray(x), channel_map,
                                                    f"{mat}: {xname!r} samples {start}..{stop - 1}")
            if y is not None:
                y = np.asarray(y)
                y_out[start:stop] = pack_labels(y, f"{mat}: {yname!r} samples {start}..{stop - 1}")
                positives += y.sum(axis=0, dtype=np.int64)
            n_chunks += 1
        x_out.flush()
        y_out.flush()
        del x_out, y_out
    finally:
        if handle is not None:
            handle.close()
    seconds = time.perf_counter() - t0
    logger.info("%s: %s -> %d samples of %d bp, %d targets, in %d chunk reads, %.1f s (%.0f samples/s)",
                split, mat, n, seq_len, n_targets, n_chunks, seconds, n / max(seconds, 1e-9))
    return {"n": int(n), "n_in_file": int(n_all), "seq_len": int(seq_len), "n_targets": int(n_targets),
            "positives": positives.tolist(), "source": source or str(mat), "chunk_reads": n_chunks,
            "seconds": round(seconds, 3)}


def _bundle_members(bundle: Path) -> dict[str, str]:
    with tarfile.open(bundle, "r:*") as tar:
        names = [m.name for m in tar.getmembers() if m.isfile()]
    found = {}
    for split in SPLITS:
        hits = [n for n in names if Path(n).name == f"{split}.mat"]
        if len(hits) != 1:
            raise DeepSeaFormatError(f"{bundle}: expected one member named {split}.mat (as "
                                     f"deepsea_train/{split}.mat), found {hits or 'none'}; members: {names[:20]}")
        found[split] = hits[0]
    return found


def convert_bundle(bundle: Path, out: Path, max_samples: dict[str, int | None] | None = None,
                   chunk_size: int = 10_000, channel_order: str = DEEPSEA_CHANNELS) -> dict:
    """The DeepSEA bundle (a .tar.gz, or a directory holding the three .mat files) -> `out`
    (a directory of arrays + meta.json), atomically. Returns the meta."""
    bundle, out = Path(bundle), Path(out)
    if not bundle.exists():
        raise FileNotFoundError(f"DeepSEA bundle not found: {bundle}")
    max_samples = max_samples or {}
    out.parent.mkdir(parents=True, exist_ok=True)
    # The arrays appear at `out` only when all three splits converted; the extracted .mat
    # files (large) live beside it, on the same filesystem, and go either way.
    with atomic_dir(out) as arrays, \
            tempfile.TemporaryDirectory(prefix=f".{out.name}.extract-", dir=out.parent) as work_dir:
        work = Path(work_dir)
        meta = {"format": "genomic-ulmfit-deepsea-arrays", "version": 1,
                "channel_order_in_source": channel_order.upper(), "codes": "ACGT -> 0..3, N -> 4",
                "labels": "np.packbits along targets (big bit order)", "bundle": str(bundle),
                "chunk_size": chunk_size, "splits": {}}
        n_targets = None
        if bundle.is_dir():
            for split in SPLITS:
                mat = bundle / f"{split}.mat"
                if not mat.exists():
                    raise DeepSeaFormatError(f"{bundle}: no {split}.mat in this directory")
                meta["splits"][split] = convert_split(mat, split, arrays, max_samples.get(split),
                                                      chunk_size, channel_order, n_targets)
                n_targets = meta["splits"][split]["n_targets"]
        else:
            members = _bundle_members(bundle)
            with tarfile.open(bundle, "r:*") as tar:
                for split in SPLITS:
                    # one member on disk at a time (train.mat is HDF5: random access needs a file)
                    tar.extract(members[split], work / "extract", filter="data")
                    mat = work / "extract" / members[split]
                    meta["splits"][split] = convert_split(mat, split, arrays, max_samples.get(split),
                                                          chunk_size, channel_order, n_targets,
                                                          source=f"{bundle}:{members[split]}")
                    n_targets = meta["splits"][split]["n_targets"]
                    mat.unlink()
        lens = {s["seq_len"] for s in meta["splits"].values()}
        if len(lens) != 1:
            raise DeepSeaFormatError(f"{bundle}: splits differ in sequence length: "
                                     f"{ {k: v['seq_len'] for k, v in meta['splits'].items()} }")
        meta.update(seq_len=lens.pop(), n_targets=n_targets)
        (arrays / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


# -- reading the arrays back --------------------------------------------------------------------

@dataclass
class DeepSeaArrays:
    """A converted directory: memory-mapped codes and packed labels per split."""

    path: Path
    meta: dict

    @classmethod
    def open(cls, path: Path) -> "DeepSeaArrays":
        path = Path(path)
        try:
            meta = json.loads((path / "meta.json").read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no meta.json; not a converted DeepSEA directory "
                                    "(genomic-ulmfit deepsea-convert)") from None
        return cls(path, meta)

    @property
    def n_targets(self) -> int:
        return int(self.meta["n_targets"])

    @property
    def seq_len(self) -> int:
        return int(self.meta["seq_len"])

    def x(self, split: str) -> np.ndarray:
        return np.load(self.path / f"{split}.x.npy", mmap_mode="r")

    def y_packed(self, split: str) -> np.ndarray:
        return np.load(self.path / f"{split}.y.npy", mmap_mode="r")

    def y(self, split: str) -> np.ndarray:
        """Unpacked (n, T) uint8 labels (in memory)."""
        return unpack_labels(np.asarray(self.y_packed(split)), self.n_targets)

    def positive_rate(self, split: str = "train") -> np.ndarray:
        s = self.meta["splits"][split]
        return np.asarray(s["positives"], dtype=np.float64) / s["n"]
