"""Results tables (report.py) and figures (plots.py) on small, realistic inputs."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.metrics import average_precision_score, roc_auc_score

from genomic_ulmfit import plots
from genomic_ulmfit.metrics import evaluate_predictions
from genomic_ulmfit.report import format_markdown, metric_name, results_table, write_table

CLASSES = ["non_promoter", "promoter"]
METRICS = ["accuracy", "precision", "recall", "mcc"]


# -- input files like the rest of the package writes them ---------------------------------------

def write_predictions(path: Path, seed: int, n: int = 300, signal: float = 2.5) -> Path:
    """A decent binary classifier: logit = signal * (+-1) + noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    logit = signal * (2 * y - 1) + rng.normal(0, 1.5, n)
    p = 1 / (1 + np.exp(-logit))
    label = np.array(CLASSES)[y]
    pred = pd.DataFrame({"id": [f"seq{i}" for i in range(n)], "label": label,
                         "prediction": np.where(p >= 0.5, "promoter", "non_promoter"),
                         "prob_non_promoter": 1 - p, "prob_promoter": p})
    pred.to_csv(path, index=False)
    return path


def write_metrics(path: Path, **values) -> Path:
    base = {"n": 830, "accuracy": 0.86, "precision": 0.87, "recall": 0.85, "specificity": 0.87,
            "mcc": 0.72, "f1": 0.86, "roc_auc": 0.93, "pr_auc": 0.92,
            "confusion": {"tn": 360, "fp": 55, "fn": 62, "tp": 353},
            "positive_class": "promoter", "model": "naive", "dataset": "ecoli", "split": "test"}
    base.update(values)
    path.write_text(json.dumps(base))
    return path


def write_history(path: Path, stages: dict[str, int], lm: bool = False, time: bool = True) -> Path:
    rows, k = [], 0
    for stage, epochs in stages.items():
        for e in range(epochs):
            valid = 0.6 * math.exp(-0.15 * k) + 0.25
            row = {"stage": stage, "epoch": e, "train_loss": valid + 0.05 - 0.01 * k,
                   "valid_loss": valid, "accuracy": 1 - valid / 1.2}
            if lm:
                row["perplexity"] = math.exp(valid)
            if time:
                row["time"] = 12.5 + e
            rows.append(row)
            k += 1
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def write_schedule(path: Path, stages: dict[str, int], lr_max: float = 1e-2) -> Path:
    rows, it = [], 0
    for s, (stage, n) in enumerate(stages.items()):
        top = lr_max / 2 ** s
        warm = int(0.3 * n)
        for i in range(n):
            if i < warm:
                frac = i / warm
                lr, mom = top / 25 + (top - top / 25) * frac, 0.8 - 0.1 * frac
            else:
                frac = (i - warm) / (n - warm)
                lr = top / 1e5 + (top - top / 1e5) * (1 + math.cos(math.pi * frac)) / 2
                mom = 0.7 + 0.1 * frac
            rows.append({"stage": stage, "iteration": it, "lr": lr, "mom": mom,
                         "smooth_loss": 0.7 * math.exp(-it / 200) + 0.3})
            it += 1
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def write_lm_summary(path: Path, valid_loss: float, stride: int, markov: float | None = None) -> Path:
    prior = stride * math.log(4)
    summary = {"valid_loss": valid_loss, "accuracy": 0.11,
               "stride_prior_loss": prior, "gain_over_prior": prior - valid_loss,
               "cycle": {"epochs": 2, "lr": 0.01}, "seed": 0}
    if markov is not None:  # general LMs have it; fine-tuned ones do not
        summary["markov_baseline_loss"] = markov
    path.write_text(json.dumps(summary))
    return path


def png_size(path: Path) -> tuple[int, int]:
    assert path.is_file() and path.stat().st_size > 0
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


def assert_sensible_png(path: Path) -> None:
    w, h = png_size(path)
    assert 300 <= w <= 3000 and 200 <= h <= 3000, (w, h)


# -- tables ---------------------------------------------------------------------------------------

def test_results_table_mean_sd_and_paper(tmp_path):
    acc = [0.85, 0.87, 0.88]
    mcc = [0.70, 0.74, 0.77]
    files = [write_metrics(tmp_path / f"s{i}.json", accuracy=a, mcc=m)
             for i, (a, m) in enumerate(zip(acc, mcc))]
    rows = [{"label": "Naive", "metrics_files": files,
             "paper": {"accuracy": 0.834, "precision": 0.847, "recall": 0.816, "mcc": 0.670}},
            {"label": "Kh et al.", "metrics_files": [], "paper": {"recall": 0.90, "mcc": 0.84}}]
    table = results_table(rows, METRICS)
    assert list(table.columns[:2]) == ["label", "n_seeds"]
    assert {f"{m}_{s}" for m in METRICS for s in ("mean", "sd", "paper")} <= set(table.columns)
    naive = table.iloc[0]
    assert naive["n_seeds"] == 3
    assert naive["accuracy_mean"] == pytest.approx(np.mean(acc))
    assert naive["accuracy_sd"] == pytest.approx(np.std(acc, ddof=1))
    assert naive["mcc_sd"] == pytest.approx(np.std(mcc, ddof=1))
    assert naive["precision_sd"] == pytest.approx(0.0)
    assert naive["accuracy_paper"] == 0.834 and naive["mcc_paper"] == 0.670
    baseline = table.iloc[1]
    assert baseline["n_seeds"] == 0 and math.isnan(baseline["accuracy_mean"])
    assert math.isnan(baseline["accuracy_paper"]) and baseline["recall_paper"] == 0.90
    assert "| 0.670 |" in format_markdown(table, METRICS, "t")  # not "0.67"

    md = format_markdown(table, METRICS, "E. coli promoters")
    assert "0.867 ± 0.015" in md  # mean and sample SD of acc
    assert "| Kh et al. | – | – |" in md
    assert "Accuracy (ours) | Accuracy (paper)" in md and "MCC (paper)" in md
    assert "3 seeds" in md and "test split" in md


