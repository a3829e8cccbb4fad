"""Apply a trained classifier to new sequences: FASTA, TSV or one sequence per line in, a TSV
of class probabilities out.

`evaluate` needs labels and `scan` a genome; this is the command for "score these sequences".
Sequences are tokenized with the checkpoint's own k-mer tokenizer and batched by length
(sequences of one length per batch, so a score never depends on the rest of the file). A sequence the model cannot score (shorter than k, or holding a
character that is not an IUPAC nucleotide code) is never given a number: it is listed by id
in the skipped report, or, with `on_invalid="fail"`, stops the command naming file and id.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .checkpoint import checkpoint_config, checkpoint_tokenizer, load_checkpoint
from .errors import InputError
from .fasta import is_gzip, iter_fasta_records, open_text, reverse_complement
from .io.atomic import atomic_open
from .kmers import KmerTokenizer, SequenceError
from .logs import progress
from .metrics import positive_class
from .models import classifier

logger = logging.getLogger(__name__)

__all__ = ["SequenceClassifier", "read_sequences", "predict_table", "predict_main", "COMBINE"]

COMBINE = ("mean", "max")  # how the two strands' probabilities become one row


@dataclass
class InputSequence:
    id: str
    sequence: str
    source: str  # the file it came from, for messages


def _first_line(path: Path) -> str:
    with open_text(path) as fh:
        for line in fh:
            if line.strip():
                return line
    raise InputError(f"{path}: the file is empty; expected FASTA, a TSV with a 'sequence' column "
                     f"or one sequence per line")


def _read_tsv(path: Path) -> list[InputSequence]:
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False,
                     compression="gzip" if is_gzip(path) else None)
    if "id" in df.columns:
        ids = df["id"].tolist()
    else:
        ids = [f"row{i}" for i in range(1, len(df) + 1)]
    return [InputSequence(str(i), s.strip(), str(path)) for i, s in zip(ids, df["sequence"])]


def _read_lines(path: Path) -> list[InputSequence]:
    with open_text(path) as fh:
        return [InputSequence(f"line{n}", line.strip(), str(path))
                for n, line in enumerate(fh, start=1) if line.strip()]


def read_sequences(path: str | os.PathLike[str]) -> list[InputSequence]:
    """The sequences of one file, in file order: FASTA (first word of the header is the id),
    a TSV whose header has a `sequence` column (ids from an `id` column, else row<N>), or one
    sequence per line (ids line<N>); plain or gzip."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such input file")
    first = _first_line(path)
    if first.startswith(">"):
        return [InputSequence(r.name, r.sequence, str(path)) for r in iter_fasta_records(path)]
    if "sequence" in first.rstrip("\n").split("\t"):
        return _read_tsv(path)
    return _read_lines(path)


def _unique_ids(seqs: list[InputSequence]) -> None:
    seen: dict[str, str] = {}
    for s in seqs:
        if s.id in seen:
            raise InputError(f"{s.source}: sequence id {s.id!r} appears twice (also in {seen[s.id]}); "
                             f"expected unique ids, so each output row names one sequence")
        seen[s.id] = s.source


class SequenceClassifier:
    """A classifier checkpoint ready to score variable-length sequences (all classes)."""

    def __init__(self, path: str | os.PathLike[str], device: torch.device | str = "cpu",
                 batch_size: int = 64):
        meta, state = load_checkpoint(Path(path), "classifier")
        self.path = Path(path)
        self.config = checkpoint_config(meta)
        self.tokenizer: KmerTokenizer = checkpoint_tokenizer(meta)
        self.classes: list[str] = list(meta["classes"])
        self.device = torch.device(device)
        self.batch_size = batch_size
        model = classifier(self.config, self.tokenizer.vocab_size, len(self.classes))
        model.load_state_dict(state)
        self.model = model.to(self.device).eval()

    @torch.inference_mode()
    def probabilities(self, tokens: list[np.ndarray], desc: str = "predict") -> np.ndarray:
        """(n, n_classes) class probabilities of token arrays, in their given order.

        A batch holds sequences of one token length only, so no padding is needed: fastai's
        concat pooling takes the wrong "last" position for a pad-first sequence shorter than
        the batch's final bptt chunk, and a score must not depend on what else is in the file.
        """
        out = np.empty((len(tokens), len(self.classes)), dtype=np.float32)
        lengths = np.array([len(t) for t in tokens])
        batches = [rows[i:i + self.batch_size] for length in np.unique(lengths)
                   for rows in [np.flatnonzero(lengths == length)]
                   for i in range(0, len(rows), self.batch_size)]
        for rows in progress(batches, desc=desc, unit="batch"):
            x = torch.from_numpy(np.stack([tokens[r] for r in rows]).astype(np.int64))
            logits = self.model(x.to(self.device))[0]
            out[rows] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return out


