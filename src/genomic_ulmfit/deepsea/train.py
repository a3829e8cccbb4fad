"""Training, prediction and evaluation of the DeepSEA multi-label models on fastai.

The seed's recipe: BCE with logits over the 919 targets; Adam at lr 1e-4; batches of 25
with gradients accumulated over 4 (fastai's GradientAccumulation: an effective batch of
100); the learning rate rising linearly over the first 500 batches (fastai ParamScheduler);
the output bias set to each target's training prior; fp16 autocast with a gradient scaler
on CUDA (fastai's to_fp16), fp32 on a CPU; seeded. The epoch with the lowest validation
loss is kept (fastai's SaveModelCallback).
"""
from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from fastai.callback.core import Callback
from fastai.callback.progress import ProgressCallback
from fastai.callback.schedule import ParamScheduler, SchedLin, SchedNo, combine_scheds
from fastai.callback.tracker import SaveModelCallback
from fastai.callback.training import GradientAccumulation
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.losses import BCEWithLogitsLossFlat
from fastai.metrics import AccumMetric, ActivationType
from fastai.optimizer import Adam
from fastai.torch_core import set_seed

from ..checkpoint import (CheckpointError, check_architecture, load_checkpoint, save_model)
from ..io.atomic import atomic_path, write_json
from ..kmers import KmerTokenizer
from ..logs import interactive
from ..metrics import multilabel_metrics
from ..models import check_settings
from ..train import EpochLog, History, pick_device, transfer_encoder
from .data import DeepSeaArrays, unpack_labels
from .models import build_model, init_output_bias, n_parameters

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeepSeaTraining:
    epochs: int = 6
    lr: float = 1e-4
    batch_size: int = 25
    accumulate: int = 4            # batches per optimizer step: effective batch 25 x 4 = 100
    warmup_batches: int = 500      # linear lr warmup from lr / warmup_batches
    weight_decay: float = 0.0
    epoch_samples: int | None = None  # a random subset of training samples per epoch (None: all)
    valid_batch_size: int = 200

    @classmethod
    def from_dict(cls, d: dict) -> "DeepSeaTraining":
        check_settings(cls, d, "DeepSEA training")
        return cls(**d)


class PackedArrayDL(DataLoader):
    """Batches straight from memory-mapped arrays: (uint8 base codes, float labels).

    Items are indices; a batch reads its rows in sorted order (sequential disk access) and
    unpacks the bit-packed labels. `epoch_samples` draws a fresh random subset every epoch.
    """

    def __init__(self, x: np.ndarray, y_packed: np.ndarray, n_targets: int, bs: int,
                 shuffle: bool = False, drop_last: bool = False, epoch_samples: int | None = None,
                 **kwargs):
        self.x, self.y_packed, self.n_targets = x, y_packed, n_targets
        self.epoch_samples = epoch_samples if epoch_samples and epoch_samples < len(x) else None
        n = self.epoch_samples or len(x)
        super().__init__(dataset=None, bs=bs, shuffle=shuffle, drop_last=drop_last, n=n,
                         indexed=True, num_workers=0, **kwargs)

    def get_idxs(self):
        if self.epoch_samples:
            return self.rng.sample(range(len(self.x)), self.epoch_samples)
        return super().get_idxs()

    def create_item(self, s):
        return s

    def create_batch(self, b):
        idx = np.sort(np.asarray(b, dtype=np.int64))
        x = torch.from_numpy(np.ascontiguousarray(self.x[idx]))
        y = torch.from_numpy(unpack_labels(np.asarray(self.y_packed[idx]), self.n_targets).astype(np.float32))
        return x, y


def deepsea_dataloaders(data: DeepSeaArrays, training: DeepSeaTraining,
                        device: torch.device | None = None) -> DataLoaders:
    n_train = data.meta["splits"]["train"]["n"]
    train = PackedArrayDL(data.x("train"), data.y_packed("train"), data.n_targets, training.batch_size,
                          shuffle=True, drop_last=n_train > training.batch_size,
                          epoch_samples=training.epoch_samples)
    valid = PackedArrayDL(data.x("valid"), data.y_packed("valid"), data.n_targets,
                          training.valid_batch_size)
    return DataLoaders(train, valid, device=device)


