"""Hand-made features of EEG windows, as scikit-learn transformers.

:class:`SpikeFeatures` is the classical spike detector's front end: four
amplitude and sharpness features per channel that a linear model turns into a
strong baseline for IED detection. skeeg's deep models are judged against it
on the same folds (``examples/ied_demo.py``, the iEDeaL ablation).

:class:`BandPowers` gives each channel's power in frequency bands (Welch):
log band powers and a logistic regression are the simple baseline of the
subject-classification benchmark.

:class:`SigmaPower` gives each channel's absolute and relative power in the
sigma band (11-16 Hz), the first two features of the A7 spindle detector: a
logistic regression on them is the simple baseline of the spindle benchmark.

:class:`FrameFeatures` cuts each window into frames and describes every frame
by its moments and Hjorth parameters: a sequence per window, the emissions of
:class:`skeeg.estimators.hmm_classifier.HMMClassifier`.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import periodogram, welch
from scipy.stats import kurtosis
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from skeeg._docs import fill_doc
from skeeg._validation import validate_eeg

#: Feature names in output order (per channel).
SPIKE_FEATURES = ("max_abs", "line_length", "teager", "max_slope")

#: Frame feature names in output order (per channel).
FRAME_FEATURES = ("mean", "std", "kurtosis", "activity", "mobility", "complexity")

#: Frame length in samples when neither ``frame_len`` nor ``frame_s`` is given
#: (1 s at the seed study's 128 Hz).
DEFAULT_FRAME_LEN = 128


class _ChannelFeatures(TransformerMixin, BaseEstimator):
    """Base of the transformers that compute the same features per channel:
    the feature names and the 3-D input tags."""

    #: Names of the per-channel features, in output order.
    _feature_names: ClassVar[tuple[str, ...]] = ()

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``"ch{c}_{feature}"`` for each channel and feature, in the order of
        the last axis of ``transform``."""
        check_is_fitted(self)
        return np.array(
            [
                f"ch{c}_{name}"
                for c in range(self.n_channels_in_)
                for name in self._feature_names
            ],
            dtype=object,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.requires_fit = True
        return tags


@fill_doc
class SpikeFeatures(_ChannelFeatures):
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

    _feature_names = SPIKE_FEATURES

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


#: Default bands of :class:`BandPowers` in Hz: delta, theta, alpha, beta,
#: gamma up to 45 Hz.
DEFAULT_BANDS = ((1.0, 4.0), (4.0, 8.0), (8.0, 13.0), (13.0, 30.0), (30.0, 45.0))


@fill_doc
class BandPowers(_ChannelFeatures):
    """Power of each channel in frequency bands, from Welch's periodogram.

    Per window and channel, the power spectral density ``P(f)`` (V^2/Hz for
    input in volts) is estimated with :func:`scipy.signal.welch` (Hann
    segments of ``nperseg_`` samples, half overlapping, mean detrended) and
    summed over each band: ``power = sum_{lo <= f < hi} P(f) * df``, the
    band's share of the signal's variance (units of X squared). A sine of
    amplitude ``A`` whose frequency lies inside a band puts ``A^2 / 2`` in it.
    Stateless: ``fit`` records the input shape and checks the bands.

    Parameters
    ----------
    sfreq : float
        Sampling frequency in Hz.
    bands : sequence of (float, float), default=DEFAULT_BANDS
        ``(lo, hi)`` in Hz, ``0 <= lo < hi <= sfreq / 2``; the default is
        delta 1-4, theta 4-8, alpha 8-13, beta 13-30 and gamma 30-45 Hz.
    nperseg : int or None, default=None
        Welch segment length in samples; None: ``min(n_times, 2 * sfreq)``
        (2-s segments, 0.5-Hz resolution).
    log : bool, default=True
        Return the natural logarithm of the powers (floored at the smallest
        positive float64), the usual input of a linear model.

    Attributes
    ----------
    %(eeg_fit_attributes)s
    nperseg_ : int
        Welch segment length used, in samples.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> X = np.random.default_rng(0).normal(size=(10, 4, 1280))
    >>> BandPowers(sfreq=128.0, bands=[(1, 4), (4, 8)]).fit_transform(X).shape
    (10, 8)
    >>> baseline = make_pipeline(BandPowers(sfreq=256.0), LogisticRegression())
    """

    _parameter_constraints: dict = {
        "sfreq": [Interval(Real, 0, None, closed="neither")],
        "bands": ["array-like"],
        "nperseg": [Interval(Integral, 2, None, closed="left"), None],
        "log": ["boolean"],
    }

    def __init__(
        self,
        sfreq: float,
        bands=DEFAULT_BANDS,
        nperseg: int | None = None,
        log: bool = True,
    ) -> None:
        self.sfreq = sfreq
        self.bands = bands
        self.nperseg = nperseg
        self.log = log

    def fit(self, X, y=None) -> BandPowers:
        """Record the window shape and check the bands against ``sfreq``.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_channels, n_times) or (n_windows, n_times)
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        bands = np.asarray(self.bands, dtype=np.float64)
        nyquist = self.sfreq / 2
        if (
            bands.ndim != 2
            or bands.shape[1] != 2
            or len(bands) == 0
            or np.any(bands[:, 0] < 0)
            or np.any(bands[:, 0] >= bands[:, 1])
            or np.any(bands[:, 1] > nyquist)
        ):
            raise ValueError(
                "bands must be a non-empty sequence of (lo, hi) in Hz with "
                f"0 <= lo < hi <= sfreq / 2 = {nyquist}; got {self.bands!r}."
            )
        validate_eeg(self, X, reset=True, min_times=2)
        requested = round(2 * self.sfreq) if self.nperseg is None else self.nperseg
        self.nperseg_ = min(requested, self.n_times_in_)
        return self

    def transform(self, X) -> np.ndarray:
        """The band powers.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_channels, n_times) or (n_windows, n_times)

        Returns
        -------
        powers : ndarray of shape (n_windows, n_channels * n_bands)
            Channel-major: the bands of channel 0, then channel 1, ...
            (:meth:`get_feature_names_out`); logarithms with ``log=True``.
        """
        check_is_fitted(self)
        X, _ = validate_eeg(self, X, reset=False)
        freqs, psd = welch(X, fs=self.sfreq, nperseg=self.nperseg_, axis=-1)
        df = freqs[1] - freqs[0]
        powers = np.stack(
            [
                psd[..., (freqs >= lo) & (freqs < hi)].sum(axis=-1) * df
                for lo, hi in np.asarray(self.bands, dtype=np.float64)
            ],
            axis=-1,
        )
        if self.log:
            powers = np.log(np.maximum(powers, np.finfo(np.float64).tiny))
        return powers.reshape(len(X), -1)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``"ch{c}_{lo}-{hi}Hz"`` for each channel and band, in the order of
        the columns of ``transform``."""
        check_is_fitted(self)
        return np.array(
            [
                f"ch{c}_{lo:g}-{hi:g}Hz"
                for c in range(self.n_channels_in_)
                for lo, hi in np.asarray(self.bands, dtype=np.float64)
            ],
            dtype=object,
        )


