"""benchmarks/recipe_sweep.py, the search behind the default E. coli recipe: on the
end-to-end run's real dataset and the first 300 kb of the E. coli genome, tiny models."""
import gzip
import json
import subprocess
import sys

import pandas as pd
import pytest

from workflow_run import REPO

TINY = {"k": 3, "stride": 3, "preset": "tiny", "finetune": {"epochs": 1, "lr": 0.01},
        "classifier": {"stage_epochs": [1, 0, 0, 1], "stage_lrs": [0.02, 0.01, 0.005, 0.005]},
        "naive": {"stage_epochs": [2], "stage_lrs": [0.01]}}


@pytest.mark.slow
def test_sweep_scores_naive_and_pretrained_per_recipe(e2e, tmp_path):
    workdir = e2e[0]
    genome = next((workdir / "resources" / "downloads").rglob("*_genomic.fna.gz"))
    with gzip.open(genome, "rt") as f:
        header, *lines = f.read(320_000).splitlines()
    (tmp_path / "head.fa").write_text(header + "\n" + "".join(lines[:-1])[:300_000] + "\n")
    grid = {"seeds": [0], "train_sizes": [300], "defaults": TINY, "recipes": [
        {"name": "lm1", "pretrain": {"epochs": 1, "lr": 0.01}},
        {"name": "lm2", "pretrain": {"epochs": 2, "lr": 0.01}, "seeds": [0, 1]}]}
    (tmp_path / "grid.json").write_text(json.dumps(grid))
    res = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "recipe_sweep.py"),
         "--dataset", str(workdir / "results" / "datasets" / "ecoli_promoters.tsv"),
         "--genome", str(tmp_path / "head.fa"), "--grid", str(tmp_path / "grid.json"),
         "--out", str(tmp_path / "out"), "--workers", "2", "--device", "cpu"],
        capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    counts = runs.groupby(["name", "variant"]).size().to_dict()
    # lm2 runs its own seeds; both recipes share one naive classifier per seed
    assert counts == {("lm1", "naive"): 1, ("lm1", "pretrained"): 1,
                      ("lm2", "naive"): 2, ("lm2", "pretrained"): 2}
    naive = runs[(runs["variant"] == "naive") & (runs["seed"] == 0)]
    assert naive["test_accuracy"].nunique() == 1
    assert runs["test_accuracy"].between(0, 1).all() and (runs["train_size"] == 300).all()
    lms = pd.read_csv(tmp_path / "out" / "lms.csv").set_index("name")
    assert lms.loc["lm2", "prior_loss"] == pytest.approx(3 * 1.3862943611198906)
    summary = pd.read_csv(tmp_path / "out" / "summary.csv").set_index("name")
    assert summary.loc["lm2", "gap"] == pytest.approx(
        summary.loc["lm2", "pretrained_mean"] - summary.loc["lm2", "naive_mean"])
    assert "gap" in res.stdout
