"""Data loaders on fastai's text module: LMDataLoader for language models,
SortedDL with pad-first chunked padding for classifiers."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import torch
from fastai.data.core import DataLoaders
from fastai.text.data import LMDataLoader, SortedDL, pad_input_chunk
from fastai.torch_core import TensorCategory
from fastai.text.data import TensorText

from .datasets.common import DATASET_COLUMNS, read_dataset  # noqa: F401 (re-exported)
from .kmers import PAD_ID, KmerTokenizer


def _to_long(t: torch.Tensor) -> torch.Tensor:
    """Token arrays are stored as uint16/uint32; embeddings need int64.
    (fastai applies a batch transform to each tensor of the batch.)"""
    return t.long()


def lm_dataloaders(train_docs: list[np.ndarray], valid_docs: list[np.ndarray], bs: int,
                   bptt: int, device: torch.device | None = None) -> DataLoaders:
    """bptt batches over token documents (memory-mapped arrays are read lazily).

    LMDataLoader lays the documents end to end in `bs` parallel streams and
    reshuffles the document order every epoch.
    """
    def as_tensors(docs):
        return [torch.from_numpy(d) for d in docs]

    train = LMDataLoader(as_tensors(train_docs), lens=[len(d) for d in train_docs], bs=bs,
                         seq_len=bptt, shuffle=True, drop_last=True, after_batch=_to_long)
    valid = LMDataLoader(as_tensors(valid_docs), lens=[len(d) for d in valid_docs],
                         bs=min(bs, max(1, sum(map(len, valid_docs)) // (bptt + 1))),
                         seq_len=bptt, shuffle=False, after_batch=_to_long)
    return DataLoaders(train, valid, device=device)


@dataclass
class LabelledSequences:
    """A classification dataset: token ids and class indices of one split."""

    ids: list[str]
    tokens: list[np.ndarray]
    targets: np.ndarray
    classes: list[str]

    def items(self) -> list[tuple[TensorText, TensorCategory]]:
        return [(TensorText(torch.from_numpy(t.astype(np.int64))), TensorCategory(int(y)))
                for t, y in zip(self.tokens, self.targets)]


def class_names(df: pd.DataFrame) -> list[str]:
    """Classes in a fixed order (sorted), so every split and run agrees."""
    return sorted(df["label"].unique().tolist())


def encode_split(df: pd.DataFrame, split: str, tokenizer: KmerTokenizer, classes: list[str],
                 source: str = "dataset") -> LabelledSequences:
    """Tokenize the sequences of one split; unknown labels are an error."""
    part = df[df["split"] == split]
    unknown = sorted(set(part["label"]) - set(classes))
    if unknown:
        raise ValueError(f"{source}: split {split!r} has label(s) {unknown} not among the "
                         f"model's classes {classes}")
    index = {c: i for i, c in enumerate(classes)}
    tokens = [tokenizer.encode(seq, f"{source}: record {rid}")
              for rid, seq in zip(part["id"], part["sequence"])]
    targets = np.array([index[label] for label in part["label"]], dtype=np.int64)
    return LabelledSequences(part["id"].tolist(), tokens, targets, classes)


def pad_first(samples, bptt: int):
    """fastai's pad-first padding: whole bptt chunks of padding before each
    sequence (the encoder skips them), the remainder after it (masked in pooling)."""
    return pad_input_chunk(samples, pad_idx=PAD_ID, pad_first=True, seq_len=bptt)


def sorted_loader(data: LabelledSequences, bs: int, bptt: int, shuffle: bool) -> SortedDL:
    """Batches of similar-length sequences; shuffled locally when training."""
    # num_workers=0: collating short token arrays is cheaper than forking workers
    return SortedDL(data.items(), res=[len(t) for t in data.tokens], bs=bs, shuffle=shuffle,
                    num_workers=0,
                    drop_last=shuffle and len(data.tokens) > bs,
                    before_batch=partial(pad_first, bptt=bptt))


def classifier_dataloaders(train: LabelledSequences, valid: LabelledSequences, bs: int,
                           bptt: int, device: torch.device | None = None) -> DataLoaders:
    return DataLoaders(sorted_loader(train, bs, bptt, shuffle=True),
                       sorted_loader(valid, bs * 2, bptt, shuffle=False), device=device)