#: Feature names of :class:`SigmaPower` in output order (per channel).
SIGMA_FEATURES = ("sigma", "relative_sigma")


@fill_doc
class SigmaPower(_ChannelFeatures):
    """Absolute and relative sigma-band power of each channel of each window.

    Per window and channel, the power spectral density ``P(f)`` (V^2/Hz for
    input in volts) is the Hann-tapered periodogram of the whole window
    (:func:`scipy.signal.periodogram`, mean detrended), summed over a band
    with both edges included: ``power = sum_{lo <= f <= hi} P(f) * df``. The
    two features are the power in the ``sigma`` band (units of X squared)
    and its ratio to the power in the ``broad`` band (dimensionless, 1 when
    all of the broad band's power is in the sigma band). These are the first
    two features of the A7 spindle detector (Lacourse et al. 2019), computed
    per window instead of on a sliding 0.3-s window. A sine of amplitude
    ``A`` at a frequency inside both bands gives ``A^2 / 2`` and 1.
    Stateless: ``fit`` records the input shape and checks the bands.

    Parameters
    ----------
    sfreq : float
        Sampling frequency in Hz.
    sigma : (float, float), default=(11.0, 16.0)
        The sigma band ``(lo, hi)`` in Hz, ``0 <= lo < hi <= sfreq / 2``.
    broad : (float, float), default=(4.5, 20.0)
        The broad band in Hz that the relative power divides by. A7's is
        4.5-30 Hz; the default stops at 20 Hz, below the Nyquist frequency
        of a 50-Hz recording and clear of its anti-alias roll-off.
    log : bool, default=True
        Return the natural logarithm of both features (floored at the
        smallest positive float64), the usual input of a linear model.

    Attributes
    ----------
    %(eeg_fit_attributes)s

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(100) / 100.0
    >>> X = np.sin(2 * np.pi * 13 * t)[None, None]
    >>> SigmaPower(sfreq=100.0, log=False).fit_transform(X).round(3)
    array([[0.5, 1. ]])
    """

    _feature_names = SIGMA_FEATURES
    _parameter_constraints: dict = {
        "sfreq": [Interval(Real, 0, None, closed="neither")],
        "sigma": ["array-like"],
        "broad": ["array-like"],
        "log": ["boolean"],
    }

    def __init__(
        self,
        sfreq: float,
        sigma: tuple[float, float] = (11.0, 16.0),
        broad: tuple[float, float] = (4.5, 20.0),
        log: bool = True,
    ) -> None:
        self.sfreq = sfreq
        self.sigma = sigma
        self.broad = broad
        self.log = log

    def fit(self, X, y=None) -> SigmaPower:
        """Record the window shape and check the bands against it.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_channels, n_times) or (n_windows, n_times)
            Windows, in volts for powers in V^2.
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        validate_eeg(self, X, reset=True, min_times=2)
        freqs = np.fft.rfftfreq(self.n_times_in_, 1 / self.sfreq)
        nyquist = self.sfreq / 2
        for name in ("sigma", "broad"):
            band = np.asarray(getattr(self, name), dtype=np.float64)
            if band.shape != (2,) or not 0 <= band[0] < band[1] <= nyquist:
                raise ValueError(
                    f"{name}={getattr(self, name)!r} must be (lo, hi) in Hz with "
                    f"0 <= lo < hi <= sfreq/2 = {nyquist:g}."
                )
            if not np.any((freqs >= band[0]) & (freqs <= band[1])):
                raise ValueError(
                    f"{name}={getattr(self, name)!r} holds no frequency of a "
                    f"{self.n_times_in_}-sample periodogram at {self.sfreq:g} Hz "
                    f"(bins {freqs[1]:g} Hz apart)."
                )
        return self

    def transform(self, X) -> np.ndarray:
        """The two features.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_channels, n_times) or (n_windows, n_times)

        Returns
        -------
        features : ndarray of shape (n_windows, n_channels * 2)
            Channel-major: sigma power (units of X squared) and relative sigma
            power of channel 0, then channel 1, ...
            (:meth:`get_feature_names_out`); logarithms with ``log=True``.
        """
        check_is_fitted(self)
        X, _ = validate_eeg(self, X, reset=False)
        freqs, psd = periodogram(X, fs=self.sfreq, window="hann", axis=-1)
        sigma, broad = (
            psd[..., (freqs >= lo) & (freqs <= hi)].sum(axis=-1) * freqs[1]
            for lo, hi in (self.sigma, self.broad)
        )
        # A flat window has no power anywhere: its relative power is 0.
        features = np.stack([sigma, _ratio_or_zero(sigma, broad)], axis=-1)
        if self.log:
            features = np.log(np.maximum(features, np.finfo(np.float64).tiny))
        return features.reshape(len(X), -1)


def _ratio_or_zero(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` where ``den > 0``, else 0 (an undefined Hjorth ratio)."""
    safe = np.where(den > 0, den, 1.0)
    return np.where(den > 0, num / safe, 0.0)


