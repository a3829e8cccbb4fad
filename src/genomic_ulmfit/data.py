"""Data loaders on fastai's text module: LMDataLoader for language models,
SortedDL with pad-first chunked padding for classifiers."""
from __future__ import annotations

import itertools
import mmap
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import torch
from fastai.data.core import DataLoaders
from fastai.text.data import LMDataLoader, LMTensorText, SortedDL, pad_input_chunk
from fastai.torch_core import TensorCategory
from fastai.text.data import TensorText

from .datasets.common import DATASET_COLUMNS, read_dataset  # noqa: F401 (re-exported)
from .errors import InputError
from .kmers import PAD_ID, KmerTokenizer


def _to_long(t: torch.Tensor) -> torch.Tensor:
    """Token arrays are stored as uint16/uint32; embeddings need int64.
    (fastai applies a batch transform to each tensor of the batch.)"""
    return t.long()


@dataclass
class TokenStream:
    """Token documents in one array (memory-mapped for a corpus) with each document's
    length and start: what an LM loader reads, without a Python object per document."""

    tokens: np.ndarray
    lens: np.ndarray
    starts: np.ndarray | None = None  # None: the documents lie end to end

    def __post_init__(self) -> None:
        self.lens = np.asarray(self.lens, dtype=np.int64)
        if self.starts is None:
            if int(self.lens.sum()) != len(self.tokens):
                raise ValueError(f"document lengths add up to {int(self.lens.sum())} tokens, "
                                 f"but the token array holds {len(self.tokens)}")
            self.starts = np.concatenate(([0], np.cumsum(self.lens)[:-1])).astype(np.int64)
        self.starts = np.asarray(self.starts, dtype=np.int64)

    @classmethod
    def from_documents(cls, docs: list[np.ndarray]) -> "TokenStream":
        """Concatenates small in-memory documents (a task's sequences)."""
        docs = [np.asarray(d) for d in docs]
        if not docs:
            return cls(np.zeros(0, dtype=np.uint16), np.zeros(0, dtype=np.int64))
        return cls(np.concatenate(docs), [len(d) for d in docs])

    def documents(self) -> list[np.ndarray]:
        """Views of the documents (no tokens are read from a memory map)."""
        return [self.tokens[a:a + n] for a, n in zip(self.starts.tolist(), self.lens.tolist())]


RELEASE_EVERY = 256  # batches between drops of the memory map's read pages


def release_pages(tokens: np.ndarray) -> None:
    """Unmap the pages of a memory-mapped array read so far (they stay in the page cache
    and are read back if needed), so a process reading a genome-sized corpus does not end
    up holding all of it."""
    mm = getattr(tokens, "_mmap", None)
    if mm is not None and hasattr(mmap, "MADV_DONTNEED"):
        mm.madvise(mmap.MADV_DONTNEED)


