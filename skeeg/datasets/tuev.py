"""TUEV, the TUH EEG Events Corpus: its recordings and event files.

TUEV (Harati et al. 2015; Obeid & Picone 2016) is the public data set of the
iEDeaL paper: clinical scalp EEG in which annotators marked, channel by
channel, one-second segments as spike and sharp wave (SPSW), generalized or
periodic lateralized epileptiform discharges (GPED, PLED), eye movement
(EYEM), artefact (ARTF) or background (BCKG). None of it is in this
repository (the corpus needs registration with the Neural Engineering Data
Consortium and is not redistributed); the tests read files written in the
published format.

Format, as read here:

- Layout: ``<root>/edf/{train,eval}/<subject>/<name>.edf``, each recording with
  its event file ``<name>.rec`` beside it (the root may also be the ``edf``
  folder itself).
- Recordings: EDF with referential channels named ``"EEG FP1-REF"`` (averaged
  reference) or ``"EEG FP1-LE"`` (linked ears), ``T3/T4/T5/T6`` naming.
- ``.rec``: one event per line, ``channel,start,stop,class`` — ``channel``
  the 0-based index of the derivation in the 22-channel TCP montage below,
  ``start``/``stop`` in seconds from the start of the recording, ``class``
  1 = spsw, 2 = gped, 3 = pled, 4 = eyem, 5 = artf, 6 = bckg.
- TCP (temporal central parasagittal) montage, derivation ``k`` = electrode
  ``a_k`` minus electrode ``b_k``: FP1-F7, F7-T3, T3-T5, T5-O1, FP2-F8, F8-T4,
  T4-T6, T6-O2, A1-T3, T3-C3, C3-CZ, CZ-C4, C4-T4, T4-A2, FP1-F3, F3-C3,
  C3-P3, P3-O1, FP2-F4, F4-C4, C4-P4, P4-O2 (the numbering 0-21 of the NEDC
  montage files ``01_tcp_ar_montage.txt`` / ``02_tcp_le_montage.txt``, after
  Ferrell et al. 2020, "The Temple University Hospital EEG Corpus: Electrode
  Location and Channel Labels").
- The newer NEDC annotation CSV (``# version = csv_v1.0.0`` header lines, then
  ``channel,start_time,stop_time,label,confidence`` with derivation names
  and lower-case class names) is read too, for a recording whose ``.rec`` is
  absent.

Checked against public code that reads TUEV (read to learn the format; the
code here is written from the description above):
``Abhishaike/EEG_Event_Classification`` ``EEG_DataCleaning.py`` (the .rec as
``channel,start,stop,label`` rows, the 22 derivations numbered 0-21 from
``EEG <electrode>-REF`` channels); ``ycq091044/BIOT``
``datasets/TUEV/process.py`` and ``sunlabuiuc/PyHealth``
``pyhealth/tasks/EEG_events.py`` / ``pyhealth/datasets/TUEV.py`` (the same
parsing, the class list 1-6 in this order, the ``train``/``eval`` layout with
one folder per subject, the ``.rec`` beside each ``.edf``).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import mne
import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from .loaders import _check_folder, _result
from .windowing import make_event_windows

#: TUEV class codes of the ``.rec`` files and their names.
TUEV_CLASSES = {1: "spsw", 2: "gped", 3: "pled", 4: "eyem", 5: "artf", 6: "bckg"}

#: The 22 TCP derivations ``(a, b)``: channel ``k`` is electrode ``a`` minus
#: electrode ``b``; ``k`` is the channel index of the ``.rec`` files.
TCP_MONTAGE = (
    ("FP1", "F7"),
    ("F7", "T3"),
    ("T3", "T5"),
    ("T5", "O1"),
    ("FP2", "F8"),
    ("F8", "T4"),
    ("T4", "T6"),
    ("T6", "O2"),
    ("A1", "T3"),
    ("T3", "C3"),
    ("C3", "CZ"),
    ("CZ", "C4"),
    ("C4", "T4"),
    ("T4", "A2"),
    ("FP1", "F3"),
    ("F3", "C3"),
    ("C3", "P3"),
    ("P3", "O1"),
    ("FP2", "F4"),
    ("F4", "C4"),
    ("C4", "P4"),
    ("P4", "O2"),
)

#: Names of the TCP derivations, in ``.rec`` channel order.
TCP_CH_NAMES = tuple(f"{a}-{b}" for a, b in TCP_MONTAGE)

TUEV_SPLITS = ("train", "eval")

EVENT_COLUMNS = ("onset", "duration", "channel", "class", "channel_index", "class_code")

# TUH referential channel names: "EEG FP1-REF" (averaged reference) or
# "EEG FP1-LE" (linked ears).
_REFERENTIAL = re.compile(r"^EEG\s+([A-Z0-9]+)-(REF|LE)$", re.IGNORECASE)

TUEV_DESCRIPTION = """\
TUH EEG Events Corpus (TUEV), a subset of the Temple University Hospital EEG
Corpus: clinical scalp EEG (mostly 250 Hz) with one-second segments marked,
channel by channel in the 22-derivation TCP montage, as spike and sharp wave
(spsw), generalized periodic epileptiform discharge (gped), periodic
lateralized epileptiform discharge (pled), eye movement (eyem), artefact (artf)
or background (bckg); split by the corpus into train and eval subjects.

