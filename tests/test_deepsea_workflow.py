"""config/deepsea_cpu.yaml end to end on a generated tiny bundle and a tiny "genome", both
served over HTTP on 127.0.0.1: download, conversion, the LM behind the ULMFiT encoder, both
multi-label models, evaluation, the table beside DeepSEA and DanQ (about a minute on 2 cores).
Also: the config's DAG, and schema errors that name the wrong key."""
import copy
import gzip
import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from deepsea_bundle import make_bundle
from genomic_ulmfit.config import ConfigError, load_sources, validate_config
from workflow_run import REPO, planned_jobs, snakemake, write_config

CPU_CONFIG = REPO / "config" / "deepsea_cpu.yaml"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The mirror directory: the tiny bundle and a 60 kb genome under their mirror paths."""
    root = tmp_path_factory.mktemp("mirror")
    make_bundle(root / "deepsea", sizes=(600, 100, 200))
    rng = np.random.default_rng(0)
    genome = "".join(rng.choice(list("ACGT"), 60_000))
    (root / "genome").mkdir()
    with gzip.open(root / "genome" / "tiny.fna.gz", "wt") as f:
        f.write(">chr1\n" + "\n".join(genome[i:i + 80] for i in range(0, len(genome), 80)) + "\n")
    return root


def tiny_config(workdir, served, base_url):
    sources = {
        "deepsea_bundle": {"url": "https://example.org/deepsea_train_bundle.v0.9.tar.gz",
                           "sha256": sha256(served / "deepsea" / "deepsea_train_bundle.v0.9.tar.gz"),
                           "mirror_path": "deepsea/deepsea_train_bundle.v0.9.tar.gz"},
        "human_grch38_fna": {"url": "https://example.org/tiny.fna.gz",
                             "sha256": sha256(served / "genome" / "tiny.fna.gz"),
                             "mirror_path": "genome/tiny.fna.gz"},
    }
    (workdir / "sources.yaml").write_text(yaml.safe_dump(sources))
    cfg = yaml.safe_load(CPU_CONFIG.read_text())
    cfg.update(mirror=base_url, sources=str(workdir / "sources.yaml"), threads=1,
               model={"preset": "tiny", "overrides": {}})
    cfg["corpora"]["human_genome_5mb"].update(max_bases=None, region_bp=10_000)
    cfg["training"]["pretrain"]["epochs"] = 1
    ds = cfg["deepsea"]
    ds["max_samples"] = {"train": 500}  # a cap below the bundle's 600
    ds["chunk_size"] = 128
    ds["training"].update(epochs=2, batch_size=32, accumulate=2, warmup_batches=5, lr=0.003)
    ds["experiments"]["ulmfit_human_5mb"]["training"] = {"lr": 0.02}
    return write_config(workdir / "deepsea_tiny.yaml", cfg)


def test_cpu_config_dag(tmp_path):
    res = snakemake(tmp_path, "-n", "-p", "--cores", "2", configfile=CPU_CONFIG)
    jobs = planned_jobs(res)
    assert jobs["deepsea_convert"] == 1 and jobs["deepsea_train"] == 2 and jobs["deepsea_evaluate"] == 2
    assert jobs["deepsea_table"] == 1 and jobs["pretrain_lm"] == 1 and jobs["download"] == 2
    assert "train_classifier" not in jobs and "leakage_table" not in jobs
    out = res.stdout + res.stderr
    assert "results/deepsea/data/train20000-valid2000-test10000" in out
    assert "--encoder results/models/lm/human_genome_5mb/k5s2/cpu/seed0/lm.pth" in out.replace("'", "")


@pytest.mark.slow
def test_cpu_config_end_to_end(served, http_serve, tmp_path):
    base = http_serve(served)
    configfile = tiny_config(tmp_path, served, base)
    snakemake(tmp_path, "--cores", "2", "--resources", "gpu=1", configfile=configfile, timeout=600)
    variant = "results/deepsea/data/train500"
    meta = json.loads((tmp_path / variant / "meta.json").read_text())
    assert [meta["splits"][s]["n"] for s in ("train", "valid", "test")] == [500, 100, 200]
    table = pd.read_csv(tmp_path / "results/tables/deepsea_cpu.csv")
    assert table["label"].tolist()[:2] == ["DeepSEA (Zhou & Troyanskaya 2015), full data",
                                           "DanQ (Quang & Xie 2016), full data"]
    assert table.loc[0, "roc_auc_paper"] == 0.9046 and table.loc[1, "pr_auc_paper"] == 0.4698
    ours = table[table["n_seeds"] == 1]
    assert len(ours) == 2 and ours["roc_auc_mean"].notna().all()
    md = (tmp_path / "results/tables/deepsea_cpu.md").read_text()
    assert "0.9046" in md and "ROC-AUC (ours)" in md
    for exp in ("capstone_tiny", "ulmfit_human_5mb"):
        ev = tmp_path / f"results/evaluation/deepsea/train500/{exp}/seed0"
        m = json.loads((ev / "test.metrics.json").read_text())
        print(exp, {k: round(m[k], 4) for k in ("roc_auc", "pr_auc", "accuracy")})
        assert m["n"] == 200 and m["n_targets"] == 6
        assert len(pd.read_csv(ev / "test.per_target.csv")) == 6
        assert (tmp_path / f"results/models/deepsea/train500/{exp}/seed0/training_curves.png").exists()
    summary = json.loads((tmp_path / "results/models/deepsea/train500/ulmfit_human_5mb/seed0/summary.json").read_text())
    assert summary["encoder_from"] == "results/models/lm/human_genome_5mb/k5s2/tiny/seed0/lm.pth"
    assert (tmp_path / "results/figures/deepsea_cpu_vs_paper.png").stat().st_size > 1000
    # nothing left to do
    res = snakemake(tmp_path, "-n", "--cores", "2", configfile=configfile)
    assert planned_jobs(res) == {}


@pytest.fixture
def cpu_config():
    cfg = yaml.safe_load(CPU_CONFIG.read_text())
    return cfg, load_sources(cfg["sources"], base=REPO)


def test_cpu_config_is_valid_and_wrong_keys_are_named(cpu_config):
    cfg, sources = cpu_config
    validate_config(copy.deepcopy(cfg), SCHEMA, sources)
    bad = copy.deepcopy(cfg)
    bad["deepsea"]["training"]["warmup"] = 500
    bad["deepsea"]["experiments"]["capstone_tiny"]["preset"] = "huge"
    with pytest.raises(ConfigError) as err:
        validate_config(bad, SCHEMA, sources)
    msg = str(err.value)
    assert "deepsea.training: unknown key(s) ['warmup']" in msg
    assert "deepsea.experiments.capstone_tiny.preset: 'huge' is not allowed" in msg
    bad = copy.deepcopy(cfg)
    bad["deepsea"]["source"] = "nope"
    bad["deepsea"]["experiments"]["ulmfit_human_5mb"]["pretrain"] = "mammals"
    bad["deepsea"]["experiments"]["capstone_tiny"]["k"] = 3
    bad["deepsea"]["tables"]["deepsea_cpu"]["rows"][2]["experiment"] = "missing"
    with pytest.raises(ConfigError) as err:
        validate_config(bad, SCHEMA, sources)
    msg = str(err.value)
    assert "deepsea.source: unknown source 'nope'" in msg
    assert "deepsea.experiments.ulmfit_human_5mb.pretrain: 'mammals' is not a corpus" in msg
    assert "deepsea.experiments.capstone_tiny: ['k'] apply to arch ulmfit only" in msg
    assert "deepsea.tables.deepsea_cpu.rows.2.experiment: 'missing' is not a deepsea experiment" in msg
    del cfg["deepsea"]
    with pytest.raises(ConfigError, match="no experiments; give experiments"):
        validate_config(cfg, SCHEMA, sources)
