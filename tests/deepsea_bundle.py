"""A tiny DeepSEA training bundle with planted motif -> target rules, in the real bundle's
layout: deepsea_train/train.mat as MATLAB 7.3 (HDF5, arrays transposed: (L, 4, N) and
(T, N)), valid.mat and test.mat as MATLAB 5 ((N, 4, L) and (N, T)), in a .tar.gz.
Target j is positive iff motif j occurs in the sequence; one-hot channels in DeepSEA's
A, G, C, T order."""
from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np

MOTIFS = ["TATAAAGC", "GGGCGGCC", "CACGTGAT", "TGACTCAA", "CCAATCGG", "ATGCATGC"]
CHANNELS = "AGCT"


def planted(n: int, length: int = 120, seed: int = 0, rate: float = 0.35,
            never: tuple[int, ...] = ()) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(one-hot (n, 4, L) uint8 in AGCT order, labels (n, T) uint8, sequences). Motifs sit at
    multiples of 3 (in frame for k-mers of stride 3); targets in `never` are never planted."""
    rng = np.random.default_rng(seed)
    t = len(MOTIFS)
    seqs, labels = [], np.zeros((n, t), dtype=np.uint8)
    slots = list(range(0, length - 8, 12))
    for i in range(n):
        seq = list(rng.choice(list("ACGT"), length))
        if i % 17 == 5:
            seq[int(rng.integers(length))] = "N"
        chosen = [j for j in range(t) if j not in never and rng.random() < rate]
        for j, slot in zip(chosen, rng.choice(slots, size=len(chosen), replace=False)):
            seq[slot:slot + 8] = MOTIFS[j]
        s = "".join(seq)
        labels[i] = [m in s for m in MOTIFS]  # chance occurrences count too
        seqs.append(s)
    onehot = np.zeros((n, 4, length), dtype=np.uint8)
    for i, s in enumerate(seqs):
        for p, b in enumerate(s):
            if b in CHANNELS:
                onehot[i, CHANNELS.index(b), p] = 1
    return onehot, labels, seqs


def write_hdf5_mat(path: Path, split: str, x: np.ndarray, y: np.ndarray) -> None:
    """MATLAB 7.3 style: an HDF5 file with a 512-byte user block, arrays transposed."""
    import h5py
    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_dataset(f"{split}xdata", data=x.transpose(2, 1, 0), chunks=True)  # (L, 4, N)
        f.create_dataset(f"{split}data", data=y.T, chunks=True)                    # (T, N)
    with open(path, "r+b") as f:
        f.write(b"MATLAB 7.3 MAT-file, written by the Genomic-ULMFiT tests".ljust(128, b" "))


def write_mat5(path: Path, split: str, x: np.ndarray, y: np.ndarray) -> None:
    import scipy.io
    scipy.io.savemat(path, {f"{split}xdata": x, f"{split}data": y}, format="5")


def make_bundle(directory: Path, sizes=(900, 150, 250), length: int = 120,
                test_never: tuple[int, ...] = (), name: str = "deepsea_train_bundle.v0.9.tar.gz") -> dict:
    """Write the three .mat files and the .tar.gz; returns the arrays per split."""
    directory.mkdir(parents=True, exist_ok=True)
    mats = directory / "deepsea_train"
    mats.mkdir(exist_ok=True)
    arrays = {}
    for seed, (split, n) in enumerate(zip(("train", "valid", "test"), sizes)):
        x, y, seqs = planted(n, length, seed=seed, never=test_never if split == "test" else ())
        arrays[split] = (x, y, seqs)
        (write_hdf5_mat if split == "train" else write_mat5)(mats / f"{split}.mat", split, x, y)
    with tarfile.open(directory / name, "w:gz") as tar:
        tar.add(mats, arcname="deepsea_train")
    arrays["bundle"] = directory / name
    return arrays