Citation: A. Harati, M. Golmohammadi, S. Lopez, I. Obeid, J. Picone, "Improved
EEG event classification using differential energy", IEEE Signal Processing
in Medicine and Biology Symposium (SPMB) 2015; and I. Obeid, J. Picone, "The
Temple University Hospital EEG Data Corpus", Front. Neurosci. 10:196 (2016).

Licence: the TUH EEG corpora are free for research after registration with the
Neural Engineering Data Consortium (Temple University), under its data use
agreement; they may not be redistributed. No TUEV data ship with skeeg."""


def _check_fields(fields: list[str], columns: str, where: str) -> None:
    n = columns.count(",") + 1
    if len(fields) != n:
        raise ValueError(
            f"Malformed TUEV event at {where}: expected {n} comma-separated fields "
            f"{columns}; got {len(fields)}: {','.join(fields)!r}."
        )


def _rec_line(fields: list[str], file: Path, lineno: int) -> tuple:
    """``(channel_index, start, stop, class_code)`` of one ``.rec`` line."""
    where = f"{str(file)!r} line {lineno}"
    _check_fields(fields, "channel,start,stop,class", where)
    try:
        channel, start, stop, code = (float(f) for f in fields)
    except ValueError:
        raise ValueError(
            f"Malformed TUEV event at {where}: fields must be numbers; got "
            f"{','.join(fields)!r}."
        ) from None
    if channel != int(channel) or not 0 <= channel < len(TCP_MONTAGE):
        raise ValueError(
            f"Malformed TUEV event at {where}: channel {fields[0]!r} is not a TCP "
            f"channel index 0 to {len(TCP_MONTAGE) - 1}."
        )
    if code != int(code) or int(code) not in TUEV_CLASSES:
        raise ValueError(
            f"Unknown TUEV class code {fields[3]!r} at {where}; expected one of "
            f"{TUEV_CLASSES} (code: class)."
        )
    return int(channel), start, stop, int(code)


def _csv_line(fields: list[str], file: Path, lineno: int) -> tuple:
    """``(channel_index, start, stop, class_code)`` of one csv_v1.0.0 row."""
    where = f"{str(file)!r} line {lineno}"
    _check_fields(fields, "channel,start_time,stop_time,label,confidence", where)
    name, start, stop, label, _ = (f.strip() for f in fields)
    if name.upper() not in TCP_CH_NAMES:
        raise ValueError(
            f"Malformed TUEV event at {where}: channel {name!r} is not a TCP "
            f"derivation ({', '.join(TCP_CH_NAMES)})."
        )
    by_name = {v: k for k, v in TUEV_CLASSES.items()}
    if label.lower() not in by_name:
        raise ValueError(
            f"Unknown TUEV class {label!r} at {where}; expected one of {list(by_name)}."
        )
    try:
        start_s, stop_s = float(start), float(stop)
    except ValueError:
        raise ValueError(
            f"Malformed TUEV event at {where}: start_time and stop_time must be "
            f"numbers; got {start!r}, {stop!r}."
        ) from None
    return TCP_CH_NAMES.index(name.upper()), start_s, stop_s, by_name[label.lower()]


def read_tuev_events(path: str | os.PathLike) -> pd.DataFrame:
    """Read one TUEV event file (``.rec``, or an NEDC csv_v1.0.0 ``.csv``).

    Parameters
    ----------
    path : str or path-like
        The event file. A ``.rec`` holds one event per line,
        ``channel,start,stop,class`` (channel: 0-based index into
        :data:`TCP_CH_NAMES`; start and stop in seconds; class code 1-6, see
        :data:`TUEV_CLASSES`). A file whose first line is
        ``# version = csv_v1.0.0`` is read as the NEDC annotation CSV
        (``channel,start_time,stop_time,label,confidence`` after its ``#``
        header lines, derivation names and class names).

    Returns
    -------
    events : pandas.DataFrame
        One row per event, in file order: ``onset`` and ``duration`` (s from
        the start of the recording), ``channel`` (TCP derivation name, e.g.
        ``"FP1-F7"``), ``class`` (``"spsw"``, ``"gped"``, ``"pled"``,
        ``"eyem"``, ``"artf"`` or ``"bckg"``), ``channel_index`` (0-21) and
        ``class_code`` (1-6).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        On a malformed line (wrong field count, a non-number, a channel that
        is not one of the 22, a stop not after its start) or an unknown class;
        the message gives the file and the line number.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"TUEV event file not found: {str(path)!r}.")
    lines = path.read_text().splitlines()
    is_csv = bool(lines) and lines[0].replace(" ", "").lower().startswith(
        "#version=csv_v"
    )
    rows = []
    for lineno, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = [f.strip() for f in text.split(",")]
        if is_csv:
            if fields[0].lower() == "channel":
                continue
            row = _csv_line(fields, path, lineno)
        else:
            row = _rec_line(fields, path, lineno)
        if not 0 <= row[1] < row[2]:
            raise ValueError(
                f"Malformed TUEV event at {str(path)!r} line {lineno}: needs "
                f"0 <= start < stop; got start={row[1]:g} s, stop={row[2]:g} s."
            )
        rows.append(row)
    table = np.array(rows, dtype=float).reshape(-1, 4)
    channel = table[:, 0].astype(np.int64)
    code = table[:, 3].astype(np.int64)
    return pd.DataFrame(
        {
            "onset": table[:, 1],
            "duration": table[:, 2] - table[:, 1],
            "channel": [TCP_CH_NAMES[k] for k in channel],
            "class": [TUEV_CLASSES[c] for c in code],
            "channel_index": channel,
            "class_code": code,
        },
        columns=list(EVENT_COLUMNS),
    )


