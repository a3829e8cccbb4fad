"""The ULMFiT schedule on fastai (methods-long-form section 5).

1. pretrain_lm: general-domain LM, one or more one-cycle calls, one learning rate
   for all layers.
2. finetune_lm: the general LM on the task's train/valid sequences, one-cycle calls
   with discriminative learning rates (each lower layer group lr / 2.6), or one lr.
3. train_classifier: embedding + encoder of the (fine-tuned) LM, never its
   head, trained in stages that each unfreeze some layer groups (head; -2; -3; all,
   fastai's freeze_to) and fit one one-cycle with discriminative learning rates;
   without an LM the same architecture from scratch (the naive classifier).

The settings and their defaults are the dataclasses of `settings`.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict
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

from .checkpoint import (check_architecture, check_requested, check_tokenizer, checkpoint_config,
                         load_checkpoint, save_checkpoint)
from .corpus import Corpus
from .data import TokenStream, class_names, classifier_dataloaders, encode_split, lm_dataloaders
from .distributed import DataParallel
from .io.atomic import atomic_path, write_json
from .kmers import KmerTokenizer
from .logs import interactive
from .models import ModelConfig, classifier, encoder_of, language_model, set_classifier_drop_mult
from .settings import OneCycle, Stage, STAGE_LAYERS, ClassifierSettings  # noqa: F401 (OneCycle re-exported)

logger = logging.getLogger(__name__)

LR_DECAY = 2.6  # discriminative learning rates: each lower layer group gets lr / 2.6


DEVICES = "auto, cpu, cuda, cuda:N or mps"


def pick_device(name: str = "auto") -> torch.device:
    """CUDA when present (or asked for), otherwise the CPU. A name torch does not know, or a
    device this machine lacks, is an InputError naming the allowed ones (not a RuntimeError
    from deep inside torch)."""
    import re
    from .errors import InputError
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not re.fullmatch(r"cpu|cuda(:\d+)?|mps", name):
        raise InputError(f"--device {name!r}: expected {DEVICES} (auto: CUDA when present, else cpu)")
    device = torch.device(name)
    n_cuda = torch.cuda.device_count()
    if device.type == "cuda" and (device.index or 0) >= n_cuda:
        raise InputError(f"--device {name!r}: this machine has {n_cuda} CUDA device(s); "
                         f"expected {DEVICES} (auto: CUDA when present, else cpu)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"--device 'mps': MPS is not available on this machine; expected {DEVICES}")
    return device


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
        """Each CSV atomically: a crash mid-write leaves the earlier file, never a truncated one."""
        for path, rows in ((epochs_csv, self.epochs), (schedule_csv, self.iterations)):
            if path:
                write_csv(pd.DataFrame(rows), path)


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """`df` as CSV at `path`, all of it or nothing (io.atomic)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def _learner(dls, model, config: ModelConfig, splitter, metrics, device: torch.device,
             stage: str | None, fp16: bool | None = None) -> TextLearner:
    """A TextLearner (AR/TAR regularizer, hidden-state resets) with the seed's
    optimizer; `stage` names its epoch log lines (None: no epoch log). `fp16`: mixed
    precision, None = on CUDA only (there is none on a CPU)."""
    learn = TextLearner(dls, model, loss_func=CrossEntropyLossFlat(),
                        opt_func=partial(Adam, mom=0.9, sqr_mom=0.99),  # AdamW (decoupled wd)
                        splitter=splitter, metrics=metrics, wd=config.weight_decay,
                        alpha=config.ar_alpha, beta=config.tar_beta,
                        cbs=[EpochLog(stage)] if stage else [])
    learn.logger = lambda *_: None  # EpochLog writes the readable line instead of a raw list
    if not interactive():
        learn.remove_cb(ProgressCallback)
    if fp16 and device.type != "cuda":
        logger.info("fp16 asked for, but %s has no mixed precision here: training in fp32", device)
    if device.type == "cuda" and fp16 is not False:
        learn.to_fp16()  # dynamic loss scaling; batchnorm stays fp32
    return learn


