"""Cut a continuous recording into windows: fixed sliding windows or windows
centred on events.

Both functions return a :class:`sklearn.utils.Bunch` with the fields every
skeeg data function shares: ``X``, ``y``, ``groups``, ``metadata``, ``sfreq``,
``ch_names`` and, when there are events, ``events``; or ``(X, y)`` with
``return_X_y=True``. The windows are read from one strided view of the
recording (:func:`numpy.lib.stride_tricks.sliding_window_view`) and copied
once, with a single fancy index, so a long recording is never duplicated
window by window. An array is not copied before that; a Raw is
read once with ``raw.get_data()``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import mne
import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.utils import Bunch

UNKNOWN_STAGE = "unknown"

METADATA_COLUMNS = ("subject", "recording", "onset", "label", "sleep_stage")
EVENT_COLUMNS = ("onset", "duration", "description", "time")


def _as_array(data, sfreq) -> tuple[np.ndarray, float, mne.io.BaseRaw | None]:
    """Return ``(array (n_channels, n_samples), sfreq, raw or None)``."""
    if isinstance(data, mne.io.BaseRaw):
        raw_sfreq = float(data.info["sfreq"])
        if sfreq is not None and not np.isclose(float(sfreq), raw_sfreq):
            raise ValueError(
                f"sfreq={sfreq} does not match the Raw's sampling rate "
                f"raw.info['sfreq']={raw_sfreq}; pass sfreq=None with a Raw."
            )
        return data.get_data(), raw_sfreq, data
    array = np.asarray(data)
    if array.ndim != 2:
        raise ValueError(
            f"data must be an mne.io.BaseRaw or an array of shape "
            f"(n_channels, n_samples); got an array of shape {array.shape}."
        )
    if sfreq is None:
        raise ValueError("sfreq is required when data is an array (got None).")
    sfreq = float(sfreq)
    if not np.isfinite(sfreq) or sfreq <= 0:
        raise ValueError(f"sfreq must be a positive number; got sfreq={sfreq}.")
    return array, sfreq, None


def window_samples(window_s: float, sfreq: float, n_samples: int) -> int:
    if not np.isfinite(window_s) or window_s <= 0:
        raise ValueError(f"window_s must be a positive number; got {window_s}.")
    n_times = int(round(window_s * sfreq))
    if n_times < 1:
        raise ValueError(
            f"window_s={window_s} s is shorter than one sample at sfreq={sfreq} Hz."
        )
    if n_times > n_samples:
        raise ValueError(
            f"window_s={window_s} s ({n_times} samples) is longer than the "
            f"recording ({n_samples} samples, {n_samples / sfreq:g} s)."
        )
    return n_times


def take_windows(array: np.ndarray, starts: np.ndarray, n_times: int) -> np.ndarray:
    """Copy the windows starting at ``starts`` into one (n, n_channels, n_times)."""
    # (n_positions, n_channels, n_times) view; the fancy index is the only copy.
    view = np.moveaxis(sliding_window_view(array, n_times, axis=1), 1, 0)
    windows = view[starts]
    if not np.issubdtype(windows.dtype, np.floating):
        windows = windows.astype(np.float64)
    return windows


def annotation_spans(
    annotations: mne.Annotations, raw: mne.io.BaseRaw | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Onsets (s from the first sample), durations and descriptions."""
    onset = np.asarray(annotations.onset, dtype=float)
    # MNE counts the onsets of annotations attached to a Raw, and of any with an
    # orig_time, from sample 0 of the acquisition, not from raw.first_samp.
    if raw is not None and (
        annotations.orig_time is not None or annotations is raw.annotations
    ):
        onset = onset - raw.first_time
    duration = np.asarray(annotations.duration, dtype=float)
    return onset, duration, np.asarray(annotations.description, dtype=object)


def _event_table(
    onset: np.ndarray, duration: np.ndarray, description: np.ndarray
) -> pd.DataFrame:
    """Events as a DataFrame; ``time`` is the peak, ``onset + duration / 2``."""
    return pd.DataFrame(
        {
            "onset": onset,
            "duration": duration,
            "description": description,
            "time": onset + duration / 2,
        },
        columns=list(EVENT_COLUMNS),
    )


def _point_events(times: np.ndarray) -> pd.DataFrame:
    """Event times given as numbers: zero duration, no description."""
    return _event_table(
        times, np.zeros(len(times)), np.full(len(times), None, dtype=object)
    )


def _fixed_window_events(events, raw: mne.io.BaseRaw | None) -> pd.DataFrame:
    """The events as a table sorted by peak time (seconds from the first sample)."""
    if isinstance(events, mne.Annotations):
        table = _event_table(*annotation_spans(events, raw))
    else:
        table = _point_events(np.asarray(events, dtype=float).ravel())
    return table.sort_values("time", kind="stable", ignore_index=True)