def test_single_seed_has_nan_sd_and_no_pm(tmp_path):
    f = write_metrics(tmp_path / "s0.json", accuracy=0.8641)
    table = results_table([{"label": "Naive", "metrics_files": [f], "paper": None}], METRICS)
    assert table.loc[0, "n_seeds"] == 1
    assert math.isnan(table.loc[0, "accuracy_sd"])
    assert math.isnan(table.loc[0, "accuracy_paper"])
    md = format_markdown(table, METRICS, "One seed")
    assert "±" not in md
    assert "| Naive | 0.864 | – |" in md
    assert md.startswith("### One seed")


def test_paper_values_keep_their_precision(tmp_path):
    f = write_metrics(tmp_path / "s0.json")
    rows = [{"label": "A", "metrics_files": [f],
             "paper": {"accuracy": 0.9137, "precision": 0.9, "recall": 0.834}}]
    md = format_markdown(results_table(rows, ["accuracy", "precision", "recall"]),
                         ["accuracy", "precision", "recall"], "t")
    assert "0.9137" in md and "| 0.900 |" in md and "0.834" in md


def test_missing_metric_names_file_and_metric(tmp_path):
    good = write_metrics(tmp_path / "good.json")
    bad = tmp_path / "seed1_metrics.json"
    data = json.loads(good.read_text())
    del data["mcc"]
    bad.write_text(json.dumps(data))
    with pytest.raises(KeyError, match=r"seed1_metrics\.json.*'mcc'"):
        results_table([{"label": "Naive", "metrics_files": [good, bad], "paper": None}], METRICS)


def test_multiclass_metric_names_and_nested_keys(tmp_path):
    f = tmp_path / "m.json"
    f.write_text(json.dumps({"n": 10, "accuracy": 0.9, "mcc": 0.8, "f1_weighted": 0.91,
                             "precision_weighted": 0.92, "recall_weighted": 0.9,
                             "per_class": {"a": {"f1": 0.5, "support": 3}}}))
    metrics = ["precision_weighted", "f1_weighted", "per_class.a.f1"]
    table = results_table([{"label": "M", "metrics_files": [f], "paper": {"f1_weighted": 0.9306}}],
                          metrics)
    assert table.loc[0, "per_class.a.f1_mean"] == 0.5
    md = format_markdown(table, metrics, "Metagenomics", metric_names={"per_class.a.f1": "F1 (a)"})
    assert "Precision (weighted) (ours)" in md and "F1 (a) (paper)" in md
    assert metric_name("roc_auc") == "ROC-AUC" and metric_name("pr_auc") == "PR-AUC"


def test_write_table_writes_csv_and_markdown(tmp_path):
    files = [write_metrics(tmp_path / f"s{i}.json", accuracy=0.8 + 0.01 * i) for i in range(2)]
    csv, md = tmp_path / "out" / "tables" / "ecoli.csv", tmp_path / "out" / "md" / "ecoli.md"
    table = write_table([{"label": "Naive", "metrics_files": files, "paper": {"accuracy": 0.834}}],
                        ["accuracy"], "E. coli", csv, md)
    back = pd.read_csv(csv)
    assert back["accuracy_mean"].iloc[0] == pytest.approx(table["accuracy_mean"].iloc[0])
    text = md.read_text()
    assert "±" in text and "0.834" in text and "2 seeds" in text


# -- figures --------------------------------------------------------------------------------------

def test_plot_training_curves(tmp_path):
    clas = write_history(tmp_path / "clas.csv", {"head": 2, "head+lstm3": 2, "head+lstm2-3": 2,
                                                 "all": 4})
    lm = write_history(tmp_path / "lm.csv", {"pretrain": 3}, lm=True, time=False)
    plots.plot_training_curves(clas, tmp_path / "clas.png", "Classifier, gradual unfreezing")
    plots.plot_training_curves(lm, tmp_path / "lm.png", "E. coli LM")
    assert_sensible_png(tmp_path / "clas.png")
    assert_sensible_png(tmp_path / "lm.png")


def test_plot_training_curves_without_accuracy(tmp_path):
    h = write_history(tmp_path / "h.csv", {"scratch1": 3, "scratch2": 2})
    pd.read_csv(h).drop(columns="accuracy").to_csv(h, index=False)
    plots.plot_training_curves(h, tmp_path / "h.png", "Naive")
    assert_sensible_png(tmp_path / "h.png")


