"""Loaders for the real EEG sets laid out as in the project's ``shared/data``.

Each loader takes the folder of one set and returns a :class:`sklearn.utils.Bunch`
with ``X`` of shape ``(n_windows, n_channels, n_times)`` in volts (float64),
``y``, ``groups`` (the unit to split on: segment, subject or excerpt),
``metadata`` (one row per window), ``sfreq``, ``ch_names`` and ``description``
(content, citation and licence), plus ``events`` where the set has scored
events; or ``(X, y)`` with ``return_X_y=True``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import resample_poly
from sklearn.utils import Bunch

from .hypnogram import rk_to_aasm
from .io import read_raw
from .windowing import make_fixed_windows

MICROVOLT = 1e-6

BONN_SFREQ = 173.61
BONN_N_SAMPLES = 4097
# Set letters as in the file names, in the paper's A-E order, with their folder.
BONN_SETS = {"Z": "A", "O": "B", "N": "C", "F": "D", "S": "E"}

EEGMAT_SFREQ = 500.0
EEGMAT_CONDITIONS = {"rest": 0, "task": 1}
# SubjectNN_1.edf is the resting baseline, SubjectNN_2.edf the arithmetic task.
EEGMAT_FILE_SUFFIX = {"rest": "_1", "task": "_2"}
EEGMAT_NON_EEG = ("EEG A2-A1", "ECG ECG")

# The txt signals carry no sampling rate; these come from the database's notes.
DREAMS_SFREQ = {
    1: 100.0,
    2: 200.0,
    3: 50.0,
    4: 200.0,
    5: 200.0,
    6: 200.0,
    7: 200.0,
    8: 200.0,
}
DREAMS_EPOCH_S = 5.0
# DREAMS hypnogram codes to R&K: -1 is movement time, -2/-3 unscored.
DREAMS_TO_RK = {
    5: "W",
    4: "R",
    3: "1",
    2: "2",
    1: "3",
    0: "4",
    -1: "M",
    -2: "?",
    -3: "?",
}

BONN_DESCRIPTION = """\
Bonn University epilepsy EEG, sets A-E (Andrzejak et al. 2001): 5 x 100
single-channel segments of 23.6 s (4097 samples at 173.61 Hz), band-limited
0.53-40 Hz. A (Z) and B (O): healthy volunteers, surface EEG, eyes open and
closed; C (N) and D (F): interictal intracranial EEG, opposite hemisphere and
epileptogenic zone; E (S): ictal intracranial EEG. Values converted from uV to V.

Citation: R. G. Andrzejak, K. Lehnertz, F. Mormann, C. Rieke, P. David,
C. E. Elger, "Indications of nonlinear deterministic and finite-dimensional
structures in time series of brain electrical activity: Dependence on recording
region and brain state", Phys. Rev. E 64, 061907 (2001).

Licence: the original data carry no formal licence (unknown); the authors ask
that the 2001 paper be cited. Copy taken from GitHub RYH2077/EEG-Epilepsy-Datasets
(MIT-licensed repository)."""

EEGMAT_DESCRIPTION = """\
EEG During Mental Arithmetic Tasks (PhysioNet eegmat 1.0.0; Zyma et al. 2019):
19-channel 10-20 EEG at 500 Hz, artefact-cleaned by the authors (ICA); per
subject a resting baseline (~182 s, y=0) and a serial-subtraction task (62 s,
y=1). count_quality: 1 = good counter, 0 = bad counter.

Citation: I. Zyma, S. Tukaev, I. Seleznov, K. Kiyono, A. Popov, M. Chernykh,
O. Shpenkov, "Electroencephalograms during Mental Arithmetic Task Performance",
Data 4(1):14 (2019); and A. L. Goldberger et al., "PhysioBank, PhysioToolkit,
and PhysioNet", Circulation 101(23):e215-e220 (2000).

Licence: Open Data Commons Attribution License v1.0."""

DREAMS_DESCRIPTION = """\
DREAMS Sleep Spindles database (University of Mons - TCTS Lab): eight 30-min
excerpts of whole-night PSG, one central EEG channel each (C3-A1 or CZ-A1),
a 5-s-epoch R&K hypnogram (mapped to AASM here) and expert spindle scorings
(scorer 1: all excerpts; scorer 2: excerpts 1-6). Values converted from uV to V.

Citation: S. Devuyst, T. Dutoit, P. Stenuit, M. Kerkhofs, "Automatic sleep
spindles detection - overview and development of a standard proposal assessment
method", Proc. IEEE EMBC 2011, pp. 1713-1716.

