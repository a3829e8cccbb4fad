"""The ULMFiT schedule on fastai (methods-long-form section 5).

1. pretrain_lm: general-domain LM, one-cycle, one learning rate for all layers.
2. finetune_lm: the general LM on the task's train/valid sequences, one-cycle
   with discriminative learning rates (each lower layer group lr / 2.6).
3. train_classifier: embedding + encoder of the (fine-tuned) LM, never its
   head, trained by gradual unfreezing in four one-cycle stages, with
   discriminative learning rates at every stage; without an LM the same
   architecture from scratch (the naive classifier).
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from fastai.callback.core import Callback
from fastai.callback.progress import ProgressCallback
from fastai.callback.schedule import minimum, steep, valley
from fastai.losses import CrossEntropyLossFlat
from fastai.metrics import Perplexity, accuracy
from fastai.optimizer import Adam
from fastai.text.learner import TextLearner
from fastai.text.models.awdlstm import awd_lstm_clas_split, awd_lstm_lm_split
from fastai.torch_core import set_seed

from .checkpoint import (check_architecture, check_tokenizer, checkpoint_config, load_checkpoint,
                         save_checkpoint)
from .corpus import Corpus
from .data import TokenStream, class_names, classifier_dataloaders, encode_split, lm_dataloaders
from .distributed import DataParallel
from .kmers import KmerTokenizer
from .logs import interactive
from .models import ModelConfig, classifier, encoder_of, language_model

logger = logging.getLogger(__name__)

LR_DECAY = 2.6  # discriminative learning rates: each lower layer group gets lr / 2.6


@dataclass(frozen=True)
class OneCycle:
    """One one-cycle run (section 5.2): lr rises from lr/div to lr over the first
    pct_start of the run while momentum falls from 0.8 to 0.7, then both return."""

    epochs: int
    lr: float
    pct_start: float = 0.3
    moms: tuple[float, float, float] = (0.8, 0.7, 0.8)
    div: float = 25.0
    div_final: float = 1e5


def pick_device(name: str = "auto") -> torch.device:
    """CUDA when present (or asked for), otherwise the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class EpochLog(Callback):
    """One readable log line per epoch (losses, metrics, time)."""

    order = 60  # after the Recorder has filled in the epoch's values

    def __init__(self, stage: str):
        self.stage = stage

    def after_epoch(self):
        names, values = self.recorder.metric_names, self.recorder.log
        fields = [f"{n}={v:.4f}" if isinstance(v, float) else f"{n}={v}"
                  for n, v in zip(names, values)]
        logger.info("[%s] %s", self.stage, " ".join(fields))


class History:
    """Per-epoch values and per-iteration schedule of every fit, with its stage."""

    def __init__(self) -> None:
        self.epochs: list[dict] = []
        self.iterations: list[dict] = []

    def add(self, learn: TextLearner, stage: str) -> None:
        rec = learn.recorder
        names = list(rec.metric_names[1:])  # without 'epoch'
        for epoch, values in enumerate(rec.values):
            row = {"stage": stage, "epoch": epoch}
            row.update({n: float(v) for n, v in zip(names, values)})
            self.epochs.append(row)
        start = len(self.iterations)
        for i, (lr, mom, loss) in enumerate(zip(rec.hps.get("lr", []), rec.hps.get("mom", []),
                                                rec.losses)):
            self.iterations.append({"stage": stage, "iteration": start + i, "lr": float(lr),
                                    "mom": float(mom), "smooth_loss": float(loss)})

    def write(self, epochs_csv: Path | None, schedule_csv: Path | None) -> None:
        if epochs_csv:
            pd.DataFrame(self.epochs).to_csv(epochs_csv, index=False)
        if schedule_csv:
            pd.DataFrame(self.iterations).to_csv(schedule_csv, index=False)


