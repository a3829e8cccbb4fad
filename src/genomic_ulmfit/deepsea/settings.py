"""The capstone model's settings and presets (deepsea.models builds the network from them).
No torch here, so the workflow's config validation checks `deepsea.experiments.*.preset` and
`overrides` against these without importing the training stack."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..settings import check_settings


@dataclass(frozen=True)
class CapstoneConfig:
    emb_sz: int = 64
    channels: tuple[int, ...] = (64, 128, 256)  # one bottleneck block each, stride 2
    expansion: int = 16
    kernel_size: int = 3
    sequence_model: str = "transformer"  # transformer | lstm
    n_layers: int = 6
    n_heads: int = 4
    ff_dim: int = 256
    lstm_hidden: int = 352
    seq_dropout: float = 0.2
    head_hidden: int = 512
    head_dropout: float = 0.3

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "CapstoneConfig":
        check_settings(cls, d, "capstone model")
        d = dict(d)
        if "channels" in d:
            d["channels"] = tuple(d["channels"])
        cfg = cls(**d)
        if cfg.sequence_model not in ("transformer", "lstm"):
            raise ValueError(f"sequence_model {cfg.sequence_model!r}; allowed: transformer, lstm")
        if cfg.sequence_model == "transformer" and cfg.channels[-1] % cfg.n_heads:
            raise ValueError(f"the transformer's width {cfg.channels[-1]} (last of channels) is not "
                             f"divisible by n_heads={cfg.n_heads}")
        return cfg


CAPSTONE_PRESETS: dict[str, CapstoneConfig] = {
    # The seed's Table 1 (GPU-sized, ~40 M parameters)
    "capstone": CapstoneConfig(),
    # The seed's LSTM variant: a bidirectional LSTM of hidden size 352 instead of the transformer
    "capstone_lstm": CapstoneConfig(sequence_model="lstm", lstm_hidden=352),
    # Seconds on a CPU: tests and the CPU config
    "tiny": CapstoneConfig(emb_sz=8, channels=(16, 16, 32), expansion=2, n_layers=1, n_heads=2,
                           ff_dim=32, lstm_hidden=16, seq_dropout=0.1, head_hidden=32, head_dropout=0.1),
}


def capstone_preset(name: str, **overrides) -> CapstoneConfig:
    if name not in CAPSTONE_PRESETS:
        raise ValueError(f"unknown capstone preset {name!r}; allowed: {sorted(CAPSTONE_PRESETS)}")
    return CapstoneConfig.from_dict({**CAPSTONE_PRESETS[name].to_dict(), **overrides})
