"""The event table, its MNE annotations and its files.

An event table is a :class:`pandas.DataFrame` with one row per event and the
columns of :data:`EVENT_COLUMNS`:

- ``onset``, ``duration``: seconds from the first sample of the recording;
- ``peak``: the time that stands for the event (a spike's apex; for a
  detection, the centre of its highest-scoring window), in seconds;
- ``score``: the detector's score (NaN for expert events);
- ``channels``: a tuple of channel names, or None where the event is not
  localised.

:func:`as_events` builds one from a DataFrame, :class:`mne.Annotations` or
event times; :func:`to_annotations`, :func:`write_events` and
:func:`read_events` take it to MNE, to BIDS ``events.tsv`` / CSV files and to
EDF+ (the recording with the events as annotations, through
:func:`mne.export.export_raw` and ``edfio``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import mne
import numpy as np
import pandas as pd

from skeeg.datasets.windowing import annotation_spans

__all__ = [
    "EVENT_COLUMNS",
    "as_events",
    "to_annotations",
    "write_events",
    "read_events",
]

#: The columns every event table starts with, in this order.
EVENT_COLUMNS = ("onset", "duration", "peak", "score", "channels")

#: Slack on time comparisons (seconds), so that times computed from sample
#: indices (``k / sfreq``) that are equal on paper compare equal.
TIME_SLACK_S = 1e-9

# The text formats of write_events / read_events: separator and missing value.
_FORMATS = {".tsv": ("\t", "n/a"), ".csv": (",", "")}
# EDF+: the recording with the events as annotations.
_EDF = ".edf"


def _as_channels(value) -> tuple[str, ...] | None:
    """A tuple of channel names, or None; a string is comma-separated names."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        names = tuple(name.strip() for name in value.split(",") if name.strip())
    else:
        names = tuple(str(name) for name in value)
    return names or None


def _column(table: pd.DataFrame, name: str, default: np.ndarray) -> np.ndarray:
    if name not in table.columns:
        return default
    values = pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=float)
    bad = table[name].notna().to_numpy() & np.isnan(values)
    if bad.any():
        raise ValueError(
            f"events column {name!r} must hold numbers; row {np.flatnonzero(bad)[0]} "
            f"holds {table[name].iloc[np.flatnonzero(bad)[0]]!r}."
        )
    return values


def _annotations_frame(
    annotations: mne.Annotations, raw: mne.io.BaseRaw | None
) -> pd.DataFrame:
    onset, duration, description = annotation_spans(annotations, raw)
    frame = pd.DataFrame(
        {"onset": onset, "duration": duration, "description": description}
    )
    frame["channels"] = [tuple(names) or None for names in annotations.ch_names]
    extras = pd.DataFrame(list(annotations.extras), index=frame.index)
    if "peak_offset_s" in extras.columns:
        frame["peak"] = onset + extras.pop("peak_offset_s").to_numpy(dtype=float)
    extras = extras.drop(columns=frame.columns, errors="ignore")
    return pd.concat([frame, extras], axis=1)