Licence: Creative Commons BY-NC-ND (attribution, non-commercial, no adaptations);
see DREAMS_databases_License.txt in the data folder. Not usable commercially."""


def _check_folder(path: str | os.PathLike, name: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{name} data folder not found: {str(path)!r}.")
    return path


def _read_column(file: Path, *, header: bool) -> tuple[str | None, np.ndarray]:
    """Read a one-value-per-line text file: ``(first line or None, values)``."""
    text = file.read_text()
    first = None
    if header:
        first, _, text = text.partition("\n")
        first = first.strip()
    return first, np.array(text.split(), dtype=np.float64)


def _result(
    parts: list[tuple[np.ndarray, pd.DataFrame]],
    *,
    label_dtype,
    groups_column: str,
    return_X_y: bool,
    **fields,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Stack per-file windows into a loader's Bunch (or ``(X, y)``).

    ``y`` is ``metadata["label"]``, ``groups`` the ``groups_column``;
    ``fields`` are the loader's other fields (sfreq, ch_names, ...).
    """
    X = np.concatenate([x for x, _ in parts])
    metadata = pd.concat([m for _, m in parts], ignore_index=True)
    y = metadata["label"].to_numpy(dtype=label_dtype)
    if return_X_y:
        return X, y
    groups = metadata[groups_column].to_numpy(dtype=str)
    return Bunch(X=X, y=y, groups=groups, metadata=metadata, **fields)


