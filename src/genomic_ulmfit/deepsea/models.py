"""Multi-label models for DeepSEA's 919 targets. Both take (B, L) uint8 base codes
(ACGT = 0..3, N = 4) and return (B, T) logits.

* CapstoneNet (the seed's capstone, Table 1): embedding (64) -> wide pre-activation
  bottleneck ResNet-1D (3 blocks, stride-2 downsampling, expansion factor 16: the 3-wide
  convolution runs at expansion x out/4 channels) -> Transformer encoder (6 layers, 4 heads,
  256 hidden; torch.nn.TransformerEncoder with sinusoidal positions) or a bidirectional LSTM
  -> head: the sequence model's output concatenated with the ResNet's (skip connection),
  batch norm, flattened -> Linear(., 512) -> BN -> ReLU -> dropout -> Linear(512, T).
  With the seed's sizes the ResNet has 4.7 M parameters and the head 33.2 M, as in its
  Table 1. The capstone used Transformer-XL (head dim 16, 1.29 M parameters); torch's
  encoder has head dim = 256 / 4 heads = 64 (2.4 M).
* UlmfitMultiLabel: k-mer ids computed from the base codes on the device, then the
  project's AWD-LSTM classifier (genomic_ulmfit.models.classifier: concat pooling head)
  with T outputs; its encoder can be loaded from a pretrained LM (train.transfer_encoder).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..kmers import N_SPECIAL, UNK_ID, KmerTokenizer
from ..models import ModelConfig, classifier
# The capstone's settings live in .settings (no torch there: config validation reads them).
from .settings import CAPSTONE_PRESETS, CapstoneConfig, capstone_preset  # noqa: F401

N_BASE_CODES = 5  # A, C, G, T, N


class PreActBottleneck(nn.Module):
    """BN-ReLU-conv1 (in -> mid), BN-ReLU-conv k (mid -> mid, stride), BN-ReLU-conv1
    (mid -> out), plus the shortcut (identity, or a strided 1x1 conv where the shape
    changes); the identity is added without an activation after it (pre-activation)."""

    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int, kernel_size: int):
        super().__init__()
        mid = max(1, c_out * expansion // 4)
        self.bn1, self.conv1 = nn.BatchNorm1d(c_in), nn.Conv1d(c_in, mid, 1, bias=False)
        self.bn2 = nn.BatchNorm1d(mid)
        self.conv2 = nn.Conv1d(mid, mid, kernel_size, stride=stride, padding=kernel_size // 2, bias=False)
        self.bn3, self.conv3 = nn.BatchNorm1d(mid), nn.Conv1d(mid, c_out, 1, bias=False)
        self.shortcut = (nn.Conv1d(c_in, c_out, 1, stride=stride, bias=False)
                         if stride != 1 or c_in != c_out else None)

    def forward(self, x):
        pre = torch.relu(self.bn1(x))
        short = self.shortcut(pre) if self.shortcut is not None else x
        h = self.conv1(pre)
        h = self.conv2(torch.relu(self.bn2(h)))
        h = self.conv3(torch.relu(self.bn3(h)))
        return h + short


def _sinusoid(length: int, dim: int) -> torch.Tensor:
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return pe


def resnet_length(seq_len: int, n_blocks: int, kernel_size: int = 3) -> int:
    for _ in range(n_blocks):
        seq_len = (seq_len + 2 * (kernel_size // 2) - kernel_size) // 2 + 1
    return seq_len


class CapstoneNet(nn.Module):
    def __init__(self, cfg: CapstoneConfig, seq_len: int, n_targets: int):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(N_BASE_CODES, cfg.emb_sz)
        blocks, c_in = [], cfg.emb_sz
        for c in cfg.channels:
            blocks.append(PreActBottleneck(c_in, c, 2, cfg.expansion, cfg.kernel_size))
            c_in = c
        self.resnet = nn.Sequential(*blocks)
        self.resnet_out = nn.Sequential(nn.BatchNorm1d(c_in), nn.ReLU())
        width = c_in
        self.length = resnet_length(seq_len, len(cfg.channels), cfg.kernel_size)
        if cfg.sequence_model == "transformer":
            layer = nn.TransformerEncoderLayer(width, cfg.n_heads, dim_feedforward=cfg.ff_dim,
                                               dropout=cfg.seq_dropout, batch_first=True)
            self.sequence = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
            self.register_buffer("positions", _sinusoid(self.length, width), persistent=False)
            seq_out = width
        else:
            self.sequence = nn.LSTM(width, cfg.lstm_hidden, num_layers=1, batch_first=True,
                                    bidirectional=True)
            self.positions = None
            seq_out = 2 * cfg.lstm_hidden
        concat = width + seq_out
        self.head = nn.Sequential(
            nn.BatchNorm1d(concat), nn.Flatten(),
            nn.Linear(concat * self.length, cfg.head_hidden, bias=False),
            nn.BatchNorm1d(cfg.head_hidden), nn.ReLU(), nn.Dropout(cfg.head_dropout),
            nn.Linear(cfg.head_hidden, n_targets))

    def output_layer(self) -> nn.Linear:
        return self.head[-1]

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        h = self.embedding(codes.long()).transpose(1, 2)  # (B, emb, L)
        r = self.resnet_out(self.resnet(h))               # (B, C, L')
        s = r.transpose(1, 2)                             # (B, L', C)
        if self.positions is not None:
            s = self.sequence(s + self.positions)
        else:
            s, _ = self.sequence(s)
        both = torch.cat([r, s.transpose(1, 2)], dim=1)   # skip connection: ResNet ++ sequence model
        return self.head(both)


class KmerIds(nn.Module):
    """(B, L) base codes -> (B, n) k-mer ids in the vocabulary of genomic_ulmfit.kmers
    (lexicographic ACGT after the specials; a k-mer covering an N is xxunk)."""

    def __init__(self, k: int, stride: int):
        super().__init__()
        self.k, self.stride = k, stride
        self.register_buffer("powers", 4 ** torch.arange(k - 1, -1, -1), persistent=False)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        win = codes.long().unfold(1, self.k, self.stride)  # (B, n, k)
        ids = (win.clamp(max=3) * self.powers).sum(-1) + N_SPECIAL
        return ids.masked_fill((win > 3).any(-1), UNK_ID)


class UlmfitMultiLabel(nn.Module):
    def __init__(self, cfg: ModelConfig, tokenizer: KmerTokenizer, n_targets: int):
        super().__init__()
        self.kmers = KmerIds(tokenizer.k, tokenizer.stride)
        self.clas = classifier(cfg, tokenizer.vocab_size, n_targets)
        out = self.output_layer()
        if out.bias is None:  # fastai's head has none before a batch norm; the prior needs one
            out.bias = nn.Parameter(torch.zeros(n_targets))

    def output_layer(self) -> nn.Linear:
        return [m for m in self.clas[1].modules() if isinstance(m, nn.Linear)][-1]

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.clas(self.kmers(codes))[0]


def build_model(spec: dict, seq_len: int, n_targets: int) -> nn.Module:
    """spec: {"model": "capstone", "capstone": CapstoneConfig dict} or {"model": "ulmfit",
    "ulmfit": ModelConfig dict, "k": k, "stride": s} (as saved in a checkpoint)."""
    if spec["model"] == "capstone":
        return CapstoneNet(CapstoneConfig.from_dict(spec["capstone"]), seq_len, n_targets)
    if spec["model"] == "ulmfit":
        return UlmfitMultiLabel(ModelConfig.from_dict(spec["ulmfit"]),
                                KmerTokenizer(spec["k"], spec["stride"]), n_targets)
    raise ValueError(f"unknown DeepSEA model {spec['model']!r}; allowed: capstone, ulmfit")


def init_output_bias(model: nn.Module, positive_rate, eps: float = 1e-4) -> None:
    """The output bias to each target's training prior, logit(p) (the seed's [16, 17]): the
    untrained model predicts the base rates, so the first batches' loss starts low."""
    p = torch.as_tensor(positive_rate, dtype=torch.float32).clamp(eps, 1 - eps)
    with torch.no_grad():
        model.output_layer().bias.copy_(torch.log(p / (1 - p)))


def n_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