def _learner(dls, model, config: ModelConfig, splitter, metrics, device: torch.device,
             stage: str | None) -> TextLearner:
    """A TextLearner (AR/TAR regularizer, hidden-state resets) with the seed's
    optimizer; `stage` names its epoch log lines (None: no epoch log)."""
    learn = TextLearner(dls, model, loss_func=CrossEntropyLossFlat(),
                        opt_func=partial(Adam, mom=0.9, sqr_mom=0.99),  # AdamW (decoupled wd)
                        splitter=splitter, metrics=metrics, wd=config.weight_decay,
                        alpha=config.ar_alpha, beta=config.tar_beta,
                        cbs=[EpochLog(stage)] if stage else [])
    learn.logger = lambda *_: None  # EpochLog writes the readable line instead of a raw list
    if not interactive():
        learn.remove_cb(ProgressCallback)
    if device.type == "cuda":
        learn.to_fp16()  # dynamic loss scaling; batchnorm stays fp32
    return learn


def _fit(learn: TextLearner, cycle: OneCycle, lr, history: History, stage: str) -> None:
    learn.cbs.filter(lambda cb: isinstance(cb, EpochLog)).map(lambda cb: setattr(cb, "stage", stage))
    learn.fit_one_cycle(cycle.epochs, lr, pct_start=cycle.pct_start, moms=cycle.moms,
                        div=cycle.div, div_final=cycle.div_final)
    history.add(learn, stage)


def discriminative(lr: float, n_groups: int) -> slice:
    """lr for the top group, lr / 2.6 for the one below, and so on down."""
    return slice(lr / LR_DECAY ** (n_groups - 1), lr)


# -- language models ---------------------------------------------------------------------------

def pretrain_lm(corpus: Corpus, config: ModelConfig, cycle: OneCycle, out: Path, seed: int = 0,
                device: torch.device | None = None, history_csv: Path | None = None,
                schedule_csv: Path | None = None) -> dict:
    """Train the general-domain LM on a corpus; returns the summary written beside it.

    Under torchrun, each process trains its share of the batch rows on its own GPU
    (or CPU process) and the first one writes the outputs (distributed.DataParallel).
    """
    parallel = DataParallel.from_env(device or pick_device())
    device = parallel.device
    set_seed(seed, reproducible=True)
    tok = corpus.tokenizer
    dls = lm_dataloaders(corpus.stream("train"), corpus.stream("valid"),
                         config.lm_batch_size, config.bptt, device, shard=parallel.shard)
    model = language_model(config, tok.vocab_size)
    parallel.seed_dropout(seed)
    learn = _learner(dls, model, config, awd_lstm_lm_split, [accuracy, Perplexity()], device,
                     "pretrain" if parallel.is_main else None)
    if parallel.callback():
        learn.add_cb(parallel.callback())
    history = History()
    _fit(learn, cycle, cycle.lr, history, "pretrain")
    summary = _lm_summary(history, tok, cycle, seed, corpus=str(corpus.path),
                          train_tokens=corpus.meta["train_tokens"],
                          markov_baseline_loss=corpus.markov_baseline_loss(),
                          data_parallel={"world_size": parallel.world_size,
                                         "batch_rows_per_process": config.lm_batch_size,
                                         "replicas_identical": parallel.replicas_identical(learn.model)})
    if parallel.is_main:
        history.write(history_csv, schedule_csv)
        save_checkpoint(out, learn.model, "language_model", tok, config, training=summary)
    parallel.close()
    return summary


def _lm_summary(history: History, tok: KmerTokenizer, cycle: OneCycle, seed: int, **extra) -> dict:
    last = history.epochs[-1]
    prior = tok.stride * math.log(4)  # loss of guessing among the 4^s k-mers the stride allows
    return {"valid_loss": last["valid_loss"], "accuracy": last.get("accuracy"),
            "stride_prior_loss": prior, "gain_over_prior": prior - last["valid_loss"],
            "cycle": asdict(cycle), "seed": seed, **extra}


def task_lm_documents(df: pd.DataFrame, split: str, tok: KmerTokenizer, source: str) -> TokenStream:
    """One split's sequences, tokenized, as LM documents."""
    part = df[df["split"] == split]
    return TokenStream.from_documents([tok.encode(s, f"{source}: record {i}")
                                       for i, s in zip(part["id"], part["sequence"])])


