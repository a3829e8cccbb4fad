"""Model checkpoints: weights, tokenization and model config in one file.

Saved with torch.save as {"meta": plain dict, "state_dict": tensors} and read
with torch.load(weights_only=True), so loading never unpickles code.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from .kmers import KmerTokenizer
from .models import ModelConfig
from .errors import GenomicUlmfitError

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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"meta": meta, "state_dict": state}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, kind: str | None = None) -> tuple[dict, dict]:
    """(meta, state_dict) of a checkpoint, checked to be ours and of `kind`."""
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
    saved = checkpoint_tokenizer(meta)
    if (saved.k, saved.stride) != (tokenizer.k, tokenizer.stride):
        raise CheckpointError(
            f"{path}: model tokenized with k={saved.k}, stride={saved.stride}, but {what} uses "
            f"k={tokenizer.k}, stride={tokenizer.stride}; pretrain a language model with the "
            f"same k and stride")


def check_architecture(meta: dict, config: ModelConfig, path: Path) -> None:
    saved = checkpoint_config(meta).architecture()
    if saved != config.architecture():
        raise CheckpointError(f"{path}: model size {saved} differs from the requested "
                              f"{config.architecture()}; use the same model preset")
