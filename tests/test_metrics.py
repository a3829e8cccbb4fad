"""Metrics equal scikit-learn's and hand-computed values on known cases."""
import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from genomic_ulmfit.metrics import binary_metrics, evaluate_predictions


def test_binary_known_case():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    score = np.array([0.9, 0.8, 0.7, 0.2, 0.6, 0.1, 0.1, 0.3, 0.2, 0.4])
    m = binary_metrics(y, score)
    # tp=3 fn=1 fp=1 tn=5
    assert m["confusion"] == {"tn": 5, "fp": 1, "fn": 1, "tp": 3}
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["precision"] == pytest.approx(0.75)
    assert m["recall"] == pytest.approx(0.75)
    assert m["specificity"] == pytest.approx(5 / 6)
    mcc = (3 * 5 - 1 * 1) / np.sqrt(4 * 4 * 6 * 6)
    assert m["mcc"] == pytest.approx(mcc)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, score))
    assert m["pr_auc"] == pytest.approx(skm.average_precision_score(y, score))


def test_predictions_table_binary_positive_class():
    pred = pd.DataFrame({"id": list("abcd"), "label": ["promoter", "non_promoter", "promoter", "non_promoter"],
                         "prob_non_promoter": [0.2, 0.9, 0.6, 0.3], "prob_promoter": [0.8, 0.1, 0.4, 0.7]})
    m = evaluate_predictions(pred, ["non_promoter", "promoter"])
    assert m["positive_class"] == "promoter"
    assert m["recall"] == pytest.approx(0.5) and m["specificity"] == pytest.approx(0.5)


def test_multiclass_matches_sklearn():
    rng = np.random.default_rng(0)
    classes = ["a", "b", "c"]
    y = rng.integers(0, 3, 200)
    probs = rng.dirichlet([1, 1, 1], 200)
    probs[np.arange(200), y] += 0.5
    probs /= probs.sum(1, keepdims=True)
    pred = pd.DataFrame({"id": range(200), "label": [classes[i] for i in y]})
    for i, c in enumerate(classes):
        pred[f"prob_{c}"] = probs[:, i]
    m = evaluate_predictions(pred, classes)
    yp = probs.argmax(1)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, yp))
    assert m["precision_weighted"] == pytest.approx(skm.precision_score(y, yp, average="weighted"))
    assert m["recall_weighted"] == pytest.approx(skm.recall_score(y, yp, average="weighted"))
    assert m["f1_macro"] == pytest.approx(skm.f1_score(y, yp, average="macro"))
    assert m["per_class"]["b"]["support"] == int((y == 1).sum())
    assert m["roc_auc_macro"] == pytest.approx(skm.roc_auc_score(y, probs, multi_class="ovr"))
