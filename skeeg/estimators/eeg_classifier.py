"""The torch-free layer of every skeeg classifier.

:class:`EEGClassifierBase` holds what every EEG classifier needs whatever its
model: input validation of windows, label encoding with an explicit policy for
unlabelled windows (``-1``, scikit-learn's semi-supervised convention), group
and per-window side-input checks, the decision threshold and the tags. A
classical estimator (e.g. an HMM classifier) subclasses it as it is; the deep
base (:mod:`skeeg.estimators.deep_classifier`) adds the torch and skorch
machinery on top.

Importing this module imports neither torch nor skorch.
"""

from __future__ import annotations

from numbers import Real
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import precision_recall_curve
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from skeeg._validation import is_lazy_windows, validate_eeg, validate_lazy_eeg

#: Label of an unlabelled window, in estimators that accept unlabelled windows.
UNLABELLED = -1


def is_unlabelled(y: np.ndarray) -> np.ndarray:
    """Boolean mask of the windows labelled ``-1`` (int, float or ``"-1"``).

    Parameters
    ----------
    y : ndarray of shape (n_windows,)

    Returns
    -------
    mask : ndarray of bool, shape (n_windows,)
    """
    if y.dtype.kind in "iuf":
        return y == UNLABELLED
    return np.array([str(v) == str(UNLABELLED) for v in y], dtype=bool)


class EEGClassifierBase(ClassifierMixin, BaseEstimator):
    """Base of the skeeg classifiers of EEG windows (not to be used directly).

    Subclasses call :meth:`_validate_fit_data` at the start of ``fit`` and
    :meth:`_validate_predict_X` at the start of every prediction method, and
    implement ``predict_proba``; :meth:`predict` then applies ``threshold``.

    Class attributes
    ----------------
    _accepts_unlabelled : bool
        True in semi-supervised estimators: ``y == -1`` marks an unlabelled
        window, ``classes_`` are the other labels, every class needs at least
        one labelled window. False: ``-1`` is an ordinary class.
    _accepts_lazy : bool
        True where ``fit`` and the prediction methods read a
        :class:`~skeeg.datasets.LazyWindows` batch by batch (the deep
        classifiers): the validation methods then return it as it is, with
        ``y`` and ``groups`` taken from it when not given. False: a
        ``TypeError`` says to pass ``np.asarray(X)``.

    Notes
    -----
    A subclass with a ``threshold`` parameter (a float in (0, 1) or "auto")
    sets ``threshold_`` in ``fit``; binary predictions are
    ``classes_[1]`` where ``predict_proba(X)[:, 1] > threshold_``.
    """

    _accepts_unlabelled: ClassVar[bool] = False
    _accepts_lazy: ClassVar[bool] = False

    # -- fit-time checks --------------------------------------------------
    def _validate_fit_data(
        self, X, y, groups=None, *, dtype=np.float64, min_times: int = 1, **side
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict]:
        """Validate the inputs of ``fit``; set ``classes_`` and the shape attributes.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_channels, n_times) or (n_windows, n_times)
            Or a :class:`~skeeg.datasets.LazyWindows` where ``_accepts_lazy``.
        y : array-like of shape (n_windows,) or None
            None with a LazyWindows: its ``y``.
        groups : array-like of shape (n_windows,) or None
            None with a LazyWindows: its ``groups``.
        dtype : numpy dtype
            Dtype of the returned windows.
        min_times : int
            Shortest window the estimator takes, in samples.
        **side : array-like of shape (n_windows, ...) or None
            Per-window fit inputs (e.g. ``sleep_stage``); None entries are kept
            as None.

        Returns
        -------
        X3 : ndarray of shape (n_windows, n_channels, n_times) or LazyWindows
            A LazyWindows is returned as it is (nothing is read).
        y_enc : ndarray of int64, shape (n_windows,)
            Class indices into ``classes_``; ``-1`` for unlabelled windows.
        groups : ndarray of shape (n_windows,) or None
        side : dict of ndarray
        """
        if self._lazy(X):
            validate_lazy_eeg(self, X, reset=True, min_times=min_times)
            y = fit_targets(X, y)
            groups = X.groups if groups is None else groups
        else:
            X, _ = validate_eeg(self, X, reset=True, dtype=dtype, min_times=min_times)
        y_enc = self._encode_labels(y, len(X))
        groups = self._check_per_window(groups, "groups", len(X))
        side = {k: self._check_per_window(v, k, len(X)) for k, v in side.items()}
        return X, y_enc, groups, side

    def _encode_labels(self, y, n_windows: int) -> np.ndarray:
        name = type(self).__name__
        if y is None:
            raise ValueError(
                f"{name} requires y to be passed, but the target y is None."
            )
        y = column_or_1d(y, warn=True)
        if len(y) != n_windows:
            raise ValueError(f"y has {len(y)} entries, but X has {n_windows} windows.")
        labelled = (
            ~is_unlabelled(y)
            if self._accepts_unlabelled
            else np.ones_like(y, dtype=bool)
        )
        # The labelled windows only: string classes with an int -1 among them
        # (scikit-learn's semi-supervised convention) are one label type.
        check_classification_targets(y[labelled])
        encoder = LabelEncoder().fit(y[labelled])
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            among = " among its labelled windows" if self._accepts_unlabelled else ""
            raise ValueError(
                f"y has {len(self.classes_)} class(es){among} "
                f"{list(self.classes_)}, but {name} needs at least 2 classes"
                + (
                    " with at least one labelled window each (-1 marks an "
                    "unlabelled window)."
                    if self._accepts_unlabelled
                    else "."
                )
            )
        y_enc = np.full(len(y), UNLABELLED, dtype=np.int64)
        y_enc[labelled] = encoder.transform(y[labelled])
        return y_enc

    @staticmethod
    def _check_per_window(values, name: str, n_windows: int):
        """``values`` as an array with one entry per window, or None."""
        if values is None:
            return None
        values = np.asarray(values)
        if values.ndim == 0 or len(values) != n_windows:
            got = "a scalar" if values.ndim == 0 else f"{len(values)} entries"
            raise ValueError(
                f"{name} has {got}, but X has {n_windows} windows; pass one "
                f"entry per window (behind a resampling step, {name} cannot "
                "follow the resampled windows)."
            )
        return values

    # -- the decision threshold ---------------------------------------------
    def _check_threshold(self) -> None:
        """Validate ``threshold`` once ``classes_`` is set."""
        threshold = getattr(self, "threshold", 0.5)
        if threshold == "auto":
            if len(self.classes_) != 2:
                raise ValueError(
                    f"threshold='auto' needs a binary target; y has "
                    f"{len(self.classes_)} classes."
                )
            return
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, Real)
            or not 0 < threshold < 1
        ):
            raise ValueError(
                f"threshold must be 'auto' or a float in (0, 1), got {threshold!r}."
            )

    def _fit_threshold(self, y_valid, proba_valid, *, beta: float) -> None:
        """Set ``threshold_`` from ``threshold``; "auto" maximises F-beta on
        held-out windows.

        Parameters
        ----------
        y_valid : ndarray of shape (n_valid,) or None
            Class indices of held-out labelled windows.
        proba_valid : ndarray of shape (n_valid,) or None
            Their probability of ``classes_[1]``.
        beta : float
            The F-beta to maximise.
        """
        threshold = getattr(self, "threshold", 0.5)
        if threshold != "auto":
            self.threshold_ = float(threshold)
            return
        self.threshold_ = fbeta_optimal_threshold(y_valid, proba_valid, beta=beta)

    # -- predict --------------------------------------------------------------
    def _validate_predict_X(self, X, *, dtype=np.float64) -> np.ndarray:
        """``X`` checked against ``fit``: a 3-D array, or a LazyWindows as it is."""
        check_is_fitted(self)
        if self._lazy(X):
            validate_lazy_eeg(self, X, reset=False)
            return X
        X, _ = validate_eeg(self, X, reset=False, dtype=dtype)
        return X

    def _lazy(self, X) -> bool:
        """Whether ``X`` is a LazyWindows; TypeError where it is not accepted."""
        if not is_lazy_windows(X):
            return False
        if not self._accepts_lazy:
            raise TypeError(
                f"{type(self).__name__} does not read a LazyWindows dataset "
                "lazily; pass np.asarray(X) (loads every window into memory)."
            )
        return True

    def predict(self, X) -> np.ndarray:
        """Predicted labels, shape (n_windows,), values from ``classes_``.

        Two classes: ``classes_[1]`` where its probability is above
        ``threshold_``; more: the most probable class.
        """
        proba = self.predict_proba(X)
        if proba.shape[1] == 2:
            idx = (proba[:, 1] > self.threshold_).astype(int)
        else:
            idx = proba.argmax(axis=1)
        return self.classes_[idx]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.target_tags.required = True
        return tags


