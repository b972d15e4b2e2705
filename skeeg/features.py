"""Hand-made features of EEG windows, as scikit-learn transformers.

:class:`SpikeFeatures` is the classical spike detector's front end: four
amplitude and sharpness features per channel that a linear model turns into a
strong baseline for IED detection. skeeg's deep models are judged against it
on the same folds (``examples/ied_demo.py``, the iEDeaL ablation).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from skeeg._docs import fill_doc
from skeeg._validation import validate_eeg

#: Feature names in output order (per channel).
SPIKE_FEATURES = ("max_abs", "line_length", "teager", "max_slope")


@fill_doc
class SpikeFeatures(TransformerMixin, BaseEstimator):
    """Log amplitude and sharpness features of each channel of each window.

    Each window is first divided by its median absolute value (over channels
    and time), so that the features describe how a channel stands out from
    its own window's background, not the recording's gain. Then, per channel
    ``x``, with ``dx`` its first difference:

    - ``max_abs``: ``max |x|`` (the peak amplitude);
    - ``line_length``: ``mean |dx|``;
    - ``teager``: ``max`` of the Teager-Kaiser energy
      ``x[t]**2 - x[t-1] * x[t+1]`` (edges repeat the end samples);
    - ``max_slope``: ``max |dx|`` (the steepest flank).

    Each is returned as ``log(max(value, eps))``. Stateless: ``fit`` only
    records the input shape.

    Parameters
    ----------
    eps : float, default=1e-6
        Floor before the log (in units of the window's median absolute
        value).

    Attributes
    ----------
    %(eeg_fit_attributes)s

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> detector = make_pipeline(
    ...     SpikeFeatures(), LogisticRegression(class_weight="balanced")
    ... )
    """

    def __init__(self, eps: float = 1e-6) -> None:
        self.eps = eps

    def fit(self, X, y=None) -> SpikeFeatures:
        """Record the window shape.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_channels, n_times) or (n_windows, n_times)
        y : ignored

        Returns
        -------
        self
        """
        validate_eeg(self, X, reset=True, min_times=2)
        if not (isinstance(self.eps, float | int) and self.eps > 0):
            raise ValueError(f"eps must be a float > 0, got {self.eps!r}.")
        return self

    def transform(self, X) -> np.ndarray:
        """The features.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_channels, n_times) or (n_windows, n_times)

        Returns
        -------
        features : ndarray of shape (n_windows, n_channels * 4)
            Channel-major: the four features of channel 0, then channel 1, ...
            (:meth:`get_feature_names_out`).
        """
        check_is_fitted(self)
        X, _ = validate_eeg(self, X, reset=False)
        scale = np.median(np.abs(X), axis=(1, 2), keepdims=True)
        X = X / np.where(scale > 0, scale, 1.0)
        dx = np.diff(X, axis=2)
        padded = np.concatenate([X[:, :, :1], X, X[:, :, -1:]], axis=2)
        teager = X**2 - padded[:, :, :-2] * padded[:, :, 2:]
        features = np.stack(
            [
                np.abs(X).max(axis=2),
                np.abs(dx).mean(axis=2),
                teager.max(axis=2),
                np.abs(dx).max(axis=2),
            ],
            axis=2,
        )
        return np.log(np.maximum(features, self.eps)).reshape(len(X), -1)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``"ch{c}_{feature}"`` for each channel and feature, as ``transform``."""
        check_is_fitted(self)
        return np.array(
            [
                f"ch{c}_{name}"
                for c in range(self.n_channels_in_)
                for name in SPIKE_FEATURES
            ],
            dtype=object,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.requires_fit = True
        return tags
