"""The paper runs: every table of config/paper.yaml, end to end, at reduced scale.

config/paper_mini.yaml extends config/paper.yaml (same tasks, corpora, protocols, experiments,
tables, DeepSEA and interpretation) with tiny models, one epoch per cycle or stage, one seed,
small corpora and sample caps. Its sources are the paper's: the real files of ../shared/data
where the paper's source is there, and small stand-ins in the upstream formats for the rest
(tests/paper_standins.py: genomes, an EPDnew SGA, the enhancer .tgz, the Grinder read zips,
the OSF and NCBI Datasets APIs, a DeepSEA bundle), served over 127.0.0.1, so every builder,
archive and API path runs as on the real sources.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from genomic_ulmfit.config import load_config, load_sources
from genomic_ulmfit.sources import config_source_uses
from paper_standins import build_paper_mirror, serve_paper_standins
from workflow_run import REPO, planned_jobs, snakemake

MINI = REPO / "config" / "paper_mini.yaml"
PAPER = REPO / "config" / "paper.yaml"

# What a reduced-scale config may change: scale settings, sample caps and sources.
SCALE_KEYS = {
    "extends": None, "mirror": None, "sources": None, "seeds": None, "device": None, "threads": None,
    "model": {"preset", "overrides"}, "scale": None, "training": {"lr_find"},
    "tasks": {"params": {"max_per_class", "max_positives", "n_test", "n_valid"}},
    "corpora": {"region_bp", "max_bases", "valid_fraction"},
    "deepsea": {"max_samples": None, "chunk_size": None, "training": None, "experiments": {"preset", "overrides"}},
}


def test_paper_mini_only_scales_the_paper_down() -> None:
    mini = yaml.safe_load(MINI.read_text())
    paper = yaml.safe_load(PAPER.read_text())
    assert mini["extends"] == "config/paper.yaml"
    assert set(mini) <= set(SCALE_KEYS), sorted(set(mini) - set(SCALE_KEYS))
    for key in ("model", "training"):
        assert set(mini.get(key, {})) <= SCALE_KEYS[key], key
    for name, task in mini["tasks"].items():
        assert name in paper["tasks"], name
        assert set(task) == {"params"} and set(task["params"]) <= SCALE_KEYS["tasks"]["params"], name
    for name, corpus in mini["corpora"].items():
        assert name in paper["corpora"] and set(corpus) <= SCALE_KEYS["corpora"], name
    assert set(mini["deepsea"]) <= set(SCALE_KEYS["deepsea"])
    for name, exp in mini["deepsea"]["experiments"].items():
        assert name in paper["deepsea"]["experiments"] and set(exp) <= SCALE_KEYS["deepsea"]["experiments"], name
    resolved = load_config(MINI, REPO)
    for key in ("protocols", "experiments", "tables", "interpret"):
        assert resolved[key] == paper[key], key
    assert set(resolved["tasks"]) == set(paper["tasks"]) and set(resolved["corpora"]) == set(paper["corpora"])
    assert resolved["deepsea"]["tables"] == paper["deepsea"]["tables"]


@pytest.fixture(scope="module")
def paper_mini(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """config/paper_mini.yaml run once, from the stand-in mirror and APIs on 127.0.0.1."""
    root = tmp_path_factory.mktemp("paper_mini")
    config = load_config(MINI, REPO)
    sources = load_sources(config["sources"], base=REPO)
    standins = build_paper_mirror(shared_data, root / "standins", sources, config_source_uses(config))
    workdir = root / "run"
    workdir.mkdir()
    with serve_paper_standins(standins) as served:
        args = ("--cores", "2", "--config", f"mirror={served.mirror}")
        env = served.env
        res = snakemake(workdir, *args, configfile=MINI, env=env, timeout=3000)
        again = snakemake(workdir, *args, "-n", configfile=MINI, env=env)
    yield workdir, config, res, again


def _tables(config: dict) -> dict[str, dict]:
    return {**config["tables"], **config["deepsea"]["tables"]}


@pytest.mark.slow
def test_every_paper_table_has_every_row_with_the_published_values_beside_ours(paper_mini) -> None:
    workdir, config, _, _ = paper_mini
    tables = _tables(config)
    assert len(config["tables"]) == 12
    for name, spec in tables.items():
        csv = workdir / "results" / "tables" / f"{name}.csv"
        md = workdir / "results" / "tables" / f"{name}.md"
        assert csv.is_file() and md.is_file(), name
        table = pd.read_csv(csv)
        assert list(table["label"]) == [row["label"] for row in spec["rows"]], name
        text = md.read_text()
        for i, row in enumerate(spec["rows"]):
            for metric, value in row.get("paper", {}).items():
                assert table.loc[i, f"{metric}_paper"] == pytest.approx(value), (name, row["label"], metric)
            if not row.get("experiment"):
                continue
            assert table.loc[i, "n_seeds"] == 1, (name, row["label"])
            for metric in spec["metrics"]:
                ours = table.loc[i, f"{metric}_mean"]
                low = -1 if metric == "mcc" else 0
                assert not math.isnan(ours) and low <= ours <= 1, (name, row["label"], metric, ours)
        assert spec["title"].split(" ")[0] in text, name


@pytest.mark.slow
def test_every_stage_of_the_paper_ran(paper_mini) -> None:
    workdir, config, res, _ = paper_mini
    results = workdir / "results"
    # one general LM per corpus and tokenization, each beside its stride prior
    lms = sorted(results.glob("models/lm/*/k*s*/*/seed0/summary.json"))
    assert {p.parts[-5] for p in lms} == set(config["corpora"])
    for path in lms:
        summary = json.loads(path.read_text())
        assert math.isfinite(summary["valid_loss"]) and summary["stride_prior_loss"] > 0, path
    # every experiment's classifier evaluated; the lncRNA challenge split too
    assert len(list(results.glob("evaluation/**/test.metrics.json"))) == len(config["experiments"]) + len(
        config["deepsea"]["experiments"])
    assert list(results.glob("evaluation/lncrna/**/test_challenge.metrics.json"))
    # the datasets from the stand-ins' real formats: labels as the builders read them
    counts = {t: json.loads((results / "datasets" / f"{t}.summary.json").read_text())["counts"]
              for t in config["tasks"]}
    assert set(counts["enhancers_human"]["test"]) == {"enhancer", "negative"}
    assert len(counts["metagenomics_amplicon"]["train"]) > 2  # genera from the Grinder headers
    assert set(counts["lncrna"]) >= {"train", "valid", "test", "test_challenge"}
    # the leakage audit of every task, the interpretation and the genome scan
    leakage = pd.read_csv(results / "datasets" / "leakage.csv")
    assert set(leakage["task"]) == set(config["tasks"])
    assert (results / "interpret" / "scan_agreement.csv").is_file()
    assert len(list(results.glob("interpret/**/importance.profile.tsv"))) == len(config["interpret"])


@pytest.mark.slow
def test_a_second_run_of_the_paper_does_nothing(paper_mini) -> None:
    _, _, _, again = paper_mini
    assert planned_jobs(again) == {}, again.stdout[-3000:]
