"""From a continuous recording to events.

- :mod:`skeeg.detection.events`: the event table (a DataFrame with ``onset``,
  ``duration``, ``peak``, ``score`` and ``channels``), its conversion to
  :class:`mne.Annotations` and its files (BIDS ``events.tsv``, CSV);
- :mod:`skeeg.detection.streaming`: a fitted window classifier slid over a
  recording read in chunks, its window scores merged into events.

Events are scored against a reference in :mod:`skeeg.evaluation.event_metrics`.
"""

from importlib import import_module

_LAZY = {
    "EVENT_COLUMNS": "skeeg.detection.events",
    "as_events": "skeeg.detection.events",
    "to_annotations": "skeeg.detection.events",
    "write_events": "skeeg.detection.events",
    "read_events": "skeeg.detection.events",
    "score_recording": "skeeg.detection.streaming",
    "windows_to_events": "skeeg.detection.streaming",
    "detect_events": "skeeg.detection.streaming",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'skeeg.detection' has no attribute {name!r}")
