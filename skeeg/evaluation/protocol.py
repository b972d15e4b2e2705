"""The seed study's evaluation protocol, with subject-level decisions added.

- :func:`mask_labels`: hide all but a fraction of the training labels (``-1``),
  by window or by whole subject, for the labelled-fraction sweeps.
- :func:`aggregate_by_subject`: one probability and one decision per subject
  from its windows' probabilities (mean log-odds, mean, majority).
- :func:`evaluate_per_condition`: any classifier, cross-validated by subject
  separately within each condition (sleep stage, rest/task), scored at window
  and subject level, as a tidy table.
- :func:`anova_summary`: one-way ANOVA and Tukey's HSD across models' fold
  scores.
"""

from __future__ import annotations

import time
from numbers import Real

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from scipy.stats import f_oneway, tukey_hsd
from sklearn.base import clone
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.utils import Bunch, check_random_state, check_scalar, column_or_1d

from skeeg.estimators.eeg_classifier import UNLABELLED, is_unlabelled

#: Subject-level pooling methods of :func:`aggregate_by_subject`.
AGGREGATION_METHODS = ("mean_log_odds", "mean", "majority")

#: Window log-odds are clipped to +-log(1e12) (probabilities 1e-12 from 0 or
#: 1), so that a saturated window (probability exactly 0 or 1, as an HMM's
#: often are) counts as 27.6 nats instead of infinity.
_MAX_LOG_ODDS = np.log(1e12)


def _check_groups(groups, n: int, name: str = "groups") -> np.ndarray:
    groups = column_or_1d(groups)
    if len(groups) != n:
        raise ValueError(f"{name} has {len(groups)} entries, but y has {n}.")
    return groups


def mask_labels(
    y,
    fraction: float,
    groups=None,
    random_state=None,
) -> np.ndarray:
    """A copy of ``y`` with all but a fraction of the labelled units set to -1.

    A unit is a window (``groups=None``) or a subject (all its windows are
    kept or hidden together). Units are drawn per class, so the kept
    fraction holds in each class: class ``c`` with ``n_c`` units keeps
    ``max(1, round(fraction * n_c))`` of them when ``fraction > 0`` (so every
    class keeps at least one labelled unit), none when ``fraction == 0``. A
    subject's class is its most frequent label (ties: the smallest); a class
    that is no subject's majority (e.g. the task windows when every subject
    has rest and task windows) is covered by any kept subject, or one more
    subject holding it is kept.

    Parameters
    ----------
    y : array-like of shape (n_windows,)
        Labels; windows already labelled -1 stay unlabelled and count for no
        class.
    fraction : float in [0, 1]
        Fraction of each class's units that keep their labels.
    groups : array-like of shape (n_windows,) or None, default=None
        Subject of each window; None masks window by window.
    random_state : int, RandomState or None, default=None
        Seeds the draw.

    Returns
    -------
    y_masked : ndarray of shape (n_windows,)
        ``y`` with -1 at the hidden windows: integers and floats keep their
        dtype (unsigned and boolean labels become int64), string labels get
        the string ``"-1"`` (what the semi-supervised estimators read as
        unlabelled).

    Raises
    ------
    ValueError
        If ``fraction`` is outside [0, 1] or ``groups`` has the wrong length.
    """
    y = column_or_1d(y)
    check_scalar(fraction, "fraction", Real, min_val=0, max_val=1)
    rng = check_random_state(random_state)
    labelled = ~is_unlabelled(y)
    units = np.arange(len(y)) if groups is None else _check_groups(groups, len(y))

    keep_units: set = set()
    if fraction > 0:
        unit_ids, unit_of_window = np.unique(units, return_inverse=True)
        classes, class_of_window = np.unique(y[labelled], return_inverse=True)
        # counts[u, c]: windows of class c in unit u.
        counts = np.zeros((len(unit_ids), len(classes)), dtype=int)
        np.add.at(counts, (unit_of_window[labelled], class_of_window), 1)
        has_labels = counts.sum(axis=1) > 0
        majority = counts.argmax(axis=1)
        for c in range(len(classes)):
            stratum = np.flatnonzero(has_labels & (majority == c))
            if len(stratum):
                n_keep = max(1, round(fraction * len(stratum)))
                keep_units.update(rng.choice(stratum, n_keep, replace=False))
        for c in range(len(classes)):
            if not any(counts[u, c] for u in keep_units):
                keep_units.add(rng.choice(np.flatnonzero(counts[:, c])))
        hidden = ~np.isin(unit_of_window, list(keep_units))
    else:
        hidden = np.ones(len(y), dtype=bool)

    hidden |= ~labelled
    if y.dtype.kind in "iufb":
        if y.dtype.kind in "ub":
            y = y.astype(np.int64)
        return np.where(hidden, UNLABELLED, y)
    return np.where(hidden, str(UNLABELLED), y.astype(str))


