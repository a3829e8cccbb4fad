"""Results tables: our metrics over seeds (mean, sample SD) beside the paper's.

A table is built from rows like
``{"label": "Naive", "metrics_files": [seed0.json, seed1.json], "paper": {"accuracy": 0.834}}``
(one metrics JSON per seed, as written by ``metrics.evaluate_predictions``) and is
written both as CSV (every number) and as Markdown (rounded, for reading).
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .io.atomic import atomic_path, write_text

__all__ = ["METRIC_NAMES", "metric_name", "load_metrics", "metric_value", "results_table",
           "format_markdown", "write_table"]

DASH = "\u2013"  # en dash: no value
PM = "\u00b1"

METRIC_NAMES: dict[str, str] = {
    "n": "n",
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "sensitivity": "Sensitivity",
    "specificity": "Specificity",
    "mcc": "MCC",
    "f1": "F1",
    "roc_auc": "ROC-AUC",
    "pr_auc": "PR-AUC",
    "roc_auc_macro": "ROC-AUC (macro)",
    "valid_loss": "Validation loss",
    "perplexity": "Perplexity",
}
_BASES = {"precision": "Precision", "recall": "Recall", "f1": "F1"}
for _base, _name in _BASES.items():
    for _avg in ("macro", "weighted"):
        METRIC_NAMES[f"{_base}_{_avg}"] = f"{_name} ({_avg})"


def metric_name(key: str, names: Mapping[str, str] | None = None) -> str:
    """Human name of a metric key: `names` first, then METRIC_NAMES, else the key itself."""
    if names and key in names:
        return names[key]
    return METRIC_NAMES.get(key, key)


def load_metrics(path: str | Path) -> dict:
    """One metrics JSON file as a dict."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"metrics file not found: {path}") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of metrics, got {type(data).__name__}")
    return data


def metric_value(metrics: Mapping, key: str, source: str | Path = "<metrics>") -> float:
    """The float value of `key` in a metrics dict; dotted keys reach nested values
    (e.g. "per_class.promoter.f1"). Raises KeyError/ValueError naming `source` and `key`."""
    value = metrics
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            available = sorted(k for k, v in metrics.items() if not isinstance(v, Mapping))
            raise KeyError(f"{source}: metric {key!r} not found (available: {', '.join(available)})")
        value = value[part]
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{source}: metric {key!r} is not a number: {value!r}")
    return float(value)


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample SD (ddof=1); SD is NaN for fewer than two values, both NaN for none."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return math.nan, math.nan
    sd = float(np.std(arr, ddof=1)) if arr.size > 1 else math.nan
    return float(np.mean(arr)), sd


def _paper_value(paper: Mapping | None, key: str, label: str) -> float:
    if not paper or paper.get(key) is None:
        return math.nan
    try:
        return float(paper[key])
    except (TypeError, ValueError):
        raise ValueError(f"row {label!r}: paper value of {key!r} is not a number: "
                         f"{paper[key]!r}") from None


def results_table(rows: Sequence[Mapping], metrics: Sequence[str]) -> pd.DataFrame:
    """One row per entry: label, n_seeds, then <m>_mean, <m>_sd, <m>_paper for each metric.

    Each entry is {"label": str, "metrics_files": [one metrics JSON per seed],
    "paper": {metric: value} or None}. SD is the sample SD over seeds (NaN for one
    seed); an entry without metrics files (a published baseline only) gets
    n_seeds = 0 and NaN for ours; a paper value that is absent is NaN.
    """
    if not metrics:
        raise ValueError("results_table: no metrics asked for")
    records = []
    for row in rows:
        if "label" not in row:
            raise KeyError(f"results_table: row without a 'label': {dict(row)!r}")
        label = str(row["label"])
        files = row.get("metrics_files") or []
        if isinstance(files, (str, Path)):
            files = [files]
        loaded = [(f, load_metrics(f)) for f in files]
        record: dict = {"label": label, "n_seeds": len(loaded)}
        for m in metrics:
            mean, sd = _mean_sd([metric_value(d, m, f) for f, d in loaded])
            record[f"{m}_mean"] = mean
            record[f"{m}_sd"] = sd
            record[f"{m}_paper"] = _paper_value(row.get("paper"), m, label)
        records.append(record)
    columns = ["label", "n_seeds"] + [f"{m}_{s}" for m in metrics for s in ("mean", "sd", "paper")]
    return pd.DataFrame.from_records(records, columns=columns).astype({"n_seeds": int})


def _fmt_ours(mean: float, sd: float, digits: int = 3) -> str:
    if not np.isfinite(mean):
        return DASH
    if np.isfinite(sd):
        return f"{mean:.{digits}f} {PM} {sd:.{digits}f}"
    return f"{mean:.{digits}f}"


def _fmt_paper(value: float) -> str:
    """A published value: three decimals, four where the paper gave four (0.900, 0.834, 0.9137)."""
    if not np.isfinite(value):
        return DASH
    return f"{value:.4f}" if round(value, 3) != round(value, 4) else f"{value:.3f}"


def _seeds_note(n_seeds: pd.Series) -> str:
    counts = sorted({int(n) for n in n_seeds if n > 0})
    if not counts:
        return "No results of ours yet; paper values only."
    if counts == [1]:
        seeds = "one seed (no SD)"
    elif len(counts) == 1:
        seeds = f"mean {PM} sample SD over {counts[0]} seeds"
    else:
        seeds = f"mean {PM} sample SD over {counts[0]}{DASH}{counts[-1]} seeds per model"
    return (f"Ours: {seeds}, on the held-out test split; "
            f"paper: published values, from the Genomic-ULMFiT paper's tables or, for a compared "
            f"method, its own publication ({DASH} = not reported).")


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|")


def format_markdown(table: pd.DataFrame, metrics: Sequence[str], title: str,
                    metric_names: Mapping[str, str] | None = None) -> str:
    """A Markdown table (Model | <Metric> (ours) | <Metric> (paper) | ...) with a title
    line and a one-line note on seeds and split. Ours: "0.864" for one seed,
    "0.864 ± 0.012" for several; "–" where there is no value."""
    header = ["Model"]
    for m in metrics:
        name = metric_name(m, metric_names)
        header += [f"{name} (ours)", f"{name} (paper)"]
    lines = [f"### {title}", "", _seeds_note(table["n_seeds"]), "",
             "| " + " | ".join(header) + " |",
             "|" + "|".join([":---"] + [":---:"] * (len(header) - 1)) + "|"]
    for _, row in table.iterrows():
        cells = [_escape(row["label"])]
        for m in metrics:
            cells.append(_fmt_ours(row[f"{m}_mean"], row[f"{m}_sd"]))
            cells.append(_fmt_paper(row[f"{m}_paper"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_table(rows: Sequence[Mapping], metrics: Sequence[str], title: str,
                csv_path: str | Path, md_path: str | Path,
                metric_names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """results_table written as CSV (all numbers) and Markdown (rounded); returns the table."""
    table = results_table(rows, metrics)
    markdown = format_markdown(table, metrics, title, metric_names)
    with atomic_path(csv_path) as tmp:  # a table is replaced whole or not at all
        table.to_csv(tmp, index=False)
    write_text(md_path, markdown)
    return table
