"""EEG data in: readers, windowing, hypnograms, loaders for real sets (TUEV
included), the bundled sample and the synthetic IED generator."""

from importlib import import_module

_LAZY = {
    "read_raw": "skeeg.datasets.io",
    "make_fixed_windows": "skeeg.datasets.windowing",
    "make_event_windows": "skeeg.datasets.windowing",
    "LazyWindows": "skeeg.datasets.lazy",
    "read_hypnogram": "skeeg.datasets.hypnogram",
    "rk_to_aasm": "skeeg.datasets.hypnogram",
    "load_bonn": "skeeg.datasets.loaders",
    "load_eegmat": "skeeg.datasets.loaders",
    "load_dreams": "skeeg.datasets.loaders",
    "load_tuev": "skeeg.datasets.tuev",
    "read_tuev_events": "skeeg.datasets.tuev",
    "load_sample": "skeeg.datasets.sample",
    "make_ied_dataset": "skeeg.datasets.synthetic",
    "make_sleep_ied_dataset": "skeeg.datasets.sleep_ied",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'skeeg.datasets' has no attribute {name!r}")
