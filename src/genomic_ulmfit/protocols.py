"""Per-experiment training protocols: from the config to the one JSON document each job reads.

A protocol has up to three sections: `pretrain` (the general LM), `finetune` (the LM on a
task's sequences) and `classifier` (the experiment's classifier; for a naive experiment its
from-scratch stages). The sections that apply to an experiment are merged in this order,
later ones winning key by key (`cycles` / `stages` replace the whole schedule, `dropouts`
merge value by value):

    training (the config's defaults; training.naive for naive classifiers)
    < the corpus's protocol (its general LM: pretrain, and defaults for finetune)
    < the task's protocol < the experiment's protocol

where each `protocol:` is the name of an entry of the config's `protocols:`, an inline
protocol, or a list of either (applied in order). The merged section becomes the job's
settings document (settings.PretrainSettings / FinetuneSettings / ClassifierSettings):
`{"preset", "model": {the ModelConfig fields that job reads}, "cycles"|"stages", ...}`.

Output paths carry a tag: the model preset, then for each section that differs from the
config's defaults `-p`, `-f` or `-c` and the first 8 hex digits of the sha256 of its
settings document (e.g. `paper-p1a2b3c4d-c9f8e7d6c`). So a changed setting reruns exactly the
jobs that read it, experiments whose sections resolve alike share one job, and a config
without protocols keeps the paths it always had (`paper`, `cpu`, `tiny`).
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable

from .settings import ClassifierSettings, FinetuneSettings, PretrainSettings, read_by
from .errors import GenomicUlmfitError

SECTIONS = ("pretrain", "finetune", "classifier")
TAG_LETTER = {"pretrain": "p", "finetune": "f", "classifier": "c"}
SETTINGS_CLASS = {"pretrain": PretrainSettings, "finetune": FinetuneSettings,
                  "classifier": ClassifierSettings}
READER = {"pretrain": "lm", "finetune": "lm", "classifier": "classifier"}
# Section keys that are ModelConfig fields under the reader's prefix (drop_mult ->
# lm_drop_mult in an LM section, clas_drop_mult in a classifier's) or under their own name.
PREFIXED = ("drop_mult", "batch_size", "dropouts")
PLAIN_MODEL_KEYS = ("weight_decay", "bptt", "ar_alpha", "tar_beta", "head_hidden", "head_dropout")
SCHEDULE_FORMS = {"pretrain": (("cycles",), ("epochs", "lr", "pct_start")),
                  "finetune": (("cycles",), ("epochs", "lr", "pct_start")),
                  "classifier": (("stages",), ("stage_epochs", "stage_lrs"))}
TAG_PATTERN = r"[A-Za-z0-9_]+(-[pfc][0-9a-f]{8})*"


class ProtocolError(GenomicUlmfitError, ValueError):
    """A protocol that cannot be resolved; the message names the config key."""


def merge_section(base: dict, over: dict, section: str) -> dict:
    """`over` on top of `base`: a schedule in either form replaces the other's schedule."""
    out = dict(base)
    for form in SCHEDULE_FORMS[section]:
        if any(k in over for k in form):
            for other in SCHEDULE_FORMS[section]:
                if other is not form:
                    for k in other:
                        out.pop(k, None)
    for key, value in over.items():
        if key == "dropouts" and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def _schedule(section: str, spec: dict) -> dict:
    if section == "classifier":
        if "stages" in spec:
            return {"stages": spec["stages"]}
        epochs, lrs = spec.get("stage_epochs", []), spec.get("stage_lrs", [])
        if len(epochs) != len(lrs):
            raise ValueError(f"stage_epochs has {len(epochs)} values but stage_lrs {len(lrs)}; "
                             "give one learning rate per stage")
        return {"stages": [{"epochs": e, "lr": lr} for e, lr in zip(epochs, lrs)]}
    if "cycles" in spec:
        return {"cycles": spec["cycles"]}
    if "epochs" not in spec or "lr" not in spec:
        return {}
    cycle = {k: spec[k] for k in ("epochs", "lr", "pct_start") if k in spec}
    return {"cycles": [cycle]}