def finetune_lm(lm_path: Path, df: pd.DataFrame, cycle: OneCycle, out: Path, seed: int = 0,
                device: torch.device | None = None, dataset_name: str = "dataset",
                history_csv: Path | None = None, schedule_csv: Path | None = None,
                config: ModelConfig | None = None) -> dict:
    """Fine-tune a general LM on the task's training and validation sequences
    (never the test split), with discriminative learning rates."""
    device = device or pick_device()
    set_seed(seed, reproducible=True)
    meta, state = load_checkpoint(lm_path, "language_model")
    lm_config = checkpoint_config(meta)
    if config is not None:
        check_architecture(meta, config, lm_path)
        lm_config = config
    tok = KmerTokenizer.from_dict(meta["tokenizer"])
    train_docs = task_lm_documents(df, "train", tok, dataset_name)
    valid_docs = task_lm_documents(df, "valid", tok, dataset_name)
    dls = lm_dataloaders(train_docs, valid_docs, lm_config.lm_batch_size, lm_config.bptt, device)
    model = language_model(lm_config, tok.vocab_size)
    model.load_state_dict(state)
    learn = _learner(dls, model, lm_config, awd_lstm_lm_split, [accuracy, Perplexity()], device,
                     "finetune")
    history = History()
    n_groups = len(awd_lstm_lm_split(model))
    _fit(learn, cycle, discriminative(cycle.lr, n_groups), history, "finetune")
    history.write(history_csv, schedule_csv)
    summary = _lm_summary(history, tok, cycle, seed, pretrained_from=str(lm_path),
                          dataset=dataset_name)
    save_checkpoint(out, learn.model, "language_model", tok, lm_config, training=summary)
    return summary


# -- classifiers -------------------------------------------------------------------------------

UNFREEZE_STAGES = ("head", "head+lstm3", "head+lstm2-3", "all")
_FREEZE_TO = (-1, -2, -3, 0)  # parameter groups: embedding, lstm1, lstm2, lstm3, head


def train_classifier(df: pd.DataFrame, tok: KmerTokenizer, config: ModelConfig,
                     stages: list[OneCycle], out: Path, encoder_from: Path | None = None,
                     seed: int = 0, device: torch.device | None = None,
                     dataset_name: str = "dataset", history_csv: Path | None = None,
                     schedule_csv: Path | None = None, train_size: int | None = None) -> dict:
    """Classifier by gradual unfreezing from an LM's encoder, or from scratch.

    With `encoder_from`, `stages` are the four unfreezing stages (head; + last
    LSTM; + last two; all). Without it (the naive classifier) every stage
    trains the whole model. `train_size` trains on a label-stratified subset.
    """
    device = device or pick_device()
    set_seed(seed, reproducible=True)
    classes = class_names(df)
    if train_size is not None:
        df = subsample_train(df, train_size, seed, dataset_name)
    train = encode_split(df, "train", tok, classes, dataset_name)
    valid = encode_split(df, "valid", tok, classes, dataset_name)
    dls = classifier_dataloaders(train, valid, config.clas_batch_size, config.bptt, device)
    model = classifier(config, tok.vocab_size, len(classes))
    if encoder_from is not None:
        meta, state = load_checkpoint(encoder_from, "language_model")
        check_tokenizer(meta, tok, encoder_from, dataset_name)
        check_architecture(meta, config, encoder_from)
        transfer_encoder(state, model)
    learn = _learner(dls, model, config, awd_lstm_clas_split, [accuracy], device, "classifier")
    history = History()
    n_groups = len(awd_lstm_clas_split(model))
    if encoder_from is not None and len(stages) > len(UNFREEZE_STAGES):
        raise ValueError(f"gradual unfreezing has {len(UNFREEZE_STAGES)} stages, got {len(stages)}")
    for i, cycle in enumerate(stages):
        if encoder_from is not None:
            stage = UNFREEZE_STAGES[i]
            learn.freeze_to(_FREEZE_TO[i])  # freeze_to(0) unfreezes everything
            lr = discriminative(cycle.lr, n_groups)
        else:
            stage = f"scratch{i + 1}"
            learn.unfreeze()
            lr = cycle.lr
        logger.info("stage %s: %d epoch(s), peak lr %g", stage, cycle.epochs, cycle.lr)
        if cycle.epochs > 0:
            _fit(learn, cycle, lr, history, stage)
    history.write(history_csv, schedule_csv)
    last = history.epochs[-1] if history.epochs else {}
    summary = {"valid_accuracy": last.get("accuracy"), "valid_loss": last.get("valid_loss"),
               "stages": [asdict(c) for c in stages], "seed": seed,
               "encoder_from": str(encoder_from) if encoder_from else None,
               "dataset": dataset_name, "train_size": train_size}
    save_checkpoint(out, learn.model, "classifier", tok, config, classes=classes, training=summary)
    return summary