def load_bonn(
    path: str | os.PathLike,
    *,
    sets: Sequence[str] = ("Z", "O", "N", "F", "S"),
    window_s: float | None = None,
    return_X_y: bool = False,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Load the Bonn epilepsy EEG sets A-E (Andrzejak et al. 2001).

    Parameters
    ----------
    path : str or path-like
        The ``bonn_epilepsy`` folder, holding ``A_Z/``, ``B_O/``, ``C_N/``,
        ``D_F/`` and ``E_S/`` with one ASCII segment per file (values in µV).
    sets : sequence of str, default=("Z", "O", "N", "F", "S")
        Sets to load, by file letter (``"Z", "O", "N", "F", "S"``) or by the
        paper's name (``"A"``-``"E"``).
    window_s : float or None, default=None
        ``None`` returns whole segments (4097 samples, 23.6 s); otherwise
        non-overlapping windows of ``round(window_s * 173.61)`` samples per
        segment (the tail shorter than a window is not used).
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of the Bunch.

    Returns
    -------
    data : sklearn.utils.Bunch
        X : ndarray of shape (n_windows, 1, n_times), float64, volts.
        y : ndarray of shape (n_windows,), str — the set letter (Z/O/N/F/S).
        groups : ndarray of shape (n_windows,), str — segment id (``"S001"``).
        metadata : DataFrame with ``subject`` (None: the data do not say which
        subject a segment is from), ``recording`` (segment id), ``onset`` (s),
        ``label`` (set letter), ``sleep_stage`` (``"unknown"``) and ``set``
        (A-E), one row per window.
        sfreq : float — 173.61 (Hz).
        ch_names : list of str — ``["EEG"]``.
        description : str — content, citation and licence.
        The set has no scored events, so there is no ``events`` field.
    (X, y) : tuple of ndarray
        With ``return_X_y=True``: the two arrays above.

    Raises
    ------
    FileNotFoundError
        If ``path`` or a set's folder does not exist.
    ValueError
        If a set letter is unknown or a segment does not hold 4097 samples.
    """
    path = _check_folder(path, "Bonn")
    by_name = {v: k for k, v in BONN_SETS.items()}
    letters = []
    for s in sets:
        letter = by_name.get(str(s).upper(), str(s).upper())
        if letter not in BONN_SETS:
            raise ValueError(
                f"Unknown Bonn set {s!r}; expected letters from "
                f"{list(BONN_SETS)} or names from {list(by_name)}."
            )
        letters.append(letter)

    parts = []
    for letter in letters:
        folder = _check_folder(path / f"{BONN_SETS[letter]}_{letter}", "Bonn set")
        # Set C ships as upper-case .TXT, so match the suffix without case.
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() == ".txt")
        for file in files:
            _, signal = _read_column(file, header=False)
            if len(signal) != BONN_N_SAMPLES:
                raise ValueError(
                    f"Bonn segment {str(file)!r} has {len(signal)} samples; "
                    f"expected {BONN_N_SAMPLES}."
                )
            segment = file.stem.upper()
            windows = make_fixed_windows(
                signal[np.newaxis] * MICROVOLT,
                BONN_SFREQ,
                window_s=BONN_N_SAMPLES / BONN_SFREQ if window_s is None else window_s,
                recording=segment,
            )
            metadata = windows.metadata
            metadata["label"] = letter
            metadata["set"] = BONN_SETS[letter]
            parts.append((windows.X, metadata))

    return _result(
        parts,
        label_dtype=str,
        groups_column="recording",
        return_X_y=return_X_y,
        sfreq=BONN_SFREQ,
        ch_names=["EEG"],
        description=BONN_DESCRIPTION,
    )


def _eegmat_subject_id(subject: int | str) -> str:
    if isinstance(subject, str):
        return subject
    return f"Subject{int(subject):02d}"


def load_eegmat(
    path: str | os.PathLike,
    *,
    subjects: Iterable[int | str] | None = None,
    window_s: float = 2.0,
    channels: Sequence[str] | None = None,
    condition: Sequence[str] = ("rest", "task"),
    return_X_y: bool = False,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Load EEG During Mental Arithmetic Tasks (PhysioNet eegmat, Zyma et al. 2019).

    Parameters
    ----------
    path : str or path-like
        The ``eegmat`` folder with ``SubjectNN_1.edf`` (rest),
        ``SubjectNN_2.edf`` (task) and ``subject-info.csv``.
    subjects : iterable of int or str, or None, default=None
        Subjects as numbers (``0``) or ids (``"Subject00"``); ``None`` loads
        every subject with EDF files in ``path``.
    window_s : float, default=2.0
        Length of the non-overlapping windows in seconds (1000 samples at
        500 Hz for 2 s); the tail shorter than a window is not used.
    channels : sequence of str or None, default=None
        Channel names as in the files (``"EEG Fp1"``, …); ``None`` means the
        19 EEG channels (``"EEG A2-A1"`` and ``"ECG ECG"`` left out).
    condition : sequence of {"rest", "task"}, default=("rest", "task")
        Which recordings to load.
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of the Bunch.

    Returns
    -------
    data : sklearn.utils.Bunch
        X : ndarray of shape (n_windows, n_channels, n_times), float64, volts.
        y : ndarray of shape (n_windows,), int64 — 0 rest, 1 task.
        groups : ndarray of shape (n_windows,), str — subject id.
        metadata : DataFrame with ``subject``, ``recording`` (file stem),
        ``onset`` (s), ``label`` (= y), ``sleep_stage`` (``"unknown"``),
        ``condition``, ``count_quality`` (1 good, 0 bad counter), ``age``,
        ``gender`` and ``n_subtractions`` from ``subject-info.csv``, one row
        per window.
        sfreq : float — 500.0 (Hz).
        ch_names : list of str.
        description : str — content, citation and licence.
        The set has no scored events, so there is no ``events`` field.
    (X, y) : tuple of ndarray
        With ``return_X_y=True``: the two arrays above.

    Raises
    ------
    FileNotFoundError
        If ``path``, ``subject-info.csv`` or a subject's EDF file is missing.
    ValueError
        On an unknown condition, subject or channel name.
    """
    path = _check_folder(path, "eegmat")
    unknown = set(condition) - set(EEGMAT_CONDITIONS)
    if unknown or not condition:
        raise ValueError(
            f"condition must be a non-empty subset of {list(EEGMAT_CONDITIONS)}; "
            f"got {condition!r}."
        )
    info_file = path / "subject-info.csv"
    if not info_file.is_file():
        raise FileNotFoundError(f"eegmat subject table not found: {str(info_file)!r}.")
    info = pd.read_csv(info_file).set_index("Subject")
    available = sorted(f.name.split("_")[0] for f in path.glob("Subject*_1.edf"))
    if subjects is None:
        subject_ids = available
    else:
        subject_ids = [_eegmat_subject_id(s) for s in subjects]
        missing = sorted(set(subject_ids) - set(available))
        if missing:
            raise ValueError(
                f"Subjects {missing} are not in {str(path)!r}; available: {available}."
            )

    parts = []
    ch_names = None
    for subject in subject_ids:
        for cond in condition:
            recording = f"{subject}{EEGMAT_FILE_SUFFIX[cond]}"
            raw = read_raw(path / f"{recording}.edf")
            picks = channels
            if picks is None:
                picks = [ch for ch in raw.ch_names if ch not in EEGMAT_NON_EEG]
            absent = [ch for ch in picks if ch not in raw.ch_names]
            if absent:
                raise ValueError(
                    f"Channels {absent} are not in the eegmat recordings; "
                    f"available: {raw.ch_names}."
                )
            raw.pick(list(picks))
            ch_names = raw.ch_names
            windows = make_fixed_windows(
                raw,
                window_s=window_s,
                subject=subject,
                recording=recording,
            )
            metadata = windows.metadata
            metadata["label"] = EEGMAT_CONDITIONS[cond]
            metadata["condition"] = cond
            metadata["count_quality"] = int(info.loc[subject, "Count quality"])
            metadata["age"] = int(info.loc[subject, "Age"])
            metadata["gender"] = info.loc[subject, "Gender"]
            metadata["n_subtractions"] = float(
                info.loc[subject, "Number of subtractions"]
            )
            parts.append((windows.X, metadata))

    return _result(
        parts,
        label_dtype=np.int64,
        groups_column="subject",
        return_X_y=return_X_y,
        sfreq=EEGMAT_SFREQ,
        ch_names=list(ch_names),
        description=EEGMAT_DESCRIPTION,
    )


def _dreams_stages(codes: np.ndarray, file: Path) -> tuple[list[str], np.ndarray]:
    """R&K and AASM stages of DREAMS hypnogram codes."""
    bad = sorted(set(codes.tolist()) - set(DREAMS_TO_RK))
    if bad:
        raise ValueError(
            f"Hypnogram {str(file)!r} holds codes {bad} outside the DREAMS coding "
            f"{sorted(DREAMS_TO_RK)}."
        )
    rk = [DREAMS_TO_RK[c] for c in codes.tolist()]
    return rk, rk_to_aasm(rk)


def _read_spindles(file: Path, excerpt: int, scorer: int) -> pd.DataFrame:
    _, values = _read_column(file, header=True)
    values = values.reshape(-1, 2)
    return pd.DataFrame(
        {
            "excerpt": excerpt,
            "scorer": scorer,
            "onset": values[:, 0],
            "duration": values[:, 1],
        }
    )


def load_dreams(
    path: str | os.PathLike,
    *,
    excerpts: Iterable[int] | None = None,
    window_s: float = 5.0,
    sfreq: float | None = 100.0,
    return_X_y: bool = False,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Load the DREAMS sleep-spindle excerpts with hypnograms and spindle scorings.

    The excerpts were recorded at 50, 100 or 200 Hz. To stack them in one
    ``X`` they are resampled to ``sfreq`` with :func:`scipy.signal.resample_poly`
    (polyphase FIR, anti-aliased). At the default 100 Hz, excerpt 3 (50 Hz) is
    upsampled and holds nothing above its original 25 Hz Nyquist frequency.

    Parameters
    ----------
    path : str or path-like
        The DREAMS folder with ``excerptN.txt`` (µV), ``Hypnogram_excerptN.txt``
        and ``Visual_scoring{1,2}_excerptN.txt``.
    excerpts : iterable of int or None, default=None
        Excerpt numbers 1-8; ``None`` loads all eight.
    window_s : float, default=5.0
        Length of the non-overlapping windows in seconds; 5 s matches the
        hypnogram epochs.
    sfreq : float or None, default=100.0
        Common sampling rate in Hz. ``None`` keeps the native rate, which then
        must be the same for all requested excerpts.
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of the Bunch.

    Returns
    -------
    data : sklearn.utils.Bunch
        X : ndarray of shape (n_windows, 1, n_times), float64, volts.
        y : ndarray of shape (n_windows,), object — AASM stage at each window's
        centre (``"W", "N1", "N2", "N3", "REM", "artifact", "unknown"``).
        groups : ndarray of shape (n_windows,), str — excerpt id
        (``"excerpt1"``; each excerpt is a different subject).
        metadata : DataFrame with ``subject``, ``recording`` (both the excerpt
        id), ``onset`` (s), ``label`` and ``sleep_stage`` (both = y),
        ``channel`` (C3-A1 or CZ-A1) and ``spindle`` (1 when a spindle of
        scorer 1 has its midpoint in the central half of the window), one
        row per window.
        events : DataFrame — the expert spindle scorings, one row per scored
        spindle: ``excerpt``, ``scorer`` (1 or 2), ``onset`` and ``duration``
        (s from the start of the excerpt).
        hypnogram : DataFrame with ``excerpt``, ``onset``, ``duration`` (s),
        ``stage_rk`` and ``stage`` (AASM), one row per 5-s epoch.
        sfreq : float — the common rate (Hz).
        ch_names : list of str — the channel name, or ``["C3-A1/CZ-A1"]``
        when the excerpts mix both (see ``metadata["channel"]``).
        description : str — content, citation and licence (CC BY-NC-ND).
    (X, y) : tuple of ndarray
        With ``return_X_y=True``: the two arrays above.

    Raises
    ------
    FileNotFoundError
        If ``path`` or an excerpt's file is missing.
    ValueError
        On an unknown excerpt number, mixed native rates with ``sfreq=None``,
        or a signal whose length does not match its sampling rate.
    """
    path = _check_folder(path, "DREAMS")
    numbers = sorted(DREAMS_SFREQ) if excerpts is None else [int(e) for e in excerpts]
    unknown = [e for e in numbers if e not in DREAMS_SFREQ]
    if unknown:
        raise ValueError(f"Unknown DREAMS excerpts {unknown}; expected 1-8.")
    if sfreq is None:
        native = {DREAMS_SFREQ[e] for e in numbers}
        if len(native) > 1:
            raise ValueError(
                f"Excerpts {numbers} have different sampling rates {sorted(native)}; "
                f"pass sfreq to resample them to one rate."
            )
        sfreq = native.pop()

    parts, spindles, hypnograms, channels = [], [], [], []
    for excerpt in numbers:
        name = f"excerpt{excerpt}"
        files = {
            "signal": path / f"{name}.txt",
            "hypnogram": path / f"Hypnogram_{name}.txt",
            "scorer1": path / f"Visual_scoring1_{name}.txt",
        }
        for file in files.values():
            if not file.is_file():
                raise FileNotFoundError(f"DREAMS file not found: {str(file)!r}.")
        channel, signal = _read_column(files["signal"], header=True)
        channel = channel.strip("[]")
        native = DREAMS_SFREQ[excerpt]
        _, codes = _read_column(files["hypnogram"], header=True)
        stage_rk, stage = _dreams_stages(codes.astype(int), files["hypnogram"])
        scored_s = len(codes) * DREAMS_EPOCH_S
        # A wrong rate in DREAMS_SFREQ would misalign the hypnogram, so check
        # the signal spans the scored time (excerpt 6 has 0.7 s extra).
        if abs(len(signal) / native - scored_s) > DREAMS_EPOCH_S:
            raise ValueError(
                f"{str(files['signal'])!r} holds {len(signal)} samples, "
                f"{len(signal) / native:g} s at {native:g} Hz, but its hypnogram "
                f"scores {scored_s:g} s."
            )
        if native != sfreq:
            ratio = Fraction(sfreq / native).limit_denominator(1000)
            signal = resample_poly(signal, ratio.numerator, ratio.denominator)

        sp = [_read_spindles(files["scorer1"], excerpt, 1)]
        scorer2 = path / f"Visual_scoring2_{name}.txt"
        if scorer2.is_file():
            sp.append(_read_spindles(scorer2, excerpt, 2))
        spindles.extend(sp)
        hypnogram = pd.DataFrame(
            {
                "excerpt": excerpt,
                "onset": np.arange(len(codes)) * DREAMS_EPOCH_S,
                "duration": DREAMS_EPOCH_S,
                "stage_rk": stage_rk,
                "stage": stage,
            }
        )
        hypnograms.append(hypnogram)

        windows = make_fixed_windows(
            signal[np.newaxis] * MICROVOLT,
            sfreq,
            window_s=window_s,
            events=sp[0]["onset"].to_numpy() + sp[0]["duration"].to_numpy() / 2,
            subject=name,
            recording=name,
            hypnogram=hypnogram,
        )
        metadata = windows.metadata
        metadata["label"] = metadata["sleep_stage"]
        metadata["channel"] = channel
        metadata["spindle"] = windows.y
        channels.append(channel)
        parts.append((windows.X, metadata))

    return _result(
        parts,
        label_dtype=object,
        groups_column="recording",
        return_X_y=return_X_y,
        events=pd.concat(spindles, ignore_index=True),
        hypnogram=pd.concat(hypnograms, ignore_index=True),
        sfreq=float(sfreq),
        ch_names=["/".join(sorted(set(channels)))],
        description=DREAMS_DESCRIPTION,
    )