def aggregate_by_subject(
    proba,
    groups,
    method: str = "mean_log_odds",
) -> pd.DataFrame:
    """Pool window probabilities into one probability and decision per subject.

    Parameters
    ----------
    proba : array-like of shape (n_windows,)
        Probability of the positive class for each window, in [0, 1].
    groups : array-like of shape (n_windows,)
        Subject (or any unit) of each window.
    method : {"mean_log_odds", "mean", "majority"}, default="mean_log_odds"
        - "mean_log_odds": ``expit(mean(logit(p)))``, the windows' evidence
          averaged on the log-odds scale (each ``logit(p)`` clipped to
          ``+-log(1e12)``); a confident window weighs more than under
          "mean".
        - "mean": ``mean(p)``.
        - "majority": the fraction of windows with ``p > 0.5``.

    Returns
    -------
    subjects : pandas.DataFrame
        Indexed by subject (sorted), columns ``proba`` (the pooled
        probability), ``pred`` (1 where ``proba > 0.5``, else 0; a tied
        majority vote is 0) and ``n_windows``.

    Raises
    ------
    ValueError
        On an unknown ``method``, lengths that differ or ``proba`` outside
        [0, 1].
    """
    if method not in AGGREGATION_METHODS:
        raise ValueError(
            f"method must be one of {list(AGGREGATION_METHODS)}, got {method!r}."
        )
    proba = column_or_1d(proba).astype(np.float64)
    groups = _check_groups(groups, len(proba))
    if not np.all((proba >= 0) & (proba <= 1)):
        raise ValueError(
            "proba must hold probabilities in [0, 1]; got values in "
            f"[{np.nanmin(proba)}, {np.nanmax(proba)}]"
            f"{' and NaN' if np.isnan(proba).any() else ''}."
        )
    if method == "mean_log_odds":
        values = np.clip(logit(proba), -_MAX_LOG_ODDS, _MAX_LOG_ODDS)
    elif method == "majority":
        values = (proba > 0.5).astype(np.float64)
    else:
        values = proba
    pooled = pd.Series(values).groupby(groups).agg(["mean", "size"])
    subject_proba = pooled["mean"].to_numpy()
    if method == "mean_log_odds":
        subject_proba = expit(subject_proba)
    return pd.DataFrame(
        {
            "proba": subject_proba,
            "pred": (subject_proba > 0.5).astype(int),
            "n_windows": pooled["size"].to_numpy(),
        },
        index=pooled.index.rename("subject"),
    )