def test_plot_schedule(tmp_path):
    s = write_schedule(tmp_path / "sched.csv", {"head": 60, "head+lstm3": 60, "head+lstm2-3": 60,
                                                "all": 120})
    plots.plot_schedule(s, tmp_path / "sched.png", "One-cycle schedule")
    assert_sensible_png(tmp_path / "sched.png")


def test_plot_confusion(tmp_path):
    pred = write_predictions(tmp_path / "pred.csv", seed=1)
    plots.plot_confusion(pred, tmp_path / "cm.png", "Naive, test split")
    assert_sensible_png(tmp_path / "cm.png")


def test_plot_roc_pr_auc_matches_sklearn(tmp_path):
    curves = {"Naive": write_predictions(tmp_path / "naive.csv", seed=1, signal=1.5),
              "E. coli LM": write_predictions(tmp_path / "lm.csv", seed=2, signal=3.0)}
    aucs = plots.plot_roc_pr(curves, "promoter", tmp_path / "roc.png", "E. coli promoters")
    assert_sensible_png(tmp_path / "roc.png")
    for label, csv in curves.items():
        pred = pd.read_csv(csv)
        y = (pred["label"] == "promoter").astype(int)
        assert aucs[label]["roc_auc"] == pytest.approx(roc_auc_score(y, pred["prob_promoter"]))
        assert aucs[label]["pr_auc"] == pytest.approx(
            average_precision_score(y, pred["prob_promoter"]))
        # the same numbers the package's metrics JSON would hold
        m = evaluate_predictions(pred, CLASSES, "promoter")
        assert aucs[label]["roc_auc"] == pytest.approx(m["roc_auc"])
        assert aucs[label]["pr_auc"] == pytest.approx(m["pr_auc"])
    assert aucs["E. coli LM"]["roc_auc"] > aucs["Naive"]["roc_auc"] > 0.8


def test_plot_roc_pr_legend_text(tmp_path, monkeypatch):
    legends: list[str] = []
    save = plots._save

    def capture(fig, path):
        for ax in fig.axes:
            if ax.get_legend():
                legends.extend(t.get_text() for t in ax.get_legend().get_texts())
        save(fig, path)

    monkeypatch.setattr(plots, "_save", capture)
    csv = write_predictions(tmp_path / "p.csv", seed=3)
    plots.plot_roc_pr({"Naive": csv}, "promoter", tmp_path / "roc.png", "t")
    pred = pd.read_csv(csv)
    auc = roc_auc_score(pred["label"] == "promoter", pred["prob_promoter"])
    assert f"Naive (AUC = {auc:.3f})" in legends


def test_plot_roc_pr_unknown_positive_names_file(tmp_path):
    csv = write_predictions(tmp_path / "p.csv", seed=3)
    with pytest.raises(ValueError, match=r"p\.csv.*enhancer"):
        plots.plot_roc_pr({"Naive": csv}, "enhancer", tmp_path / "roc.png", "t")


def test_plot_metrics_vs_paper(tmp_path):
    rows = []
    for k, (label, paper) in enumerate([("Naive", {"accuracy": 0.834, "mcc": 0.670}),
                                        ("E. coli Genome Pre-Training", {"accuracy": 0.919}),
                                        ("Ours only", None)]):
        files = [write_metrics(tmp_path / f"{k}_{i}.json", accuracy=0.83 + 0.04 * k + 0.01 * i,
                               mcc=0.66 + 0.08 * k + 0.02 * i) for i in range(3 if k < 2 else 1)]
        rows.append({"label": label, "metrics_files": files, "paper": paper})
    table = results_table(rows, ["accuracy", "mcc"])
    plots.plot_metrics_vs_paper(table, ["accuracy", "mcc"], tmp_path / "bars.png",
                                "E. coli promoters: ours vs paper")
    assert_sensible_png(tmp_path / "bars.png")


def test_plot_lm_vs_prior(tmp_path):
    summaries = {"E. coli genome (4-mer, stride 2)": write_lm_summary(tmp_path / "a.json", 2.70, 2, 2.69),
                 "Fine-tuned on promoters": write_lm_summary(tmp_path / "b.json", 2.55, 2),
                 "3-mer, stride 1": write_lm_summary(tmp_path / "c.json", 1.36, 1, 1.35)}
    plots.plot_lm_vs_prior(summaries, tmp_path / "lm.png", "Language models vs stride prior")
    assert_sensible_png(tmp_path / "lm.png")


def test_plot_lr_finder_still_works(tmp_path):
    lr = np.geomspace(1e-7, 10, 100)
    loss = 1.4 - 0.5 / (1 + np.exp(-(np.log10(lr) + 3))) + np.where(lr > 0.3, (lr - 0.3), 0)
    plots.plot_lr_finder(pd.DataFrame({"lr": lr, "loss": loss}),
                         {"valley": 2e-3, "minimum": 3e-2, "steep": 1e-3}, tmp_path / "lr.png")
    assert_sensible_png(tmp_path / "lr.png")