def _stage_table(hypnogram, raw) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(onset, end, stage)`` arrays sorted by onset, from any hypnogram form."""
    if isinstance(hypnogram, mne.Annotations):
        onset, duration, stage = annotation_spans(hypnogram, raw)
    elif isinstance(hypnogram, pd.DataFrame):
        missing = {"onset", "duration", "stage"} - set(hypnogram.columns)
        if missing:
            raise ValueError(
                f"hypnogram DataFrame lacks the columns {sorted(missing)}; it needs "
                f"onset, duration and stage (as read_hypnogram returns)."
            )
        onset = hypnogram["onset"].to_numpy(dtype=float)
        duration = hypnogram["duration"].to_numpy(dtype=float)
        stage = hypnogram["stage"].to_numpy(dtype=object)
    elif isinstance(hypnogram, tuple) and len(hypnogram) == 2:
        stage = np.asarray(hypnogram[0], dtype=object).ravel()
        epoch_s = float(hypnogram[1])
        if not epoch_s > 0:
            raise ValueError(f"hypnogram epoch length must be positive; got {epoch_s}.")
        onset = np.arange(len(stage)) * epoch_s
        duration = np.full(len(stage), epoch_s)
    else:
        raise ValueError(
            "hypnogram must be a (stages, epoch_s) tuple, an mne.Annotations of "
            "stages or a DataFrame with onset, duration and stage columns; got "
            f"{type(hypnogram).__name__}."
        )
    order = np.argsort(onset, kind="stable")
    return onset[order], (onset + duration)[order], stage[order]


def _stages_at(times: np.ndarray, hypnogram, raw) -> np.ndarray:
    """The stage scored at each time, ``"unknown"`` outside every epoch."""
    stages = np.full(len(times), UNKNOWN_STAGE, dtype=object)
    if hypnogram is None:
        return stages
    onset, end, stage = _stage_table(hypnogram, raw)
    idx = np.searchsorted(onset, times, side="right") - 1
    inside = (idx >= 0) & (times < end[np.clip(idx, 0, None)])
    stages[inside] = stage[idx[inside]]
    return stages


def _metadata(subject, recording, onset, labels, stages) -> pd.DataFrame:
    n = len(onset)
    return pd.DataFrame(
        {
            "subject": [subject] * n,
            "recording": [recording] * n,
            "onset": onset,
            "label": labels,
            "sleep_stage": stages,
        },
        columns=list(METADATA_COLUMNS),
    )


def _windows_bunch(
    X: np.ndarray,
    y: np.ndarray,
    metadata: pd.DataFrame,
    sfreq: float,
    raw: mne.io.BaseRaw | None,
    events: pd.DataFrame | None,
    return_X_y: bool,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """The windows as ``(X, y)`` or as a Bunch of the fields all loaders share."""
    if return_X_y:
        return X, y
    # The subject is the unit to split on; without one, the recording is.
    column = "subject" if metadata["subject"].notna().all() else "recording"
    ch_names = (
        list(raw.ch_names) if raw is not None else [f"ch{i}" for i in range(X.shape[1])]
    )
    windows = Bunch(
        X=X,
        y=y,
        groups=metadata[column].to_numpy(),
        metadata=metadata,
        sfreq=sfreq,
        ch_names=ch_names,
    )
    if events is not None:
        windows.events = events
    return windows


def make_fixed_windows(
    data: mne.io.BaseRaw | np.ndarray,
    sfreq: float | None = None,
    *,
    window_s: float,
    stride_s: float | None = None,
    events: np.ndarray | Sequence[float] | mne.Annotations | None = None,
    center_fraction: float = 0.5,
    subject: object = None,
    recording: object = None,
    hypnogram: tuple | mne.Annotations | pd.DataFrame | None = None,
    return_X_y: bool = False,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Cut a recording into fixed-length sliding windows.

    Parameters
    ----------
    data : mne.io.BaseRaw or ndarray of shape (n_channels, n_samples)
        The recording. A Raw gives volts (``raw.get_data()``); an array is
        used in whatever unit it holds.
    sfreq : float or None, default=None
        Sampling rate in Hz; required for an array, ``None`` (or equal to
        ``raw.info["sfreq"]``) for a Raw.
    window_s : float
        Window length in seconds; ``round(window_s * sfreq)`` samples.
    stride_s : float or None, default=None
        Step between window starts in seconds; ``None`` means ``window_s``
        (non-overlapping windows). Samples after the last full window are
        not used.
    events : array-like of shape (n_events,), mne.Annotations or None
        Event peak times in seconds from the first sample. For Annotations the
        time of an event is ``onset + duration / 2``. ``None`` labels every
        window 0.
    center_fraction : float in (0, 1], default=0.5
        A window is labelled 1 when an event time falls in its central
        ``center_fraction`` part, i.e. in
        ``[start + (1 - f) / 2 * window_s, start + (1 + f) / 2 * window_s)``;
        1.0 means anywhere in the window.
    subject, recording : object, default=None
        Copied into every row of ``metadata``; ``groups`` is the subject, or
        the recording when ``subject`` is None.
    hypnogram : tuple, mne.Annotations, pandas.DataFrame or None
        Sleep stages that fill ``metadata["sleep_stage"]`` with the stage
        scored at each window's centre: a ``(stages, epoch_s)`` tuple of
        per-epoch labels from time 0, Annotations whose descriptions are the
        stages, or a DataFrame with ``onset``, ``duration`` and ``stage``
        columns (:func:`~skeeg.datasets.read_hypnogram`). Stages are used as
        given; centres outside every scored epoch get ``"unknown"``.
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of the Bunch.

    Returns
    -------
    windows : sklearn.utils.Bunch
        With the fields

        X : ndarray of shape (n_windows, n_channels, n_times)
            The windows, in the unit and dtype of the data (volts for a Raw;
            float64 for integer data).
        y : ndarray of shape (n_windows,), dtype int64
            1 when an event falls in the window's central part, else 0.
        groups : ndarray of shape (n_windows,), dtype object
            The unit to split on: ``subject`` in every row, or ``recording``
            when ``subject`` is None (``None`` when neither is given).
        metadata : pandas.DataFrame
            One row per window: ``subject``, ``recording``, ``onset`` (window
            start in seconds from the first sample), ``label`` (= ``y``) and
            ``sleep_stage``.
        sfreq : float
            Sampling rate in Hz.
        ch_names : list of str
            The Raw's channel names; ``"ch0"``, ``"ch1"``, ... for an array.
        events : pandas.DataFrame
            Only when ``events`` is given: one row per event, sorted by
            ``time``, with ``onset`` and ``duration`` (seconds from the first
            sample), ``description`` (the annotation's; None for event
            times) and ``time`` (``onset + duration / 2``, the time that
            labels the windows).

    (X, y) : tuple of ndarray
        With ``return_X_y=True``: the two arrays above.

    Raises
    ------
    ValueError
        On a non-positive ``window_s``/``stride_s``/``sfreq``, a window longer
        than the recording, or ``center_fraction`` outside (0, 1].
    """
    array, sfreq, raw = _as_array(data, sfreq)
    n_samples = array.shape[1]
    n_times = window_samples(window_s, sfreq, n_samples)
    if stride_s is None:
        stride = n_times
    else:
        if not np.isfinite(stride_s) or stride_s <= 0:
            raise ValueError(f"stride_s must be a positive number; got {stride_s}.")
        stride = int(round(stride_s * sfreq))
        if stride < 1:
            raise ValueError(
                f"stride_s={stride_s} s is shorter than one sample at sfreq={sfreq} Hz."
            )
    if not 0 < center_fraction <= 1:
        raise ValueError(
            f"center_fraction must be in (0, 1]; got center_fraction={center_fraction}."
        )

    starts = np.arange(0, n_samples - n_times + 1, stride)
    X = take_windows(array, starts, n_times)

    y = np.zeros(len(starts), dtype=np.int64)
    table = None
    if events is not None:
        table = _fixed_window_events(events, raw)
        event_samples = table["time"].to_numpy() * sfreq
        lo = starts + (1 - center_fraction) / 2 * n_times
        hi = lo + center_fraction * n_times
        n_inside = np.searchsorted(event_samples, hi, side="left") - np.searchsorted(
            event_samples, lo, side="left"
        )
        y = (n_inside > 0).astype(np.int64)

    stages = _stages_at((starts + n_times / 2) / sfreq, hypnogram, raw)
    metadata = _metadata(subject, recording, starts / sfreq, y, stages)
    return _windows_bunch(X, y, metadata, sfreq, raw, table, return_X_y)