def as_events(
    events: pd.DataFrame | mne.Annotations | np.ndarray | Sequence[float],
    *,
    raw: mne.io.BaseRaw | None = None,
) -> pd.DataFrame:
    """Check events and return them as an event table.

    Parameters
    ----------
    events : pandas.DataFrame, mne.Annotations or array-like of shape (n_events,)
        - A DataFrame with an ``onset`` column (seconds) and optionally
          ``duration`` (default 0, also where it is NaN, as BIDS' ``n/a``),
          ``peak`` (default ``onset + duration / 2``, also where it is NaN),
          ``score`` (default NaN) and ``channels`` (tuples of names or
          comma-separated strings; default None). Other columns are kept
          after these.
        - :class:`mne.Annotations`: their ``ch_names`` as channels, their
          descriptions as a ``description`` column and their ``extras`` as
          columns (:func:`to_annotations` stores ``score`` and the peak as
          ``peak_offset_s`` from the onset there).
        - Event times in seconds: point events (duration 0, peak = onset).
    raw : mne.io.BaseRaw or None, default=None
        The Raw that Annotations belong to: their onsets are then counted
        from its first sample (MNE counts a Raw's annotations from the start
        of the acquisition). None takes the onsets as stored.

    Returns
    -------
    events : pandas.DataFrame
        One row per event, in the order given (a new ``RangeIndex``), with
        the columns of :data:`EVENT_COLUMNS` first.

    Raises
    ------
    ValueError
        If the DataFrame has no ``onset`` column, a time is not finite, a
        duration is negative or a numeric column holds text.
    """
    if isinstance(events, mne.Annotations):
        table = _annotations_frame(events, raw)
    elif isinstance(events, pd.DataFrame):
        if "onset" not in events.columns:
            raise ValueError(
                f"events must have an 'onset' column (seconds); got the columns "
                f"{list(events.columns)}."
            )
        table = events.reset_index(drop=True)
    else:
        times = np.asarray(events, dtype=float).ravel()
        table = pd.DataFrame({"onset": times})
    n_events = len(table)
    onset = _column(table, "onset", np.zeros(n_events))
    duration = np.nan_to_num(_column(table, "duration", np.zeros(n_events)), nan=0.0)
    peak = _column(table, "peak", np.full(n_events, np.nan))
    peak = np.where(np.isnan(peak), onset + duration / 2, peak)
    score = _column(table, "score", np.full(n_events, np.nan))
    for name, values in (("onset", onset), ("duration", duration), ("peak", peak)):
        if not np.all(np.isfinite(values)):
            raise ValueError(
                f"events {name} must be finite numbers of seconds; row "
                f"{np.flatnonzero(~np.isfinite(values))[0]} is {name}="
                f"{values[~np.isfinite(values)][0]}."
            )
    if np.any(duration < 0):
        first = np.flatnonzero(duration < 0)[0]
        raise ValueError(
            f"events durations must be >= 0 s; row {first} has "
            f"duration={duration[first]}."
        )
    channels = (
        table["channels"].map(_as_channels).astype(object)
        if "channels" in table.columns
        else pd.Series([None] * n_events, dtype=object)
    )
    result = pd.DataFrame(
        {
            "onset": onset,
            "duration": duration,
            "peak": peak,
            "score": score,
            "channels": channels.to_numpy(),
        },
        columns=list(EVENT_COLUMNS),
    )
    extra = table.drop(columns=list(EVENT_COLUMNS), errors="ignore")
    return pd.concat([result, extra], axis=1)


def to_annotations(
    events: pd.DataFrame | mne.Annotations | np.ndarray | Sequence[float],
    *,
    description: str = "detection",
) -> mne.Annotations:
    """The events as :class:`mne.Annotations`.

    Parameters
    ----------
    events : event table or anything :func:`as_events` takes
    description : str, default="detection"
        The description of every annotation.

    Returns
    -------
    annotations : mne.Annotations
        ``orig_time=None``, so ``raw.set_annotations(annotations)`` counts the
        onsets from the Raw's first sample, as the event table does
        (``as_events(raw.annotations, raw=raw)`` reads them back). Channels
        become ``ch_names``; ``score`` and ``peak_offset_s`` (peak minus
        onset, seconds) go in ``extras``.
    """
    table = as_events(events)
    return mne.Annotations(
        onset=table["onset"].to_numpy(),
        duration=table["duration"].to_numpy(),
        description=[description] * len(table),
        ch_names=[names or () for names in table["channels"]],
        extras=[
            {"peak_offset_s": float(offset), "score": float(score)}
            for offset, score in zip(
                table["peak"] - table["onset"], table["score"], strict=True
            )
        ],
    )


def _format(fname: Path) -> tuple[str, str] | None:
    """The separator and missing value of a text format; None for EDF+."""
    suffix = fname.suffix.lower()
    if suffix == _EDF:
        return None
    if suffix not in _FORMATS:
        raise ValueError(
            f"Cannot tell the format of {str(fname)!r}: expected a name ending in "
            f"{', '.join(_FORMATS)} or {_EDF}, got {suffix or '(none)'!r}."
        )
    return _FORMATS[suffix]


def _write_edf(
    table: pd.DataFrame, fname: Path, raw: mne.io.BaseRaw, description: str
) -> None:
    """The recording with its annotations and the events, as EDF+."""
    marked = raw.copy()
    # Annotations with orig_time=None count from the first sample, as the
    # event table; set on the Raw they move to its time frame, which its own
    # annotations share, so the two can be added.
    marked.set_annotations(to_annotations(table, description=description))
    marked.set_annotations(raw.annotations + marked.annotations)
    with warnings.catch_warnings():
        # Documented in write_events: the last data record is padded.
        warnings.filterwarnings(
            "ignore", "EDF format requires equal-length data blocks", RuntimeWarning
        )
        mne.export.export_raw(fname, marked, fmt="edf", overwrite=True, verbose=False)


