"""imbalanced-learn samplers for arrays of EEG windows.

:class:`RandomWindowUnderSampler` and :class:`RandomWindowOverSampler` accept
3-D windows ``(n_windows, n_channels, n_times)`` (imbalanced-learn's own
reject them). They resample window *indices* with imbalanced-learn's random
samplers, so the sampling logic and ``sampling_strategy`` semantics are
imbalanced-learn's. The iEDeaL training curriculum (the negatives drawn each
epoch) is :mod:`skeeg.training.curriculum`.
"""

from __future__ import annotations

import numpy as np
from imblearn.base import BaseSampler
from imblearn.over_sampling import RandomOverSampler
from imblearn.under_sampling import RandomUnderSampler
from imblearn.utils import check_target_type
from sklearn.utils.validation import check_consistent_length

from skeeg._docs import fill_doc
from skeeg._validation import validate_eeg


class _BaseWindowSampler(BaseSampler):
    """Resample windows by resampling their indices with an imblearn sampler."""

    def _check_X_y(self, X, y, accept_sparse=None):
        y, binarize_y = check_target_type(y, indicate_one_vs_all=True)
        X3, input_ndim = validate_eeg(self, X, reset=True, dtype=None)
        check_consistent_length(X3, y)
        return (X3[:, 0, :] if input_ndim == 2 else X3), y, binarize_y

    def _fit_resample(self, X, y):
        sampler = self._index_sampler()
        sampler.fit_resample(np.arange(len(y)).reshape(-1, 1), y)
        self.sample_indices_ = sampler.sample_indices_
        return X[self.sample_indices_], y[self.sample_indices_]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.dataframe = False
        tags.sampler_tags.sample_indices = True
        return tags


@fill_doc
class RandomWindowUnderSampler(_BaseWindowSampler):
    """Randomly under-sample EEG windows, 2-D or 3-D.

    :class:`imblearn.under_sampling.RandomUnderSampler` for arrays of windows;
    usable as a step of :class:`imblearn.pipeline.Pipeline`.

    Parameters
    ----------
    sampling_strategy : float, str, dict or callable, default="auto"
        As in :class:`~imblearn.under_sampling.RandomUnderSampler`, e.g.
        "auto" keeps as many windows of each class as the minority has.
    random_state : int, RandomState instance or None, default=None
        Seed of the draw.
    replacement : bool, default=False
        Draw with replacement.

    Attributes
    ----------
    sample_indices_ : ndarray of shape (n_resampled,)
        Indices of the kept windows in ``X``.
    sampling_strategy_ : dict
        Number of windows to keep per class.
    %(eeg_fit_attributes)s
    """

    _sampling_type = RandomUnderSampler._sampling_type
    _parameter_constraints = dict(RandomUnderSampler._parameter_constraints)

    def __init__(self, sampling_strategy="auto", random_state=None, replacement=False):
        super().__init__(sampling_strategy=sampling_strategy)
        self.random_state = random_state
        self.replacement = replacement

    def _index_sampler(self) -> RandomUnderSampler:
        return RandomUnderSampler(
            sampling_strategy=self.sampling_strategy,
            random_state=self.random_state,
            replacement=self.replacement,
        )


@fill_doc
class RandomWindowOverSampler(_BaseWindowSampler):
    """Randomly over-sample EEG windows (duplicates), 2-D or 3-D.

    :class:`imblearn.over_sampling.RandomOverSampler` (without shrinkage) for
    arrays of windows; usable as a step of :class:`imblearn.pipeline.Pipeline`.

    Parameters
    ----------
    sampling_strategy : float, str, dict or callable, default="auto"
        As in :class:`~imblearn.over_sampling.RandomOverSampler`, e.g. "auto"
        repeats windows of every class up to the majority's count.
    random_state : int, RandomState instance or None, default=None
        Seed of the draw.

    Attributes
    ----------
    sample_indices_ : ndarray of shape (n_resampled,)
        Indices in ``X`` of the returned windows (with repeats).
    sampling_strategy_ : dict
        Number of windows to add per class.
    %(eeg_fit_attributes)s
    """

    _sampling_type = RandomOverSampler._sampling_type
    _parameter_constraints = {
        key: RandomOverSampler._parameter_constraints[key]
        for key in ("sampling_strategy", "random_state")
    }

    def __init__(self, sampling_strategy="auto", random_state=None):
        super().__init__(sampling_strategy=sampling_strategy)
        self.random_state = random_state

    def _index_sampler(self) -> RandomOverSampler:
        return RandomOverSampler(
            sampling_strategy=self.sampling_strategy, random_state=self.random_state
        )