def subsample_train(df: pd.DataFrame, n: int, seed: int, source: str) -> pd.DataFrame:
    """Keep `n` training sequences, label-stratified; valid and test untouched."""
    from sklearn.model_selection import train_test_split
    train = df[df["split"] == "train"]
    if not 2 <= n <= len(train):
        raise ValueError(f"{source}: train_size={n}, but the training split has {len(train)} "
                         "sequences; expected 2..that many")
    if n == len(train):
        return df
    keep, _ = train_test_split(train, train_size=n, stratify=train["label"], random_state=seed)
    return pd.concat([keep, df[df["split"] != "train"]])


def transfer_encoder(lm_state: dict, clas_model: torch.nn.Module) -> None:
    """Copy the LM's embedding and LSTMs (its '0.' module) into the classifier."""
    encoder_state = {k[2:]: v for k, v in lm_state.items() if k.startswith("0.")}
    encoder_of(clas_model).load_state_dict(encoder_state, strict=True)


# -- learning-rate finder ----------------------------------------------------------------------

def lr_find(learn: TextLearner, csv: Path, plot: Path | None = None, summary: Path | None = None,
            start_lr: float = 1e-7, end_lr: float = 10.0, num_it: int = 100) -> dict:
    """fastai's LR range test; saves loss against lr (CSV, plot) and its suggestions."""
    found = learn.lr_find(start_lr=start_lr, end_lr=end_lr, num_it=num_it, show_plot=False,
                          suggest_funcs=(valley, minimum, steep))
    rec = learn.recorder
    n = len(rec.losses)
    curve = pd.DataFrame({"lr": [float(x) for x in rec.lrs[:n]],
                          "loss": [float(x) for x in rec.losses]})
    curve.to_csv(csv, index=False)
    suggestions = {k: float(v) for k, v in found._asdict().items()}
    if summary:
        Path(summary).write_text(json.dumps(suggestions, indent=2))
    if plot:
        from .plots import plot_lr_finder
        plot_lr_finder(curve, suggestions, plot)
    return suggestions


def lm_learner_for(corpus: Corpus, config: ModelConfig, device: torch.device) -> TextLearner:
    dls = lm_dataloaders(corpus.stream("train"), corpus.stream("valid"),
                         config.lm_batch_size, config.bptt, device)
    model = language_model(config, corpus.tokenizer.vocab_size)
    return _learner(dls, model, config, awd_lstm_lm_split, [accuracy], device, "lr_find")


def predict(model_path: Path, df: pd.DataFrame, split: str, device: torch.device | None = None,
            dataset_name: str = "dataset", batch_size: int | None = None) -> pd.DataFrame:
    """Class probabilities for every sequence of a split, in the dataset's order."""
    device = device or pick_device()
    meta, state = load_checkpoint(model_path, "classifier")
    config = checkpoint_config(meta)
    tok = KmerTokenizer.from_dict(meta["tokenizer"])
    classes = meta["classes"]
    data = encode_split(df, split, tok, classes, dataset_name)
    model = classifier(config, tok.vocab_size, len(classes))
    model.load_state_dict(state)
    dls = classifier_dataloaders(data, data, batch_size or config.clas_batch_size * 4,
                                 config.bptt, device)
    learn = _learner(dls, model, config, awd_lstm_clas_split, [], device, None)
    probs, _ = learn.get_preds(dl=dls.valid, reorder=True)
    probs = probs.float().numpy()
    out = pd.DataFrame({"id": data.ids, "label": [classes[t] for t in data.targets],
                        "prediction": [classes[i] for i in probs.argmax(1)]})
    for i, c in enumerate(classes):
        out[f"prob_{c}"] = probs[:, i]
    return out