def write_events(
    events: pd.DataFrame | mne.Annotations | np.ndarray | Sequence[float],
    fname: str | os.PathLike,
    *,
    trial_type: str = "detection",
    raw: mne.io.BaseRaw | None = None,
    overwrite: bool = False,
) -> Path:
    """Write events as a BIDS ``events.tsv``, a CSV or an EDF+ file.

    Parameters
    ----------
    events : event table or anything :func:`as_events` takes
    fname : str or path-like
        ``.tsv``: tab-separated, missing values as ``n/a`` (BIDS; name it
        ``*_events.tsv`` in a BIDS dataset). ``.csv``: comma-separated,
        missing values empty. ``.edf``: the recording ``raw`` as EDF+ with
        its own annotations and the events as annotations, for EEG viewers
        (see Notes).
    trial_type : str, default="detection"
        The ``trial_type`` column (BIDS' event category); in EDF+, the
        annotations' text.
    raw : mne.io.BaseRaw or None, default=None
        The recording the events were detected in; required for ``.edf``
        and refused otherwise.
    overwrite : bool, default=False
        Replace an existing file.

    Returns
    -------
    fname : pathlib.Path
        The file written. Text formats have the columns ``onset``,
        ``duration``, ``trial_type``, ``peak``, ``score`` (times in seconds
        and scores to 6 decimals) and ``channels`` (comma-separated names);
        other columns of the table are not written.

    Raises
    ------
    ValueError
        If the extension is not ``.tsv``, ``.csv`` or ``.edf``, or ``raw``
        is missing for ``.edf`` or given for a text format.
    FileExistsError
        If the file exists and ``overwrite`` is False.

    Notes
    -----
    EDF+ is written by :func:`mne.export.export_raw` with the ``edfio``
    package (a dependency of skeeg). It loads the whole
    recording (float64: 1.8 GB for 24 h of 5 channels at 512 Hz) and stores
    it as 16-bit integers over each channel type's range. An EDF+ annotation
    holds onset, duration and text only: peaks and scores stay in the
    ``.tsv``. A localised event becomes one annotation per channel (MNE's
    ``text@@channel``, read back by :func:`mne.io.read_raw_edf`). EDF data
    records are 1 s long: when the recording does not end on a whole second,
    MNE pads it with its last values and marks the padding ``BAD_ACQ_SKIP``.
    :func:`read_events` reads the annotations back.
    """
    fname = Path(fname)
    text_format = _format(fname)
    if text_format is None and raw is None:
        raise ValueError(
            f"Writing {str(fname)!r} as EDF+ needs the recording: pass raw=."
        )
    if text_format is not None and raw is not None:
        raise ValueError(
            f"raw= is used for .edf files only; {str(fname)!r} is a text file."
        )
    if fname.exists() and not overwrite:
        raise FileExistsError(
            f"{str(fname)!r} exists; pass overwrite=True to replace it."
        )
    table = as_events(events)
    if text_format is None:
        _write_edf(table, fname, raw, trial_type)
        return fname
    sep, na_rep = text_format
    out = pd.DataFrame(
        {
            "onset": table["onset"],
            "duration": table["duration"],
            "trial_type": trial_type,
            "peak": table["peak"],
            "score": table["score"],
            "channels": [
                ",".join(names) if names else None for names in table["channels"]
            ],
        }
    )
    out.to_csv(fname, sep=sep, na_rep=na_rep, index=False, float_format="%.6f")
    return fname


def read_events(fname: str | os.PathLike) -> pd.DataFrame:
    """Read an events file written by :func:`write_events`, any BIDS
    ``events.tsv`` or the annotations of an EDF+ file.

    Parameters
    ----------
    fname : str or path-like
        A ``.tsv`` (``n/a`` for missing values) or ``.csv`` file with at least
        an ``onset`` column, or an ``.edf`` file.

    Returns
    -------
    events : pandas.DataFrame
        The event table (:func:`as_events`); other columns, such as
        ``trial_type``, follow the standard ones. From EDF+, every annotation
        (onsets from the first sample, channels from MNE's ``text@@channel``)
        with its text in a ``description`` column; peaks are the centres and
        scores NaN.
    """
    fname = Path(fname)
    text_format = _format(fname)
    if not fname.is_file():
        raise FileNotFoundError(f"Events file not found: {str(fname)!r}.")
    if text_format is None:
        raw = mne.io.read_raw_edf(fname, preload=False, verbose=False)
        return as_events(raw.annotations, raw=raw)
    sep, _ = text_format
    table = pd.read_csv(fname, sep=sep, na_values=["n/a"])
    return as_events(table)
