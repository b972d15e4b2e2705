import math
import warnings

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

from skeeg.evaluation.metrics import (
    f2_scorer,
    fbeta_scorer,
    scores_table,
    window_scores,
)

# Ten windows ranked by score; at threshold 0.5 the top three are predicted
# positive: TP=2, FP=1, FN=2, TN=5.
Y_SCORE = np.array([0.95, 0.9, 0.7, 0.45, 0.4, 0.3, 0.2, 0.15, 0.1, 0.05])
Y_TRUE = np.array([1, 1, 0, 1, 0, 1, 0, 0, 0, 0])


def test_window_scores_match_hand_computed_confusion_matrix():
    scores = window_scores(Y_TRUE, Y_SCORE)
    precision, recall = 2 / 3, 2 / 4
    expected = {
        "precision": precision,
        "recall": recall,
        "specificity": 5 / 6,
        "f1": 2 * precision * recall / (precision + recall),  # 4/7
        "f2": 5 * precision * recall / (4 * precision + recall),  # 10/19
        # Each positive beats 6, 6, 5 and 4 of the 6 negatives.
        "auroc": (6 + 6 + 5 + 4) / (4 * 6),
        # Positives at ranks 1, 2, 4, 6: mean of the precisions there.
        "auprc": (1 / 1 + 2 / 2 + 3 / 4 + 4 / 6) / 4,
        "prevalence": 0.4,
        "n_windows": 10,
    }
    assert scores.keys() == expected.keys()
    for key, value in expected.items():
        assert scores[key] == pytest.approx(value), key
    assert scores["f1"] == pytest.approx(4 / 7)
    assert scores["f2"] == pytest.approx(10 / 19)


def test_f2_weights_recall_over_precision():
    # Same confusion counts except precision and recall swapped.
    high_recall = window_scores([1, 1, 0, 0], [0.9, 0.9, 0.9, 0.1])  # P=2/3, R=1
    high_precision = window_scores([1, 1, 1, 0], [0.9, 0.9, 0.1, 0.1])  # P=1, R=2/3
    assert high_recall["f1"] == pytest.approx(high_precision["f1"])
    assert high_recall["f2"] > high_precision["f2"]


def test_threshold_moves_the_decision():
    # At 0.25 the top six are positive: TP=4, FP=2, FN=0, TN=4.
    scores = window_scores(Y_TRUE, Y_SCORE, threshold=0.25)
    assert scores["precision"] == pytest.approx(4 / 6)
    assert scores["recall"] == pytest.approx(1.0)
    assert scores["specificity"] == pytest.approx(4 / 6)
    # Ranking metrics do not depend on the threshold.
    assert scores["auroc"] == pytest.approx(21 / 24)


def test_string_labels_with_pos_label():
    y_true = np.where(Y_TRUE == 1, "ied", "bg")
    assert window_scores(y_true, Y_SCORE, pos_label="ied") == pytest.approx(
        window_scores(Y_TRUE, Y_SCORE)
    )


def test_no_positive_prediction_gives_zero_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = window_scores([1, 0, 0, 1], [0.1, 0.2, 0.3, 0.4])
    assert scores["precision"] == 0
    assert scores["recall"] == 0
    assert scores["f1"] == 0
    assert scores["f2"] == 0
    assert scores["specificity"] == 1


def test_single_class_truth_gives_nan_ranking_scores_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = window_scores([0, 0, 0], [0.1, 0.6, 0.3])
    assert math.isnan(scores["auroc"])
    assert math.isnan(scores["auprc"])
    assert scores["prevalence"] == 0
    assert scores["recall"] == 0
    assert scores["specificity"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("bad", [1.2, -0.1, np.nan])
def test_rejects_scores_outside_unit_interval(bad):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        window_scores([0, 1, 1], [0.2, 0.5, bad])


def test_rejects_length_mismatch():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        window_scores([0, 1, 1], [0.2, 0.5])


def test_rejects_multiclass_truth_and_unknown_pos_label():
    with pytest.raises(ValueError, match="binary"):
        window_scores([0, 1, 2], [0.2, 0.5, 0.7])
    with pytest.raises(ValueError, match="pos_label"):
        window_scores(["a", "b"], [0.2, 0.5], pos_label="c")


def test_scores_table_is_fixed_width():
    rows = [
        {"model": "SC", "f1": 0.5714285, "n_windows": 10},
        {"model": "ResNet", "f1": 0.25, "n_windows": 1200},
    ]
    expected = (
        "model      f1  n_windows\n"
        "------  -----  ---------\n"
        "SC      0.571         10\n"
        "ResNet  0.250       1200"
    )
    assert scores_table(rows) == expected


def test_scores_table_column_selection_and_missing_keys():
    rows = [{"a": 1.0, "b": "x"}, {"a": 2.0}]
    assert scores_table(rows, columns=["b", "a"]).splitlines() == [
        "b      a",
        "-  -----",
        "x  1.000",
        "   2.000",
    ]


def test_fbeta_scorer_scores_predictions():
    # Predicting every window positive: precision 2/8, recall 1.
    X = np.zeros((8, 1))
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0])
    always_positive = DummyClassifier(strategy="constant", constant=1).fit(X, y)
    precision = 2 / 8
    assert f2_scorer(always_positive, X, y) == pytest.approx(
        5 * precision / (4 * precision + 1)
    )
    assert fbeta_scorer(1)(always_positive, X, y) == pytest.approx(
        2 * precision / (precision + 1)
    )


def test_f2_scorer_drives_grid_search():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] > 0.8).astype(int)
    search = GridSearchCV(
        LogisticRegression(), {"C": [0.01, 1.0]}, scoring=f2_scorer, cv=3
    ).fit(X, y)
    assert 0 <= search.best_score_ <= 1


@pytest.mark.parametrize("beta", [0, -1, "2"])
def test_fbeta_scorer_rejects_bad_beta(beta):
    with pytest.raises(ValueError, match="beta"):
        fbeta_scorer(beta)
