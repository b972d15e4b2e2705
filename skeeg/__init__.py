"""skeeg: scikit-learn-compatible deep and classical models for clinical EEG.

The classifiers, the loss strategies and the negative schedules are importable
from the top level; they, and every other class a model may be built from,
are listed once in :mod:`skeeg.registry`. The rest lives in its subpackage:

- :mod:`skeeg.estimators` — one module per estimator, and their two bases;
- :mod:`skeeg.models` — the torch networks;
- :mod:`skeeg.training` — losses, loss strategies, the IncNeg curriculum, the
  skorch net, its plan and its batches;
- :mod:`skeeg.evaluation` — window and event metrics, protocols,
  out-of-fold predictions;
- :mod:`skeeg.preprocessing`, :mod:`skeeg.features`, :mod:`skeeg.sampling` —
  pipeline steps;
- :mod:`skeeg.datasets`, :mod:`skeeg.detection`, :mod:`skeeg.model_file`,
  :mod:`skeeg.plotting`, :mod:`skeeg.cli`.

Heavy modules (torch) load lazily.
"""

from importlib import import_module

from skeeg.registry import TOP_LEVEL

__version__ = "0.1.0"

__all__ = ["__version__", *TOP_LEVEL]


def __getattr__(name: str):
    if name in TOP_LEVEL:
        return getattr(import_module(TOP_LEVEL[name]), name)
    raise AttributeError(f"module 'skeeg' has no attribute {name!r}")
