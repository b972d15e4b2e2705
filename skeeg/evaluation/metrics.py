"""Window-level metrics and scorers for imbalanced EEG detection.

Every number comes from :mod:`sklearn.metrics`; this module only fixes the
conventions (positive label, decision threshold, ``zero_division=0``) so that
demos, benchmarks and grid searches report the same quantities.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    fbeta_score,
    make_scorer,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.utils import check_consistent_length, column_or_1d
from sklearn.utils.multiclass import type_of_target

__all__ = [
    "window_scores",
    "scores_table",
    "fbeta_scorer",
    "f2_scorer",
    "threshold_at_sensitivity",
    "specificity_score",
    "specificity_scorer",
    "false_positives_per_stage",
    "sleep_scores",
    "kappa_scorer",
]


def window_scores(
    y_true: np.ndarray | Sequence,
    y_score: np.ndarray | Sequence,
    *,
    threshold: float = 0.5,
    pos_label=1,
) -> dict:
    """Threshold and ranking metrics of a binary window classifier.

    Parameters
    ----------
    y_true : array-like of shape (n_windows,)
        True labels, binary: ``pos_label`` and one other value.
    y_score : array-like of shape (n_windows,)
        Predicted probability of the positive class, in [0, 1].
    threshold : float, default=0.5
        A window is predicted positive when ``y_score >= threshold``.
    pos_label : int, float, bool or str, default=1
        The positive (e.g. IED) label in ``y_true``.

    Returns
    -------
    scores : dict
        - ``"f1"``, ``"f2"``: F-beta with beta 1 and 2. F2 weights recall
          higher than precision (the standard definition; the iEDeaL paper's
          text says the opposite, a known quirk).
        - ``"precision"``, ``"recall"`` (sensitivity), ``"specificity"``
          (recall of the negative class).
        - ``"auprc"``: average precision; ``"auroc"``: area under the ROC
          curve. Both are threshold-free.
        - ``"prevalence"``: fraction of positive windows; ``"n_windows"``.

        Ratios with an empty denominator (no window predicted positive, no
        positive window, ...) are 0, without warnings. ``"auroc"`` is NaN
        when ``y_true`` holds one class, ``"auprc"`` when it holds no
        positive: they are undefined there.

    Raises
    ------
    ValueError
        If the lengths differ, ``y_true`` is not binary or lacks
        ``pos_label`` while holding two labels, or ``y_score`` or
        ``threshold`` lies outside [0, 1].
    """
    y_true = column_or_1d(y_true)
    y_score = column_or_1d(y_score)
    check_consistent_length(y_true, y_score)
    labels = np.unique(y_true)
    if type_of_target(y_true) != "binary":
        raise ValueError(f"y_true must be binary; got labels {labels.tolist()}.")
    if len(labels) == 2 and pos_label not in labels:
        raise ValueError(
            f"pos_label={pos_label!r} is not among the labels {labels.tolist()}."
        )
    y_score = np.asarray(y_score, dtype=np.float64)
    if not np.all((y_score >= 0) & (y_score <= 1)):
        raise ValueError(
            "y_score must hold probabilities in [0, 1]; got values in "
            f"[{np.nanmin(y_score)}, {np.nanmax(y_score)}]"
            f"{' and NaN' if np.isnan(y_score).any() else ''}."
        )
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}.")

    # Recode to 1/0 so the negative label need not be known (it may be absent).
    y_true = (y_true == pos_label).astype(int)
    y_pred = (y_score >= threshold).astype(int)
    n_pos = int(y_true.sum())
    n_windows = len(y_true)
    counts = {"zero_division": 0}
    return {
        "f1": fbeta_score(y_true, y_pred, beta=1, **counts),
        "f2": fbeta_score(y_true, y_pred, beta=2, **counts),
        "precision": precision_score(y_true, y_pred, **counts),
        "recall": recall_score(y_true, y_pred, **counts),
        "specificity": recall_score(y_true, y_pred, pos_label=0, **counts),
        "auprc": (average_precision_score(y_true, y_score) if n_pos > 0 else math.nan),
        "auroc": (
            roc_auc_score(y_true, y_score) if 0 < n_pos < n_windows else math.nan
        ),
        "prevalence": n_pos / n_windows,
        "n_windows": n_windows,
    }


def _format_cell(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        return f"{float(value):.3f}"
    return "" if value is None else str(value)


def scores_table(rows: list[dict], columns: Sequence[str] | None = None) -> str:
    """Format score dicts as a fixed-width plain-text table.

    Parameters
    ----------
    rows : list of dict
        One table row per dict, e.g. ``{"model": "SC", **window_scores(...)}``.
    columns : sequence of str, optional
        Keys to show, in order. Default: every key, in order of first
        appearance across ``rows``.

    Returns
    -------
    table : str
        A header line, a rule, and one line per row; no trailing newline.
        Floats have 3 decimals, numbers are right-aligned, text left-aligned,
        missing keys are blank.
    """
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[_format_cell(row.get(col)) for col in columns] for row in rows]
    widths = [
        max([len(str(col))] + [len(line[j]) for line in cells])
        for j, col in enumerate(columns)
    ]
    numeric = [
        all(isinstance(row.get(col), Real) or row.get(col) is None for row in rows)
        for col in columns
    ]

    def fmt(texts: list[str]) -> str:
        return "  ".join(
            text.rjust(w) if num else text.ljust(w)
            for text, w, num in zip(texts, widths, numeric, strict=True)
        ).rstrip()

    lines = [fmt([str(col) for col in columns]), "  ".join("-" * w for w in widths)]
    lines.extend(fmt(line) for line in cells)
    return "\n".join(lines)


def fbeta_scorer(beta: float, *, pos_label=1):
    """An F-beta scorer for :class:`~sklearn.model_selection.GridSearchCV`.

    Parameters
    ----------
    beta : float
        Weight of recall relative to precision (> 0); 2 favours recall.
    pos_label : int, float, bool or str, default=1
        The positive label.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)``, from :func:`sklearn.metrics.make_scorer`
        over :func:`~sklearn.metrics.fbeta_score` with ``zero_division=0``,
        on the estimator's ``predict``.
    """
    if not isinstance(beta, Real) or not beta > 0:
        raise ValueError(f"beta must be a number > 0, got {beta!r}.")
    return make_scorer(fbeta_score, beta=beta, pos_label=pos_label, zero_division=0)


f2_scorer = fbeta_scorer(2)
"""F2 scorer (recall weighted higher than precision), positive label 1."""


def threshold_at_sensitivity(
    y_true: np.ndarray | Sequence,
    y_score: np.ndarray | Sequence,
    sensitivity: float,
    *,
    pos_label=1,
) -> float:
    """The highest threshold whose sensitivity reaches ``sensitivity``.

    An operating point "at a fixed sensitivity" (e.g. the Siamese-ES
    abstract's 82.11 %): pass the result to :func:`window_scores` as
    ``threshold`` for the specificity and precision there.

    Parameters
    ----------
    y_true : array-like of shape (n_windows,)
        Binary labels.
    y_score : array-like of shape (n_windows,)
        Scores of ``pos_label``; a window is positive when ``y_score >=
        threshold``.
    sensitivity : float in (0, 1]
        Target recall of the positive class.
    pos_label : int, float, bool or str, default=1

    Returns
    -------
    threshold : float
        A score of ``y_score`` (from :func:`sklearn.metrics.roc_curve`); the
        smallest recall above or at the target, hence the highest
        specificity among such thresholds.

    Raises
    ------
    ValueError
        If ``sensitivity`` is outside (0, 1] or ``y_true`` has no positive.
    """
    if isinstance(sensitivity, bool) or not isinstance(sensitivity, Real):
        raise ValueError(f"sensitivity must be a float in (0, 1], got {sensitivity!r}.")
    if not 0 < sensitivity <= 1:
        raise ValueError(f"sensitivity must be a float in (0, 1], got {sensitivity!r}.")
    y_true = column_or_1d(y_true) == pos_label
    if not y_true.any():
        raise ValueError(f"y_true holds no positive window (pos_label={pos_label!r}).")
    _, tpr, thresholds = roc_curve(y_true, column_or_1d(y_score))
    # thresholds descend and tpr ascends; the first reaching the target is
    # the highest such threshold.
    return float(thresholds[np.flatnonzero(tpr >= sensitivity)[0]])


def specificity_score(y_true, y_pred, *, pos_label=1) -> float:
    """Recall of the windows whose label is not ``pos_label`` (0 when none).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_windows,)
        Binary labels and predictions.
    pos_label : int, float, bool or str, default=1

    Returns
    -------
    specificity : float
    """
    negative = column_or_1d(y_true) != pos_label
    y_pred = column_or_1d(y_pred)
    check_consistent_length(negative, y_pred)
    if not negative.any():
        return 0.0
    return float(np.mean(y_pred[negative] != pos_label))


specificity_scorer = make_scorer(specificity_score)
"""Specificity scorer on ``predict`` (the estimator's threshold), positive label 1.
Sensitivity and precision at the same threshold are sklearn's "recall" and
"precision" scorers."""


def false_positives_per_stage(
    y_true, y_pred, sleep_stage, *, pos_label=1
) -> dict[object, dict]:
    """IED false positives in each sleep stage.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_windows,)
        IED labels and predictions.
    sleep_stage : array-like of shape (n_windows,)
        Stage of each window (any labels, unknown stages included as their
        own value).
    pos_label : int, float, bool or str, default=1
        The IED label.

    Returns
    -------
    per_stage : dict
        For each stage (in sorted order of ``np.unique``): a dict with
        ``"false_positives"`` (negative windows predicted positive),
        ``"negatives"`` (negative windows) and ``"false_positive_rate"``
        (their ratio; 0 without negatives).
    """
    y_true = column_or_1d(y_true)
    y_pred = column_or_1d(y_pred)
    sleep_stage = column_or_1d(sleep_stage)
    check_consistent_length(y_true, y_pred, sleep_stage)
    false_positive = (y_true != pos_label) & (y_pred == pos_label)
    result = {}
    for stage in np.unique(sleep_stage):
        here = sleep_stage == stage
        negatives = int(np.sum(here & (y_true != pos_label)))
        fp = int(np.sum(false_positive & here))
        result[stage] = {
            "false_positives": fp,
            "negatives": negatives,
            "false_positive_rate": fp / negatives if negatives else 0.0,
        }
    return result


def sleep_scores(y_true, y_pred, *, labels: Sequence | None = None) -> dict:
    """Agreement of predicted sleep stages with a hypnogram.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_epochs,)
        Stages, any labels.
    labels : sequence, optional
        Stages in the order of the confusion matrix and of ``"f1_per_stage"``;
        default: the sorted union of both.

    Returns
    -------
    scores : dict
        ``"accuracy"``; ``"kappa"`` (Cohen's kappa); ``"macro_f1"`` over
        ``labels``; ``"f1_per_stage"`` (dict stage -> F1, 0 where a stage is
        neither true nor predicted); ``"confusion_matrix"`` (ndarray of shape
        (n_labels, n_labels), rows true, columns predicted); ``"labels"``
        (ndarray); ``"n_epochs"``.
    """
    y_true = column_or_1d(y_true)
    y_pred = column_or_1d(y_pred)
    check_consistent_length(y_true, y_pred)
    labels = np.unique(np.r_[y_true, y_pred]) if labels is None else np.asarray(labels)
    f1 = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {
        "accuracy": accuracy_score(y_true, y_pred),
        "kappa": cohen_kappa_score(y_true, y_pred),
        "macro_f1": float(np.mean(f1)),
        "f1_per_stage": dict(zip(labels.tolist(), f1.tolist(), strict=True)),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels),
        "labels": labels,
        "n_epochs": len(y_true),
    }


kappa_scorer = make_scorer(cohen_kappa_score)
"""Cohen's kappa scorer on ``predict``, e.g. for a :class:`skeeg.SleepStager`
in :class:`~sklearn.model_selection.GridSearchCV`."""
