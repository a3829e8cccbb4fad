"""AWD-LSTM language models and classifiers (methods-long-form sections 3 and 4).

The architectures are fastai's (AWD_LSTM, get_language_model,
get_text_classifier); this module builds the two models from one `ModelConfig`
(its fields, defaults and presets are in `settings`).
"""
from __future__ import annotations

from dataclasses import asdict

import torch
from fastai.text.models.awdlstm import AWD_LSTM
from fastai.text.models.core import SentenceEncoder, get_language_model, get_text_classifier

from .kmers import PAD_ID
# The settings live in .settings (no torch there); re-exported for the training modules.
from .settings import PRESETS, Dropouts, ModelConfig, check_settings, get_preset  # noqa: F401


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


def set_classifier_drop_mult(model: torch.nn.Module, cfg: ModelConfig, drop_mult: float) -> None:
    """Rescale a classifier's dropouts to `drop_mult` x the base values, in place: what the
    notebooks did by rebuilding the learner with another drop_mult and loading the weights.
    The head's last dropout (`head_dropout`) is not scaled, as fastai builds it."""
    base, enc = cfg.clas_dropouts, encoder_of(model)
    enc.encoder_dp.embed_p = base.embed_p * drop_mult
    enc.input_dp.p = base.input_p * drop_mult
    for dp in enc.hidden_dps:
        dp.p = base.hidden_p * drop_mult
    for rnn in enc.rnns:
        rnn.weight_p = base.weight_p * drop_mult
    first_dropout = next(m for m in model[1].modules() if isinstance(m, torch.nn.Dropout))
    first_dropout.p = base.output_p * drop_mult
