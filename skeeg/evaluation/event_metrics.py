"""Event-level scores: detected events matched one-to-one to reference events.

A detected event and a reference event may be paired when their peaks lie
within ``tolerance_s`` of each other (``method="peak"``, the usual rule for
spikes) or when their intervals overlap with an intersection over union of
at least ``iou_threshold`` (``method="iou"``, the usual rule for events with
an extent, such as spindles). Each event is matched at most once, so a second
detection of the same reference event is a false detection.

Among the pairings allowed, :func:`match_events` takes one with the most
pairs, and among those the closest (smallest total peak distance, or largest
total IoU): a maximum-weight bipartite matching solved with
:func:`scipy.optimize.linear_sum_assignment` (the Hungarian method) on each
group of events that compete for each other. A greedy matching (closest pair
first, or highest score first) can leave a pair unmatched that the optimal
one keeps: a detection halfway between two references takes the one a second
detection needed, and recall then depends on the order of the events.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real

import mne
import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components
from sklearn.utils import check_scalar

from skeeg.detection.events import TIME_SLACK_S, as_events

__all__ = ["match_events", "event_scores"]

_METHODS = ("peak", "iou")

EventsLike = pd.DataFrame | mne.Annotations | np.ndarray | Sequence[float]


def _check_matching(method: str, tolerance_s: float, iou_threshold: float) -> None:
    if method not in _METHODS:
        raise ValueError(f"method must be 'peak' or 'iou'; got method={method!r}.")
    check_scalar(tolerance_s, "tolerance_s", Real, min_val=0)
    check_scalar(
        iou_threshold,
        "iou_threshold",
        Real,
        min_val=0,
        max_val=1,
        include_boundaries="both",
    )


def _ranges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(i, j)`` for every ``j`` in ``range(lo[i], hi[i])``, concatenated."""
    counts = np.maximum(hi - lo, 0)
    owner = np.repeat(np.arange(len(lo)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, np.repeat(lo, counts) + offsets


def _iou(det: pd.DataFrame, ref: pd.DataFrame, d: np.ndarray, r: np.ndarray):
    """IoU of the pairs ``(d, r)``; NaN where either event has no duration."""
    d_on, r_on = det["onset"].to_numpy()[d], ref["onset"].to_numpy()[r]
    d_dur, r_dur = det["duration"].to_numpy()[d], ref["duration"].to_numpy()[r]
    d_end, r_end = d_on + d_dur, r_on + r_dur
    inter = np.clip(np.minimum(d_end, r_end) - np.maximum(d_on, r_on), 0, None)
    union = np.maximum(d_end, r_end) - np.minimum(d_on, r_on)
    extended = (d_dur > 0) & (r_dur > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(extended, inter / union, np.nan)


def _candidate_pairs(det, ref, method, tolerance_s, iou_threshold):
    """Indices ``(d, r)`` of every allowed pair and its closeness in [0, 1]."""
    if method == "peak":
        peaks = det["peak"].to_numpy()
        order = np.argsort(peaks, kind="stable")
        ref_peak = ref["peak"].to_numpy()
        reach = tolerance_s + TIME_SLACK_S
        lo = np.searchsorted(peaks[order], ref_peak - reach, side="left")
        hi = np.searchsorted(peaks[order], ref_peak + reach, side="right")
        r, pos = _ranges(lo, hi)
        d = order[pos]
        distance = np.abs(peaks[d] - ref_peak[r])
        closeness = 1 - distance / tolerance_s if tolerance_s > 0 else np.ones(len(d))
        return d, r, np.clip(closeness, 0, 1)
    # IoU > 0 needs overlapping intervals: a detection starting before the
    # reference ends and after it starts minus the longest detection.
    onsets = det["onset"].to_numpy()
    order = np.argsort(onsets, kind="stable")
    longest = det["duration"].max() if len(det) else 0.0
    ref_on = ref["onset"].to_numpy()
    ref_end = ref_on + ref["duration"].to_numpy()
    lo = np.searchsorted(onsets[order], ref_on - longest, side="left")
    hi = np.searchsorted(onsets[order], ref_end, side="left")
    r, pos = _ranges(lo, hi)
    d = order[pos]
    iou = _iou(det, ref, d, r)
    keep = iou >= iou_threshold
    if iou_threshold == 0:
        keep &= iou > 0
    return d[keep], r[keep], iou[keep]


def _check_iou_durations(table: pd.DataFrame, name: str) -> None:
    n_points = int((table["duration"] <= 0).sum())
    if n_points:
        raise ValueError(
            f"method='iou' needs events with durations > 0, but {name} has "
            f"{n_points} zero-duration event(s); match point events with "
            f"method='peak'."
        )


def _assign(d: np.ndarray, r: np.ndarray, closeness: np.ndarray, n_det: int):
    """Maximum-cardinality, then maximum-closeness matching of the pairs."""
    n_ref = int(r.max()) + 1 if len(r) else 0
    graph = coo_array(
        (np.ones(len(d)), (d, n_det + r)), shape=(n_det + n_ref, n_det + n_ref)
    )
    _, component = connected_components(graph, directed=False)
    pair_component = component[d]
    matched_d, matched_r = [], []
    for label in np.unique(pair_component):
        in_component = pair_component == label
        dets, d_idx = np.unique(d[in_component], return_inverse=True)
        refs, r_idx = np.unique(r[in_component], return_inverse=True)
        # Every pair weighs 1 plus a closeness bonus whose sum over any
        # matching stays below 1: the most pairs win, then the closest.
        weight = np.zeros((len(dets), len(refs)))
        bonus = closeness[in_component] / (min(len(dets), len(refs)) + 1)
        weight[d_idx, r_idx] = 1 + bonus
        rows, cols = linear_sum_assignment(weight, maximize=True)
        allowed = weight[rows, cols] > 0
        matched_d.append(dets[rows[allowed]])
        matched_r.append(refs[cols[allowed]])
    if not matched_d:
        return np.array([], dtype=int), np.array([], dtype=int)
    return np.concatenate(matched_d), np.concatenate(matched_r)


def match_events(
    detected: EventsLike,
    reference: EventsLike,
    *,
    method: str = "peak",
    tolerance_s: float = 0.5,
    iou_threshold: float = 0.2,
) -> pd.DataFrame:
    """Match detected events to reference events, each at most once.

    Parameters
    ----------
    detected, reference : pandas.DataFrame, mne.Annotations or array-like
        The two event lists (anything :func:`~skeeg.detection.as_events`
        takes); times in seconds on the same clock.
    method : {"peak", "iou"}, default="peak"
        "peak": a pair is allowed when ``|peak_detected - peak_reference| <=
        tolerance_s``. "iou": when the intervals ``[onset, onset +
        duration]`` have intersection over union ``>= iou_threshold`` (and
        overlap); every event then needs a duration > 0.
    tolerance_s : float, default=0.5
        Peak tolerance in seconds (``method="peak"``), boundary included
        (within 1 ns, :data:`~skeeg.detection.events.TIME_SLACK_S`).
    iou_threshold : float in [0, 1], default=0.2
        Smallest IoU of a pair (``method="iou"``), boundary included.

    Returns
    -------
    matches : pandas.DataFrame
        One row per matched pair, sorted by ``reference``, with columns
        ``detected`` and ``reference`` (row positions in the two lists),
        ``peak_offset_s`` (detected peak minus reference peak, seconds) and
        ``iou`` (NaN when either event has zero duration). The matching has
        the most pairs possible, and among those the smallest total peak
        distance (``"peak"``) or largest total IoU (``"iou"``).

    Raises
    ------
    ValueError
        On an unknown ``method``, a negative ``tolerance_s``, an
        ``iou_threshold`` outside [0, 1], or zero-duration events with
        ``method="iou"``.
    """
    _check_matching(method, tolerance_s, iou_threshold)
    det, ref = as_events(detected), as_events(reference)
    if method == "iou":
        _check_iou_durations(det, "detected")
        _check_iou_durations(ref, "reference")
    d, r, closeness = _candidate_pairs(det, ref, method, tolerance_s, iou_threshold)
    d, r = _assign(d, r, closeness, len(det))
    order = np.argsort(r, kind="stable")
    d, r = d[order].astype(int), r[order].astype(int)
    return pd.DataFrame(
        {
            "detected": d,
            "reference": r,
            "peak_offset_s": det["peak"].to_numpy()[d] - ref["peak"].to_numpy()[r],
            "iou": _iou(det, ref, d, r),
        }
    )


def _ratio(numerator: int, denominator: int, zero_division: float) -> float:
    return numerator / denominator if denominator else float(zero_division)


def event_scores(
    detected: EventsLike,
    reference: EventsLike,
    *,
    recording_duration_s: float,
    method: str = "peak",
    tolerance_s: float = 0.5,
    iou_threshold: float = 0.2,
    zero_division: float = 0.0,
) -> dict:
    """Event-level precision, recall, F1 and false detections per hour.

    Parameters
    ----------
    detected, reference : pandas.DataFrame, mne.Annotations or array-like
        The two event lists (anything :func:`~skeeg.detection.as_events`
        takes); times in seconds on the same clock.
    recording_duration_s : float
        Length of the scored recording in seconds (> 0), for the false
        detection rate.
    method, tolerance_s, iou_threshold
        How events are paired; see :func:`match_events`.
    zero_division : float, default=0.0
        The value of a ratio whose denominator is 0 (precision without
        detections, recall without reference events, F1 with neither), as
        in :mod:`sklearn.metrics`; ``np.nan`` leaves it undefined.

    Returns
    -------
    scores : dict
        - ``"precision"``: matched / detected;
        - ``"recall"`` (sensitivity): matched / reference;
        - ``"f1"``: ``2 matched / (detected + reference)``, their harmonic
          mean;
        - ``"false_per_hour"``: unmatched detections per hour of recording;
        - ``"n_detected"``, ``"n_reference"``, ``"n_matched"`` (true
          positives), ``"n_false"`` (false positives), ``"n_missed"``
          (false negatives).
    """
    check_scalar(
        recording_duration_s,
        "recording_duration_s",
        Real,
        min_val=0,
        include_boundaries="neither",
    )
    det, ref = as_events(detected), as_events(reference)
    matches = match_events(
        det, ref, method=method, tolerance_s=tolerance_s, iou_threshold=iou_threshold
    )
    n_matched, n_detected, n_reference = len(matches), len(det), len(ref)
    n_false = n_detected - n_matched
    return {
        "precision": _ratio(n_matched, n_detected, zero_division),
        "recall": _ratio(n_matched, n_reference, zero_division),
        "f1": _ratio(2 * n_matched, n_detected + n_reference, zero_division),
        "false_per_hour": n_false / (recording_duration_s / 3600),
        "n_detected": n_detected,
        "n_reference": n_reference,
        "n_matched": n_matched,
        "n_false": n_false,
        "n_missed": n_reference - n_matched,
    }