def _fit(learn: TextLearner, cycle: OneCycle, lr, history: History, stage: str) -> None:
    learn.cbs.filter(lambda cb: isinstance(cb, EpochLog)).map(lambda cb: setattr(cb, "stage", stage))
    learn.fit_one_cycle(cycle.epochs, lr, pct_start=cycle.pct_start, moms=cycle.moms,
                        div=cycle.div, div_final=cycle.div_final)
    history.add(learn, stage)


def _fit_cycles(learn: TextLearner, cycles: Sequence[OneCycle], history: History, name: str,
                lr_of=lambda cycle: cycle.lr) -> None:
    """Each one-cycle call in turn; stages are `name`, or name1, name2, ... for several."""
    for i, cycle in enumerate(cycles):
        _fit(learn, cycle, lr_of(cycle), history, name if len(cycles) == 1 else f"{name}{i + 1}")


def _as_cycles(cycles: OneCycle | Sequence[OneCycle]) -> tuple[OneCycle, ...]:
    return (cycles,) if isinstance(cycles, OneCycle) else tuple(cycles)


def discriminative(lr: float, n_groups: int) -> slice:
    """lr for the top group, lr / 2.6 for the one below, and so on down."""
    return slice(lr / LR_DECAY ** (n_groups - 1), lr)


# -- language models ---------------------------------------------------------------------------

def pretrain_lm(corpus: Corpus, config: ModelConfig, cycles: OneCycle | Sequence[OneCycle], out: Path,
                seed: int = 0, device: torch.device | None = None, history_csv: Path | None = None,
                schedule_csv: Path | None = None, fp16: bool | None = None) -> dict:
    """Train the general-domain LM on a corpus by one or more one-cycle calls; returns the
    summary written beside it.

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
                     "pretrain" if parallel.is_main else None, fp16)
    if parallel.callback():
        learn.add_cb(parallel.callback())
    history = History()
    cycles = _as_cycles(cycles)
    _fit_cycles(learn, cycles, history, "pretrain")
    summary = _lm_summary(history, tok, cycles, seed, corpus=str(corpus.path),
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


def _lm_summary(history: History, tok: KmerTokenizer, cycles: tuple[OneCycle, ...], seed: int,
                **extra) -> dict:
    last = history.epochs[-1]
    prior = tok.stride * math.log(4)  # loss of guessing among the 4^s k-mers the stride allows
    return {"valid_loss": last["valid_loss"], "accuracy": last.get("accuracy"),
            "stride_prior_loss": prior, "gain_over_prior": prior - last["valid_loss"],
            "cycles": [asdict(c) for c in cycles], "seed": seed, **extra}


def task_lm_documents(df: pd.DataFrame, split: str, tok: KmerTokenizer, source: str) -> TokenStream:
    """One split's sequences, tokenized, as LM documents."""
    part = df[df["split"] == split]
    return TokenStream.from_documents([tok.encode(s, f"{source}: record {i}")
                                       for i, s in zip(part["id"], part["sequence"])])


def finetune_lm(lm_path: Path, df: pd.DataFrame, cycles: OneCycle | Sequence[OneCycle], out: Path,
                seed: int = 0, device: torch.device | None = None, dataset_name: str = "dataset",
                history_csv: Path | None = None, schedule_csv: Path | None = None,
                config: ModelConfig | None = None, discriminative_lrs: bool = True,
                fp16: bool | None = None, k: int | None = None, stride: int | None = None) -> dict:
    """Fine-tune a general LM on the task's training and validation sequences (never the
    test split), with discriminative learning rates (or one lr for all layers). `k`,
    `stride`, `config`: what the caller expects of the LM (checked; None: the LM's)."""
    device = device or pick_device()
    set_seed(seed, reproducible=True)
    meta, state = load_checkpoint(lm_path, "language_model")
    check_requested(meta, lm_path, k, stride, "the fine-tuning job")
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
                     "finetune", fp16)
    history = History()
    n_groups = len(awd_lstm_lm_split(model))
    cycles = _as_cycles(cycles)
    _fit_cycles(learn, cycles, history, "finetune",
                (lambda c: discriminative(c.lr, n_groups)) if discriminative_lrs else (lambda c: c.lr))
    history.write(history_csv, schedule_csv)
    summary = _lm_summary(history, tok, cycles, seed, pretrained_from=str(lm_path),
                          dataset=dataset_name, discriminative=discriminative_lrs)
    save_checkpoint(out, learn.model, "language_model", tok, lm_config, training=summary)
    return summary


