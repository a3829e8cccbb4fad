"""Classification metrics from scikit-learn, for binary and multi-class tasks."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm

POSITIVE_DEFAULTS = ("promoter", "enhancer", "mRNA", "positive", "1")


def positive_class(classes: list[str], positive: str | None = None) -> str:
    """The positive class of a binary task: the one named, else a conventional name."""
    if positive is not None:
        if positive not in classes:
            raise ValueError(f"positive class {positive!r} is not among the classes {classes}")
        return positive
    for name in POSITIVE_DEFAULTS:
        if name in classes:
            return name
    return classes[-1]


def binary_metrics(y_true: np.ndarray, score: np.ndarray, threshold: float = 0.5) -> dict:
    """y_true in {0, 1} (1 = positive class), score = P(positive)."""
    y_pred = (score >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    both = len(np.unique(y_true)) == 2
    return {
        "n": int(len(y_true)),
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "precision": skm.precision_score(y_true, y_pred, zero_division=0),
        "recall": skm.recall_score(y_true, y_pred, zero_division=0),
        "specificity": tn / (tn + fp) if tn + fp else float("nan"),
        "mcc": skm.matthews_corrcoef(y_true, y_pred),
        "f1": skm.f1_score(y_true, y_pred, zero_division=0),
        "roc_auc": skm.roc_auc_score(y_true, score) if both else float("nan"),
        "pr_auc": skm.average_precision_score(y_true, score) if both else float("nan"),
        "confusion": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
    }


def multiclass_metrics(y_true: np.ndarray, probs: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, MCC, per-class, macro and weighted precision/recall/F1, one-vs-rest AUCs."""
    labels = list(range(len(classes)))
    y_pred = probs.argmax(1)
    p, r, f, support = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels,
                                                           zero_division=0)
    out = {"n": int(len(y_true)), "accuracy": skm.accuracy_score(y_true, y_pred),
           "mcc": skm.matthews_corrcoef(y_true, y_pred)}
    for avg in ("macro", "weighted"):
        ap, ar, af, _ = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels,
                                                            average=avg, zero_division=0)
        out.update({f"precision_{avg}": ap, f"recall_{avg}": ar, f"f1_{avg}": af})
    present = np.unique(y_true)
    if len(present) == len(classes):
        out["roc_auc_macro"] = skm.roc_auc_score(y_true, probs, multi_class="ovr", labels=labels)
    out["per_class"] = {c: {"precision": p[i], "recall": r[i], "f1": f[i], "support": int(support[i])}
                        for i, c in enumerate(classes)}
    return out


def evaluate_predictions(pred: pd.DataFrame, classes: list[str], positive: str | None = None) -> dict:
    """Metrics of a predictions table (id, label, prediction, prob_<class>...)."""
    index = {c: i for i, c in enumerate(classes)}
    y_true = pred["label"].map(index).to_numpy()
    probs = pred[[f"prob_{c}" for c in classes]].to_numpy()
    if len(classes) == 2:
        pos = positive_class(classes, positive)
        result = binary_metrics((y_true == index[pos]).astype(int), probs[:, index[pos]])
        result["positive_class"] = pos
    else:
        result = multiclass_metrics(y_true, probs, classes)
    return _plain(result)


def _plain(d):
    """numpy scalars -> Python floats, so the result serializes to JSON."""
    if isinstance(d, dict):
        return {k: _plain(v) for k, v in d.items()}
    if isinstance(d, (np.floating, np.integer)):
        return d.item()
    return d


# -- multi-label (DeepSEA's 919 targets) ----------------------------------------------------------

def multilabel_metrics(y_true: np.ndarray, probs: np.ndarray, weights: np.ndarray,
                       target_names: list[str] | None = None,
                       threshold: float = 0.5) -> tuple[dict, pd.DataFrame]:
    """Per-target ROC-AUC and PR-AUC (average precision) from scikit-learn, aggregated as the
    average weighted by `weights` (each target's positive frequency in training, the seed's
    aggregation), plus the unweighted means and the accuracy over all labels.

    A target without a positive (or without a negative) in `y_true` has no AUC: it is skipped
    and counted (`skipped_no_positive`, `skipped_no_negative`), never a NaN in the summary;
    the per-target table marks it `evaluated = False`. Returns (summary, per-target table).
    """
    y_true = np.asarray(y_true)
    probs = np.asarray(probs)
    n, t = y_true.shape
    if probs.shape != (n, t):
        raise ValueError(f"predictions have shape {probs.shape}, labels {y_true.shape}")
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (t,):
        raise ValueError(f"{len(weights)} weights for {t} targets")
    names = target_names or [f"target_{j}" for j in range(t)]
    positives = y_true.sum(axis=0, dtype=np.int64)
    roc = np.full(t, np.nan)
    pr = np.full(t, np.nan)
    correct = 0
    for j in range(t):
        yj, pj = y_true[:, j], probs[:, j].astype(np.float64)
        correct += int(((pj >= threshold) == (yj == 1)).sum())
        if 0 < positives[j] < n:
            roc[j] = skm.roc_auc_score(yj, pj)
            pr[j] = skm.average_precision_score(yj, pj)
    ok = ~np.isnan(roc)
    no_pos = np.flatnonzero(positives == 0)
    no_neg = np.flatnonzero(positives == n)
    w = weights[ok]
    if not ok.any():
        raise ValueError("no target has both positives and negatives in the evaluation set")
    if w.sum() <= 0:
        raise ValueError("the evaluated targets' weights sum to 0 (no positives in training?)")
    summary = {
        "n": int(n), "n_targets": int(t), "n_targets_evaluated": int(ok.sum()),
        "accuracy": correct / (n * t),
        "roc_auc": float(np.average(roc[ok], weights=w)),
        "pr_auc": float(np.average(pr[ok], weights=w)),
        "roc_auc_macro": float(roc[ok].mean()), "pr_auc_macro": float(pr[ok].mean()),
        "weights": "positive frequency of each target in training",
        "skipped_no_positive": int(len(no_pos)), "skipped_no_negative": int(len(no_neg)),
        "skipped_targets": {"no_positive": [names[j] for j in no_pos],
                            "no_negative": [names[j] for j in no_neg]},
    }
    table = pd.DataFrame({"target": names, "positives": positives, "negatives": n - positives,
                          "train_weight": weights, "evaluated": ok, "roc_auc": roc, "pr_auc": pr})
    return summary, table
