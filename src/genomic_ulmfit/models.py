"""AWD-LSTM language models and classifiers (methods-long-form sections 3 and 4).

The architectures are fastai's (AWD_LSTM, get_language_model,
get_text_classifier); this module only fixes the seed's default values in
named presets and builds the two models from one `ModelConfig`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

import torch
from fastai.text.models.awdlstm import AWD_LSTM
from fastai.text.models.core import SentenceEncoder, get_language_model, get_text_classifier

from .kmers import PAD_ID


def check_settings(cls, settings: dict, what: str) -> None:
    """A clear error for keys that are not fields of the dataclass `cls`."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"unknown {what} setting(s) {unknown}; allowed: {sorted(known)}")


@dataclass(frozen=True)
class Dropouts:
    """The AWD-LSTM dropouts; all are scaled by the stage's drop_mult."""

    embed_p: float   # whole k-mers dropped from the embedding
    weight_p: float  # DropConnect on the LSTM hidden-to-hidden weights
    hidden_p: float  # variational dropout between LSTM layers
    input_p: float   # variational dropout on the LSTM stack's input
    output_p: float  # before the LM decoder / the classifier head's first linear layer


@dataclass(frozen=True)
class ModelConfig:
    """Field prefixes say which model reads a setting: lm_* the language models, clas_* and
    head_* the classifiers, the rest both (the workflow passes each rule only what it reads)."""

    emb_sz: int = 400
    n_hid: int = 1150
    n_layers: int = 3
    bptt: int = 70
    # The seed's values (section 4.4). It gives no input dropout; these are
    # the original ULMFiT notebooks' ratios.
    lm_dropouts: Dropouts = Dropouts(embed_p=0.02, weight_p=0.15, hidden_p=0.1, input_p=0.2, output_p=0.25)
    clas_dropouts: Dropouts = Dropouts(embed_p=0.1, weight_p=0.5, hidden_p=0.2, input_p=0.6, output_p=0.4)
    lm_drop_mult: float = 0.25
    clas_drop_mult: float = 0.5
    head_hidden: int = 50
    head_dropout: float = 0.1  # before the head's last linear layer (fastai's default)
    lm_batch_size: int = 800
    clas_batch_size: int = 64
    ar_alpha: float = 2.0
    tar_beta: float = 1.0
    weight_decay: float = 1e-2

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        d = dict(d)
        for key in ("lm_dropouts", "clas_dropouts"):
            if isinstance(d.get(key), dict):
                d[key] = Dropouts(**d[key])
        check_settings(cls, d, "model")
        return cls(**d)

    def architecture(self) -> dict:
        """The values two checkpoints must share for weights to transfer."""
        return {"emb_sz": self.emb_sz, "n_hid": self.n_hid, "n_layers": self.n_layers}


PRESETS: dict[str, ModelConfig] = {
    # The seed's model (embedding 400, 3 LSTM layers, GPU-sized) with the hidden size
    # 1150 rounded up to 1152, a multiple of 8: cuDNN then runs 8-aligned tensor-core
    # kernels, 1.47x the training tokens/s on an H100 (benchmarks/lm_training_benchmark.py).
    # model.overrides {n_hid: 1150} gives the seed's exact size.
    "paper": ModelConfig(n_hid=1152),
    # Trains in minutes on 2 CPU cores; the default workflow config uses it.
    "cpu": ModelConfig(emb_sz=128, n_hid=512, lm_batch_size=64, clas_batch_size=64),
    # Seconds on a CPU: tests and smoke runs.
    "tiny": ModelConfig(emb_sz=16, n_hid=32, bptt=20, lm_batch_size=16, clas_batch_size=32),
}


def get_preset(name: str, **overrides) -> ModelConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; allowed: {sorted(PRESETS)}")
    return replace(PRESETS[name], **overrides) if overrides else PRESETS[name]


def _encoder_config(cfg: ModelConfig, dropouts: Dropouts) -> dict:
    return dict(emb_sz=cfg.emb_sz, n_hid=cfg.n_hid, n_layers=cfg.n_layers, pad_token=PAD_ID,
                bidir=False, **asdict(dropouts))


TENSOR_CORE_MULTIPLE = 8


def embedding_rows(vocab_size: int) -> int:
    """The vocabulary rounded up to a multiple of 8: fp16 matrix products on tensor cores
    want dimensions that are (4^k + 2 never is). The extra rows are ids no token has."""
    return -(-vocab_size // TENSOR_CORE_MULTIPLE) * TENSOR_CORE_MULTIPLE


def language_model(cfg: ModelConfig, vocab_size: int) -> torch.nn.Module:
    """AWD-LSTM language model; the decoder's weights are tied to the embedding."""
    config = _encoder_config(cfg, cfg.lm_dropouts) | {"tie_weights": True, "out_bias": True}
    return get_language_model(AWD_LSTM, embedding_rows(vocab_size), config=config,
                              drop_mult=cfg.lm_drop_mult)


def classifier(cfg: ModelConfig, vocab_size: int, n_classes: int) -> torch.nn.Module:
    """AWD-LSTM encoder + concat pooling [last, max, mean] -> BN -> Linear(3*emb, 50)
    -> ReLU -> BN -> Linear(50, n_classes), as fastai builds it."""
    return get_text_classifier(
        AWD_LSTM, embedding_rows(vocab_size), n_classes, seq_len=cfg.bptt,
        config=_encoder_config(cfg, cfg.clas_dropouts), drop_mult=cfg.clas_drop_mult,
        lin_ftrs=[cfg.head_hidden], ps=[cfg.head_dropout], pad_idx=PAD_ID,
        max_len=None,
    )


def encoder_of(model: torch.nn.Module) -> torch.nn.Module:
    """The AWD_LSTM (embedding + LSTMs) of a language model or a classifier."""
    enc = model[0]
    return enc.module if isinstance(enc, SentenceEncoder) else enc