def make_event_windows(
    data: mne.io.BaseRaw | np.ndarray,
    sfreq: float | None = None,
    *,
    window_s: float,
    annotations: mne.Annotations | None = None,
    events: np.ndarray | Sequence[float] | None = None,
    labels: np.ndarray | Sequence[int] | None = None,
    mapping: Mapping[str, int] | None = None,
    subject: object = None,
    recording: object = None,
    hypnogram: tuple | mne.Annotations | pd.DataFrame | None = None,
    return_X_y: bool = False,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Cut one window centred on each annotation or event (epoched designs).

    Parameters
    ----------
    data : mne.io.BaseRaw or ndarray of shape (n_channels, n_samples)
        The recording (see :func:`make_fixed_windows`).
    sfreq : float or None, default=None
        Sampling rate in Hz; required for an array, ``None`` for a Raw.
    window_s : float
        Window length in seconds; the window of an event at time ``t`` starts
        at sample ``round(t * sfreq) - n_times // 2``.
    annotations : mne.Annotations or None
        Windows centred on ``onset + duration / 2`` of each annotation, labelled
        through ``mapping``. Give either ``annotations`` or ``events``.
    events : array-like of shape (n_events,) or None
        Event times in seconds from the first sample.
    labels : array-like of int, shape (n_events,), or None
        Label of each event; ``None`` labels every event 1. Only with ``events``.
    mapping : dict of str to int or None
        Annotation description → label. Annotations whose description is not a
        key are not windowed (this is how to leave out, e.g., ``"BAD"``
        spans). ``None`` numbers the sorted unique descriptions 0, 1, ….
    subject, recording : object, default=None
        Copied into every row of ``metadata``; ``groups`` is the subject, or
        the recording when ``subject`` is None.
    hypnogram : tuple, mne.Annotations, pandas.DataFrame or None
        Sleep stages for ``metadata["sleep_stage"]``, looked up at each window's
        centre (see :func:`make_fixed_windows`).
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of the Bunch.

    Returns
    -------
    windows : sklearn.utils.Bunch
        With the fields

        X : ndarray of shape (n_windows, n_channels, n_times)
            The windows, in the order of the events, in the unit and dtype of
            the data (float64 for integer data).
        y : ndarray of shape (n_windows,), dtype int64
            The label of each window's event.
        groups : ndarray of shape (n_windows,), dtype object
            ``subject`` in every row, or ``recording`` when ``subject`` is
            None (``None`` when neither is given).
        metadata : pandas.DataFrame
            ``subject``, ``recording``, ``onset`` (window start, seconds),
            ``label`` and ``sleep_stage``, one row per window.
        sfreq : float
            Sampling rate in Hz.
        ch_names : list of str
            The Raw's channel names; ``"ch0"``, ``"ch1"``, ... for an array.
        events : pandas.DataFrame
            The windowed events, one row per window in the order of ``X``:
            ``onset`` and ``duration`` (seconds from the first sample; 0 for
            event times), ``description`` (the annotation's; None for event
            times), ``time`` (the window's centre event time,
            ``onset + duration / 2``) and ``label`` (= ``y``). Annotations
            left out by ``mapping`` and events whose window does not fit are
            not listed.

    (X, y) : tuple of ndarray
        With ``return_X_y=True``: the two arrays above.

    Warns
    -----
    RuntimeWarning
        When windows of events too close to either end of the recording do
        not fit and are left out (the warning gives how many).

    Raises
    ------
    ValueError
        If neither or both of ``annotations``/``events`` are given, on a
        non-positive ``window_s``, a window longer than the recording, or
        ``labels`` that do not match ``events``.
    """
    array, sfreq, raw = _as_array(data, sfreq)
    n_samples = array.shape[1]
    n_times = window_samples(window_s, sfreq, n_samples)
    if (annotations is None) == (events is None):
        raise ValueError("Give exactly one of annotations or events.")

    if annotations is not None:
        if labels is not None:
            raise ValueError("labels goes with events; use mapping for annotations.")
        onset, duration, description = annotation_spans(annotations, raw)
        if mapping is None:
            mapping = {d: i for i, d in enumerate(sorted(set(description)))}
        keep = np.array([d in mapping for d in description], dtype=bool)
        table = _event_table(onset[keep], duration[keep], description[keep])
        y = np.array([mapping[d] for d in description[keep]], dtype=np.int64)
    else:
        table = _point_events(np.asarray(events, dtype=float).ravel())
        if labels is None:
            y = np.ones(len(table), dtype=np.int64)
        else:
            y = np.asarray(labels, dtype=np.int64).ravel()
            if len(y) != len(table):
                raise ValueError(
                    f"labels has {len(y)} entries but events has {len(table)}."
                )

    starts = np.round(table["time"].to_numpy() * sfreq).astype(np.int64) - n_times // 2
    fits = (starts >= 0) & (starts + n_times <= n_samples)
    if not fits.all():
        warnings.warn(
            f"{np.count_nonzero(~fits)} of {len(starts)} event windows "
            f"(window_s={window_s}) extend past the recording and were left out.",
            RuntimeWarning,
            stacklevel=2,
        )
    starts, y = starts[fits], y[fits]
    table = table[fits].reset_index(drop=True)
    table["label"] = y

    X = take_windows(array, starts, n_times)
    stages = _stages_at((starts + n_times / 2) / sfreq, hypnogram, raw)
    metadata = _metadata(subject, recording, starts / sfreq, y, stages)
    return _windows_bunch(X, y, metadata, sfreq, raw, table, return_X_y)
