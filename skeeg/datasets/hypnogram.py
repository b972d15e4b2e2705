"""Sleep-stage hypnograms: Rechtschaffen & Kales labels to AASM stages."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import mne
import numpy as np
import pandas as pd

#: AASM labels :func:`rk_to_aasm` returns, in hypnogram order.
AASM_STAGES = ("W", "N1", "N2", "N3", "REM", "artifact", "unknown")

_RK_SHORT = {
    "W": "W",
    "1": "N1",
    "2": "N2",
    "3": "N3",
    "4": "N3",
    "R": "REM",
    "M": "artifact",
    "?": "unknown",
}

# Every spelling accepted: the short R&K codes, their "S1" forms, "REM"/"MT"
# and the Sleep-EDF annotation strings.
_RK_TO_AASM = {
    **_RK_SHORT,
    **{f"S{k}": v for k, v in _RK_SHORT.items() if k.isdigit()},
    **{f"Sleep stage {k}": v for k, v in _RK_SHORT.items() if k != "M"},
    "REM": "REM",
    "MT": "artifact",
    "Movement time": "artifact",
}


def rk_to_aasm(stages: str | Iterable[str]) -> str | np.ndarray:
    """Map Rechtschaffen & Kales sleep stages to AASM stages.

    W → W, S1 → N1, S2 → N2, S3 and S4 → N3, R/REM → REM, movement time →
    ``"artifact"``, ``"?"`` (unscored) → ``"unknown"``.

    Parameters
    ----------
    stages : str or iterable of str
        R&K labels, as short codes (``"W"``, ``"1"``–``"4"``, ``"S1"``–``"S4"``,
        ``"R"``, ``"REM"``, ``"M"``, ``"MT"``, ``"?"``) or as Sleep-EDF
        annotation strings (``"Sleep stage W"``, ``"Sleep stage 1"`` …
        ``"Sleep stage 4"``, ``"Sleep stage R"``, ``"Sleep stage ?"``,
        ``"Movement time"``). Surrounding whitespace is ignored.

    Returns
    -------
    aasm : str or ndarray of shape (n_stages,), dtype object
        A str for a str input, else an array of AASM labels, one of
        ``"W", "N1", "N2", "N3", "REM", "artifact", "unknown"``.

    Raises
    ------
    ValueError
        If a label is not an R&K stage; the message lists the accepted labels.
    """
    if isinstance(stages, str):
        return _map_one(stages)
    return np.array([_map_one(s) for s in stages], dtype=object)


def _map_one(stage: str) -> str:
    key = str(stage).strip()
    if key not in _RK_TO_AASM:
        raise ValueError(
            f"Unknown Rechtschaffen & Kales sleep stage {stage!r}; accepted "
            f"labels are {sorted(_RK_TO_AASM)}."
        )
    return _RK_TO_AASM[key]


def read_hypnogram(path: str | os.PathLike) -> pd.DataFrame:
    """Read a Sleep-EDF style hypnogram and map its stages to AASM.

    Parameters
    ----------
    path : str or path-like
        A file :func:`mne.read_annotations` reads (Sleep-EDF ``*Hypnogram.edf``
        EDF+ files, FIF, MNE CSV/TXT annotations) whose annotation descriptions
        are R&K stages (see :func:`rk_to_aasm`).

    Returns
    -------
    hypnogram : pandas.DataFrame
        One row per annotation, in file order, with columns ``onset`` and
        ``duration`` (seconds from the start of the recording), ``stage_rk``
        (the description as written in the file) and ``stage`` (AASM).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If an annotation is not a sleep stage (nothing is dropped silently).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Hypnogram file not found: {str(path)!r}.")
    annotations = mne.read_annotations(path)
    descriptions = [str(d) for d in annotations.description]
    return pd.DataFrame(
        {
            "onset": np.asarray(annotations.onset, dtype=float),
            "duration": np.asarray(annotations.duration, dtype=float),
            "stage_rk": descriptions,
            "stage": rk_to_aasm(descriptions),
        }
    )
