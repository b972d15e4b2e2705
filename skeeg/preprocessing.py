"""Transformers for EEG windows: filters, resampling, montages, scaling.

Every transformer takes ``X`` of shape ``(n_windows, n_channels, n_times)`` or
``(n_windows, n_times)`` (one channel) and returns an array of the same rank,
except :class:`BipolarMontage` and :class:`ChannelSelector`, which return 3-D
output whenever the output has more than one channel. They are scikit-learn
transformers, so they compose with :class:`sklearn.pipeline.Pipeline` and
:class:`sklearn.model_selection.GridSearchCV`.

Filtering and resampling act on each window independently. Edge effects are
confined to the padding that :func:`scipy.signal.sosfiltfilt` adds, but on a
continuous recording it is better to filter before cutting windows (the seeds
do so); these transformers are for data that is already windowed.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from numbers import Integral, Real

import numpy as np
from scipy.signal import butter, iirnotch, resample_poly, sosfiltfilt, tf2sos
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_scalar
from sklearn.utils.validation import check_is_fitted

from skeeg._docs import fill_doc
from skeeg._validation import validate_eeg

# Largest denominator of the up/down resampling ratio: keeps the polyphase
# filter short while matching every common EEG rate pair exactly.
_MAX_RESAMPLE_DENOMINATOR = 1000


def _sosfiltfilt_padlen(sos: np.ndarray) -> int:
    """The default ``padlen`` of :func:`scipy.signal.sosfiltfilt` for ``sos``."""
    n_zeros = min((sos[:, 2] == 0).sum(), (sos[:, 5] == 0).sum())
    return int(3 * (2 * len(sos) + 1 - n_zeros))


def _check_positive(value, name: str):
    """Return ``value`` unchanged after checking it is a real number > 0."""
    return check_scalar(value, name, Real, min_val=0, include_boundaries="neither")


def _check_sfreq(sfreq) -> float:
    return float(_check_positive(sfreq, "sfreq"))


def _check_below_nyquist(value, name: str, sfreq: float) -> float:
    value = _check_positive(value, name)
    if value >= sfreq / 2:
        raise ValueError(
            f"{name}={value} Hz must be below the Nyquist frequency "
            f"sfreq/2={sfreq / 2} Hz."
        )
    return float(value)


def _to_input_rank(X: np.ndarray, input_ndim: int) -> np.ndarray:
    """Return 2-D output for 2-D input when the output still has one channel."""
    if input_ndim == 2 and X.shape[1] == 1:
        return X[:, 0, :]
    return X


class _EEGTransformer(TransformerMixin, BaseEstimator):
    """Shared fit/transform plumbing; subclasses fill in the hooks.

    ``_check_params`` validates the parameters (and may set fitted state that
    depends only on them), ``_min_times`` gives the shortest window the
    transformer can handle, ``_fit`` learns from the validated 3-D ``X`` and
    ``_transform`` maps a 3-D array to a 3-D array.
    """

    def _check_params(self) -> None:
        pass

    def _min_times(self) -> int:
        return 1

    def _fit(self, X: np.ndarray) -> None:
        pass

    def fit(self, X, y=None) -> _EEGTransformer:
        """Validate the parameters and record the input shape.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_channels, n_times) or (n_windows, n_times)
            EEG windows.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        self._check_params()
        X3, _ = validate_eeg(self, X, reset=True, min_times=self._min_times())
        self._fit(X3)
        return self

    def transform(self, X) -> np.ndarray:
        """Transform EEG windows.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_channels, n_times) or (n_windows, n_times)
            EEG windows with the channel and time counts seen in ``fit``.

        Returns
        -------
        Xt : ndarray of shape (n_windows, n_channels_out, n_times_out)
            Transformed windows; of shape ``(n_windows, n_times_out)`` when
            ``X`` was 2-D and the output has one channel.
        """
        check_is_fitted(self, "n_times_in_")
        X3, input_ndim = validate_eeg(self, X, reset=False)
        return _to_input_rank(self._transform(X3), input_ndim)


