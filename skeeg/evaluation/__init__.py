"""Scoring models: on windows, on events, and under the seed studies' protocols.

- :mod:`skeeg.evaluation.metrics`: window-level, sleep and per-stage scores,
  scorers and tables;
- :mod:`skeeg.evaluation.event_metrics`: one-to-one matching of detected to
  reference events and event-level precision, recall, F1 and false
  detections per hour;
- :mod:`skeeg.evaluation.protocol`: label masking, per-condition evaluation
  by subject, subject-level decisions, ANOVA/Tukey;
- :mod:`skeeg.evaluation.out_of_fold`: grouped out-of-fold predictions.
"""

from importlib import import_module

_LAZY = {
    "window_scores": "skeeg.evaluation.metrics",
    "sleep_scores": "skeeg.evaluation.metrics",
    "scores_table": "skeeg.evaluation.metrics",
    "match_events": "skeeg.evaluation.event_metrics",
    "event_scores": "skeeg.evaluation.event_metrics",
    "mask_labels": "skeeg.evaluation.protocol",
    "aggregate_by_subject": "skeeg.evaluation.protocol",
    "evaluate_per_condition": "skeeg.evaluation.protocol",
    "anova_summary": "skeeg.evaluation.protocol",
    "grouped_oof_predictions": "skeeg.evaluation.out_of_fold",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'skeeg.evaluation' has no attribute {name!r}")