def fit_targets(X, y):
    """The labels ``fit`` trains on: ``y``, or a LazyWindows' ``y`` when None.

    Parameters
    ----------
    X : array-like or LazyWindows
    y : array-like of shape (n_windows,) or None

    Returns
    -------
    y : array-like of shape (n_windows,) or None
    """
    return X.y if y is None and is_lazy_windows(X) else y


def fbeta_optimal_threshold(y_true, proba, *, beta: float = 1.0) -> float:
    """The probability threshold that maximises F-beta on labelled windows.

    Parameters
    ----------
    y_true : array-like of shape (n_windows,)
        0/1 labels.
    proba : array-like of shape (n_windows,)
        Probability of class 1.
    beta : float, default=1.0

    Returns
    -------
    threshold : float
        Predict 1 where ``proba > threshold``: halfway between the lowest
        probability predicted positive at the optimum and the next lower
        one. Ties between operating points with the same F-beta go to the
        most conservative; without a positive window, 0.5.
    """
    y_true = np.asarray(y_true)
    if not np.any(y_true == 1):
        return 0.5
    # thresholds ascend; point k predicts 1 where proba >= thresholds[k].
    precision, recall, thresholds = precision_recall_curve(y_true, proba)
    b2 = beta * beta
    with np.errstate(invalid="ignore", divide="ignore"):
        fbeta = (1 + b2) * precision * recall / (b2 * precision + recall)
    fbeta = np.nan_to_num(fbeta[:-1])
    best = np.flatnonzero(fbeta == fbeta.max())[-1]
    below = thresholds[best - 1] if best > 0 else 0.0
    return float((thresholds[best] + below) / 2)