def _var_last(a: np.ndarray) -> np.ndarray:
    """Variance over the last axis; 0 when it is empty (a frame too short to
    difference twice)."""
    if a.shape[-1] == 0:
        return np.zeros(a.shape[:-1])
    return a.var(axis=-1)


@fill_doc
class FrameFeatures(_ChannelFeatures, auto_wrap_output_keys=None):
    """Moments and Hjorth parameters of successive frames of each window.

    Each window ``(n_channels, n_times)`` is cut into frames of ``frame_len_``
    samples, ``step_`` samples apart (the tail shorter than a frame is not
    used). Per frame and channel ``x`` (``n`` samples), with ``dx`` and
    ``ddx`` its first and second differences:

    - ``mean``: ``mean(x)``;
    - ``std``: ``std(x)`` (population, ``ddof=0``);
    - ``kurtosis``: excess (Fisher) kurtosis, :func:`scipy.stats.kurtosis`
      with ``bias=True``; 0 for a Gaussian;
    - ``activity``: Hjorth activity ``var(x)``;
    - ``mobility``: Hjorth mobility ``sqrt(var(dx) / var(x))``, in radians
      per sample (multiply by ``sfreq`` for rad/s): a sine of frequency
      ``f`` has ``2 sin(pi f / sfreq)``, about ``2 pi f / sfreq``;
    - ``complexity``: Hjorth complexity ``mobility(dx) / mobility(x)``; 1 for
      a sine, larger for broadband frames.

    Quantities that are undefined (kurtosis and mobility of a frame that is
    numerically constant, complexity when ``dx`` is constant or the frame has
    fewer than 3 samples) are 0. Stateless: ``fit`` records the input shape
    and the frame grid.

    Parameters
    ----------
    frame_len : int or None, default=None
        Frame length in samples. None: ``round(frame_s * sfreq)`` when
        ``frame_s`` is given, else 128. Frames never exceed the window: the
        length used is ``min(frame_len, n_times)`` (``frame_len_``).
    frame_s : float or None, default=None
        Frame length in seconds (needs ``sfreq``); give it or ``frame_len``,
        not both.
    sfreq : float or None, default=None
        Sampling frequency in Hz; used only with ``frame_s``.
    overlap : float in [0, 1), default=0.0
        Fraction of a frame shared with the next one; the step is
        ``max(1, round(frame_len_ * (1 - overlap)))`` samples.

    Attributes
    ----------
    %(eeg_fit_attributes)s
    frame_len_ : int
        Frame length used, in samples.
    step_ : int
        Samples between the starts of consecutive frames.
    n_frames_ : int
        Frames per window.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(10, 4, 1280))
    >>> FrameFeatures(frame_s=1.0, sfreq=128.0).fit_transform(X).shape
    (10, 10, 24)
    """

    _feature_names = FRAME_FEATURES
    _parameter_constraints: dict = {
        "frame_len": [Interval(Integral, 1, None, closed="left"), None],
        "frame_s": [Interval(Real, 0, None, closed="neither"), None],
        "sfreq": [Interval(Real, 0, None, closed="neither"), None],
        "overlap": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        frame_len: int | None = None,
        frame_s: float | None = None,
        sfreq: float | None = None,
        overlap: float = 0.0,
    ) -> None:
        self.frame_len = frame_len
        self.frame_s = frame_s
        self.sfreq = sfreq
        self.overlap = overlap

    def _requested_frame_len(self) -> int:
        if self.frame_s is None:
            return DEFAULT_FRAME_LEN if self.frame_len is None else self.frame_len
        if self.frame_len is not None:
            raise ValueError(
                f"Give frame_len or frame_s, not both; got frame_len="
                f"{self.frame_len!r} and frame_s={self.frame_s!r}."
            )
        if self.sfreq is None:
            raise ValueError(
                f"frame_s={self.frame_s!r} needs sfreq (Hz) to convert it to "
                "samples; got sfreq=None."
            )
        return max(1, round(self.frame_s * self.sfreq))

    def fit(self, X, y=None) -> FrameFeatures:
        """Record the window shape and the frame grid.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_channels, n_times) or (n_windows, n_times)
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        requested = self._requested_frame_len()
        X, _ = validate_eeg(self, X, reset=True, min_times=2)
        self.frame_len_ = min(requested, self.n_times_in_)
        self.step_ = max(1, round(self.frame_len_ * (1 - self.overlap)))
        self.n_frames_ = 1 + (self.n_times_in_ - self.frame_len_) // self.step_
        return self

    def transform(self, X) -> np.ndarray:
        """The frame features, a sequence per window.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_channels, n_times) or (n_windows, n_times)

        Returns
        -------
        features : ndarray of shape (n_windows, n_frames_, n_channels * 6)
            Channel-major along the last axis: the six features of channel 0
            in the order of :data:`FRAME_FEATURES`, then channel 1, ...
            (:meth:`get_feature_names_out`).
        """
        check_is_fitted(self)
        X, _ = validate_eeg(self, X, reset=False)
        # (n_windows, n_channels, n_frames, frame_len), a strided view.
        frames = sliding_window_view(X, self.frame_len_, axis=2)[:, :, :: self.step_]
        mean = frames.mean(axis=-1)
        var = frames.var(axis=-1)
        # Numerically constant frames (scipy.stats.kurtosis's own criterion
        # for catastrophic cancellation) have no shape: kurtosis and
        # mobility are set to 0 there.
        varying = var > (np.finfo(np.float64).eps * mean) ** 2
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            kurt = kurtosis(frames, axis=-1, fisher=True, bias=True)
        kurt = np.where(varying, kurt, 0.0)
        dx = np.diff(frames, axis=-1)
        var_dx = _var_last(dx)
        var_ddx = _var_last(np.diff(dx, axis=-1))
        mobility = np.sqrt(_ratio_or_zero(var_dx, np.where(varying, var, 0.0)))
        mobility_dx = np.sqrt(_ratio_or_zero(var_ddx, var_dx))
        complexity = _ratio_or_zero(mobility_dx, mobility)
        features = np.stack(
            [mean, np.sqrt(var), kurt, var, mobility, complexity], axis=-1
        )
        # (n_windows, n_channels, n_frames, 6) -> (n_windows, n_frames, C * 6)
        return features.transpose(0, 2, 1, 3).reshape(len(X), self.n_frames_, -1)