class StreamLMDataLoader(LMDataLoader):
    """fastai's LMDataLoader with each batch gathered from the token array in one indexing
    operation instead of one Python call (and one torch.cat) per row.

    The batches are LMDataLoader's own: the documents, in the order LMDataLoader shuffles
    them each epoch, laid end to end and cut into `bs` rows of `bl` tokens; batch j holds
    tokens [j*seq_len, j*seq_len + sl + 1) of every row, so hidden states carry over
    from batch to batch. tests/test_training.py checks the two loaders agree.
    """

    def __init__(self, dataset=None, lens=None, stream: TokenStream | None = None,
                 shard: tuple[int, int] = (0, 1), **kwargs):
        """`shard` (rank, world size): for data-parallel training every process builds the
        same loader of world x bs rows and keeps its own bs of them, so together the
        processes train exactly what one process with the whole batch would."""
        self.stream = stream if stream is not None else TokenStream.from_documents(dataset)
        self.shard = shard
        if "bs" in kwargs:
            kwargs["bs"] *= shard[1]
        super().__init__(self.stream.documents(), lens=self.stream.lens.tolist(), **kwargs)

    def new(self, dataset=None, seq_len=None, **kwargs):
        if dataset is None:
            kwargs["stream"] = self.stream
        kwargs.setdefault("shard", self.shard)
        kwargs["bs"] = kwargs.get("bs", self.bs) // self.shard[1]
        return super().new(dataset=dataset, seq_len=seq_len, **kwargs)

    def get_idxs(self):
        """range(n): fastai lists the n sample numbers, which grows with the corpus
        (22 M Python ints for a human-genome epoch)."""
        idxs = range(self.n)
        return self.shuffle_fn(idxs) if self.shuffle else idxs

    def create_batches(self, samps):
        order = np.asarray(self.items.idxs)  # this epoch's document order
        lens = self.stream.lens[order]
        stream_starts = np.concatenate(([0], np.cumsum(lens)))
        file_starts = self.stream.starts[order]
        samps = iter(samps)
        step = self.bs or 1
        rank, world = self.shard
        mine = slice(rank * step // world, (rank + 1) * step // world)
        for i in itertools.count():
            seqs = np.fromiter(itertools.islice(samps, step), dtype=np.int64)
            if not len(seqs):
                return
            if i % RELEASE_EVERY == RELEASE_EVERY - 1:
                release_pages(self.stream.tokens)
            yield self._gather(seqs[mine], stream_starts, file_starts)

    def _gather(self, seqs: np.ndarray, stream_starts: np.ndarray, file_starts: np.ndarray):
        """(x, y) of the rows `seqs` (sample numbers, as create_item takes them)."""
        batch = seqs // self.bs
        sl = self.last_len if int(batch[0]) == self.n_batches - 1 else self.seq_len
        start = (seqs % self.bs) * self.bl + batch * self.seq_len
        pos = start[:, None] + np.arange(sl + 1)
        doc = np.searchsorted(stream_starts, pos, side="right") - 1
        index = file_starts[doc] + (pos - stream_starts[doc])
        # int64 here: the embedding wants it, and CUDA has few kernels for uint16
        txt = torch.from_numpy(self.stream.tokens[index.ravel()].astype(np.int64).reshape(pos.shape))
        return LMTensorText(txt[:, :-1].contiguous()), txt[:, 1:].contiguous()


def lm_dataloaders(train: TokenStream, valid: TokenStream, bs: int, bptt: int,
                   device: torch.device | None = None, shard: tuple[int, int] = (0, 1)) -> DataLoaders:
    """bptt batches over token streams (memory-mapped arrays are read batch by batch).

    Documents are laid end to end in `bs` parallel streams, their order reshuffled
    every epoch (fastai's LMDataLoader semantics). Batches are pinned for the copy
    to a GPU. `shard` (rank, world size): this process's `bs` rows of world x bs
    training streams (data-parallel training); every process validates on all of `valid`.
    """
    pin = device is not None and torch.device(device).type == "cuda"
    train_dl = StreamLMDataLoader(stream=train, bs=bs, seq_len=bptt, shuffle=True, drop_last=True,
                                  after_batch=_to_long, pin_memory=pin, shard=shard)
    valid_bs = min(bs, max(1, len(valid.tokens) // (bptt + 1)))
    valid_dl = StreamLMDataLoader(stream=valid, bs=valid_bs, seq_len=bptt, shuffle=False,
                                  after_batch=_to_long, pin_memory=pin)
    return DataLoaders(train_dl, valid_dl, device=device)


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


def _source(df: pd.DataFrame, source: str | None) -> str:
    """The file a frame came from, for messages (read_dataset records it in df.attrs)."""
    return source or df.attrs.get("source", "dataset")


def class_names(df: pd.DataFrame, source: str | None = None) -> list[str]:
    """The task's classes: the train split's labels, sorted, so every split and run agrees.

    The train split fixes the task: a label only valid or test has (a typo, a class without
    training data) would otherwise add a model output and turn a binary task multi-class.
    """
    where = _source(df, source)
    check_split_present(df, "train", where)
    classes = sorted(df.loc[df["split"] == "train", "label"].unique().tolist())
    for split in sorted(set(df["split"]) - {"train"}):
        _check_known_labels(df[df["split"] == split], split, classes, where, "the train split's labels")
    return classes


def check_split_present(df: pd.DataFrame, split: str, source: str = "dataset") -> None:
    """InputError naming the splits the dataset has, when `split` is not among them."""
    if not (df["split"] == split).any():
        have = sorted(set(df["split"]))
        raise InputError(f"{source}: no split {split!r}; the dataset has split(s) {have}"
                         + ("" if split != "valid" else "; a classifier needs train and valid"))


def _check_known_labels(part: pd.DataFrame, split: str, classes: list[str], source: str,
                        what: str) -> None:
    unknown = sorted(set(part["label"]) - set(classes))
    if unknown:
        raise InputError(f"{source}: split {split!r} has label(s) {unknown} not among {what} "
                         f"{classes}; labels of valid and test must be classes of the train split")


def encode_split(df: pd.DataFrame, split: str, tokenizer: KmerTokenizer, classes: list[str],
                 source: str = "dataset") -> LabelledSequences:
    """Tokenize the sequences of one split; a missing split or an unknown label is an error."""
    check_split_present(df, split, source)
    part = df[df["split"] == split]
    _check_known_labels(part, split, classes, source, "the model's classes (its train labels)")
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