def settings_document(section: str, spec: dict, preset: str, model_overrides: dict) -> dict:
    """The job's settings (a settings.*Settings as a dict) from a merged section."""
    reader = READER[section]
    model = {k: v for k, v in model_overrides.items() if read_by(reader, k)}
    prefix = "lm_" if reader == "lm" else "clas_"
    for key in PREFIXED:
        if spec.get(key) is not None:
            model[prefix + key] = spec[key]
    for key in PLAIN_MODEL_KEYS:
        if spec.get(key) is not None:
            if not read_by(reader, key):
                raise ValueError(f"{key} is a classifier setting; the {section} section cannot set it")
            model[key] = spec[key]
    doc = {"preset": preset, "model": model, **_schedule(section, spec)}
    if spec.get("fp16") is not None:
        doc["fp16"] = spec["fp16"]
    if section == "finetune" and "discriminative" in spec:
        doc["discriminative"] = spec["discriminative"]
    SETTINGS_CLASS[section].from_dict(doc)  # every value checked now, not when the job runs
    return doc


def capped(section: str, spec: dict, scale: dict) -> dict:
    """A merged section under the config's `scale` caps: every cycle or stage keeps its place
    with at most max_epochs epochs, batch_size at most max_batch_size (a reduced-scale run
    of the same protocols)."""
    max_epochs, max_bs = scale.get("max_epochs"), scale.get("max_batch_size")
    out = dict(spec)
    if max_epochs:
        for key in ("cycles", "stages"):
            if key in out:
                out[key] = [{**step, "epochs": min(step["epochs"], max_epochs)} for step in out[key]]
        for key in ("epochs",):
            if key in out:
                out[key] = min(out[key], max_epochs)
        if "stage_epochs" in out:
            out["stage_epochs"] = [min(e, max_epochs) for e in out["stage_epochs"]]
    if max_bs and out.get("batch_size"):
        out["batch_size"] = min(out["batch_size"], max_bs)
    return out


def digest(doc: dict) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:8]


