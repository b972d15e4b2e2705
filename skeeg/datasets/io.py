"""Read a continuous EEG recording from disk into an MNE ``Raw``."""

from __future__ import annotations

import os
from pathlib import Path

import mne

#: File extensions :func:`read_raw` accepts (lower case; ``.vhdr`` is the
#: BrainVision header, which names its ``.eeg`` and ``.vmrk`` companions).
SUPPORTED_EXTENSIONS = (".edf", ".bdf", ".fif", ".fif.gz", ".vhdr")


def _extension(path: Path) -> str:
    name = path.name.lower()
    # ".fif.gz" has two suffixes, so match whole endings rather than Path.suffix.
    for ext in SUPPORTED_EXTENSIONS:
        if name.endswith(ext):
            return ext
    return path.suffix.lower()


def read_raw(
    path: str | os.PathLike, *, preload: bool = True, verbose: bool | str = False
) -> mne.io.BaseRaw:
    """Read an EDF, BDF, FIF or BrainVision recording.

    Parameters
    ----------
    path : str or path-like
        The recording. Its extension picks the reader: ``.edf`` (EDF/EDF+),
        ``.bdf``, ``.fif`` / ``.fif.gz`` or ``.vhdr`` (BrainVision header).
        EDF, BDF and FIF extensions may be upper case; MNE's BrainVision reader
        needs a lower-case ``.vhdr``.
    preload : bool, default=True
        Load the samples into memory now (needed for windowing and filtering).
    verbose : bool or str, default=False
        MNE logging level for the read.

    Returns
    -------
    raw : mne.io.BaseRaw
        The recording; ``raw.get_data()`` is in SI units (volts for EEG),
        shape ``(n_channels, n_samples)``.

    Raises
    ------
    ValueError
        If the extension is not one of :data:`SUPPORTED_EXTENSIONS`.
    FileNotFoundError
        If ``path`` does not exist.
    """
    path = Path(path)
    ext = _extension(path)
    if ext not in SUPPORTED_EXTENSIONS:
        raise ValueError(
            f"Cannot read {str(path)!r}: extension {ext or '(none)'!r} is not "
            f"supported; expected one of {', '.join(SUPPORTED_EXTENSIONS)}."
        )
    if not path.is_file():
        raise FileNotFoundError(f"EEG recording not found: {str(path)!r}.")
    return mne.io.read_raw(path, preload=preload, verbose=verbose)
