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
    average_precision_score,
    fbeta_score,
    make_scorer,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.utils import check_consistent_length, column_or_1d
from sklearn.utils.multiclass import type_of_target

__all__ = ["window_scores", "scores_table", "fbeta_scorer", "f2_scorer"]


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
