"""Metrics equal scikit-learn's and hand-computed values on known cases."""
import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from genomic_ulmfit.errors import InputError
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


def _table(labels: list[str], probs: np.ndarray, classes: list[str]) -> pd.DataFrame:
    pred = pd.DataFrame({"id": range(len(labels)), "label": labels})
    for i, c in enumerate(classes):
        pred[f"prob_{c}"] = probs[:, i]
    return pred


def test_binary_split_without_negatives_marks_undefined_metrics_null():
    """All positives: accuracy and recall exist; specificity, MCC and the AUCs do not
    (sklearn would say MCC 0.0 and NaN AUCs, which json.dumps writes as bare NaN)."""
    classes = ["non_promoter", "promoter"]
    probs = np.array([[0.2, 0.8], [0.4, 0.6], [0.7, 0.3]])
    m = evaluate_predictions(_table(["promoter"] * 3, probs, classes), classes)
    assert m["absent_classes"] == ["non_promoter"]
    assert m["accuracy"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["specificity"] is None and m["mcc"] is None
    assert m["roc_auc"] is None and m["pr_auc"] is None
    json.dumps(m, allow_nan=False)  # strict JSON as it is


def test_binary_split_without_positives_has_no_recall():
    classes = ["non_promoter", "promoter"]
    probs = np.array([[0.2, 0.8], [0.9, 0.1]])
    m = evaluate_predictions(_table(["non_promoter"] * 2, probs, classes), classes)
    assert m["absent_classes"] == ["promoter"]
    assert m["recall"] is None and m["f1"] is None and m["specificity"] == pytest.approx(0.5)


def test_multiclass_absent_class_is_null_not_zero():
    classes = ["a", "b", "c"]
    probs = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1]])
    m = evaluate_predictions(_table(["a", "b", "a"], probs, classes), classes)
    assert m["absent_classes"] == ["c"]
    assert m["roc_auc_macro"] is None
    assert m["per_class"]["c"] == {"precision": 0.0, "recall": None, "f1": None, "support": 0}
    assert m["per_class"]["a"]["recall"] == pytest.approx(1.0)


def test_predictions_with_a_label_the_model_lacks_are_refused():
    classes = ["non_promoter", "promoter"]
    with pytest.raises(InputError, match=r"\['enhancer'\].*\['non_promoter', 'promoter'\]"):
        evaluate_predictions(_table(["enhancer"], np.array([[0.5, 0.5]]), classes), classes)