def _tcp_signals(file: Path, sfreq: float | None) -> tuple[np.ndarray, float]:
    """The 22 TCP derivations of one recording in volts, resampled to ``sfreq``
    (``None``: not resampled), and the recording's native rate."""
    from skeeg.preprocessing import BipolarMontage, Resampler

    raw = mne.io.read_raw_edf(file, preload=False, verbose=False)
    electrodes: dict[str, str] = {}
    for name in raw.ch_names:
        match = _REFERENTIAL.match(name.strip())
        if match:
            electrodes.setdefault(match.group(1).upper(), name)
    needed = list(dict.fromkeys(e for pair in TCP_MONTAGE for e in pair))
    missing = [e for e in needed if e not in electrodes]
    if missing:
        raise ValueError(
            f"TUEV recording {str(file)!r} lacks the TCP electrodes {missing}: "
            f"no channel 'EEG <electrode>-REF' or 'EEG <electrode>-LE' for them; "
            f"its channels are {raw.ch_names}."
        )
    referential = raw.get_data(picks=[electrodes[e] for e in needed])[np.newaxis]
    montage = BipolarMontage(pairs=list(TCP_MONTAGE), ch_names=needed)
    signals = montage.fit_transform(referential)
    native = float(raw.info["sfreq"])
    if sfreq is not None and not np.isclose(native, sfreq):
        # On the whole recording, so no window sees the filter's edge effects.
        signals = Resampler(native, sfreq).fit_transform(signals)
    return signals[0], native


def _class_names(classes, name: str) -> list[str]:
    if isinstance(classes, str):
        classes = [classes]
    classes = [str(c).lower() for c in classes]
    unknown = sorted(set(classes) - set(TUEV_CLASSES.values()))
    if unknown or not classes:
        raise ValueError(
            f"{name} must be a non-empty sequence of TUEV classes from "
            f"{list(TUEV_CLASSES.values())}; got {classes!r}."
        )
    return classes