class _SOSFilter(_EEGTransformer):
    """Zero-phase filtering with the second-order sections in ``sos_``."""

    def _min_times(self) -> int:
        return _sosfiltfilt_padlen(self.sos_) + 1

    def _transform(self, X: np.ndarray) -> np.ndarray:
        return sosfiltfilt(self.sos_, X, axis=-1, padlen=_sosfiltfilt_padlen(self.sos_))


@fill_doc
class BandpassFilter(_SOSFilter):
    """Zero-phase Butterworth band-pass, low-pass or high-pass filter.

    The filter is designed with :func:`scipy.signal.butter` as second-order
    sections and run forward and backward along time with
    :func:`scipy.signal.sosfiltfilt`, so it has no phase shift and its
    magnitude response is the square of the Butterworth one (twice the
    attenuation in dB). Settings used by the seeds: 1–50 Hz (iEDeaL, IED
    detection) and 0.3–35 Hz (the sleep-staging study).

    Parameters
    ----------
    sfreq : float
        Sampling frequency of ``X`` in Hz.
    l_freq : float or None, default=1.0
        Lower cut-off in Hz. None gives a low-pass filter.
    h_freq : float or None, default=50.0
        Upper cut-off in Hz, below the Nyquist frequency ``sfreq / 2``. None
        gives a high-pass filter.
    order : int, default=4
        Butterworth order (a band-pass has twice as many poles).

    Attributes
    ----------
    sos_ : ndarray of shape (n_sections, 6)
        The filter's second-order sections.
    %(eeg_fit_attributes)s

    Notes
    -----
    ``sosfiltfilt`` pads each window with ``3 * (2 * n_sections + 1)`` samples
    (fewer for sections with trailing zeros) at both ends; ``fit`` raises a
    ``ValueError`` naming ``n_times`` when windows are not longer than that.
    """

    def __init__(self, sfreq, l_freq=1.0, h_freq=50.0, order=4):
        self.sfreq = sfreq
        self.l_freq = l_freq
        self.h_freq = h_freq
        self.order = order

    def _check_params(self) -> None:
        sfreq = _check_sfreq(self.sfreq)
        check_scalar(self.order, "order", Integral, min_val=1)
        if self.l_freq is None and self.h_freq is None:
            raise ValueError(
                "l_freq and h_freq are both None; set at least one cut-off."
            )
        l_freq = h_freq = None
        if self.l_freq is not None:
            l_freq = _check_below_nyquist(self.l_freq, "l_freq", sfreq)
        if self.h_freq is not None:
            h_freq = _check_below_nyquist(self.h_freq, "h_freq", sfreq)
        if l_freq is not None and h_freq is not None:
            if l_freq >= h_freq:
                raise ValueError(
                    f"l_freq={l_freq} Hz must be below h_freq={h_freq} Hz."
                )
            btype, cutoff = "bandpass", [l_freq, h_freq]
        elif l_freq is None:
            btype, cutoff = "lowpass", h_freq
        else:
            btype, cutoff = "highpass", l_freq
        self.sos_ = butter(self.order, cutoff, btype=btype, fs=sfreq, output="sos")


@fill_doc
class NotchFilter(_SOSFilter):
    """Zero-phase IIR notch filter against line noise and its harmonics.

    Each notch is a second-order :func:`scipy.signal.iirnotch`; all notches are
    chained and run forward and backward along time with
    :func:`scipy.signal.sosfiltfilt` (the same as
    :func:`scipy.signal.filtfilt` for a single notch).

    Parameters
    ----------
    sfreq : float
        Sampling frequency of ``X`` in Hz.
    freq : float or sequence of float, default=50.0
        Frequency or frequencies to remove in Hz, e.g. ``[50, 100, 150]`` for
        50 Hz mains and its harmonics; each below ``sfreq / 2``.
    quality : float, default=30.0
        Quality factor ``freq / bandwidth`` (-3 dB) of each notch.

    Attributes
    ----------
    sos_ : ndarray of shape (n_notches, 6)
        One second-order section per notch.
    %(eeg_fit_attributes)s
    """

    def __init__(self, sfreq, freq=50.0, quality=30.0):
        self.sfreq = sfreq
        self.freq = freq
        self.quality = quality

    def _check_params(self) -> None:
        sfreq = _check_sfreq(self.sfreq)
        quality = _check_positive(self.quality, "quality")
        freqs = np.atleast_1d(self.freq)
        if freqs.ndim != 1 or freqs.size == 0:
            raise ValueError(
                f"freq must be a frequency or a non-empty sequence of "
                f"frequencies in Hz; got {self.freq!r}."
            )
        notches = [
            iirnotch(_check_below_nyquist(f, "freq", sfreq), quality, sfreq)
            for f in freqs.tolist()
        ]
        self.sos_ = np.vstack([tf2sos(b, a) for b, a in notches])


