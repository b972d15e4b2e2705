"""Grouped cross-validation that keeps the out-of-fold scores and fit times."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import GroupKFold, cross_validate
from sklearn.utils import Bunch


def grouped_oof_proba(
    estimator,
    X,
    y,
    groups,
    *,
    n_splits: int = 5,
    fit_groups_param: str | None = "groups",
) -> tuple[np.ndarray, float]:
    """Out-of-fold positive-class probabilities under ``GroupKFold``.

    :func:`grouped_oof_predictions` without the predicted labels.
    """
    oof = grouped_oof_predictions(
        estimator,
        X,
        y,
        groups,
        n_splits=n_splits,
        fit_groups_param=fit_groups_param,
    )
    return oof.proba, oof.fit_seconds


def grouped_oof_predictions(
    estimator,
    X,
    y,
    groups,
    *,
    n_splits: int = 5,
    fit_groups_param: str | None = "groups",
) -> Bunch:
    """Out-of-fold probabilities and predicted labels under ``GroupKFold``.

    Parameters
    ----------
    estimator : classifier or Pipeline with ``predict_proba``
    X : array-like of shape (n_windows, ...)
    y : array-like of shape (n_windows,)
        Binary labels; the positive class is the larger one.
    groups : array-like of shape (n_windows,)
        Subject of each window: no subject is in a training and a test fold.
    n_splits : int, default=5
    fit_groups_param : str or None, default="groups"
        Name under which ``groups`` also reaches ``fit`` (e.g. "sc__groups"
        inside a Pipeline), so an internal validation split is group-aware
        too; None passes nothing.

    Returns
    -------
    oof : sklearn.utils.Bunch
        proba : ndarray of shape (n_windows,)
            Probability of the positive class, each window scored by the
            model that did not see its subject.
        pred : ndarray of shape (n_windows,)
            That model's ``predict`` (its own threshold, e.g. a tuned one).
        fit_seconds : float
            Total fit time over the folds.
    """
    groups = np.asarray(groups)
    params = {fit_groups_param: groups} if fit_groups_param else {}
    result = cross_validate(
        estimator,
        X,
        y,
        groups=groups,
        cv=GroupKFold(n_splits),
        params=params,
        return_estimator=True,
        return_indices=True,
        scoring=None,
    )
    proba = np.full(len(y), np.nan)
    pred = np.empty(len(y), dtype=np.asarray(y).dtype)
    for fitted, test in zip(
        result["estimator"], result["indices"]["test"], strict=True
    ):
        proba[test] = fitted.predict_proba(X[test])[:, 1]
        pred[test] = fitted.predict(X[test])
    return Bunch(proba=proba, pred=pred, fit_seconds=float(np.sum(result["fit_time"])))