def _recordings(root: Path, splits: list[str]) -> list[tuple[str, Path, Path]]:
    """``(split, split folder, EDF file)`` of every recording, sorted."""
    found = []
    for split in splits:
        folder = _check_folder(root / split, f"TUEV {split!r} split")
        files = sorted(f for f in folder.rglob("*") if f.suffix.lower() == ".edf")
        found.extend((split, folder, f) for f in files)
    if not found:
        raise FileNotFoundError(
            f"No .edf recordings under {str(root)!r} in the splits {splits}."
        )
    return found


def _event_file(edf: Path) -> Path:
    for suffix in (".rec", ".csv"):
        candidate = edf.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"TUEV recording {str(edf)!r} has no event file "
        f"{str(edf.with_suffix('.rec'))!r}."
    )


def load_tuev(
    path: str | os.PathLike,
    *,
    split: str | Sequence[str] = "train",
    window_s: float = 1.5,
    sfreq: float | None = None,
    ied_classes: Sequence[str] = ("spsw",),
    negative_classes: Sequence[str] = ("eyem", "artf", "bckg"),
    return_X_y: bool = False,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Load TUEV event windows in the 22-channel TCP bipolar montage.

    One window per event line: a TUEV event is marked on one channel, so an
    event seen on three channels gives three windows with the same samples
    and a different ``metadata["channel"]`` (the iEDeaL paper counts its
    instances this way). Each window holds all 22 derivations, centred on the
    event's midpoint (``onset + duration / 2``), as the paper's 1.5-s IED
    instances are.

    Parameters
    ----------
    path : str or path-like
        The TUEV folder (``tuh_eeg_events/v2.0.x``) or its ``edf`` folder,
        holding ``train/`` and ``eval/`` with one folder per subject; each
        ``<name>.edf`` has its events in ``<name>.rec`` beside it.
    split : {"train", "eval"} or sequence of them, default="train"
        The corpus's own subject split(s) to load.
    window_s : float, default=1.5
        Window length in seconds; ``round(window_s * sfreq)`` samples.
    sfreq : float or None, default=None
        Rate to resample each recording to (Hz), with
        :func:`scipy.signal.resample_poly` (anti-aliased) on the whole
        recording before cutting windows. ``None`` keeps the native rate,
        which must then be the same for every recording loaded.
    ied_classes : sequence of str, default=("spsw",)
        Classes labelled 1. ``("spsw", "gped", "pled")`` counts the periodic
        discharges as IEDs too (the paper's TUEV 3,3).
    negative_classes : sequence of str, default=("eyem", "artf", "bckg")
        Classes labelled 0. ``("bckg",)`` gives the paper's TUEV 1,1. Events
        of classes in neither list are not windowed.
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of the Bunch.

    Returns
    -------
    data : sklearn.utils.Bunch
        X : ndarray of shape (n_windows, 22, n_times), float64, volts.
        y : ndarray of shape (n_windows,), int64 — 1 for ``ied_classes``, 0 for
        ``negative_classes``.
        groups : ndarray of shape (n_windows,), str — the subject (the folder
        under the split; TUEV v1.0.0's eval folders are indices, not
        subjects).
        metadata : DataFrame with ``subject``, ``recording`` (file stem),
        ``onset`` (window start, s), ``label`` (= y), ``sleep_stage``
        (``"unknown"``), ``class`` (event class), ``channel`` (derivation the
        event was marked on), ``channel_index``, ``event_onset`` and
        ``event_duration`` (s), ``split`` and ``file`` (EDF path relative to
        ``path``), one row per window.
        events : DataFrame — every event line of the files read (all classes,
        as :func:`read_tuev_events` returns them) with ``subject``,
        ``recording``, ``split``, ``file`` and ``window`` (row of ``X``, or -1
        when not windowed: another class, or too near an end of the
        recording).
        sfreq : float — the sampling rate of ``X`` (Hz).
        ch_names : list of str — the 22 TCP derivations, ``"FP1-F7"``, ...
        description : str — content, citation and licence.
    (X, y) : tuple of ndarray
        With ``return_X_y=True``: the two arrays above.

    Warns
    -----
    RuntimeWarning
        When windows of events too near either end of a recording do not fit
        and are left out (the warning gives how many).

    Raises
    ------
    FileNotFoundError
        If ``path``, a split folder or a recording's ``.rec`` is missing, or
        no recording is found.
    ValueError
        On an unknown split or class, a class in both lists, a non-positive
        ``window_s`` or ``sfreq``, a recording without one of the 19 TCP
        electrodes (the message names them), a malformed event line or an
        unknown class code (the message gives file and line), or mixed native
        rates with ``sfreq=None``.
    """
    root = _check_folder(path, "TUEV")
    if (root / "edf").is_dir():
        root = root / "edf"
    splits = [split] if isinstance(split, str) else list(split)
    if not splits or any(s not in TUEV_SPLITS for s in splits):
        raise ValueError(
            f"split must be one of {TUEV_SPLITS} or a sequence of them; got {split!r}."
        )
    ied = _class_names(ied_classes, "ied_classes")
    negative = _class_names(negative_classes, "negative_classes")
    both = sorted(set(ied) & set(negative))
    if both:
        raise ValueError(
            f"Classes {both} are in both ied_classes and negative_classes."
        )
    if not (np.isfinite(window_s) and window_s > 0):
        raise ValueError(f"window_s must be a positive number; got {window_s!r}.")
    if sfreq is not None and not (np.isfinite(sfreq) and sfreq > 0):
        raise ValueError(f"sfreq must be a positive number or None; got {sfreq!r}.")

    parts, windowed, tables, rates = [], [], [], {}
    n_dropped = n_wanted = 0
    for split_name, folder, edf in _recordings(root, splits):
        events = read_tuev_events(_event_file(edf))
        relative = edf.relative_to(folder)
        subject = relative.parts[0] if len(relative.parts) > 1 else edf.stem
        recording = edf.stem
        events["subject"] = subject
        events["recording"] = recording
        events["split"] = split_name
        events["file"] = edf.relative_to(root).as_posix()
        events["window"] = -1
        tables.append(events)
        wanted = np.flatnonzero(events["class"].isin(ied + negative).to_numpy())
        if not len(wanted):
            continue

        signals, native = _tcp_signals(edf, sfreq)
        if sfreq is None and rates and native not in rates.values():
            first, rate = next(iter(rates.items()))
            raise ValueError(
                f"TUEV recordings have different sampling rates: {rate:g} Hz "
                f"({first!r}) and {native:g} Hz ({str(edf)!r}); pass sfreq to "
                f"resample them to one rate."
            )
        rates[str(edf)] = native
        rate = native if sfreq is None else float(sfreq)
        centre = events["onset"].to_numpy() + events["duration"].to_numpy() / 2
        with warnings.catch_warnings():
            # One warning for the whole load instead of one per recording.
            warnings.simplefilter("ignore", RuntimeWarning)
            # labels carry the event row, so the rows whose window fits are
            # read back from y.
            windows = make_event_windows(
                signals,
                rate,
                window_s=window_s,
                events=centre[wanted],
                labels=wanted,
                subject=subject,
                recording=recording,
            )
        rows = windows.y
        n_wanted += len(wanted)
        n_dropped += len(wanted) - len(rows)
        kept = events.iloc[rows]
        metadata = windows.metadata
        metadata["label"] = kept["class"].isin(ied).to_numpy().astype(np.int64)
        metadata["class"] = kept["class"].to_numpy()
        metadata["channel"] = kept["channel"].to_numpy()
        metadata["channel_index"] = kept["channel_index"].to_numpy()
        metadata["event_onset"] = kept["onset"].to_numpy()
        metadata["event_duration"] = kept["duration"].to_numpy()
        metadata["split"] = split_name
        metadata["file"] = events["file"].iloc[0]
        parts.append((windows.X, metadata))
        windowed.append((events, rows))

    if not parts:
        raise ValueError(
            f"No events of the classes {ied + negative} in the TUEV files under "
            f"{str(root)!r} (splits {splits})."
        )
    if n_dropped:
        warnings.warn(
            f"{n_dropped} of {n_wanted} TUEV event windows (window_s={window_s}) "
            f"extend past their recording and were left out.",
            RuntimeWarning,
            stacklevel=2,
        )
    offset = 0
    for events, rows in windowed:
        column = events.columns.get_loc("window")
        events.iloc[rows, column] = offset + np.arange(len(rows))
        offset += len(rows)
    return _result(
        parts,
        label_dtype=np.int64,
        groups_column="subject",
        return_X_y=return_X_y,
        events=pd.concat(tables, ignore_index=True),
        sfreq=float(sfreq) if sfreq is not None else next(iter(rates.values())),
        ch_names=list(TCP_CH_NAMES),
        description=TUEV_DESCRIPTION,
    )