def _weighted_auc(kind: str, weights: np.ndarray):
    def fn(preds, targs):
        try:
            summary, _ = multilabel_metrics(targs.astype(np.uint8), preds, weights)
        except ValueError:  # no target with both classes in the validation set
            return float("nan")
        return summary[kind]
    fn.__name__ = f"{kind}_w"
    return fn


def warmup_schedule(lr: float, warmup_batches: int, total_batches: int):
    """lr rising linearly from lr / warmup_batches over `warmup_batches`, then constant."""
    if warmup_batches <= 0:
        return SchedNo(lr, lr)
    start = lr / warmup_batches
    pct = warmup_batches / max(1, total_batches)
    if pct >= 1:  # the run ends inside the warmup
        return SchedLin(start, start + (lr - start) / pct)
    return combine_scheds([pct, 1 - pct], [SchedLin(start, lr), SchedNo(lr, lr)])


def model_spec(model: str, capstone: dict | None = None, ulmfit: dict | None = None,
               k: int | None = None, stride: int | None = None) -> dict:
    if model == "capstone":
        return {"model": "capstone", "capstone": capstone}
    if model == "ulmfit":
        if not (k and stride):
            raise ValueError("the ULMFiT DeepSEA model needs k and stride (or an LM checkpoint)")
        return {"model": "ulmfit", "ulmfit": ulmfit, "k": int(k), "stride": int(stride)}
    raise ValueError(f"unknown DeepSEA model {model!r}; allowed: capstone, ulmfit")


def train_deepsea(data_dir: Path, spec: dict, training: DeepSeaTraining, out: Path, seed: int = 0,
                  device: torch.device | None = None, encoder_from: Path | None = None,
                  history_csv: Path | None = None, schedule_csv: Path | None = None,
                  metrics: bool = True) -> dict:
    """Train a multi-label model on converted DeepSEA arrays; write its checkpoint to `out`."""
    device = device or pick_device()
    set_seed(seed, reproducible=True)
    data = DeepSeaArrays.open(data_dir)
    prior = data.positive_rate("train")
    model = build_model(spec, data.seq_len, data.n_targets)
    init_output_bias(model, prior)
    if encoder_from is not None:
        if spec["model"] != "ulmfit":
            raise ValueError("an LM encoder initialises the ulmfit model only")
        meta, state = load_checkpoint(encoder_from, "language_model")
        tok = meta["tokenizer"]
        if (tok["k"], tok["stride"]) != (spec["k"], spec["stride"]):
            raise CheckpointError(f"{encoder_from}: LM tokenized with k={tok['k']}, stride={tok['stride']}, "
                                  f"the DeepSEA model with k={spec['k']}, stride={spec['stride']}")
        from ..models import ModelConfig
        check_architecture(meta, ModelConfig.from_dict(spec["ulmfit"]), encoder_from)
        transfer_encoder(state, model.clas)
        logger.info("encoder (embedding + LSTMs) from %s", encoder_from)
    dls = deepsea_dataloaders(data, training, device)
    weights = prior
    learn = Learner(dls, model, loss_func=BCEWithLogitsLossFlat(),
                    opt_func=partial(Adam, mom=0.9, sqr_mom=0.999, eps=1e-8), wd=training.weight_decay,
                    metrics=[AccumMetric(_weighted_auc(k, weights), activation=ActivationType.Sigmoid,
                                         flatten=False, to_np=True) for k in ("roc_auc", "pr_auc")] if metrics else [],
                    cbs=[EpochLog("deepsea")])
    learn.logger = lambda *_: None
    if not interactive():
        learn.remove_cb(ProgressCallback)
    if device.type == "cuda":
        learn.to_fp16()  # autocast + GradScaler
    # momentum held at Adam's beta1: scheduled only so that it is recorded per batch
    cbs = [ParamScheduler({"lr": warmup_schedule(training.lr, training.warmup_batches,
                                                 training.epochs * len(dls.train)),
                           "mom": SchedNo(0.9, 0.9)})]
    if training.accumulate > 1:
        cbs.append(GradientAccumulation(n_acc=training.batch_size * training.accumulate))
    logger.info("%s model, %d parameters; %d training samples per epoch, %d batches of %d, "
                "effective batch %d; %s", spec["model"], n_parameters(model), dls.train.n,
                len(dls.train), training.batch_size, training.batch_size * max(1, training.accumulate),
                device)
    with tempfile.TemporaryDirectory(dir=Path(out).parent if Path(out).parent.exists() else None) as tmp:
        learn.path, learn.model_dir = Path(tmp), "."
        cbs.append(SaveModelCallback(monitor="valid_loss", fname="best", with_opt=False))
        learn.fit(training.epochs, training.lr, cbs=cbs)
        # SaveModelCallback loaded the best epoch's weights at the end of fit
    history = History()
    history.add(learn, "deepsea")
    history.write(history_csv, schedule_csv)
    best = min(history.epochs, key=lambda r: r["valid_loss"])
    summary = {"valid_loss": best["valid_loss"], "best_epoch": best["epoch"],
               "valid_roc_auc_w": best.get("roc_auc_w"), "valid_pr_auc_w": best.get("pr_auc_w"),
               "training": asdict(training), "seed": seed, "n_parameters": n_parameters(model),
               "encoder_from": str(encoder_from) if encoder_from else None, "data": str(data_dir),
               "device": str(device)}
    learn.model.float()
    save_model(out, learn.model, "deepsea", spec=spec, n_targets=data.n_targets, seq_len=data.seq_len,
               train_prior=[float(p) for p in prior], training=summary)
    return summary


