"""Slide a fitted window classifier over a continuous recording.

:func:`score_recording` reads the recording in chunks
(``raw.get_data(start=, stop=)`` on a Raw opened with ``preload=False``) and
scores every window with the model's ``predict_proba``; it holds one chunk
plus the overlap the next window needs, never the recording. The windows are
the ones :func:`skeeg.datasets.make_fixed_windows` cuts (starts ``0, step,
2 step, ...``; samples after the last full window unused), so the scores
equal those of the fully loaded recording to float precision whatever the
chunk length. :func:`windows_to_events` merges the windows above a threshold
into events; :func:`detect_events` does both.

Preprocessing belongs to the model: a :class:`~sklearn.pipeline.Pipeline`
whose first steps filter (:class:`skeeg.preprocessing.BandpassFilter`)
filters each window on its own, exactly as in training, so chunking cannot
change it. What the model records about its input is checked against the
recording before anything is read: the sampling rate (a step's ``sfreq``
parameter, or ``sfreq=``), the channel names (a step's ``ch_names``, or
``ch_names=``), the channel count (``n_channels_in_``) and the window length
(``n_times_in_``). A mismatch is a ``ValueError`` naming both values; the
recording is never re-montaged, and resampled only with ``resample=True``
(polyphase, chunk by chunk, equal to resampling the whole recording).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Real

import mne
import numpy as np
import pandas as pd
from scipy.signal import resample_poly
from sklearn.pipeline import Pipeline
from sklearn.utils import check_scalar
from sklearn.utils.validation import check_is_fitted

from skeeg.datasets.io import read_raw
from skeeg.datasets.windowing import take_windows, window_samples
from skeeg.detection.events import TIME_SLACK_S, as_events
from skeeg.preprocessing import Resampler, derivation_matrix

__all__ = ["score_recording", "windows_to_events", "detect_events"]

Recording = mne.io.BaseRaw | str | os.PathLike


class _Reader:
    """Samples ``[start, stop)`` of the model's channels at the model's rate.

    The channels are ``matrix @`` the recording's ``sources`` (an identity
    for channels the recording has, +1/-1 rows for bipolar derivations;
    :func:`skeeg.preprocessing.derivation_matrix`), applied to each block as
    it is read: MNE's :func:`~mne.set_bipolar_reference` needs the whole
    recording in memory, and the derivation is linear, so it commutes with
    the resampling below.

    With ``up / down != 1`` the signal is resampled block by block with
    :func:`scipy.signal.resample_poly`; each block is computed from an input
    segment that starts on a multiple of ``down`` (so its output samples fall
    on the whole recording's output grid) and reaches ``margin`` input
    samples past the block on both sides (beyond the filter's reach), so a
    block equals the same samples of the whole recording resampled at once.
    """

    def __init__(
        self, raw: mne.io.BaseRaw, sources: list[str], matrix, up=1, down=1
    ) -> None:
        self.raw, self.sources, self.up, self.down = raw, sources, up, down
        identity = matrix.shape[0] == matrix.shape[1] and np.array_equal(
            matrix, np.eye(len(matrix))
        )
        self.matrix = None if identity else matrix
        self.n_channels = len(matrix)
        # resample_poly's filter spans 10 * max(up, down) samples of the
        # up-sampled signal on each side; twice that as margin, in whole
        # multiples of ``down`` input samples.
        reach = -(-20 * max(up, down) // up) + 1
        self.margin = down * -(-reach // down)
        self.n_times = -(-raw.n_times * up // down)

    def _get(self, start: int, stop: int) -> np.ndarray:
        x = self.raw.get_data(picks=self.sources, start=start, stop=stop)
        return x if self.matrix is None else self.matrix @ x

    def read(self, start: int, stop: int) -> np.ndarray:
        if self.up == self.down == 1:
            return self._get(start, stop)
        grid_start = start // self.up * self.down  # an input multiple of down
        lo = max(0, grid_start - self.margin)
        hi = min(self.raw.n_times, -(-stop * self.down // self.up) + self.margin)
        x = self._get(lo, hi)
        offset = lo * self.up // self.down
        return resample_poly(x, self.up, self.down, axis=1)[
            :, start - offset : stop - offset
        ]


@dataclass(frozen=True)
class _Plan:
    """What to read and how to cut it, in samples at the model's rate."""

    reader: _Reader
    sfreq: float
    n_times: int
    starts: np.ndarray


def _open(recording: Recording) -> mne.io.BaseRaw:
    if isinstance(recording, mne.io.BaseRaw):
        return recording
    if isinstance(recording, str | os.PathLike):
        return read_raw(recording, preload=False)
    raise TypeError(
        f"recording must be an mne.io.BaseRaw or a path to an EDF/BDF/FIF/"
        f"BrainVision file; got {type(recording).__name__}."
    )


def _steps(model) -> list:
    if isinstance(model, Pipeline):
        return [est for _, est in model.steps if est not in (None, "passthrough")]
    return [model]


def _model_param(steps: list, name: str) -> tuple[object, str | None]:
    """The first step's non-None parameter ``name`` and where it came from.

    Steps run in order and only a resampler changes the rate (its ``sfreq`` is
    its input rate), so the first step that names a rate or channels names
    those of the recording the model expects.
    """
    for step in steps:
        value = step.get_params(deep=False).get(name)
        if value is not None:
            return value, f"{type(step).__name__}.{name}={value!r}"
    return None, None


def _fitted_attr(model, steps: list, name: str) -> int | None:
    """``n_channels_in_`` / ``n_times_in_`` of the model or its first step."""
    value = getattr(model, name, None)
    if value is None:
        value = getattr(steps[0], name, None)
    return value


def _check_binary(model, steps: list) -> None:
    check_is_fitted(model)
    classes = getattr(steps[-1], "classes_", None)
    if classes is not None and len(classes) != 2:
        raise ValueError(
            f"Detection needs a binary classifier, but {type(steps[-1]).__name__} "
            f"has {len(classes)} classes ({list(classes)}); the events are the "
            f"windows of classes_[1]."
        )


def _resampling(raw_sfreq: float, sfreq, steps: list, resample: bool):
    """``(up, down)`` from the recording's rate to the model's."""
    source = "sfreq argument"
    if sfreq is None:
        sfreq, source = _model_param(steps, "sfreq")
    if sfreq is None:
        if resample:
            raise ValueError(
                "resample=True needs the model's sampling rate, but the model "
                "does not record one; pass sfreq=."
            )
        return 1, 1
    check_scalar(sfreq, "sfreq", Real, min_val=0, include_boundaries="neither")
    if np.isclose(raw_sfreq, float(sfreq)):
        return 1, 1
    if not resample:
        raise ValueError(
            f"The recording is sampled at {raw_sfreq:g} Hz, but the model expects "
            f"{float(sfreq):g} Hz ({source}). Pass resample=True to resample it "
            f"while reading, or give a model trained at {raw_sfreq:g} Hz."
        )
    # The factor skeeg's Resampler transformer would use.
    resampler = Resampler(sfreq=raw_sfreq, new_sfreq=float(sfreq))
    resampler._check_params()
    return resampler.up_, resampler.down_


def pick_names(raw: mne.io.BaseRaw, picks) -> list[str]:
    """The names MNE's ``picks`` select, in order, without copying the data.

    ``raw.copy().pick(picks)`` would copy a preloaded recording; a one-sample
    Raw with the same ``info`` resolves names, types and indices the same way.
    """
    stand_in = mne.io.RawArray(
        np.zeros((len(raw.ch_names), 1)), raw.info.copy(), verbose=False
    )
    return stand_in.pick(picks).ch_names


def _channels(raw: mne.io.BaseRaw, picks, ch_names, steps: list) -> list[str]:
    source = "ch_names argument"
    if ch_names is None:
        ch_names, source = _model_param(steps, "ch_names")
    if ch_names is not None:
        ch_names = [str(name) for name in ch_names]
        try:
            derivation_matrix(ch_names, raw.ch_names)
        except ValueError as exc:
            raise ValueError(f"{exc} (expected channels: {source})") from None
    if picks is None:
        return ch_names if ch_names is not None else pick_names(raw, "data")
    picked = pick_names(raw, picks)
    if ch_names is not None and picked != ch_names:
        raise ValueError(
            f"picks={picks!r} selects {picked}, but the model expects the "
            f"channels {ch_names} in this order ({source})."
        )
    return picked


def _step_samples(step_s, sfreq: float, n_times: int) -> int:
    if step_s is None:
        return n_times
    check_scalar(step_s, "step_s", Real, min_val=0, include_boundaries="neither")
    step = int(round(step_s * sfreq))
    if step < 1:
        raise ValueError(
            f"step_s={step_s} s is shorter than one sample at sfreq={sfreq:g} Hz."
        )
    return step


def _plan(model, raw, *, window_s, step_s, picks, sfreq, ch_names, resample) -> _Plan:
    """Check the model against the recording and fix the windows."""
    steps = _steps(model)
    _check_binary(model, steps)
    check_scalar(resample, "resample", bool)
    up, down = _resampling(float(raw.info["sfreq"]), sfreq, steps, resample)
    rate = float(raw.info["sfreq"]) * up / down  # what the windows see
    names = _channels(raw, picks, ch_names, steps)
    n_channels_in = _fitted_attr(model, steps, "n_channels_in_")
    if n_channels_in is not None and len(names) != n_channels_in:
        raise ValueError(
            f"{len(names)} channels are picked ({names}), but the model was "
            f"fitted with {n_channels_in} channels (n_channels_in_="
            f"{n_channels_in}); choose them with picks= or ch_names=."
        )
    reader = _Reader(raw, *derivation_matrix(names, raw.ch_names), up, down)
    n_samples = reader.n_times
    n_times_in = _fitted_attr(model, steps, "n_times_in_")
    if window_s is None:
        if n_times_in is None:
            raise ValueError(
                "window_s is required: the model does not record its window "
                "length (no n_times_in_)."
            )
        n_times = window_samples(n_times_in / rate, rate, n_samples)
    else:
        n_times = window_samples(window_s, rate, n_samples)
        if n_times_in is not None and n_times != n_times_in:
            raise ValueError(
                f"window_s={window_s} s is {n_times} samples at {rate:g} Hz, "
                f"but the model takes windows of {n_times_in} samples "
                f"(n_times_in_={n_times_in}, {n_times_in / rate:g} s)."
            )
    step = _step_samples(step_s, rate, n_times)
    starts = np.arange(0, n_samples - n_times + 1, step)
    return _Plan(reader, rate, n_times, starts)


def _chunk_samples(chunk_s, sfreq: float) -> int:
    check_scalar(chunk_s, "chunk_s", Real, min_val=0, include_boundaries="neither")
    return max(1, int(round(chunk_s * sfreq)))


def _scores(model, plan: _Plan, chunk: int, batch_size: int, progress):
    """Positive-class probability of every window, reading ``chunk`` new
    samples at a time and keeping only what later windows still need."""
    starts, n_times = plan.starts, plan.n_times
    scores = np.empty(len(starts))
    buffer = np.empty((plan.reader.n_channels, 0))
    buffer_start = read_stop = 0
    last_stop = int(starts[-1]) + n_times
    done = 0
    while done < len(starts):
        # Skips the samples no window uses (a step longer than the window).
        read_start = max(read_stop, int(starts[done]))
        read_stop = min(read_start + chunk, last_stop)
        new = plan.reader.read(read_start, read_stop)
        buffer = np.concatenate([buffer, new], axis=1)
        ready = int(np.searchsorted(starts, read_stop - n_times, side="right"))
        for first in range(done, ready, batch_size):
            batch = starts[first : min(first + batch_size, ready)] - buffer_start
            X = take_windows(buffer, batch, n_times)
            scores[first : first + len(batch)] = model.predict_proba(X)[:, 1]
        done = ready
        if done < len(starts):
            # Keeps what the next window needs; empty when it starts later.
            keep_from = int(starts[done]) - buffer_start
            buffer, buffer_start = buffer[:, keep_from:], int(starts[done])
        if progress is not None:
            progress(done, len(starts))
    return scores


def score_recording(
    model,
    recording: Recording,
    *,
    window_s: float | None = None,
    step_s: float | None = None,
    picks: str | Sequence[str] | None = None,
    sfreq: float | None = None,
    ch_names: Sequence[str] | None = None,
    resample: bool = False,
    chunk_s: float = 300.0,
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Score every sliding window of a recording, reading it in chunks.

    Parameters
    ----------
    model : fitted binary classifier or Pipeline
        Any estimator with ``predict_proba`` taking windows of shape
        ``(n_windows, n_channels, n_times)`` in volts (as
        :func:`~skeeg.datasets.make_fixed_windows` cuts them from a Raw);
        the score is the probability of ``classes_[1]``.
    recording : mne.io.BaseRaw or path-like
        The recording; a path is opened with ``preload=False``
        (:func:`skeeg.datasets.read_raw`: EDF, BDF, FIF, BrainVision). A
        preloaded Raw works too.
    window_s : float or None, default=None
        Window length in seconds (``round(window_s * sfreq)`` samples). None
        takes the model's ``n_times_in_``; when both are known they must
        agree.
    step_s : float or None, default=None
        Step between window starts in seconds; None means ``window_s``
        (windows side by side).
    picks : str, list of str or None, default=None
        The channels to read, in the model's order (MNE picks: names or
        types). None: the model's channel names when known, else the data
        channels.
    sfreq : float or None, default=None
        The sampling rate the model was trained at, in Hz, when the model
        does not say (no step with an ``sfreq`` parameter). The recording's
        rate must equal it.
    ch_names : list of str or None, default=None
        The channels the model was trained on, in order, when the model does
        not say (no step with a ``ch_names`` parameter). The recording must
        have them all.
    resample : bool, default=False
        When the recording's rate differs from the model's (which must then
        be known), resample the picked channels to it while reading, with
        the polyphase filter and factor of
        :class:`skeeg.preprocessing.Resampler`; chunks overlap so that the
        result equals resampling the whole recording at once (to float
        precision). Window lengths and steps are then counted at the model's
        rate. False: a rate mismatch is a ``ValueError``.
    chunk_s : float, default=300.0
        Seconds of signal read from the file at a time. Memory holds one
        chunk plus one window.
    batch_size : int, default=256
        Windows per ``predict_proba`` call.
    progress : callable or None, default=None
        Called after each chunk as ``progress(n_scored, n_windows)``.

    Returns
    -------
    windows : pandas.DataFrame
        One row per window: ``onset`` (window start in seconds from the
        first sample), ``duration`` (the window length in seconds) and
        ``score`` (probability of ``classes_[1]``).

    Raises
    ------
    ValueError
        When the recording's rate, channels or window length differ from the
        model's, the model is not binary, or a parameter is out of range.
    TypeError
        When ``recording`` is neither a Raw nor a path.
    """
    check_scalar(batch_size, "batch_size", int, min_val=1)
    raw = _open(recording)
    plan = _plan(
        model,
        raw,
        window_s=window_s,
        step_s=step_s,
        picks=picks,
        sfreq=sfreq,
        ch_names=ch_names,
        resample=resample,
    )
    chunk = _chunk_samples(chunk_s, plan.sfreq)
    scores = _scores(model, plan, chunk, batch_size, progress)
    return pd.DataFrame(
        {
            "onset": plan.starts / plan.sfreq,
            "duration": np.full(len(plan.starts), plan.n_times / plan.sfreq),
            "score": scores,
        }
    )


def _check_threshold(threshold) -> float:
    return float(check_scalar(threshold, "threshold", Real, min_val=0, max_val=1))


def windows_to_events(
    windows: pd.DataFrame,
    *,
    threshold: float = 0.5,
    merge_gap_s: float = 0.0,
) -> pd.DataFrame:
    """Merge the windows scored above a threshold into events.

    Parameters
    ----------
    windows : pandas.DataFrame
        Scored windows with ``onset``, ``duration`` and ``score`` columns,
        sorted by onset, as :func:`score_recording` returns.
    threshold : float in [0, 1], default=0.5
        A window is positive when its score is above the threshold (as
        skeeg's ``predict``).
    merge_gap_s : float, default=0.0
        Positive windows whose gap is at most this many seconds join one
        event; 0 merges overlapping and touching windows only.

    Returns
    -------
    events : pandas.DataFrame
        The event table (:data:`~skeeg.detection.EVENT_COLUMNS`), one row
        per run of merged positive windows: ``onset`` (start of its first
        window), ``duration`` (to the end of its last window), ``peak`` (the
        centre of its highest-scoring window, the first on ties), ``score``
        (that window's score) and ``channels`` (None: a window classifier
        does not localise).
    """
    threshold = _check_threshold(threshold)
    check_scalar(merge_gap_s, "merge_gap_s", Real, min_val=0)
    missing = {"onset", "duration", "score"} - set(windows.columns)
    if missing:
        raise ValueError(
            f"windows lacks the columns {sorted(missing)}; it needs onset, "
            f"duration and score (as score_recording returns)."
        )
    positive = windows.loc[windows["score"].to_numpy() > threshold]
    onset = positive["onset"].to_numpy(dtype=float)
    end = onset + positive["duration"].to_numpy(dtype=float)
    if np.any(np.diff(onset) < 0):
        raise ValueError("windows must be sorted by onset.")
    # A window opens a new event when it starts after every earlier window
    # of the current event has ended, plus the allowed gap.
    reach = np.maximum.accumulate(end) + merge_gap_s + TIME_SLACK_S
    opens_event = np.ones(len(onset), dtype=bool)
    opens_event[1:] = onset[1:] > reach[:-1]
    event_id = np.cumsum(opens_event)
    score = positive["score"].to_numpy(dtype=float)
    runs = pd.DataFrame({"onset": onset, "end": end, "score": score}).groupby(
        event_id, sort=True
    )
    best = runs["score"].idxmax().to_numpy(dtype=int)
    start = runs["onset"].min().to_numpy()
    return as_events(
        pd.DataFrame(
            {
                "onset": start,
                "duration": runs["end"].max().to_numpy() - start,
                "peak": (onset[best] + end[best]) / 2,
                "score": score[best],
            }
        )
    )


def detect_events(
    model,
    recording: Recording,
    *,
    window_s: float | None = None,
    step_s: float | None = None,
    threshold: float | None = None,
    picks: str | Sequence[str] | None = None,
    sfreq: float | None = None,
    ch_names: Sequence[str] | None = None,
    resample: bool = False,
    merge_gap_s: float = 0.0,
    chunk_s: float = 300.0,
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Detect events in a recording with a fitted window classifier.

    :func:`score_recording`, then :func:`windows_to_events`.

    Parameters
    ----------
    model, recording, window_s, step_s, picks, sfreq, ch_names, resample
        As in :func:`score_recording`.
    threshold : float in [0, 1] or None, default=None
        A window is positive when its score is above it. None takes the
        model's ``threshold_`` (skeeg classifiers, also as the last step of
        a Pipeline), else 0.5.
    merge_gap_s : float, default=0.0
        As in :func:`windows_to_events`.
    chunk_s, batch_size, progress
        As in :func:`score_recording`.

    Returns
    -------
    events : pandas.DataFrame
        The event table; times in seconds from the recording's first sample
        (:func:`~skeeg.detection.to_annotations` and
        :func:`~skeeg.detection.write_events` take it to MNE and to files).

    Examples
    --------
    >>> from skeeg.detection import detect_events, write_events
    >>> events = detect_events(model, "night.edf", step_s=0.5)  # doctest: +SKIP
    >>> write_events(events, "sub-01_events.tsv")  # doctest: +SKIP
    """
    if threshold is None:
        threshold = getattr(_steps(model)[-1], "threshold_", 0.5)
    threshold = _check_threshold(threshold)
    windows = score_recording(
        model,
        recording,
        window_s=window_s,
        step_s=step_s,
        picks=picks,
        sfreq=sfreq,
        ch_names=ch_names,
        resample=resample,
        chunk_s=chunk_s,
        batch_size=batch_size,
        progress=progress,
    )
    return windows_to_events(windows, threshold=threshold, merge_gap_s=merge_gap_s)