def _encode(seqs: list[InputSequence], tok: KmerTokenizer, on_invalid: str
            ) -> tuple[list[int], list[np.ndarray], list[dict]]:
    """Token arrays of the sequences that can be scored; the rest as skip records."""
    kept, tokens, skipped = [], [], []
    for i, s in enumerate(seqs):
        try:
            tokens.append(tok.encode(s.sequence, f"{s.source}: sequence {s.id!r}"))
            kept.append(i)
        except SequenceError as err:
            if on_invalid == "fail":
                raise
            skipped.append({"id": s.id, "length": len(s.sequence), "file": s.source, "reason": str(err)})
    return kept, tokens, skipped


def _combine(forward: np.ndarray, reverse: np.ndarray, how: str, positive: int) -> np.ndarray:
    if how == "mean":
        return (forward + reverse) / 2
    # max: each sequence takes the strand on which the positive class is more probable
    take_reverse = reverse[:, positive] > forward[:, positive]
    return np.where(take_reverse[:, None], reverse, forward)


def predict_table(model: SequenceClassifier, seqs: list[InputSequence], strands: str = "forward",
                  combine: str = "max", on_invalid: str = "skip",
                  positive: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(predictions, skipped): one row per scored sequence in input order (id, length,
    prob_<class> per class, prediction), and one per sequence that could not be scored."""
    if strands not in ("forward", "both"):
        raise InputError(f"strands must be 'forward' or 'both', not {strands!r}")
    if combine not in COMBINE:
        raise InputError(f"combine must be one of {', '.join(COMBINE)}, not {combine!r}")
    if on_invalid not in ("skip", "fail"):
        raise InputError(f"on_invalid must be 'skip' or 'fail', not {on_invalid!r}")
    _unique_ids(seqs)
    kept, tokens, skipped = _encode(seqs, model.tokenizer, on_invalid)
    probs = model.probabilities(tokens, desc="forward strand")
    if strands == "both" and kept:
        rc = [model.tokenizer.encode(reverse_complement(seqs[i].sequence)) for i in kept]
        pos = model.classes.index(positive_class(model.classes, positive))
        probs = _combine(probs, model.probabilities(rc, desc="reverse strand"), combine, pos)
    table = pd.DataFrame({"id": [seqs[i].id for i in kept],
                          "length": [len(seqs[i].sequence) for i in kept]})
    for j, c in enumerate(model.classes):
        table[f"prob_{c}"] = probs[:, j]
    table["prediction"] = [model.classes[j] for j in probs.argmax(1)]
    return table, pd.DataFrame(skipped, columns=["id", "length", "file", "reason"])


def predict_main(model_path: Path, inputs: list[Path], out: Path, skipped_out: Path | None = None,
                 strands: str = "forward", combine: str = "max", on_invalid: str = "skip",
                 positive: str | None = None, batch_size: int = 64, device: str = "cpu") -> None:
    """The `predict` command: read every input, score, write the TSV (and the skipped list)."""
    seqs = [s for path in inputs for s in read_sequences(path)]
    model = SequenceClassifier(model_path, device, batch_size)
    logger.info("%s: %d sequences from %d file(s); classes %s; k=%d stride=%d", model_path, len(seqs),
                len(inputs), model.classes, model.tokenizer.k, model.tokenizer.stride)
    table, skipped = predict_table(model, seqs, strands, combine, on_invalid, positive)
    if len(skipped):
        logger.warning("skipped %d of %d sequences that cannot be scored (shorter than k=%d or not "
                       "DNA), listed in %s; first: %s", len(skipped), len(seqs), model.tokenizer.k,
                       skipped_out or "the log", skipped["reason"].iloc[0])
    skipped_out = skipped_out or out.with_name(out.name.removesuffix(".gz").removesuffix(".tsv")
                                               + ".skipped.tsv")
    with atomic_open(out) as fh:
        table.to_csv(fh, sep="\t", index=False, float_format="%.6g")
    with atomic_open(skipped_out) as fh:
        skipped.to_csv(fh, sep="\t", index=False)
    logger.info("wrote %d predictions to %s (%s)", len(table), out,
                ", ".join(f"{c}: {n}" for c, n in table["prediction"].value_counts().items()) or "none")
