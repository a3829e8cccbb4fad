"""Classification metrics from scikit-learn, for binary and multi-class tasks.

A metric that an evaluation set cannot define (recall of a class it lacks, an AUC over one
class) is NaN here and null in the JSON of `evaluate_predictions`, never a number that looks
like a result (sklearn's 0 for an undefined recall or MCC).
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from .errors import InputError
from .io.atomic import json_safe

logger = logging.getLogger(__name__)

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
    has_pos, has_neg = tp + fn > 0, tn + fp > 0
    both = has_pos and has_neg
    nan = float("nan")
    return {
        "n": int(len(y_true)),
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "precision": skm.precision_score(y_true, y_pred, zero_division=0),
        "recall": skm.recall_score(y_true, y_pred) if has_pos else nan,
        "specificity": tn / (tn + fp) if has_neg else nan,
        "mcc": skm.matthews_corrcoef(y_true, y_pred) if both else nan,
        "f1": skm.f1_score(y_true, y_pred, zero_division=0) if has_pos else nan,
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
    all_present = len(np.unique(y_true)) == len(classes)
    out["roc_auc_macro"] = (skm.roc_auc_score(y_true, probs, multi_class="ovr", labels=labels)
                            if all_present else float("nan"))
    nan = float("nan")
    out["per_class"] = {c: {"precision": p[i], "recall": r[i] if support[i] else nan,
                            "f1": f[i] if support[i] else nan, "support": int(support[i])}
                        for i, c in enumerate(classes)}
    return out


def evaluate_predictions(pred: pd.DataFrame, classes: list[str], positive: str | None = None) -> dict:
    """Metrics of a predictions table (id, label, prediction, prob_<class>...), JSON-ready:
    undefined metrics are None, and `absent_classes` lists the classes no row has."""
    unknown = sorted(set(pred["label"]) - set(classes))
    if unknown:
        raise InputError(f"predictions have label(s) {unknown} that are not the model's classes {classes}")
    index = {c: i for i, c in enumerate(classes)}
    y_true = pred["label"].map(index).to_numpy()
    probs = pred[[f"prob_{c}" for c in classes]].to_numpy()
    if len(classes) == 2:
        pos = positive_class(classes, positive)
        result = binary_metrics((y_true == index[pos]).astype(int), probs[:, index[pos]])
        result["positive_class"] = pos
    else:
        result = multiclass_metrics(y_true, probs, classes)
    absent = [c for c in classes if c not in set(pred["label"])]
    if absent:
        logger.warning("the evaluated split has no example of class(es) %s: the metrics that "
                       "need every class (their recall or specificity, MCC, AUCs) are null", absent)
    result["absent_classes"] = absent
    return json_safe(result)


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
