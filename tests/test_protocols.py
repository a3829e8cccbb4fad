"""Per-experiment protocols: merging order, the jobs' settings documents, path tags that
share identical settings and separate different ones, and errors that name the key."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from genomic_ulmfit.config import ConfigError, load_sources, validate_config
from genomic_ulmfit.protocols import Protocols, strip_tag
from genomic_ulmfit.settings import ClassifierSettings, FinetuneSettings, PretrainSettings

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture
def config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def validated(cfg: dict) -> dict:
    return validate_config(cfg, SCHEMA, load_sources(REPO / "resources" / "sources.yaml"))


def with_protocols(cfg: dict) -> dict:
    cfg["protocols"] = {
        "long_lm": {"pretrain": {"cycles": [{"epochs": 10, "lr": 1e-2}, {"epochs": 10, "lr": 5e-3},
                                            {"epochs": 10, "lr": 1e-3}], "drop_mult": 0.3, "batch_size": 428}},
        "five_stages": {"classifier": {"drop_mult": 0.6, "batch_size": 400, "stages": [
            {"layers": "head", "epochs": 3, "lr": 2e-2}, {"layers": "-2", "epochs": 3, "lr": 1e-2},
            {"layers": "-3", "epochs": 3, "lr": 5e-3}, {"layers": "all", "epochs": 5, "lr": 1e-3},
            {"layers": "all", "epochs": 5, "lr": 1e-4}]}},
    }
    cfg["corpora"]["ecoli_genome"]["protocol"] = "long_lm"
    cfg["experiments"]["genome_pretraining"]["protocol"] = "five_stages"
    return validated(cfg)


def test_default_configs_keep_their_paths(config):
    """Without protocols every tag is the preset: the paths of earlier releases."""
    p = Protocols(validated(config))
    assert {tag for name in config["experiments"] for tag in p.tags(name).values()} == {"cpu"}
    doc = p.sections("genome_pretraining_finetuning")
    assert doc["pretrain"] == {"preset": "cpu", "model": {"emb_sz": 64, "n_hid": 128, "lm_drop_mult": 0.1},
                               "cycles": [{"epochs": 2, "lr": 0.02}]}
    # the classifier reads the classifier's overrides, the LM the LM's
    assert doc["classifier"]["model"] == {"emb_sz": 64, "n_hid": 128, "clas_batch_size": 32}
    assert [s["epochs"] for s in doc["classifier"]["stages"]] == [1, 1, 1, 6]
    assert [s["epochs"] for s in p.sections("naive")["classifier"]["stages"]] == [6, 6]


def test_protocols_merge_in_order_and_reach_the_jobs(config):
    p = Protocols(with_protocols(config))
    sec = p.sections("genome_pretraining")
    lm = PretrainSettings.from_dict(sec["pretrain"])
    assert [(c.epochs, c.lr) for c in lm.cycles] == [(10, 1e-2), (10, 5e-3), (10, 1e-3)]
    assert lm.model_config().lm_drop_mult == 0.3 and lm.model_config().lm_batch_size == 428
    assert lm.model_config().n_hid == 128  # the config's model overrides still apply
    clf = ClassifierSettings.from_dict(sec["classifier"])
    assert clf.stage_layers(pretrained=True) == ["head", "-2", "-3", "all", "all"]
    assert clf.model_config().clas_drop_mult == 0.6 and clf.model_config().clas_batch_size == 400
    # the corpus protocol reaches every experiment on that corpus, the experiment's only it
    other = p.sections("genome_pretraining_finetuning")
    assert other["pretrain"] == sec["pretrain"]
    assert [s["epochs"] for s in other["classifier"]["stages"]] == [1, 1, 1, 6]
    assert FinetuneSettings.from_dict(other["finetune"]).discriminative is True


def test_tags_share_identical_settings_and_split_different_ones(config):
    p = Protocols(with_protocols(config))
    a, b, naive = p.tags("genome_pretraining"), p.tags("genome_pretraining_finetuning"), p.tags("naive")
    assert a["lm"] == b["lm"] and a["lm"].startswith("cpu-p")  # one LM job for both
    assert a["classifier"] != b["classifier"]
    assert strip_tag(a["classifier"], "p") == a["lm"]
    assert strip_tag(b["classifier"], "f") == b["finetuned"] and b["finetuned"].startswith(a["lm"])
    assert naive == {"classifier": "cpu"}  # naive reads no LM settings: untouched
    assert p.document("classifier", a["classifier"]) == p.sections("genome_pretraining")["classifier"]
    # a copy of the protocol under another name resolves alike: still one LM job
    cfg = with_protocols(copy.deepcopy(config))
    cfg["protocols"]["same_lm"] = copy.deepcopy(cfg["protocols"]["long_lm"])
    cfg["experiments"]["genome_pretraining"]["protocol"] = ["same_lm", "five_stages"]
    assert Protocols(cfg).tags("genome_pretraining")["lm"] == a["lm"]


def test_one_changed_stage_changes_one_classifier_tag(config):
    before = Protocols(with_protocols(copy.deepcopy(config)))
    cfg = copy.deepcopy(config)
    cfg = with_protocols(cfg)
    cfg["protocols"]["five_stages"]["classifier"]["stages"][4]["lr"] = 5e-4
    after = Protocols(cfg)
    for name in cfg["experiments"]:
        changed = {k for k, v in after.tags(name).items() if v != before.tags(name)[k]}
        assert changed == ({"classifier"} if name == "genome_pretraining" else set()), name


def test_wrong_protocols_name_the_key(config):
    bad = copy.deepcopy(config)
    bad["experiments"]["naive"]["protocol"] = "nope"
    with pytest.raises(ConfigError, match=r"experiments\.naive\.protocol: 'nope' is not a protocol"):
        validated(bad)
    bad = copy.deepcopy(config)
    bad["protocols"] = {"x": {"classifier": {"stages": [{"layers": "head", "epochs": 1, "lr": 0.01}]}}}
    bad["experiments"]["naive"]["protocol"] = "x"
    with pytest.raises(ConfigError, match=r"protocols\.x\.classifier: a classifier from scratch trains every layer"):
        validated(bad)
    bad = copy.deepcopy(config)
    bad["protocols"] = {"x": {"classifier": {"stages": [{"layers": "top", "epochs": 1, "lr": 0.01}]}}}
    with pytest.raises(ConfigError, match=r"protocols\.x\.classifier\.stages\.0\.layers: 'top' is not allowed"):
        validated(bad)
    bad = copy.deepcopy(config)
    bad["model"]["overrides"]["n_hidden"] = 64  # a typo must stop the run before it deletes an LM
    with pytest.raises(ConfigError, match=r"model\.overrides\.n_hidden: not a model setting.*did you mean n_hid\?"):
        validated(bad)
    bad = copy.deepcopy(config)
    bad["training"]["classifier"]["stage_lrs"] = [0.01]
    with pytest.raises(ConfigError, match="stage_epochs has 4 values but stage_lrs 1"):
        validated(bad)


def test_settings_documents_reject_unknown_keys():
    with pytest.raises(ValueError, match=r"unknown PretrainSettings setting\(s\) \['cycle'\]"):
        PretrainSettings.from_dict({"cycle": []})
    with pytest.raises(ValueError, match=r"unknown model setting\(s\) \['n_hidden'\]"):
        ClassifierSettings.from_dict({"preset": "tiny", "model": {"n_hidden": 3}})
    with pytest.raises(ValueError, match="stages without layers follow gradual unfreezing"):
        ClassifierSettings.from_dict({"stages": [{"epochs": 1, "lr": 0.1}] * 5}).stage_layers(True)
    s = ClassifierSettings.from_dict({"preset": "tiny", "model": {"clas_dropouts": {"input_p": 0.3}},
                                      "stages": [{"epochs": 1, "lr": 0.1, "moms": [0.8, 0.7]}]})
    assert s.model_config().clas_dropouts.input_p == 0.3
    assert s.model_config().clas_dropouts.weight_p == 0.5  # the rest from the preset
    assert s.stages[0].moms == (0.8, 0.7, 0.8)


def test_a_tag_no_experiment_has_is_a_clear_error(config):
    from genomic_ulmfit.protocols import ProtocolError
    p = Protocols(with_protocols(config))
    with pytest.raises(ProtocolError, match=r"output tag 'cpu-c0badc0de': no experiment of this config "
                                            r"has classifier settings with hash 0badc0de"):
        p.document("classifier", "cpu-c0badc0de")
    assert p.document("classifier", "cpu")["stages"][0] == {"epochs": 1, "lr": 0.02}  # the default


def test_scale_caps_every_cycle_and_stage_and_keeps_the_schedule(config):
    """A reduced-scale run keeps each protocol's cycles and stages, each at most max_epochs,
    batches at most max_batch_size; uncapped values stay as they are."""
    full = Protocols(with_protocols(copy.deepcopy(config))).sections("genome_pretraining")
    scaled_cfg = with_protocols(copy.deepcopy(config))
    scaled_cfg["scale"] = {"max_epochs": 2, "max_batch_size": 64}
    scaled = Protocols(scaled_cfg).sections("genome_pretraining")
    assert [c["epochs"] for c in scaled["pretrain"]["cycles"]] == [2, 2, 2]
    assert [c["lr"] for c in scaled["pretrain"]["cycles"]] == [c["lr"] for c in full["pretrain"]["cycles"]]
    assert scaled["pretrain"]["model"]["lm_batch_size"] == 64
    stages = scaled["classifier"]["stages"]
    assert [(s["layers"], s["epochs"]) for s in stages] == [("head", 2), ("-2", 2), ("-3", 2), ("all", 2), ("all", 2)]
    assert scaled["classifier"]["model"]["clas_batch_size"] == 64
    # the defaults' stage_epochs form too: [1, 1, 1, 6] -> [1, 1, 1, 2]
    assert [s["epochs"] for s in Protocols(scaled_cfg).sections("genome_pretraining_finetuning")["classifier"]["stages"]] == [1, 1, 1, 2]
