"""Config validation: wrong or missing keys stop with the key and allowed values."""
import copy
from pathlib import Path

import pytest
import yaml

from genomic_ulmfit.config import ConfigError, load_sources, validate_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture
def config():
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


@pytest.fixture
def sources():
    return load_sources(REPO / "resources" / "sources.yaml")


@pytest.mark.parametrize("name", ["config.yaml", "test.yaml"])
def test_shipped_configs_are_valid(name, sources):
    cfg = yaml.safe_load((REPO / "config" / name).read_text())
    validate_config(cfg, SCHEMA, sources)
    assert cfg["training"]["lr_find"] in (True, False)  # defaults are filled in


def test_unknown_preset_names_the_allowed_values(config, sources):
    config["model"]["preset"] = "huge"
    with pytest.raises(ConfigError, match=r"model\.preset: 'huge' is not allowed; allowed values: \['paper', 'cpu', 'tiny'\]"):
        validate_config(config, SCHEMA, sources)


def test_misspelled_key_lists_the_allowed_keys(config, sources):
    config["training"]["pretrian"] = config["training"].pop("pretrain")
    with pytest.raises(ConfigError) as err:
        validate_config(config, SCHEMA, sources)
    msg = str(err.value)
    assert "training: unknown key(s) ['pretrian']" in msg and "'pretrain'" in msg
    assert "'pretrain' is a required property" in msg


def test_missing_required_key(config, sources):
    del config["experiments"]["naive"]["k"]
    with pytest.raises(ConfigError, match=r"experiments\.naive: 'k' is a required property"):
        validate_config(config, SCHEMA, sources)


def test_cross_references(config, sources):
    bad = copy.deepcopy(config)
    bad["experiments"]["naive"]["task"] = "human"
    bad["experiments"]["genome_pretraining"]["pretrain"] = "mammals"
    bad["tasks"]["ecoli_promoters"]["inputs"]["gbff"] = "nope"
    bad["experiments"]["naive"]["stride"] = 6
    with pytest.raises(ConfigError) as err:
        validate_config(bad, SCHEMA, sources)
    msg = str(err.value)
    assert "experiments.naive.task: 'human' is not a task; allowed: ['ecoli_promoters']" in msg
    assert "experiments.genome_pretraining.pretrain: 'mammals' is not a corpus" in msg
    assert "tasks.ecoli_promoters.inputs.gbff: unknown source 'nope'" in msg
    assert "experiments.naive.stride: 6 exceeds k=3" in msg


def test_wrong_type(config, sources):
    config["seeds"] = "0"
    with pytest.raises(ConfigError, match=r"config key seeds: '0' is not of type 'array'"):
        validate_config(config, SCHEMA, sources)


def test_extends_merges_a_config_onto_the_one_it_scales_down(tmp_path, sources):
    """Mappings merge key by key, lists are replaced, `extends` chains and is dropped."""
    from genomic_ulmfit.config import load_config

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "base.yaml").write_text((REPO / "config" / "config.yaml").read_text())
    (tmp_path / "config" / "mid.yaml").write_text(
        "extends: config/base.yaml\nseeds: [5]\nmodel: {preset: tiny}\n")
    (tmp_path / "small.yaml").write_text(
        "extends: config/mid.yaml\ntraining: {lr_find: false}\ntasks: {ecoli_promoters: {params: {n_test: 50}}}\n")
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg = load_config(tmp_path / "small.yaml", tmp_path)
    assert "extends" not in cfg and cfg["seeds"] == [5] and cfg["model"]["preset"] == "tiny"
    assert cfg["model"]["overrides"] == base["model"]["overrides"]  # merged, not replaced
    assert cfg["training"]["lr_find"] is False and cfg["training"]["pretrain"] == base["training"]["pretrain"]
    params = cfg["tasks"]["ecoli_promoters"]["params"]
    assert params["n_test"] == 50 and params["n_valid"] == base["tasks"]["ecoli_promoters"]["params"]["n_valid"]
    assert cfg["experiments"] == base["experiments"]
    validate_config(cfg, SCHEMA, sources)
    (tmp_path / "config" / "base.yaml").write_text("extends: small.yaml\n")
    with pytest.raises(ConfigError, match="is a cycle"):
        load_config(tmp_path / "small.yaml", tmp_path)
    (tmp_path / "loop.yaml").write_text("extends: config/missing.yaml\n")
    with pytest.raises(ConfigError, match=r"extends \(in .*loop.yaml\): no config file .*missing.yaml"):
        load_config(tmp_path / "loop.yaml", tmp_path)


def test_config_reference_is_generated_from_the_schema_and_names_every_key():
    """config/README.md is the schema laid out: current, and every key of it is there."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, str(REPO / "scripts" / "config_reference.py"), "--check"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    text = (REPO / "config" / "README.md").read_text()
    schema = yaml.safe_load(SCHEMA.read_text())

    def keys(node, path):
        for name, sub in node.get("properties", {}).items():
            yield f"{path}.{name}" if path else name
            yield from keys(sub, f"{path}.{name}" if path else name)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            yield from keys(extra, f"{path}.<name>")

    for key in keys(schema, ""):
        assert f"`{key}`" in text, key
    for name, node in schema["definitions"].items():
        for key in keys(node, ""):
            assert f"`{key}`" in text, (name, key)


def test_short_record_settings_reach_the_builder_and_are_checked(config, sources, tmp_path):
    """fasta_classes / labelled_table tasks may set min_seq_length and short_records; the
    dataset job's command carries them, and a wrong value is named."""
    from workflow_run import snakemake, write_config
    task = {"builder": "fasta_classes", "inputs": {"pos": "cnn_bacillus_prom", "neg": "cnn_bacillus_non_prom"},
            "params": {"classes": {"promoter": ["pos"], "other": ["neg"]}, "min_seq_length": 20,
                       "short_records": "error"}}
    cfg = copy.deepcopy(config)
    cfg["tasks"]["bsub"] = task
    cfg["experiments"] = {"bsub_naive": {"task": "bsub", "k": 3, "stride": 3}}
    cfg["tables"] = {}
    cfg.pop("interpret", None)
    validate_config(copy.deepcopy(cfg), SCHEMA, sources)
    res = snakemake(tmp_path, "-n", "-p", "--cores", "1", "results/datasets/bsub.tsv",
                    configfile=write_config(tmp_path / "c.yaml", cfg))
    assert "--min-seq-length 20 --short-records error" in res.stdout
    cfg["tasks"]["bsub"]["params"]["short_records"] = "keep"
    with pytest.raises(ConfigError, match=r"tasks\.bsub\.params\.short_records: 'keep' is not allowed"):
        validate_config(cfg, SCHEMA, sources)
