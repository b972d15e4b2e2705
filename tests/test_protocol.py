"""The protocol tooling against hand-computed answers, and end to end."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy.stats import f as f_distribution
from scipy.stats import studentized_range
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import GroupKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from skeeg import HMMClassifier
from skeeg.evaluation import mask_labels
from skeeg.evaluation.protocol import (
    aggregate_by_subject,
    anova_summary,
    evaluate_per_condition,
)
from skeeg.plotting import plot_embedding
from tests.test_hmm import sine_windows

# -- mask_labels -----------------------------------------------------------------


def test_mask_by_window_keeps_the_fraction_in_each_class():
    y = np.array([0] * 70 + [1] * 30)
    masked = mask_labels(y, 0.3, random_state=0)
    assert ((masked == 0).sum(), (masked == 1).sum()) == (21, 9)
    assert (masked == -1).sum() == 70
    kept = masked != -1
    np.testing.assert_array_equal(masked[kept], y[kept])
    np.testing.assert_array_equal(masked, mask_labels(y, 0.3, random_state=0))
    assert not np.array_equal(masked, mask_labels(y, 0.3, random_state=1))


def test_mask_extremes():
    y = np.array([0] * 70 + [1] * 30)
    np.testing.assert_array_equal(mask_labels(y, 1.0), y)
    np.testing.assert_array_equal(mask_labels(y, 0.0), -1)
    # A tiny fraction still keeps one labelled window per class.
    tiny = mask_labels(y, 0.001, random_state=0)
    assert ((tiny == 0).sum(), (tiny == 1).sum()) == (1, 1)


def test_mask_by_subject_keeps_or_hides_whole_subjects():
    # 10 subjects of class 0 and 5 of class 1, 4 windows each.
    groups = np.repeat(np.arange(15), 4)
    y = (groups >= 10).astype(int)
    masked = mask_labels(y, 0.4, groups=groups, random_state=0)
    kept_subjects = np.unique(groups[masked != -1])
    for g in np.unique(groups):
        assert len(np.unique(masked[groups == g] == -1)) == 1
    # round(0.4 * 10) = 4 and round(0.4 * 5) = 2 subjects.
    assert (kept_subjects < 10).sum() == 4
    assert (kept_subjects >= 10).sum() == 2


def test_mask_by_subject_covers_a_class_that_is_no_majority():
    # Every subject has 3 rest windows and 1 task window.
    groups = np.repeat(np.arange(8), 4)
    y = np.tile([0, 0, 0, 1], 8)
    for seed in range(5):
        masked = mask_labels(y, 0.1, groups=groups, random_state=seed)
        assert set(masked[masked != -1]) == {0, 1}


def test_mask_keeps_existing_minus_one_and_label_types():
    y = np.array([0, 1, -1, 1, 0])
    assert mask_labels(y, 1.0)[2] == -1
    strings = mask_labels(np.array(["ad", "hc", "ad", "hc"]), 0.0)
    assert list(strings) == ["-1"] * 4
    unsigned = mask_labels(np.array([0, 1, 1, 0], dtype=np.uint8), 0.0)
    assert unsigned.dtype == np.int64 and (unsigned == -1).all()


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_mask_rejects_a_fraction_outside_0_1(fraction):
    with pytest.raises(ValueError, match="fraction"):
        mask_labels(np.array([0, 1]), fraction)


def test_mask_rejects_groups_of_the_wrong_length():
    with pytest.raises(ValueError, match="groups has 3 entries, but y has 4"):
        mask_labels(np.array([0, 1, 0, 1]), 0.5, groups=[0, 1, 2])


# -- aggregate_by_subject -------------------------------------------------------------


def test_aggregate_by_subject_hand_computed():
    proba = [0.9, 0.6, 0.2, 0.4, 0.4]
    groups = ["a", "a", "a", "b", "b"]
    # Subject a: odds 9, 1.5, 0.25; their geometric mean is
    # (3.375) ** (1/3) = 1.5, i.e. probability 0.6.
    log_odds = aggregate_by_subject(proba, groups)
    np.testing.assert_allclose(log_odds["proba"], [0.6, 0.4])
    np.testing.assert_array_equal(log_odds["pred"], [1, 0])
    np.testing.assert_array_equal(log_odds["n_windows"], [3, 2])
    assert list(log_odds.index) == ["a", "b"]
    mean = aggregate_by_subject(proba, groups, method="mean")
    np.testing.assert_allclose(mean["proba"], [1.7 / 3, 0.4])
    majority = aggregate_by_subject(proba, groups, method="majority")
    np.testing.assert_allclose(majority["proba"], [2 / 3, 0.0])


def test_aggregate_saturated_windows_cancel():
    # Certain in both directions: the log-odds +-27.6 cancel to 0.5, a tie
    # decided as 0; the majority vote ties too.
    out = aggregate_by_subject([1.0, 0.0], [7, 7])
    np.testing.assert_allclose(out["proba"], [0.5])
    assert out["pred"].tolist() == [0]
    assert aggregate_by_subject([1.0, 0.0], [7, 7], "majority")["pred"].tolist() == [0]


def test_aggregate_rejects_bad_input():
    with pytest.raises(ValueError, match="method must be one of"):
        aggregate_by_subject([0.5], [0], method="median")
    with pytest.raises(ValueError, match=r"proba must hold probabilities in \[0, 1\]"):
        aggregate_by_subject([1.5, 0.2], [0, 0])
    with pytest.raises(ValueError, match="groups has 1 entries, but y has 2"):
        aggregate_by_subject([0.5, 0.2], [0])


# -- evaluate_per_condition -----------------------------------------------------------


class _MeanSignSpy(ClassifierMixin, BaseEstimator):
    """P(class 1) = expit(4 * mean of the window); records what fit saw."""

    seen: list = []

    def fit(self, X, y, groups=None):
        type(self).seen.append((np.asarray(y).copy(), np.asarray(groups).copy()))
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        p = 1 / (1 + np.exp(-4 * X.reshape(len(X), -1).mean(axis=1)))
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)


def _offset_windows(n_subjects=8, per_subject=6, seed=0):
    """Class 1 windows are shifted up by 1, class 0 down: separable by the
    mean. Every subject has both classes; two conditions alternate."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_subjects), per_subject)
    y = np.tile([0, 1], len(groups) // 2)
    X = rng.normal(scale=0.1, size=(len(groups), 2, 16)) + (2 * y - 1)[:, None, None]
    conditions = np.tile(["rest", "rest", "task", "task"], len(groups) // 4)
    return X, y, groups, conditions


def test_evaluate_per_condition_splits_by_subject_and_scores():
    X, y, groups, conditions = _offset_windows()
    _MeanSignSpy.seen = []
    table = evaluate_per_condition(
        _MeanSignSpy(), X, y, groups, conditions, cv=GroupKFold(4)
    )
    assert list(table["condition"]) == ["rest"] * 4 + ["task"] * 4
    assert list(table["fold"]) == [0, 1, 2, 3] * 2
    # A perfect window classifier is perfect at every level.
    for column in (
        "window_accuracy",
        "window_roc_auc",
        "subject_accuracy",
        "subject_roc_auc",
    ):
        np.testing.assert_array_equal(table[column], 1.0)
    # Every subject has both labels: one unit per subject and label.
    assert set(table["subject_unit"]) == {"subject+label"}
    np.testing.assert_array_equal(table["n_test_units"], 2 * table["n_test_subjects"])
    np.testing.assert_array_equal(table["n_test_subjects"], 2)
    np.testing.assert_array_equal(table["n_test_windows"], 6)
    # Each fit saw the other subjects of its condition only, with all labels.
    for (y_seen, groups_seen), (_, row) in zip(
        _MeanSignSpy.seen, table.iterrows(), strict=True
    ):
        in_condition = conditions == row["condition"]
        _, test = list(
            GroupKFold(4).split(X[in_condition], y[in_condition], groups[in_condition])
        )[row["fold"]]
        test_groups = set(groups[in_condition][test])
        assert not test_groups & set(groups_seen)
        assert len(set(groups_seen)) == 6
        assert (y_seen != -1).all()


def test_label_fraction_masks_whole_training_subjects_only():
    X, y, groups, _ = _offset_windows(n_subjects=10)
    _MeanSignSpy.seen = []
    table = evaluate_per_condition(
        _MeanSignSpy(),
        X,
        y,
        groups,
        cv=GroupKFold(5),
        label_fraction=0.25,
        random_state=0,
    )
    assert list(table["condition"]) == ["all"] * 5
    np.testing.assert_array_equal(table["label_fraction"], 0.25)
    for y_seen, groups_seen in _MeanSignSpy.seen:
        kept = np.unique(groups_seen[y_seen != -1])
        # 8 training subjects, all with majority label 0 (3 of 6 windows
        # each, ties to the smaller label): round(0.25 * 8) = 2 kept.
        assert len(kept) == 2
        assert (y_seen[np.isin(groups_seen, kept)] != -1).all()
    np.testing.assert_array_equal(table["n_train_labelled"], 12)
    # Test labels are never masked: the scores are still perfect.
    np.testing.assert_array_equal(table["window_accuracy"], 1.0)


def test_subject_level_label_uses_one_unit_per_subject():
    # A subject-level label: subjects 0-3 class 0, 4-7 class 1.
    X, _, groups, _ = _offset_windows()
    y = (groups >= 4).astype(int)
    X = np.abs(X) * (2 * y - 1)[:, None, None]
    table = evaluate_per_condition(_MeanSignSpy(), X, y, groups, cv=GroupKFold(2))
    assert set(table["subject_unit"]) == {"subject"}
    np.testing.assert_array_equal(table["n_test_units"], 4)
    np.testing.assert_array_equal(table["subject_accuracy"], 1.0)


def test_evaluate_rejects_non_binary_targets():
    X, y, groups, _ = _offset_windows()
    with pytest.raises(ValueError, match="needs binary y; got 3 labels"):
        evaluate_per_condition(_MeanSignSpy(), X, y % 3 + (groups % 3 == 0), groups)


def test_hmm_end_to_end_per_condition():
    X, y, groups = sine_windows(n_windows=96, seed=3)
    conditions = np.where(np.arange(96) % 2 == 0, "N2", "REM")
    table = evaluate_per_condition(
        HMMClassifier(frame_len=32, random_state=0),
        X,
        y,
        groups,
        conditions,
        cv=GroupKFold(3),
    )
    assert len(table) == 6
    assert (table["window_roc_auc"] > 0.95).all()
    assert (table["window_accuracy"] > 0.9).all()


# -- anova_summary -----------------------------------------------------------------


def test_anova_and_tukey_match_closed_form():
    scores = {"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0], "c": [7.0, 8.0, 9.0]}
    summary = anova_summary(scores)
    # Group means 2, 5, 8 around the grand mean 5: SSB = 3 * (9 + 0 + 9) = 54
    # over 2 df -> 27; SSW = 2 + 2 + 2 = 6 over 6 df -> 1; F = 27.
    assert summary.f_statistic == pytest.approx(27.0)
    assert summary.p_value == pytest.approx(f_distribution.sf(27.0, 2, 6))
    tukey = summary.tukey.set_index(["model_a", "model_b"])
    assert list(tukey.index) == [("a", "b"), ("a", "c"), ("b", "c")]
    np.testing.assert_allclose(tukey["mean_diff"], [-3.0, -6.0, -3.0])
    # q = |diff| / sqrt(MSW / n) with MSW = 1, n = 3.
    q = np.array([3.0, 6.0, 3.0]) / np.sqrt(1 / 3)
    np.testing.assert_allclose(
        tukey["p_value"], studentized_range.sf(q, 3, 6), rtol=1e-3
    )
    assert tukey["significant"].tolist() == list(tukey["p_value"] < 0.05)
    assert (tukey["ci_low"] < tukey["mean_diff"]).all()
    assert (tukey["mean_diff"] < tukey["ci_high"]).all()
    np.testing.assert_allclose(summary.models["mean"], [2.0, 5.0, 8.0])
    np.testing.assert_allclose(summary.models["sd"], 1.0)


@pytest.mark.parametrize(
    "scores, match",
    [
        ({"a": [1.0, 2.0]}, "at least two models"),
        ({"a": [1.0, 2.0], "b": [3.0]}, r"scores\['b'\] must hold at least two"),
        ({"a": [1.0, np.nan], "b": [3.0, 4.0]}, "finite"),
    ],
)
def test_anova_rejects_bad_scores(scores, match):
    with pytest.raises(ValueError, match=match):
        anova_summary(scores)


# -- plot_embedding -----------------------------------------------------------------


def test_plot_embedding_keeps_separated_classes_apart():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    X = rng.normal(size=(60, 10)) + 6.0 * y[:, None]
    y_shown = y.copy()
    y_shown[::10] = -1
    scaler = StandardScaler().fit(X)
    fig, ax = plt.subplots()
    try:
        out = plot_embedding(scaler, X, y_shown, ax=ax, random_state=0)
        assert out is ax
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels == ["0", "1", "unlabelled"]
        counts = [len(c.get_offsets()) for c in ax.collections]
        assert counts == [27, 27, 6]
        points = np.concatenate([c.get_offsets() for c in ax.collections[:2]])
        classes = np.repeat([0, 1], 27)
        # The two blobs stay apart in the map: leave-one-out 1-NN is exact.
        knn = KNeighborsClassifier(n_neighbors=2).fit(points, classes)
        neighbours = knn.kneighbors(points, return_distance=False)[:, 1]
        assert (classes[neighbours] == classes).all()
    finally:
        plt.close(fig)


def test_plot_embedding_needs_a_fitted_estimator():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        plot_embedding(StandardScaler(), np.zeros((10, 3)), np.zeros(10))


# -- real data -----------------------------------------------------------------------


@pytest.mark.slow
def test_hmm_on_eegmat_rest_vs_task(shared_data):
    from skeeg.datasets import load_eegmat

    path = shared_data / "eegmat"
    if not path.is_dir():
        pytest.skip(f"eegmat not found at {path}")
    # The seed's four channels (C3, C4, F4, O2), 2-s windows at 500 Hz.
    data = load_eegmat(
        path,
        subjects=range(6),
        channels=["EEG C3", "EEG C4", "EEG F4", "EEG O2"],
    )
    X = data.X / data.X.std()
    table = evaluate_per_condition(
        HMMClassifier(frame_s=0.25, sfreq=data.sfreq, n_iter=50, random_state=0),
        X,
        data.y,
        data.groups,
        cv=GroupKFold(3),
    )
    assert len(table) == 3
    assert set(table["subject_unit"]) == {"subject+label"}
    np.testing.assert_array_equal(table["n_test_subjects"], 2)
    for column in (
        "window_accuracy",
        "window_roc_auc",
        "subject_accuracy",
        "subject_roc_auc",
    ):
        assert table[column].between(0, 1).all(), column
    print(table.to_string())
