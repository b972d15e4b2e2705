"""Input checks shared by every skeeg estimator and transformer.

EEG windows come as ``(n_windows, n_channels, n_times)``; a 2-D array is read
as ``(n_windows, n_times)`` with one channel. These helpers wrap
:func:`sklearn.utils.validation.validate_data` so that feature names,
``n_features_in_`` and NaN checks behave exactly as in scikit-learn, and add the
EEG-specific checks (rank, channel and time counts against ``fit``) on top.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import validate_data


def validate_eeg(
    estimator,
    X,
    *,
    reset: bool,
    dtype=np.float64,
    min_times: int = 1,
) -> tuple[np.ndarray, int]:
    """Validate ``X`` as EEG windows and return it as a 3-D array.

    Parameters
    ----------
    estimator : estimator instance
        The estimator the data is for; with ``reset=True`` its
        ``n_features_in_``, ``n_channels_in_`` and ``n_times_in_`` are set,
        otherwise ``X`` is checked against them.
    X : array-like of shape (n_windows, n_channels, n_times) or (n_windows, n_times)
        EEG windows. A 2-D array has one channel.
    reset : bool
        True in ``fit``, False in ``predict``/``transform``.
    dtype : numpy dtype, default=np.float64
        Dtype of the returned array (float32 for torch models).
    min_times : int, default=1
        The smallest ``n_times`` the estimator can work with.

    Returns
    -------
    X3 : ndarray of shape (n_windows, n_channels, n_times)
    input_ndim : int
        2 or 3, so transformers can return the rank they were given.
    """
    name = type(estimator).__name__
    if is_lazy_windows(X):
        # validate_data would load every window through X.__array__.
        raise TypeError(
            f"{name} does not read a LazyWindows dataset lazily; pass "
            "np.asarray(X) (loads every window into memory), or compute per "
            "window results batch by batch with X.iter_batches(), or give the "
            "dataset a transform= to apply on read."
        )
    if not reset and hasattr(estimator, "n_channels_in_"):
        # Only arrays that already know their shape: anything else is
        # converted (and checked) by validate_data below.
        shape = getattr(X, "shape", ())
        if len(shape) == 3 and shape[1] != estimator.n_channels_in_:
            raise ValueError(
                f"X has {shape[1]} channels, but {name} was fitted with "
                f"{estimator.n_channels_in_} channels "
                f"(n_channels_in_={estimator.n_channels_in_})."
            )
    X = validate_data(
        estimator,
        X,
        reset=reset,
        allow_nd=True,
        dtype=dtype,
        ensure_min_features=1,
    )
    if X.ndim not in (2, 3):
        raise ValueError(
            f"X must be 2-D (n_windows, n_times) or 3-D (n_windows, n_channels, "
            f"n_times); got an array of shape {X.shape} (ndim={X.ndim})."
        )
    input_ndim = X.ndim
    if X.ndim == 2:
        X = X[:, np.newaxis, :]
    _check_window_shape(
        estimator, X.shape[1], X.shape[2], reset=reset, min_times=min_times
    )
    return X, input_ndim


def _check_window_shape(
    estimator, n_channels: int, n_times: int, *, reset: bool, min_times: int
) -> None:
    """Set (``reset``) or check ``n_channels_in_`` and ``n_times_in_``."""
    name = type(estimator).__name__
    if reset:
        if n_times < min_times:
            raise ValueError(
                f"X has n_times={n_times} (n_features = {n_times}), but {name} "
                f"needs windows of at least {min_times} time samples."
            )
        estimator.n_channels_in_ = n_channels
        estimator.n_times_in_ = n_times
    elif hasattr(estimator, "n_times_in_") and n_times != estimator.n_times_in_:
        raise ValueError(
            f"X has {n_times} time samples, but {name} was fitted with "
            f"{estimator.n_times_in_} (n_times_in_={estimator.n_times_in_})."
        )


def is_lazy_windows(X) -> bool:
    """Whether ``X`` is a :class:`skeeg.datasets.LazyWindows` (or a subclass),
    tested without importing it (and MNE)."""
    return getattr(type(X), "_skeeg_lazy_windows", False) is True


def validate_lazy_eeg(estimator, X, *, reset: bool, min_times: int = 1) -> None:
    """:func:`validate_eeg` for a :class:`~skeeg.datasets.LazyWindows`, from its
    shape alone: nothing is read (non-finite values are caught as windows are
    read).

    Parameters
    ----------
    estimator : estimator instance
        With ``reset=True`` its ``n_features_in_`` (the channel count, as
        scikit-learn sets it for 3-D input), ``n_channels_in_`` and
        ``n_times_in_`` are set, otherwise ``X`` is checked against them.
    X : LazyWindows
    reset : bool
        True in ``fit``, False in ``predict``/``transform``.
    min_times : int, default=1
        The smallest ``n_times`` the estimator can work with.
    """
    name = type(estimator).__name__
    n_windows, n_channels, n_times = X.shape
    if n_windows < 1:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of "
            f"1 is required by {name}."
        )
    if not reset and n_channels != estimator.n_channels_in_:
        raise ValueError(
            f"X has {n_channels} channels, but {name} was fitted with "
            f"{estimator.n_channels_in_} channels "
            f"(n_channels_in_={estimator.n_channels_in_})."
        )
    if reset:
        estimator.n_features_in_ = n_channels
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    _check_window_shape(
        estimator, n_channels, n_times, reset=reset, min_times=min_times
    )
