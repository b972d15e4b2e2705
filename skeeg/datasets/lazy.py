"""Windows cut on demand from many recordings on disk (data larger than memory).

:class:`LazyWindows` indexes fixed sliding windows over a list of EDF, BDF or
FIF recordings and reads a window's samples only when it is asked for, with
``raw.get_data(start, stop)`` on a Raw opened with ``preload=False``. Its
memory is a few index arrays of one entry per window (recording, start sample,
label, group) plus at most ``max_open`` open Raw headers, whatever the number
or length of the recordings. The deep classifiers (``DeepClassifierBase``)
take it in place of an array in ``fit``, ``predict``, ``predict_proba``,
``decision_function`` and ``transform``, and scikit-learn's model selection
indexes it like an array (see ``docs/large_data.md``).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence

import mne
import numpy as np
import pandas as pd

from skeeg.datasets.io import read_raw
from skeeg.datasets.windowing import (
    annotation_spans,
    take_windows,
    window_samples,
)

#: Columns of :attr:`LazyWindows.metadata`.
LAZY_METADATA_COLUMNS = ("recording", "path", "onset", "group", "label")


class LazyWindows:
    """Fixed sliding windows over many recordings, read from disk on demand.

    Parameters
    ----------
    paths : sequence of str or path-like
        The recordings: EDF/EDF+, BDF or FIF (``.fif``, ``.fif.gz``), read by
        :func:`skeeg.datasets.read_raw` with ``preload=False``. All must have
        the same sampling rate and the same channels (or all the ``picks``);
        nothing is resampled.
    window_s : float
        Window length in seconds; ``round(window_s * sfreq)`` samples.
    stride_s : float or None, default=None
        Step between window starts in seconds; None means ``window_s``.
        Windows start at sample 0 of each recording; samples after the last
        full window are not used (as :func:`~skeeg.datasets.make_fixed_windows`).
    picks : sequence of str or None, default=None
        Channel names to read, in this order; every recording must have them
        (others are ignored). None reads all channels, which must then have
        the same names in the same order in every recording.
    groups : array-like of shape (n_recordings,) or None, default=None
        Group (e.g. subject) of each recording, copied to its windows. None:
        the recording's index in ``paths``.
    labels : array-like of shape (n_recordings,), callable or None, default=None
        Window labels: one label per recording, given to all its windows;
        or a callable ``labels(path, onsets) -> array of shape (n,)`` that
        labels the ``n`` windows of one recording from their onsets (seconds
        from the first sample). Give at most one of ``labels`` and
        ``annotations``. None (with ``annotations=None``): no labels, ``y``
        is None.
    annotations : str, sequence of str or None, default=None
        Label windows from the recordings' annotations (EDF+ annotations,
        FIF annotations): 1 when an annotation with one of these
        descriptions overlaps the window's central part (see
        ``center_fraction``), else 0.
    center_fraction : float in (0, 1], default=0.5
        The central part of a window, ``[start + (1 - f) / 2 * window_s,
        start + (1 + f) / 2 * window_s)``, that an annotation
        ``[onset, onset + duration]`` must overlap to label it 1. For
        zero-duration annotations this is the rule of
        :func:`~skeeg.datasets.make_fixed_windows`.
    transform : callable, fitted transformer or None, default=None
        Applied to every batch of windows as it is read: a callable
        ``transform(X) -> Xt`` or an object with a ``transform`` method (a
        fitted skeeg preprocessing transformer, e.g. ``Scaler``), mapping
        ``(n, n_channels, n_times)`` to ``(n, n_channels_out, n_times_out)``.
        This is how to preprocess without loading everything: a ``Pipeline``
        step in front of a model would read the whole dataset into memory.
        It acts on each window alone (a filter sees the window, not the
        continuous recording: expect edge effects on short windows).
    max_open : int, default=64
        Recordings whose Raw header is kept open (least recently used are
        closed). Reopening costs a header read, a few ms; keep it at least
        the number of recordings when training on shuffled windows.
    verbose : bool or str, default=False
        MNE logging level of the reads.

    Attributes
    ----------
    shape : tuple of int
        ``(n_windows, n_channels, n_times)`` of the windows as read (after
        ``transform``).
    ndim : int
        3.
    dtype : numpy.dtype
        float32.
    y : ndarray of shape (n_windows,) or None
        The labels.
    groups : ndarray of shape (n_windows,)
        The group of each window's recording.
    metadata : pandas.DataFrame
        One row per window: ``recording`` (index into ``paths``), ``path``,
        ``onset`` (window start, seconds from the first sample), ``group``
        and ``label``.
    sfreq : float
        Sampling rate in Hz.
    ch_names : list of str
        The channels read, in order.
    paths : list of str
        The recordings.

    Notes
    -----
    Indexing follows numpy: ``ds[i]`` (an integer) reads one window, an
    ndarray of shape ``(n_channels, n_times)``; ``ds[idx]`` (an integer
    array, a boolean mask or a slice) is a new ``LazyWindows`` over those
    windows that reads nothing yet. :meth:`read` reads many windows at once,
    one ``get_data`` call per run of overlapping or adjacent windows of a
    recording. ``np.asarray(ds)`` loads every window.

    Values are in the recordings' units (volts for EEG). A non-finite sample
    raises a ``ValueError`` naming the recording and the window onset when
    its window is read.

    A ``LazyWindows`` pickles without its open Raws, so DataLoader workers
    (``num_workers > 0``) and joblib processes open their own.
    """

    #: Marks the lazily read windows for skeeg's estimators (torch-free test).
    _skeeg_lazy_windows = True

    def __init__(
        self,
        paths: Sequence[str | os.PathLike],
        *,
        window_s: float,
        stride_s: float | None = None,
        picks: Sequence[str] | None = None,
        groups: Sequence | np.ndarray | None = None,
        labels: Sequence | np.ndarray | Callable | None = None,
        annotations: str | Sequence[str] | None = None,
        center_fraction: float = 0.5,
        transform: Callable | object | None = None,
        max_open: int = 64,
        verbose: bool | str = False,
    ) -> None:
        if isinstance(paths, str | os.PathLike) or len(paths) == 0:
            raise ValueError(
                f"paths must be a non-empty sequence of recording paths, got {paths!r}."
            )
        if labels is not None and annotations is not None:
            raise ValueError("Give at most one of labels and annotations.")
        if not 0 < center_fraction <= 1:
            raise ValueError(
                f"center_fraction must be in (0, 1]; got {center_fraction!r}."
            )
        if isinstance(max_open, bool) or not isinstance(max_open, int | np.integer):
            raise TypeError(f"max_open must be an int >= 1, got {max_open!r}.")
        if max_open < 1:
            raise ValueError(f"max_open must be an int >= 1, got {max_open!r}.")
        if transform is not None and not (
            callable(transform) or hasattr(transform, "transform")
        ):
            raise TypeError(
                "transform must be a callable or an object with a transform "
                f"method, got {type(transform).__name__}."
            )
        self.paths = [str(p) for p in paths]
        self.window_s = window_s
        self.stride_s = stride_s
        self.max_open = int(max_open)
        self.verbose = verbose
        self._transform = transform
        self._cache: OrderedDict[int, mne.io.BaseRaw] = OrderedDict()
        self._lock = threading.Lock()
        n_rec = len(self.paths)
        group_of = self._per_recording(groups, "groups", n_rec)
        if group_of is None:
            group_of = np.arange(n_rec)
        label_of = None
        if labels is not None and not callable(labels):
            label_of = self._per_recording(labels, "labels", n_rec)
        descriptions = (
            None
            if annotations is None
            else {annotations}
            if isinstance(annotations, str)
            else set(annotations)
        )

        rec, starts, y = [], [], []
        for r, path in enumerate(self.paths):
            raw = self._open(r)
            self._check_recording(r, raw, picks)
            n_samples = raw.n_times
            try:
                n_times = window_samples(window_s, self.sfreq, n_samples)
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from exc
            stride = self._stride_samples(n_times)
            first = np.arange(0, n_samples - n_times + 1, stride, dtype=np.int64)
            rec.append(np.full(len(first), r, dtype=np.int32))
            starts.append(first)
            if label_of is not None:
                y.append(np.repeat(label_of[r : r + 1], len(first)))
            elif callable(labels):
                y.append(self._call_labels(labels, path, first / self.sfreq))
            elif descriptions is not None:
                y.append(
                    _annotation_labels(
                        raw, descriptions, first, n_times, self.sfreq, center_fraction
                    )
                )
        self._n_times_raw = n_times
        self._rec = np.concatenate(rec)
        self._start = np.concatenate(starts)
        self._group_of = group_of
        self._y = np.concatenate(y) if y else None
        self._out_shape = (len(self.ch_names), n_times)
        if transform is not None and len(self._rec):
            self._out_shape = self.read([0]).shape[1:]

    # -- construction helpers -------------------------------------------------
    @staticmethod
    def _per_recording(values, name: str, n_rec: int) -> np.ndarray | None:
        if values is None:
            return None
        values = np.asarray(values)
        if values.ndim != 1 or len(values) != n_rec:
            raise ValueError(
                f"{name} must have one entry per recording ({n_rec}), got shape "
                f"{values.shape}."
            )
        return values

    def _stride_samples(self, n_times: int) -> int:
        if self.stride_s is None:
            return n_times
        if not np.isfinite(self.stride_s) or self.stride_s <= 0:
            raise ValueError(
                f"stride_s must be a positive number; got {self.stride_s}."
            )
        stride = int(round(self.stride_s * self.sfreq))
        if stride < 1:
            raise ValueError(
                f"stride_s={self.stride_s} s is shorter than one sample at "
                f"sfreq={self.sfreq} Hz."
            )
        return stride

    def _check_recording(self, r: int, raw: mne.io.BaseRaw, picks) -> None:
        """Set ``sfreq``/``ch_names`` from the first recording; check the others
        against them and store the channel indices to read from ``raw``."""
        path, sfreq = self.paths[r], float(raw.info["sfreq"])
        if r == 0:
            self.sfreq = sfreq
            self.ch_names = list(raw.ch_names) if picks is None else list(picks)
            self._pick_idx = []
        elif sfreq != self.sfreq:
            raise ValueError(
                f"Recording {path} has sfreq={sfreq} Hz, but {self.paths[0]} has "
                f"{self.sfreq} Hz; LazyWindows does not resample: resample the "
                "files first."
            )
        if picks is None:
            if list(raw.ch_names) != self.ch_names:
                raise ValueError(
                    f"Recording {path} has {len(raw.ch_names)} channels "
                    f"{list(raw.ch_names)}, but {self.paths[0]} has "
                    f"{len(self.ch_names)} channels {self.ch_names}; pass picks= "
                    "(channel names every recording has) to read the same channels."
                )
            idx = np.arange(len(self.ch_names))
        else:
            missing = [c for c in self.ch_names if c not in raw.ch_names]
            if missing:
                raise ValueError(
                    f"Recording {path} lacks the channels {missing} named in picks; "
                    f"it has {list(raw.ch_names)}."
                )
            idx = np.array([raw.ch_names.index(c) for c in self.ch_names])
        self._pick_idx.append(idx)

    def _call_labels(self, labels: Callable, path: str, onsets: np.ndarray):
        values = np.asarray(labels(path, onsets))
        if values.shape != onsets.shape:
            raise ValueError(
                f"labels({path!r}, onsets) returned shape {values.shape}, but the "
                f"recording has {len(onsets)} windows; return one label per onset."
            )
        return values

    # -- the open Raws ----------------------------------------------------------
    def _open(self, r: int) -> mne.io.BaseRaw:
        """The Raw of recording ``r``, from the LRU cache or opened now."""
        with self._lock:
            raw = self._cache.get(r)
            if raw is not None:
                self._cache.move_to_end(r)
                return raw
        raw = read_raw(self.paths[r], preload=False, verbose=self.verbose)
        with self._lock:
            self._cache[r] = raw
            while len(self._cache) > self.max_open:
                self._cache.popitem(last=False)
        return raw

    def __getstate__(self) -> dict:
        # Open Raws and the lock stay behind: each process opens its own.
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- array-like interface -------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self._rec), *self._out_shape)

    ndim = 3
    dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return len(self._rec)

    @property
    def y(self) -> np.ndarray | None:
        return self._y

    @property
    def groups(self) -> np.ndarray:
        return self._group_of[self._rec]

    @property
    def onsets(self) -> np.ndarray:
        """Window starts in seconds from each recording's first sample."""
        return self._start / self.sfreq

    @property
    def metadata(self) -> pd.DataFrame:
        paths = np.asarray(self.paths, dtype=object)
        return pd.DataFrame(
            {
                "recording": self._rec,
                "path": paths[self._rec],
                "onset": self.onsets,
                "group": self.groups,
                "label": self._y,
            },
            columns=list(LAZY_METADATA_COLUMNS),
        )

    def __repr__(self) -> str:
        return (
            f"LazyWindows({len(self)} windows of {self.shape[1]} channels x "
            f"{self.shape[2]} samples from {len(self.paths)} recordings, "
            f"sfreq={self.sfreq:g} Hz)"
        )

    def __getitem__(self, key):
        if isinstance(key, tuple):
            # scikit-learn's _safe_indexing asks for X[indices, ...].
            if len(key) == 2 and key[1] is Ellipsis:
                key = key[0]
            else:
                raise IndexError(
                    f"LazyWindows indexes windows only (axis 0), got {key!r}."
                )
        if isinstance(key, int | np.integer):
            n = len(self)
            if not -n <= key < n:
                raise IndexError(f"index {key} is out of bounds for {n} windows.")
            return self.read([key % n])[0]
        if isinstance(key, slice):
            idx = np.arange(len(self))[key]
        else:
            idx = np.asarray(key)
            if idx.dtype == bool:
                if idx.shape != (len(self),):
                    raise IndexError(
                        f"boolean index of shape {idx.shape} does not match "
                        f"{len(self)} windows."
                    )
                idx = np.flatnonzero(idx)
            elif idx.size == 0:
                idx = idx.astype(np.intp)
            elif idx.ndim != 1 or idx.dtype.kind not in "iu":
                raise IndexError(
                    "LazyWindows takes an int, a slice, or a 1-D integer or "
                    f"boolean array as index; got {key!r}."
                )
        return self._subset(idx)

    def _subset(self, idx: np.ndarray) -> LazyWindows:
        """The windows ``idx``; shares the open Raws with ``self``."""
        sub = object.__new__(type(self))
        sub.__dict__.update(self.__dict__)
        sub._rec = self._rec[idx]
        sub._start = self._start[idx]
        sub._y = None if self._y is None else self._y[idx]
        return sub

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """Every window in one array: loads the whole dataset into memory."""
        X = self.read(np.arange(len(self)))
        return X if dtype is None else X.astype(dtype, copy=False)

    # -- reading ----------------------------------------------------------------
    def read(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Read windows into memory.

        Parameters
        ----------
        indices : array-like of int, shape (n,)
            Window indices (0 <= i < len(self)), in any order.

        Returns
        -------
        X : ndarray of float32, shape (n, n_channels, n_times)
            The windows in the order of ``indices``, after ``transform``.

        Raises
        ------
        ValueError
            If a window holds a NaN or an infinite value (names the recording
            and the window's onset).
        """
        indices = np.asarray(indices, dtype=np.intp).ravel()
        n_ch, n_times = len(self.ch_names), self._n_times_raw
        out = np.empty((len(indices), n_ch, n_times), dtype=np.float32)
        rec, start = self._rec[indices], self._start[indices]
        order = np.lexsort((start, rec))
        # Runs of windows of one recording whose spans overlap or touch are
        # read with one get_data call and cut from that block.
        new_run = np.ones(len(order), dtype=bool)
        new_run[1:] = (rec[order][1:] != rec[order][:-1]) | (
            start[order][1:] > start[order][:-1] + n_times
        )
        bounds = np.append(np.flatnonzero(new_run), len(order))
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=False):
            run = order[lo:hi]
            r = int(rec[run[0]])
            first, last = int(start[run[0]]), int(start[run[-1]])
            block = self._open(r).get_data(
                picks=self._pick_idx[r], start=first, stop=last + n_times
            )
            # A run of one window is its block (most runs of a shuffled batch).
            windows = (
                block[None]
                if len(run) == 1
                else take_windows(block, start[run] - first, n_times)
            )
            bad = ~np.isfinite(windows).all(axis=(1, 2))
            if bad.any():
                k = run[np.argmax(bad)]
                raise ValueError(
                    f"Recording {self.paths[r]} holds NaN or infinite values in "
                    f"the window at onset {start[k] / self.sfreq:g} s; EEG "
                    "windows must be finite."
                )
            out[run] = windows
        if self._transform is None:
            return out
        apply = getattr(self._transform, "transform", self._transform)
        return np.asarray(apply(out), dtype=np.float32)

    def iter_batches(self, batch_size: int = 256) -> Iterator[np.ndarray]:
        """Consecutive windows, ``batch_size`` at a time.

        Parameters
        ----------
        batch_size : int, default=256
            Windows per batch (the last may be shorter).

        Yields
        ------
        X : ndarray of float32, shape (batch_size, n_channels, n_times)
            In dataset order; e.g. ``np.concatenate([features.transform(b) for
            b in ds.iter_batches()])`` computes per-window features chunk by
            chunk.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
            raise TypeError(f"batch_size must be an int >= 1, got {batch_size!r}.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}.")
        for lo in range(0, len(self), batch_size):
            yield self.read(np.arange(lo, min(lo + batch_size, len(self))))


def _annotation_labels(
    raw: mne.io.BaseRaw,
    descriptions: set,
    starts: np.ndarray,
    n_times: int,
    sfreq: float,
    center_fraction: float,
) -> np.ndarray:
    """1 where an annotation with one of ``descriptions`` overlaps a window's
    central part, else 0 (int64, one per window start)."""
    onset, duration, description = annotation_spans(raw.annotations, raw)
    keep = np.isin(description, list(descriptions))
    begin = np.sort(onset[keep] * sfreq)
    end = np.sort((onset[keep] + duration[keep]) * sfreq)
    lo = starts + (1 - center_fraction) / 2 * n_times
    hi = lo + center_fraction * n_times
    # An annotation [b, e] overlaps [lo, hi) when b < hi and e >= lo; as e >= b,
    # those with e < lo are among those with b < hi, so a difference of counts.
    n_overlap = np.searchsorted(begin, hi, side="left") - np.searchsorted(
        end, lo, side="left"
    )
    return (n_overlap > 0).astype(np.int64)