def _roc_auc_or_nan(y_true: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC, NaN when ``y_true`` holds a single class (undefined)."""
    if len(np.unique(y_true)) < 2:
        return float("nan")
    return float(roc_auc_score(y_true, score))


def _window_score(estimator, X: np.ndarray, positive_column: int) -> np.ndarray:
    """Ranking score of the positive class: ``decision_function`` where the
    estimator has one (it does not saturate), else ``predict_proba``, as
    scikit-learn's ROC AUC scorer does."""
    if hasattr(estimator, "decision_function"):
        score = estimator.decision_function(X)
        return score if positive_column == 1 else -score
    return estimator.predict_proba(X)[:, positive_column]


def evaluate_per_condition(
    estimator,
    X,
    y,
    groups,
    conditions=None,
    *,
    cv=None,
    label_fraction: float | None = None,
    mask_by: str = "subject",
    subject_method: str = "mean_log_odds",
    fit_groups_param: str | None = "groups",
    random_state=None,
) -> pd.DataFrame:
    """Cross-validate a binary classifier by subject, separately per condition.

    Within each condition (e.g. sleep stage, or rest/task) the windows of
    that condition are split by ``cv`` with ``groups`` (no subject on both
    sides); a clone of ``estimator`` is fitted on each training fold and
    scored on its test fold, at window level and at subject level
    (:func:`aggregate_by_subject` on the positive class's probability).
    With ``label_fraction``, the training labels of each fold, and only
    those, are masked with :func:`mask_labels` (test labels never are): the
    estimator must accept ``-1`` as unlabelled.

    A subject whose test windows carry both labels (a within-subject label,
    such as rest vs task) is split into one unit per label, so that each
    subject-level unit has one true label; ``subject_unit`` says which
    applied.

    Parameters
    ----------
    estimator : classifier
        With ``fit``, ``predict`` and ``predict_proba`` (and optionally
        ``decision_function``); cloned for each fold.
    X : array-like of shape (n_windows, ...)
        Windows, e.g. (n_windows, n_channels, n_times).
    y : array-like of shape (n_windows,)
        Binary labels; the positive class is the larger label.
    groups : array-like of shape (n_windows,)
        Subject of each window.
    conditions : array-like of shape (n_windows,) or None, default=None
        Condition of each window; None: one condition, ``"all"``.
    cv : cross-validation splitter or None, default=None
        A splitter that takes ``groups`` (``split(X, y, groups)``); None:
        ``GroupKFold(5)``.
    label_fraction : float in [0, 1] or None, default=None
        Fraction of training units that keep their labels; None keeps all.
    mask_by : {"subject", "window"}, default="subject"
        Unit of the masking.
    subject_method : {"mean_log_odds", "mean", "majority"}, default="mean_log_odds"
        Pooling of window probabilities per subject.
    fit_groups_param : str or None, default="groups"
        Name under which the training ``groups`` reach ``fit`` (e.g.
        "clf__groups" in a Pipeline); None passes nothing.
    random_state : int, RandomState or None, default=None
        Seeds the label masks (the estimator keeps its own
        ``random_state``).

    Returns
    -------
    scores : pandas.DataFrame
        One row per condition and fold: ``condition``, ``fold``,
        ``label_fraction``, ``n_train_windows``, ``n_train_labelled``,
        ``n_test_windows``, ``n_test_subjects``, ``window_accuracy``,
        ``window_roc_auc``, ``subject_unit`` ("subject" or "subject+label"),
        ``n_test_units``, ``subject_accuracy``, ``subject_roc_auc``,
        ``fit_seconds``. ROC AUCs are NaN where the test fold holds one
        class.

    Raises
    ------
    ValueError
        If ``y`` is not binary, lengths differ, or ``mask_by`` /
        ``subject_method`` / ``label_fraction`` are invalid.
    """
    X = np.asarray(X)
    y = column_or_1d(y)
    groups = _check_groups(groups, len(y))
    conditions = (
        np.full(len(y), "all", dtype=object)
        if conditions is None
        else _check_groups(conditions, len(y), "conditions")
    )
    classes = np.unique(y)
    if len(classes) != 2:
        raise ValueError(
            f"evaluate_per_condition needs binary y; got {len(classes)} labels "
            f"{classes.tolist()}."
        )
    if mask_by not in ("subject", "window"):
        raise ValueError(f"mask_by must be 'subject' or 'window', got {mask_by!r}.")
    if subject_method not in AGGREGATION_METHODS:
        raise ValueError(
            f"subject_method must be one of {list(AGGREGATION_METHODS)}, got "
            f"{subject_method!r}."
        )
    if label_fraction is not None:
        check_scalar(label_fraction, "label_fraction", Real, min_val=0, max_val=1)
    cv = GroupKFold(5) if cv is None else cv
    rng = check_random_state(random_state)
    positive = classes[1]

    rows = []
    for condition in pd.unique(conditions):
        in_condition = np.flatnonzero(conditions == condition)
        Xc, yc, gc = X[in_condition], y[in_condition], groups[in_condition]
        for fold, (train, test) in enumerate(cv.split(Xc, yc, gc)):
            y_train = yc[train]
            if label_fraction is not None:
                y_train = mask_labels(
                    y_train,
                    label_fraction,
                    groups=gc[train] if mask_by == "subject" else None,
                    random_state=rng,
                )
            params = {fit_groups_param: gc[train]} if fit_groups_param else {}
            model = clone(estimator)
            start = time.perf_counter()
            model.fit(Xc[train], y_train, **params)
            fit_seconds = time.perf_counter() - start

            column = list(model.classes_).index(positive)
            y_test, g_test = yc[test], gc[test]
            proba = model.predict_proba(Xc[test])[:, column]
            mixed = pd.Series(y_test).groupby(g_test).nunique().max() > 1
            units = (
                np.array(
                    [f"{g}|{label}" for g, label in zip(g_test, y_test, strict=True)]
                )
                if mixed
                else g_test
            )
            subjects = aggregate_by_subject(proba, units, method=subject_method)
            truth = (
                pd.Series(y_test == positive).groupby(units).first()[subjects.index]
            ).to_numpy(dtype=int)
            rows.append(
                {
                    "condition": condition,
                    "fold": fold,
                    "label_fraction": (
                        1.0 if label_fraction is None else float(label_fraction)
                    ),
                    "n_train_windows": len(train),
                    "n_train_labelled": int((~is_unlabelled(y_train)).sum()),
                    "n_test_windows": len(test),
                    "n_test_subjects": len(np.unique(g_test)),
                    "window_accuracy": accuracy_score(y_test, model.predict(Xc[test])),
                    "window_roc_auc": _roc_auc_or_nan(
                        y_test == positive, _window_score(model, Xc[test], column)
                    ),
                    "subject_unit": "subject+label" if mixed else "subject",
                    "n_test_units": len(subjects),
                    "subject_accuracy": accuracy_score(truth, subjects["pred"]),
                    "subject_roc_auc": _roc_auc_or_nan(truth, subjects["proba"]),
                    "fit_seconds": fit_seconds,
                }
            )
    return pd.DataFrame(rows)


def anova_summary(scores: dict, *, alpha: float = 0.05) -> Bunch:
    """One-way ANOVA and Tukey's HSD across models' fold scores.

    Parameters
    ----------
    scores : dict of str to array-like of shape (n_folds,)
        Each model's scores over folds (and seeds), e.g. window ROC AUC.
        At least two models with at least two scores each.
    alpha : float in (0, 1), default=0.05
        Significance level of the Tukey pairs and of their confidence
        intervals (level ``1 - alpha``).

    Returns
    -------
    summary : sklearn.utils.Bunch
        models : pandas.DataFrame
            One row per model: ``model``, ``mean``, ``sd`` (``ddof=1``),
            ``n``.
        f_statistic, p_value : float
            :func:`scipy.stats.f_oneway` over the models.
        tukey : pandas.DataFrame
            :func:`scipy.stats.tukey_hsd`, one row per pair ``model_a`` <
            ``model_b`` (in the order given): ``mean_diff`` (a - b),
            ``p_value``, ``ci_low``, ``ci_high``, ``significant``
            (``p_value < alpha``).

    Raises
    ------
    ValueError
        With fewer than two models, a model with fewer than two scores or
        non-finite scores.
    """
    check_scalar(
        alpha, "alpha", Real, min_val=0, max_val=1, include_boundaries="neither"
    )
    if not isinstance(scores, dict) or len(scores) < 2:
        raise ValueError(
            "scores must be a dict of at least two models' fold scores; got "
            f"{type(scores).__name__} with {len(scores)} entr(y/ies)."
        )
    names = list(scores)
    samples = [np.asarray(scores[name], dtype=np.float64).ravel() for name in names]
    for name, sample in zip(names, samples, strict=True):
        if len(sample) < 2 or not np.all(np.isfinite(sample)):
            raise ValueError(
                f"scores[{name!r}] must hold at least two finite scores; got "
                f"{sample.tolist()}."
            )
    anova = f_oneway(*samples)
    tukey = tukey_hsd(*samples)
    interval = tukey.confidence_interval(confidence_level=1 - alpha)
    pairs = [
        {
            "model_a": names[i],
            "model_b": names[j],
            "mean_diff": float(tukey.statistic[i, j]),
            "p_value": float(tukey.pvalue[i, j]),
            "ci_low": float(interval.low[i, j]),
            "ci_high": float(interval.high[i, j]),
            "significant": bool(tukey.pvalue[i, j] < alpha),
        }
        for i in range(len(names))
        for j in range(i + 1, len(names))
    ]
    models = pd.DataFrame(
        {
            "model": names,
            "mean": [s.mean() for s in samples],
            "sd": [s.std(ddof=1) for s in samples],
            "n": [len(s) for s in samples],
        }
    )
    return Bunch(
        models=models,
        f_statistic=float(anova.statistic),
        p_value=float(anova.pvalue),
        tukey=pd.DataFrame(pairs),
    )