# -- classifiers -------------------------------------------------------------------------------

# The stages' names in logs and histories, by the layer groups they train.
STAGE_NAMES = {"head": "head", "-2": "head+lstm3", "-3": "head+lstm2-3", "all": "all"}


def _stage_names(layers: list[str], pretrained: bool) -> list[str]:
    """head, head+lstm3, ...; a repeated one gets #2, #3; from scratch scratch1, scratch2, ..."""
    if not pretrained:
        return [f"scratch{i + 1}" for i in range(len(layers))]
    names, seen = [], {}
    for group in layers:
        seen[group] = seen.get(group, 0) + 1
        names.append(STAGE_NAMES[group] + (f"#{seen[group]}" if seen[group] > 1 else ""))
    return names


def train_classifier(df: pd.DataFrame, tok: KmerTokenizer, config: ModelConfig,
                     stages: Sequence[OneCycle], out: Path, encoder_from: Path | None = None,
                     seed: int = 0, device: torch.device | None = None,
                     dataset_name: str = "dataset", history_csv: Path | None = None,
                     schedule_csv: Path | None = None, train_size: int | None = None,
                     fp16: bool | None = None) -> dict:
    """Classifier from an LM's encoder, trained stage by stage, or from scratch.

    With `encoder_from`, each stage trains the layer groups it names (`Stage.layers`:
    head, -2, -3 or all, fastai's freeze_to; plain one-cycles follow gradual unfreezing
    by position: head; + last LSTM; + last two; all) with discriminative learning rates.
    Without it (the naive classifier) every stage trains the whole model at one lr.
    A stage's `drop_mult` rescales the dropouts from that stage on. `train_size`
    trains on a label-stratified subset.
    """
    device = device or pick_device()
    set_seed(seed, reproducible=True)
    stages = [s if isinstance(s, Stage) else Stage(**asdict(s)) for s in stages]
    layers = ClassifierSettings(stages=tuple(stages)).stage_layers(encoder_from is not None)
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
    learn = _learner(dls, model, config, awd_lstm_clas_split, [accuracy], device, "classifier", fp16)
    history = History()
    n_groups = len(awd_lstm_clas_split(model))
    for stage, group, name in zip(stages, layers, _stage_names(layers, encoder_from is not None)):
        learn.freeze_to(STAGE_LAYERS[group])  # freeze_to(0) unfreezes everything
        lr = discriminative(stage.lr, n_groups) if encoder_from is not None else stage.lr
        if stage.drop_mult is not None:
            set_classifier_drop_mult(learn.model, config, stage.drop_mult)
        logger.info("stage %s: %d epoch(s), peak lr %g%s", name, stage.epochs, stage.lr,
                    f", drop_mult {stage.drop_mult}" if stage.drop_mult is not None else "")
        if stage.epochs > 0:
            _fit(learn, stage, lr, history, name)
    history.write(history_csv, schedule_csv)
    last = history.epochs[-1] if history.epochs else {}
    summary = {"valid_accuracy": last.get("accuracy"), "valid_loss": last.get("valid_loss"),
               "stages": [asdict(s) | {"layers": g} for s, g in zip(stages, layers)], "seed": seed,
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
    write_csv(curve, csv)
    suggestions = {k: float(v) for k, v in found._asdict().items()}
    if summary:
        write_json(summary, suggestions)
    if plot:
        from .plots import plot_lr_finder
        with atomic_path(plot, suffix=Path(plot).suffix) as tmp:  # the suffix picks the image format
            plot_lr_finder(curve, suggestions, tmp)
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
