"""Every training and model setting with its default, in one place (no torch here, so the
workflow and the config validation read them without importing the training stack).

* `ModelConfig` and its presets: the AWD-LSTM's size, dropouts, batch sizes, regularizers.
  Field prefixes say who reads a field: lm_* the language models, clas_* and head_* the
  classifiers, the rest both.
* `OneCycle` / `Stage`: one `fit_one_cycle` call; a classifier stage also names the layer
  groups it trains (head, -2, -3 as in fastai's freeze_to, or all).
* `PretrainSettings`, `FinetuneSettings`, `ClassifierSettings`: what one training job reads,
  as the JSON document the workflow passes it (`genomic-ulmfit pretrain --settings ...`).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path


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

# Who reads a ModelConfig field: the prefixes the other reader owns are excluded.
_OTHERS_PREFIXES = {"lm": ("clas_", "head_"), "classifier": ("lm_",)}


def read_by(reader: str, name: str) -> bool:
    """Whether the `reader` ('lm' or 'classifier') reads ModelConfig field `name`."""
    return not name.startswith(_OTHERS_PREFIXES[reader])


def get_preset(name: str, **overrides) -> ModelConfig:
    """A preset with `overrides` (ModelConfig fields; a dropouts dict may give only some
    of its values, the rest come from the preset)."""
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; allowed: {sorted(PRESETS)}")
    base = PRESETS[name]
    check_settings(ModelConfig, overrides, "model")
    for key in ("lm_dropouts", "clas_dropouts"):
        if isinstance(overrides.get(key), dict):
            check_settings(Dropouts, overrides[key], f"model {key}")
            overrides = {**overrides, key: replace(getattr(base, key), **overrides[key])}
    return replace(base, **overrides) if overrides else base


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

    @classmethod
    def from_dict(cls, d: dict) -> "OneCycle":
        check_settings(cls, d, f"{cls.__name__} ({d})")
        d = dict(d)
        if "moms" in d:  # (high, low) as in fastai v1 notebooks, or (start, low, end)
            moms = tuple(float(m) for m in d["moms"])
            d["moms"] = moms + moms[:1] if len(moms) == 2 else moms
        return cls(**d)


# Classifier layer groups: embedding, lstm1, lstm2, lstm3, head. A stage trains the last
# groups of fastai's freeze_to(n): head -> -1, -2, -3; all -> everything.
STAGE_LAYERS = {"head": -1, "-2": -2, "-3": -3, "all": 0}
# Stages given without layers (the four-stage form of `training.classifier`): by position.
GRADUAL_UNFREEZING = ("head", "-2", "-3", "all")


@dataclass(frozen=True)
class Stage(OneCycle):
    """One classifier stage: which groups train, then one one-cycle; `drop_mult`, when
    given, sets the classifier's dropout multiplier from this stage on (the notebooks'
    "rebuild the learner with another drop_mult, load, fit")."""

    layers: str | None = None   # head, -2, -3 or all; None: by position (GRADUAL_UNFREEZING)
    drop_mult: float | None = None

    def __post_init__(self):
        if self.layers is not None and self.layers not in STAGE_LAYERS:
            raise ValueError(f"stage layers {self.layers!r}: expected one of {sorted(STAGE_LAYERS)}")


@dataclass(frozen=True)
class _JobSettings:
    """The model part every training job reads: a preset and overrides of its fields."""

    preset: str = "cpu"
    model: dict = field(default_factory=dict)
    fp16: bool | None = None  # None: on CUDA (dynamic loss scaling), never on a CPU

    def model_config(self) -> ModelConfig:
        return get_preset(self.preset, **self.model)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def load(cls, text: str):
        """From a JSON document, or from a file when `text` starts with '@'."""
        if text.startswith("@"):
            text = Path(text[1:]).read_text()
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"--settings: not a JSON object ({e}): {text[:200]!r}") from None
        return cls.from_dict(d)


@dataclass(frozen=True)
class PretrainSettings(_JobSettings):
    """The general-domain LM: one or more one-cycle calls, one lr for all layers."""

    cycles: tuple[OneCycle, ...] = (OneCycle(4, 5e-3),)

    @classmethod
    def from_dict(cls, d: dict) -> "PretrainSettings":
        check_settings(cls, d, cls.__name__)
        d = dict(d)
        if "cycles" in d:
            d["cycles"] = tuple(OneCycle.from_dict(c) for c in d["cycles"])
            if not d["cycles"]:
                raise ValueError(f"{cls.__name__}: cycles is empty; give at least one one-cycle call")
        out = cls(**d)
        out.model_config()  # a wrong preset or model key fails here, not mid-run
        return out


@dataclass(frozen=True)
class FinetuneSettings(PretrainSettings):
    """The general LM fine-tuned on a task's sequences. `discriminative`: lr / 2.6 per lower
    layer group (the paper's method); false: one lr for every layer (what every notebook ran)."""

    cycles: tuple[OneCycle, ...] = (OneCycle(3, 5e-3),)
    discriminative: bool = True


@dataclass(frozen=True)
class ClassifierSettings(_JobSettings):
    """A classifier: stages of gradual unfreezing from an LM encoder, or (naive) stages
    that all train every layer of a model built from scratch."""

    stages: tuple[Stage, ...] = tuple(Stage(e, lr) for e, lr in
                                      zip((2, 2, 2, 4), (2e-2, 1e-2, 5e-3, 2e-3)))

    @classmethod
    def from_dict(cls, d: dict) -> "ClassifierSettings":
        check_settings(cls, d, cls.__name__)
        d = dict(d)
        if "stages" in d:
            d["stages"] = tuple(s if isinstance(s, Stage) else Stage.from_dict(s) for s in d["stages"])
            if not d["stages"]:
                raise ValueError(f"{cls.__name__}: stages is empty; give at least one stage")
        out = cls(**d)
        out.model_config()
        return out

    def stage_layers(self, pretrained: bool) -> list[str]:
        """The layers each stage trains. From scratch every stage trains everything."""
        if not pretrained:
            wrong = [s.layers for s in self.stages if s.layers not in (None, "all")]
            if wrong:
                raise ValueError(f"a classifier from scratch trains every layer; stages with layers "
                                 f"{wrong} need a pretrained encoder (use layers: all)")
            return ["all"] * len(self.stages)
        if any(s.layers is None for s in self.stages) and len(self.stages) > len(GRADUAL_UNFREEZING):
            raise ValueError(f"stages without layers follow gradual unfreezing's "
                             f"{len(GRADUAL_UNFREEZING)} steps {list(GRADUAL_UNFREEZING)}; got "
                             f"{len(self.stages)} stages: give each stage its layers")
        return [s.layers or GRADUAL_UNFREEZING[i] for i, s in enumerate(self.stages)]