class Protocols:
    """The resolved settings of every experiment of a validated config, and the tags of
    their output paths."""

    def __init__(self, config: dict):
        self.config = config
        self.preset = config["model"]["preset"]
        self.overrides = config["model"].get("overrides", {})
        self.named = config.get("protocols", {})
        self.docs: dict[str, dict] = {}  # "<letter><digest>" -> settings document
        self._defaults = {
            "pretrain": self._document("pretrain", [], "training.pretrain"),
            "finetune": self._document("finetune", [], "training.finetune"),
            "classifier": self._document("classifier", [], "training.classifier"),
            "naive": self._document("classifier", [], "training.naive", naive=True),
        }

    # -- resolving -------------------------------------------------------------------------

    def _protocol_list(self, ref, where: str) -> list[tuple[str, dict]]:
        """(where, protocol) of a `protocol:` value: a name, a list of names, or inline."""
        if ref is None:
            return []
        refs = [ref] if isinstance(ref, (str, dict)) else list(ref)
        out = []
        for i, name in enumerate(refs):
            if isinstance(name, dict):  # inline
                out.append((where if len(refs) == 1 else f"{where}.{i}", name))
                continue
            if name not in self.named:
                raise ProtocolError(f"config key {where}: {name!r} is not a protocol; "
                                    f"allowed: {sorted(self.named)}")
            out.append((f"protocols.{name}", self.named[name]))
        return out

    def _document(self, section: str, layers: Iterable[tuple[str, dict]], base_where: str,
                  naive: bool = False) -> dict:
        training = self.config["training"]
        spec = dict(training["naive" if naive else section])
        wheres = [base_where]
        for where, protocol in layers:
            if section in protocol:
                spec = merge_section(spec, protocol[section], section)
                wheres.append(f"{where}.{section}")
        spec = capped(section, spec, self.config.get("scale") or {})
        try:
            doc = settings_document(section, spec, self.preset, self.overrides)
            if section == "classifier":  # layers fit the start: every layer from scratch
                ClassifierSettings.from_dict(doc).stage_layers(pretrained=not naive)
            return doc
        except ValueError as e:
            raise ProtocolError(f"config key {' < '.join(wheres)}: {e}") from None

    def layers(self, experiment: str) -> list[tuple[str, dict]]:
        exp = self.config["experiments"][experiment]
        out = []
        if exp.get("pretrain"):
            corpus = self.config["corpora"][exp["pretrain"]]
            out += self._protocol_list(corpus.get("protocol"), f"corpora.{exp['pretrain']}.protocol")
        task = self.config["tasks"][exp["task"]]
        out += self._protocol_list(task.get("protocol"), f"tasks.{exp['task']}.protocol")
        out += self._protocol_list(exp.get("protocol"), f"experiments.{experiment}.protocol")
        return out

    def sections(self, experiment: str) -> dict[str, dict]:
        """The settings documents of the jobs behind an experiment: pretrain and finetune
        where it has them, and its classifier."""
        exp = self.config["experiments"][experiment]
        layers = self.layers(experiment)
        where = f"experiments.{experiment}"
        out = {}
        if exp.get("pretrain"):
            out["pretrain"] = self._document("pretrain", layers, where)
            if exp.get("finetune"):
                out["finetune"] = self._document("finetune", layers, where)
        naive = not exp.get("pretrain")
        out["classifier"] = self._document("classifier", layers, where, naive=naive)
        return out

    def lm_document(self, corpus: str, protocol=None, where: str = "") -> dict:
        """A general LM's settings for a user outside `experiments` (DeepSEA's ulmfit models)."""
        layers = self._protocol_list(self.config["corpora"][corpus].get("protocol"),
                                     f"corpora.{corpus}.protocol")
        layers += self._protocol_list(protocol, where)
        return self._document("pretrain", layers, where or f"corpora.{corpus}")

    # -- tags ------------------------------------------------------------------------------

    def _part(self, section: str, doc: dict, default: dict) -> str:
        if doc == default:
            return ""
        key = TAG_LETTER[section] + digest(doc)
        self.docs[key] = doc
        return f"-{key}"

    def lm_tag(self, doc: dict) -> str:
        return self.preset + self._part("pretrain", doc, self._defaults["pretrain"])

    def tags(self, experiment: str) -> dict[str, str]:
        """Output-path tags: "lm" (general LM), "finetuned", "classifier" as they apply."""
        sec = self.sections(experiment)
        out = {}
        tag = self.preset
        if "pretrain" in sec:
            tag = out["lm"] = self.lm_tag(sec["pretrain"])
        if "finetune" in sec:
            tag = out["finetuned"] = tag + self._part("finetune", sec["finetune"], self._defaults["finetune"])
        naive = "pretrain" not in sec
        out["classifier"] = tag + self._part("classifier", sec["classifier"],
                                             self._defaults["naive" if naive else "classifier"])
        return out

    def document(self, section: str, tag: str, naive: bool = False) -> dict:
        """The settings document of `section` that the tag of a job's path names."""
        m = re.search(rf"-{TAG_LETTER[section]}([0-9a-f]{{8}})", tag)
        if not m:
            return self._defaults["naive" if naive else section]
        key = TAG_LETTER[section] + m.group(1)
        if key not in self.docs:  # a path asked for by hand, of settings this config no longer has
            raise ProtocolError(f"output tag {tag!r}: no experiment of this config has {section} "
                                f"settings with hash {m.group(1)}; known: {sorted(self.docs)}")
        return self.docs[key]


def strip_tag(tag: str, keep: str) -> str:
    """The tag of an upstream job: keep='p' -> the general LM's, 'f' -> the fine-tuned LM's."""
    drop = {"p": "fc", "f": "c"}[keep]
    return re.sub(rf"-[{drop}][0-9a-f]{{8}}", "", tag)
