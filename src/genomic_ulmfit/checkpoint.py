"""Model checkpoints: weights, tokenization and model config in one file.

Saved with torch.save as {"meta": plain dict, "state_dict": tensors} and read
with torch.load(weights_only=True), so loading never unpickles code. torch.load does not
check the zip members' CRCs, so load_checkpoint does: a corrupted file is refused, not used.

Each save also keeps a hard link `<stem>.previous<suffix>` (lm.previous.pth) to what it wrote:
Snakemake deletes a job's declared outputs before rerunning it, and that undeclared name is
the last good model when the rerun fails.
"""
from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import torch

from .kmers import KmerTokenizer
from .models import ModelConfig
from .errors import GenomicUlmfitError
from .io.atomic import atomic_open, atomic_path

FORMAT = "genomic-ulmfit-checkpoint"
VERSION = 2  # 2: embedding rows padded to a multiple of 8 (models.embedding_rows)
KINDS = ("language_model", "classifier", "deepsea")  # deepsea: genomic_ulmfit.deepsea.train


class CheckpointError(GenomicUlmfitError, ValueError):
    """A checkpoint that does not fit what it is used for; the message says why."""


def save_checkpoint(path: Path, model: torch.nn.Module, kind: str, tokenizer: KmerTokenizer,
                    config: ModelConfig, **extra) -> None:
    """Write atomically: a crash never leaves a half-written model behind."""
    save_model(path, model, kind, tokenizer=tokenizer.to_dict(), model=config.to_dict(), **extra)


def save_model(path: Path, net: torch.nn.Module, kind: str, /, **meta) -> None:
    """Any model with plain-data metadata, written atomically (save_checkpoint's format)."""
    assert kind in KINDS, kind
    meta = {"format": FORMAT, "version": VERSION, "kind": kind, **meta}
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    path = Path(path)
    # Through a file object: torch names the archive's folder after a file *name* (here a
    # random temporary one), which would make two saves of the same weights differ in bytes.
    with atomic_open(path, "wb") as fh:
        torch.save({"meta": meta, "state_dict": state}, fh)
    keep_previous(path)


def previous_path(path: Path) -> Path:
    """lm.pth -> lm.previous.pth: the last model a save wrote there."""
    path = Path(path)
    return path.with_name(f"{path.stem}.previous{path.suffix}")


def keep_previous(path: Path) -> None:
    """Point `<stem>.previous<suffix>` at the file just saved (a hard link: no extra space;
    a copy where the filesystem has no hard links), replacing the older one atomically."""
    path = Path(path)
    with atomic_path(previous_path(path)) as tmp:
        tmp.unlink()
        try:
            os.link(path, tmp)
        except OSError:
            shutil.copy2(path, tmp)


def verify_integrity(path: Path) -> None:
    """Every zip member's CRC, which torch.load does not check: flipped bytes in the
    tensors' data would otherwise load as weights."""
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable Genomic-ULMFiT checkpoint (damaged zip: {e})") from e
    if bad is not None:
        raise CheckpointError(f"{path}: corrupted checkpoint: member {bad!r} fails its CRC check; "
                              f"retrain it or restore it ({previous_path(path).name} if present)")


def load_checkpoint(path: Path, kind: str | None = None) -> tuple[dict, dict]:
    """(meta, state_dict) of a checkpoint, checked to be intact, ours and of `kind`."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    if zipfile.is_zipfile(path):  # torch's format; older pickles are refused by torch.load below
        verify_integrity(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # pickle refusals, truncated files, other formats
        raise CheckpointError(f"{path}: not a readable Genomic-ULMFiT checkpoint ({e})") from e
    meta = blob.get("meta") if isinstance(blob, dict) else None
    if not meta or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a Genomic-ULMFiT checkpoint (no {FORMAT!r} metadata)")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {meta.get('version')}; this release "
                              f"reads version {VERSION} (its embeddings have 8-aligned rows): retrain it")
    if kind is not None and meta["kind"] != kind:
        raise CheckpointError(f"{path}: holds a {meta['kind']}, expected a {kind}")
    return meta, blob["state_dict"]


def checkpoint_tokenizer(meta: dict) -> KmerTokenizer:
    return KmerTokenizer.from_dict(meta["tokenizer"])


def checkpoint_config(meta: dict) -> ModelConfig:
    return ModelConfig.from_dict(meta["model"])


def check_tokenizer(meta: dict, tokenizer: KmerTokenizer, path: Path, what: str) -> None:
    """Fail clearly when a checkpoint's tokenization differs from the data's."""
    check_requested(meta, path, tokenizer.k, tokenizer.stride, what)


def check_requested(meta: dict, path: Path, k: int | None = None, stride: int | None = None,
                    what: str = "the command") -> None:
    """Fail when the k / stride asked for (the workflow passes those of the output path,
    k{k}s{stride}) differ from the checkpoint's; None: not given, not compared."""
    saved = checkpoint_tokenizer(meta)
    k, stride = k or saved.k, stride or saved.stride
    if (saved.k, saved.stride) != (k, stride):
        raise CheckpointError(
            f"{path}: model tokenized with k={saved.k}, stride={saved.stride}, but {what} uses "
            f"k={k}, stride={stride}; use a model trained with the same k and stride")


def check_architecture(meta: dict, config: ModelConfig, path: Path) -> None:
    saved = checkpoint_config(meta).architecture()
    if saved != config.architecture():
        raise CheckpointError(f"{path}: model size {saved} differs from the requested "
                              f"{config.architecture()}; use the same model preset")