def load_deepsea_model(path: Path) -> tuple[dict, torch.nn.Module]:
    meta, state = load_checkpoint(path, "deepsea")
    model = build_model(meta["spec"], meta["seq_len"], meta["n_targets"])
    model.load_state_dict(state)
    return meta, model


@torch.no_grad()
def predict_deepsea(model_path: Path, data: DeepSeaArrays, split: str,
                    device: torch.device | None = None, batch_size: int = 500,
                    out: np.ndarray | None = None) -> np.ndarray:
    """P(target) for every sample of a split, (n, T) float32 (or into `out`, e.g. a memmap)."""
    device = device or pick_device()
    meta, model = load_deepsea_model(model_path)
    if (meta["n_targets"], meta["seq_len"]) != (data.n_targets, data.seq_len):
        raise CheckpointError(f"{model_path}: trained for {meta['n_targets']} targets of "
                              f"{meta['seq_len']} bp, the data has {data.n_targets} of {data.seq_len}")
    model.to(device).eval()
    x = data.x(split)
    probs = out if out is not None else np.empty((len(x), data.n_targets), dtype=np.float32)
    for start in range(0, len(x), batch_size):
        xb = torch.from_numpy(np.array(x[start:start + batch_size])).to(device)
        with torch.autocast(device.type, enabled=device.type == "cuda"):
            logits = model(xb)
        probs[start:start + len(xb)] = torch.sigmoid(logits.float()).cpu().numpy()
    return probs


def evaluate_deepsea(model_path: Path, data_dir: Path, split: str, metrics_json: Path,
                     per_target_csv: Path, device: torch.device | None = None,
                     predictions: Path | None = None) -> dict:
    """Metrics of a split: summary JSON (weighted ROC-AUC / PR-AUC, accuracy, skipped targets)
    and the per-target CSV; optionally the probabilities as a float16 .npy."""
    data = DeepSeaArrays.open(data_dir)
    meta, _ = load_checkpoint(model_path, "deepsea")
    probs = predict_deepsea(model_path, data, split, device)
    summary, table = multilabel_metrics(data.y(split), probs, np.asarray(meta["train_prior"]))
    summary.update({"model": str(model_path), "data": str(data_dir), "split": split})
    with atomic_path(per_target_csv) as tmp:
        table.to_csv(tmp, index=False)
    write_json(metrics_json, summary)
    if predictions:
        with atomic_path(predictions, suffix=".npy") as tmp:  # np.save adds .npy to other names
            np.save(tmp, probs.astype(np.float16))
    return summary