@fill_doc
class Resampler(_EEGTransformer):
    """Polyphase resampling of each window to a new sampling frequency.

    Uses :func:`scipy.signal.resample_poly` with the rational factor
    ``up / down`` closest to ``new_sfreq / sfreq`` with ``down <= 1000``
    (:meth:`fractions.Fraction.limit_denominator`); it includes an
    anti-aliasing low-pass filter. iEDeaL resamples to 512 Hz, the sleep
    study to 128 Hz.

    Parameters
    ----------
    sfreq : float
        Sampling frequency of ``X`` in Hz.
    new_sfreq : float
        Target sampling frequency in Hz.

    Attributes
    ----------
    up_ : int
        Up-sampling factor.
    down_ : int
        Down-sampling factor.
    sfreq_out_ : float
        The output's sampling frequency, ``sfreq * up_ / down_`` in Hz (equal
        to ``new_sfreq`` unless the ratio needed a denominator above 1000).
    n_times_out_ : int
        Time samples per output window, ``ceil(n_times_in_ * up_ / down_)``.
    %(eeg_fit_attributes)s
    """

    def __init__(self, sfreq, new_sfreq):
        self.sfreq = sfreq
        self.new_sfreq = new_sfreq

    def _check_params(self) -> None:
        sfreq = _check_sfreq(self.sfreq)
        new_sfreq = _check_positive(self.new_sfreq, "new_sfreq")
        ratio = Fraction(new_sfreq / sfreq).limit_denominator(_MAX_RESAMPLE_DENOMINATOR)
        if ratio == 0:
            raise ValueError(
                f"new_sfreq={new_sfreq} Hz is too small relative to sfreq={sfreq} "
                f"Hz: the resampling ratio rounds to 0."
            )
        self.up_, self.down_ = ratio.numerator, ratio.denominator
        self.sfreq_out_ = sfreq * self.up_ / self.down_

    def _fit(self, X: np.ndarray) -> None:
        self.n_times_out_ = -(-X.shape[-1] * self.up_ // self.down_)

    def _transform(self, X: np.ndarray) -> np.ndarray:
        return resample_poly(X, self.up_, self.down_, axis=-1)


def _channel_index(channel, ch_names: list | None, n_channels: int, name: str) -> int:
    """Resolve a channel given by index or by name to an index."""
    if isinstance(channel, str):
        if ch_names is None:
            raise ValueError(
                f"{name} gives channel {channel!r} by name, but ch_names is None; "
                f"pass ch_names or use channel indices."
            )
        if channel not in ch_names:
            raise ValueError(
                f"{name} names channel {channel!r}, which is not in ch_names "
                f"{ch_names}."
            )
        return ch_names.index(channel)
    if not isinstance(channel, Integral) or isinstance(channel, bool):
        raise ValueError(f"{name} must hold channel indices or names; got {channel!r}.")
    if not 0 <= channel < n_channels:
        raise ValueError(
            f"{name} refers to channel index {channel}, but X has {n_channels} "
            f"channels (valid indices 0 to {n_channels - 1})."
        )
    return int(channel)


def _check_ch_names(ch_names, n_channels: int) -> list | None:
    if ch_names is None:
        return None
    ch_names = list(ch_names)
    if len(ch_names) != n_channels:
        raise ValueError(
            f"ch_names has {len(ch_names)} names, but X has {n_channels} channels."
        )
    if len(set(ch_names)) != len(ch_names):
        raise ValueError(f"ch_names has duplicate names: {ch_names}.")
    return ch_names


def derivation_matrix(
    ch_names: Sequence[str], available: Sequence[str]
) -> tuple[list[str], np.ndarray]:
    """How to build channels ``ch_names`` from the channels of a recording.

    A name in ``available`` is taken as it is. A name missing there that
    reads ``"A-B"`` with both ``A`` and ``B`` in ``available`` is the bipolar
    derivation ``A - B`` (as :func:`mne.set_bipolar_reference` names it), so a
    model trained on bipolar windows (``"EEG Fp1-EEG F7"``) runs on the
    referential recording they were derived from. A name may hold several
    ``-`` (``"EEG A2-A1"``): exactly one split must name two channels.

    Parameters
    ----------
    ch_names : sequence of str
        The channels a model expects, in order.
    available : sequence of str
        The channels of the recording.

    Returns
    -------
    sources : list of str
        The recording's channels to read, in order.
    matrix : ndarray of shape (len(ch_names), len(sources))
        ``matrix @ data[sources]`` gives the expected channels: +1 for a
        channel or an anode, -1 for a cathode.

    Raises
    ------
    ValueError
        Naming the channels that are neither in ``available`` nor a bipolar
        pair of its channels, or a name with more than one reading.
    """
    available = list(available)
    terms, missing = [], []
    for name in ch_names:
        if name in available:
            terms.append([(name, 1.0)])
            continue
        splits = [
            (name[:i], name[i + 1 :])
            for i, char in enumerate(name)
            if char == "-" and name[:i] in available and name[i + 1 :] in available
        ]
        if len(splits) > 1:
            raise ValueError(
                f"Channel {name!r} reads as more than one bipolar pair of the "
                f"recording's channels: {splits}."
            )
        if not splits:
            missing.append(name)
            continue
        ((anode, cathode),) = splits
        terms.append([(anode, 1.0), (cathode, -1.0)])
    if missing:
        raise ValueError(
            f"The recording lacks the channels {missing} that the model expects "
            "(neither a channel of the recording nor a bipolar pair 'A-B' of "
            f"two of them); it has {available}."
        )
    sources = list(dict.fromkeys(ch for term in terms for ch, _ in term))
    matrix = np.zeros((len(terms), len(sources)))
    for row, term in enumerate(terms):
        for ch, sign in term:
            matrix[row, sources.index(ch)] = sign
    return sources, matrix


@fill_doc
class BipolarMontage(_EEGTransformer):
    """Re-reference to a bipolar montage: output channel ``k = a_k - b_k``.

    Parameters
    ----------
    pairs : "chain" or sequence of (a, b) pairs
        Channel pairs ``(a, b)`` by index (``[(0, 1), (1, 2)]``) or by name
        (``[("Fp1", "F3"), ("F3", "C3")]``, which needs ``ch_names``). "chain"
        takes consecutive channels ``(i, i + 1)`` for ``i = 0 .. n_channels - 2``,
        the iEDeaL convention (channel i − channel i+1).
    ch_names : sequence of str or None, default=None
        Names of the input channels, in order; needed when ``pairs`` uses
        names.

    Attributes
    ----------
    pairs_ : ndarray of shape (n_pairs, 2)
        The pairs as channel indices.
    %(eeg_fit_attributes)s
    """

    def __init__(self, pairs="chain", ch_names=None):
        self.pairs = pairs
        self.ch_names = ch_names

    def _fit(self, X: np.ndarray) -> None:
        n_channels = X.shape[1]
        ch_names = _check_ch_names(self.ch_names, n_channels)
        if isinstance(self.pairs, str):
            if self.pairs != "chain":
                raise ValueError(
                    f'pairs must be "chain" or a sequence of channel pairs; got '
                    f"{self.pairs!r}."
                )
            if n_channels < 2:
                raise ValueError(
                    f'pairs="chain" needs at least 2 channels, but X has '
                    f"{n_channels} channel."
                )
            self.pairs_ = np.column_stack(
                [np.arange(n_channels - 1), np.arange(1, n_channels)]
            )
            return
        pairs = list(self.pairs)
        if not pairs or any(len(pair) != 2 for pair in pairs):
            raise ValueError(
                f"pairs must be a non-empty sequence of (a, b) channel pairs; got "
                f"{self.pairs!r}."
            )
        indices = [
            [_channel_index(ch, ch_names, n_channels, "pairs") for ch in pair]
            for pair in pairs
        ]
        for (a, b), pair in zip(indices, pairs, strict=True):
            if a == b:
                raise ValueError(
                    f"pairs has {tuple(pair)!r}: a channel minus itself is zero."
                )
        self.pairs_ = np.asarray(indices, dtype=np.intp)

    def _transform(self, X: np.ndarray) -> np.ndarray:
        return X[:, self.pairs_[:, 0], :] - X[:, self.pairs_[:, 1], :]


@fill_doc
class ChannelSelector(_EEGTransformer):
    """Keep the given channels, in the given order.

    Parameters
    ----------
    channels : sequence of int or str
        Channel indices, or names (which need ``ch_names``).
    ch_names : sequence of str or None, default=None
        Names of the input channels, in order.

    Attributes
    ----------
    channels_ : ndarray of shape (n_selected,)
        The selected channels as indices.
    %(eeg_fit_attributes)s
    """

    def __init__(self, channels, ch_names=None):
        self.channels = channels
        self.ch_names = ch_names

    def _fit(self, X: np.ndarray) -> None:
        n_channels = X.shape[1]
        ch_names = _check_ch_names(self.ch_names, n_channels)
        channels = [self.channels] if isinstance(self.channels, str) else self.channels
        channels = list(np.atleast_1d(channels).tolist())
        if not channels:
            raise ValueError("channels is empty; select at least one channel.")
        self.channels_ = np.asarray(
            [_channel_index(ch, ch_names, n_channels, "channels") for ch in channels],
            dtype=np.intp,
        )

    def _transform(self, X: np.ndarray) -> np.ndarray:
        return X[:, self.channels_, :]


@fill_doc
class WindowStandardizer(_EEGTransformer):
    """Z-score each window and channel over time.

    ``(x - mean_t(x)) / (std_t(x) + eps)``, computed per window and channel,
    so it needs no training data (stateless).

    Parameters
    ----------
    eps : float, default=1e-8
        Added to the standard deviation so flat channels map to zeros instead
        of dividing by zero; in the units of ``X``.

    Attributes
    ----------
    %(eeg_fit_attributes)s
    """

    def __init__(self, eps=1e-8):
        self.eps = eps

    def _check_params(self) -> None:
        check_scalar(self.eps, "eps", Real, min_val=0)

    def _transform(self, X: np.ndarray) -> np.ndarray:
        mean = X.mean(axis=-1, keepdims=True)
        std = X.std(axis=-1, keepdims=True)
        return (X - mean) / (std + self.eps)


@fill_doc
class Scaler(_EEGTransformer):
    """Standardise each channel with a mean and std fitted on training data.

    The statistics pool all windows and time samples of a channel, so the
    relative amplitude between windows (and within a window) is kept, unlike
    :class:`WindowStandardizer`.

    Attributes
    ----------
    mean_ : ndarray of shape (n_channels,)
        Per-channel mean over windows and time, in the units of ``X``.
    scale_ : ndarray of shape (n_channels,)
        Per-channel standard deviation over windows and time; 1 for constant
        channels (as in :class:`sklearn.preprocessing.StandardScaler`).
    %(eeg_fit_attributes)s
    """

    def _fit(self, X: np.ndarray) -> None:
        self.mean_ = X.mean(axis=(0, 2))
        scale = X.std(axis=(0, 2))
        self.scale_ = np.where(scale > 0, scale, 1.0)

    def _transform(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean_[:, np.newaxis]) / self.scale_[:, np.newaxis]
