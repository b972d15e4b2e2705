"""Sleep-spindle detection on DREAMS, scored against two experts (issues #15, #24).

The DREAMS spindle excerpts (Devuyst et al. 2011; CC BY-NC-ND, read only from
the shared data folder) carry expert spindle scorings: expert 1 on all eight
excerpts, expert 2 on excerpts 1-6. A window classifier is trained
leave-one-excerpt-out, slid over the whole held-out excerpt with
:func:`skeeg.detection.detect_events`, and its events are matched to each
expert's (:func:`skeeg.evaluation.event_scores`) next to the agreement
of the two experts on the same excerpts.

Detectors (same windows, labels, folds and threshold rule):

- ``SC``: band-pass 1-20 Hz, :class:`skeeg.preprocessing.Scaler`,
  :class:`skeeg.SCClassifier`;
- ``sigma+LR``: the classic sigma-power rule (the first two features of
  Lacourse et al.'s A7: absolute and relative 11-16 Hz power), with the
  weights of the two features and the threshold fitted instead of set by
  hand (:class:`skeeg.features.SigmaPower` + logistic regression).

Next to them, trained on nothing here, :func:`yasa.spindles_detect` with its
defaults on each whole held-out excerpt, in µV (:func:`yasa_events`); its
events count and are matched as the others':

- ``YASA``: the excerpt as recorded (50, 100 or 200 Hz). YASA refuses excerpt
  3 (50 Hz: its 1-30 Hz broad-band filter does not fit under 25 Hz); the
  excerpt is marked "refused" with YASA's message, not resampled;
- ``YASA resampled``: the excerpt at the common rate the trained detectors
  see (excerpt 3 upsampled from 50 Hz by :func:`skeeg.datasets.load_dreams`).

YASA is an optional dependency (``pip install 'skeeg[bench]'``): without it
the YASA rows are left out and the JSON's ``yasa`` says why. ``--detectors``
runs some detectors only, and ``--rows-from`` then takes the others' rows from
an earlier results JSON of the same protocol (recorded in the metadata).

Protocol (``docs/spindle_detection.md`` gives the reasons):

- expert 1 scored only the first 1000 s of each excerpt (all its spindles end
  before 1000 s; expert 2's run to 1800 s), so training labels and every
  comparison use that span (:data:`SCORED_S`);
- windows of 1 s every 0.25 s; a window is a spindle window when at least
  half of its central 0.25 s lies inside a spindle of expert 1
  (:func:`window_labels`), and a detection spans the central 0.25 s of its
  windows (:func:`centre_events`);
- the threshold is the one with the best mean event F1 against expert 1 on
  the training excerpts, scored by 2-fold cross-fitting over them
  (:func:`choose_threshold`); the test excerpt is never seen before the
  final detection;
- events are matched at IoU >= 0.2 (primary) and by peak within 0.5 s.

    nice -n 5 python benchmarks/spindle_detection.py --size reduced --threads 1
    python benchmarks/spindle_detection.py --size reduced --detectors YASA \
        "YASA resampled" --rows-from benchmarks/results/spindle_detection_reduced.json
    python benchmarks/spindle_detection.py --size full --device cuda
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from skeeg.evaluation.metrics import scores_table

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

#: The DREAMS folder inside the shared data folder.
DREAMS_FOLDER = "dreams_spindles_CC-BY-NC-ND"
#: Seconds from the start of each excerpt that expert 1 scored.
SCORED_S = 1000.0
#: Excerpts that both experts scored.
BOTH_EXPERTS = (1, 2, 3, 4, 5, 6)
ALL_EXCERPTS = (1, 2, 3, 4, 5, 6, 7, 8)
#: Candidate decision thresholds on the window score.
THRESHOLDS = np.round(np.arange(0.02, 0.99, 0.02), 2)
#: Event matching rules: name -> event_scores keyword arguments.
MATCHING = {
    "iou": {"method": "iou", "iou_threshold": 0.2},
    "peak": {"method": "peak", "tolerance_s": 0.5},
}
#: The detectors trained on each fold.
TRAINED = ("SC", "sigma+LR")
#: YASA's spindle detector with its defaults (nothing trained), on each
#: excerpt as recorded and on the common-rate excerpt the trained ones see.
YASA = "YASA"
YASA_RESAMPLED = "YASA resampled"
DETECTORS = (*TRAINED, YASA, YASA_RESAMPLED)
#: The inter-expert row: expert 2's spindles scored as detections.
EXPERT2 = "expert 2"


@dataclass(frozen=True)
class Size:
    """Everything a run size fixes.

    Attributes
    ----------
    test_excerpts : tuple of int
        Excerpts held out in turn; each is trained on all other excerpts of
        ``train_pool``.
    train_pool : tuple of int
        Excerpts that ever train a model.
    n_seeds : int
        Seeds of the SC weights (the sigma baseline is deterministic).
    sfreq : float
        Common sampling rate (Hz) of the excerpts (:func:`skeeg.datasets.load_dreams`
        resamples 50 and 200 Hz excerpts to it).
    window_s, step_s, centre_s : float
        Window length, step between windows and length of the central region
        that labels a window, in seconds.
    band : tuple of float
        SC's band-pass (Hz). Excerpt 3 was recorded at 50 Hz, so 20 Hz keeps
        the whole sigma band and leaves its anti-alias roll-off out.
    width, max_epochs, batch_size, lr, loss : SC recipe
        Adam with linear decay, last epoch kept (no validation split).
    """

    test_excerpts: tuple[int, ...]
    train_pool: tuple[int, ...] = ALL_EXCERPTS
    n_seeds: int = 1
    sfreq: float = 100.0
    window_s: float = 1.0
    step_s: float = 0.25
    centre_s: float = 0.25
    band: tuple[float, float] = (1.0, 20.0)
    width: int = 8
    max_epochs: int = 15
    batch_size: int = 64
    lr: float = 3e-3
    loss: str = "bce"


SIZES = {
    "smoke": Size(test_excerpts=(1,), train_pool=(1, 2, 3), width=4, max_epochs=1),
    "reduced": Size(test_excerpts=BOTH_EXPERTS),
    "full": Size(
        test_excerpts=ALL_EXCERPTS,
        n_seeds=3,
        width=32,
        max_epochs=30,
        batch_size=128,
    ),
}


@dataclass(frozen=True)
class Excerpt:
    """One DREAMS excerpt: the signal as a Raw (volts) and the experts' spindles."""

    number: int
    raw: object
    experts: dict[int, pd.DataFrame]


def load_excerpts(data: Path, numbers, sfreq: float) -> dict[int, Excerpt]:
    """The excerpts as whole recordings at ``sfreq``, with their scorings."""
    import mne

    from skeeg.datasets import load_dreams

    # One 1800-s window per excerpt is the whole scored signal (excerpt 6's
    # 0.7 s beyond its hypnogram are dropped).
    dreams = load_dreams(
        data / DREAMS_FOLDER, excerpts=numbers, window_s=1800.0, sfreq=sfreq
    )
    excerpts = {}
    for k, number in enumerate(numbers):
        info = mne.create_info(
            [dreams.metadata["channel"].iloc[k]], dreams.sfreq, ch_types="eeg"
        )
        raw = mne.io.RawArray(dreams.X[k], info, verbose=False)
        spindles = dreams.events[dreams.events["excerpt"] == number]
        experts = {
            int(scorer): table[["onset", "duration"]].reset_index(drop=True)
            for scorer, table in spindles.groupby("scorer")
        }
        excerpts[number] = Excerpt(number, raw, experts)
    return excerpts


def window_labels(
    starts_s: np.ndarray,
    spindles: pd.DataFrame,
    *,
    window_s: float,
    centre_s: float,
    sfreq: float,
    n_samples: int,
) -> np.ndarray:
    """1 for windows whose central ``centre_s`` is at least half inside spindles.

    Parameters
    ----------
    starts_s : ndarray of shape (n_windows,)
        Window starts in seconds.
    spindles : pandas.DataFrame
        ``onset`` and ``duration`` (s) of the spindles; overlapping spindles
        count once.
    window_s, centre_s : float
        Window length and the length of its central region, in seconds.
    sfreq : float
        The sample grid (Hz) on which coverage is counted.
    n_samples : int
        Samples in the recording.

    Returns
    -------
    y : ndarray of shape (n_windows,), int64
    """
    inside = np.zeros(n_samples, dtype=np.int64)
    for onset, duration in spindles[["onset", "duration"]].to_numpy():
        inside[int(round(onset * sfreq)) : int(round((onset + duration) * sfreq))] = 1
    covered = np.concatenate([[0], np.cumsum(inside)])
    lo = np.round((np.asarray(starts_s) + (window_s - centre_s) / 2) * sfreq)
    hi = lo + int(round(centre_s * sfreq))
    lo, hi = lo.astype(int), np.minimum(hi.astype(int), n_samples)
    return (2 * (covered[hi] - covered[lo]) >= hi - lo).astype(np.int64)


def training_windows(excerpts: list[Excerpt], size: Size):
    """Windows of the scored span of the excerpts, labelled by expert 1.

    Returns
    -------
    X : ndarray of shape (n_windows, 1, n_times), volts
    y : ndarray of shape (n_windows,)
    """
    from skeeg.datasets import make_fixed_windows

    parts = []
    for excerpt in excerpts:
        windows = make_fixed_windows(
            excerpt.raw, window_s=size.window_s, stride_s=size.step_s
        )
        starts = windows.metadata["onset"].to_numpy()
        # Only centres expert 1 looked at: a window past them is unlabelled.
        keep = starts + (size.window_s + size.centre_s) / 2 <= SCORED_S
        y = window_labels(
            starts[keep],
            excerpt.experts[1],
            window_s=size.window_s,
            centre_s=size.centre_s,
            sfreq=windows.sfreq,
            n_samples=excerpt.raw.n_times,
        )
        parts.append((windows.X[keep], y))
    return tuple(np.concatenate(arrays) for arrays in zip(*parts, strict=True))


def centre_events(events: pd.DataFrame, size: Size) -> pd.DataFrame:
    """Shrink merged-window events to the central regions of their windows.

    A window stands for its central ``centre_s`` (that is what labelled it),
    so an event of merged windows stands for the union of their central
    regions: ``(window_s - centre_s) / 2`` off each end. The peak is kept.
    """
    margin = (size.window_s - size.centre_s) / 2
    out = events.copy()
    out["onset"] = events["onset"] + margin
    out["duration"] = events["duration"] - 2 * margin
    return out


def in_scored_span(events: pd.DataFrame) -> pd.DataFrame:
    """The events whose peak (centre, for expert events) lies before SCORED_S."""
    from skeeg.detection import as_events

    events = as_events(events)
    return events[events["peak"] < SCORED_S].reset_index(drop=True)


def make_detector(name: str, size: Size, seed: int, device: str):
    """A fresh, unfitted detector Pipeline taking windows in volts."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from skeeg import SCClassifier
    from skeeg.features import SigmaPower
    from skeeg.preprocessing import BandpassFilter, Scaler

    if name == "sigma+LR":
        return Pipeline(
            [
                ("sigma", SigmaPower(size.sfreq)),
                ("scale", StandardScaler()),
                ("clf", LogisticRegression()),
            ]
        )
    clf = SCClassifier(
        width=size.width,
        loss=size.loss,
        max_epochs=size.max_epochs,
        batch_size=size.batch_size,
        lr=size.lr,
        optimizer="adam",
        validation_fraction=None,
        random_state=seed,
        device=device,
    )
    return Pipeline(
        [
            ("bandpass", BandpassFilter(size.sfreq, *size.band)),
            ("scale", Scaler()),
            ("clf", clf),
        ]
    )


def fit_detector(name: str, excerpts: list[Excerpt], size, seed, device):
    """The detector fitted on the scored windows of ``excerpts``."""
    X, y = training_windows(excerpts, size)
    return make_detector(name, size, seed, device).fit(X, y)


def scored_events(model, excerpt: Excerpt, size: Size, threshold: float):
    """Detections over the whole excerpt, kept inside the scored span."""
    from skeeg.detection import detect_events

    events = detect_events(
        model,
        excerpt.raw,
        window_s=size.window_s,
        step_s=size.step_s,
        threshold=threshold,
    )
    return in_scored_span(centre_events(events, size))


def yasa_events(signal: np.ndarray, sfreq: float) -> tuple[pd.DataFrame | None, str]:
    """YASA's spindles in one whole excerpt, kept inside the scored span.

    :func:`yasa.spindles_detect` with its defaults, given the signal in µV,
    the unit of YASA's amplitude thresholds.

    Parameters
    ----------
    signal : ndarray of shape (n_times,)
        The excerpt in volts.
    sfreq : float
        Its sampling rate in Hz.

    Returns
    -------
    events : pandas.DataFrame or None
        ``onset``, ``duration`` and ``peak`` (s) of YASA's spindles whose peak
        lies before :data:`SCORED_S`; None when YASA is missing or refuses
        the signal.
    status : str
        ``"ok"``, ``"not importable: ..."`` or ``"refused: <YASA's message>"``.
    """
    try:
        import yasa
    except ImportError as err:
        return None, f"not importable: {err} (pip install 'skeeg[bench]')"
    try:
        found = yasa.spindles_detect(signal * 1e6, sf=sfreq)
    except (AssertionError, ValueError) as err:
        return None, f"refused: {err}"
    # YASA returns None when it finds no spindle.
    table = pd.DataFrame(
        columns=["Start", "End", "Peak"],
        data=None if found is None else found.summary(),
    )
    events = pd.DataFrame(
        {
            "onset": table["Start"],
            "duration": table["End"] - table["Start"],
            "peak": table["Peak"],
        },
        dtype=float,
    )
    return in_scored_span(events), "ok"


def yasa_signal(name: str, data: Path, excerpt: Excerpt) -> tuple[np.ndarray, float]:
    """The signal (V) and rate (Hz) the YASA row ``name`` is given: the
    excerpt as recorded, or at the common rate for :data:`YASA_RESAMPLED`."""
    from skeeg.datasets import load_dreams

    if name == YASA_RESAMPLED:
        return excerpt.raw.get_data()[0], excerpt.raw.info["sfreq"]
    dreams = load_dreams(
        data / DREAMS_FOLDER, excerpts=[excerpt.number], window_s=1800.0, sfreq=None
    )
    return dreams.X[0, 0], dreams.sfreq


def score_events(detected, reference) -> dict:
    """Event scores of ``detected`` against ``reference`` under every rule."""
    from skeeg.evaluation.event_metrics import event_scores

    out = {}
    for rule, kwargs in MATCHING.items():
        scores = event_scores(
            detected, in_scored_span(reference), recording_duration_s=SCORED_S, **kwargs
        )
        out[rule] = {
            key: scores[key]
            for key in (
                "precision",
                "recall",
                "f1",
                "n_detected",
                "n_reference",
                "n_matched",
            )
        }
    return out


def score_against_experts(detected, excerpt: Excerpt) -> dict:
    """:func:`score_events` against each expert who scored ``excerpt``."""
    return {
        f"expert {k}": score_events(detected, excerpt.experts[k])
        for k in sorted(excerpt.experts)
    }


def choose_threshold(
    name: str, excerpts: list[Excerpt], size: Size, seed: int, device: str
) -> tuple[float, float]:
    """The threshold with the best mean event F1 (IoU rule, expert 1) on
    the training excerpts, each scored by a model that did not train on it.

    The excerpts are split in two halves (alternate positions); a model fitted
    on each half scores the windows of the other, and every candidate of
    :data:`THRESHOLDS` turns those scores into events.

    Returns
    -------
    threshold : float
    f1 : float
        Its mean F1 over the training excerpts.
    """
    from skeeg.detection import score_recording, windows_to_events

    halves = (excerpts[0::2], excerpts[1::2])
    f1 = np.zeros((len(excerpts), len(THRESHOLDS)))
    row = 0
    for fit_on, score_on in (halves, halves[::-1]):
        model = fit_detector(name, fit_on, size, seed, device)
        for excerpt in score_on:
            windows = score_recording(
                model, excerpt.raw, window_s=size.window_s, step_s=size.step_s
            )
            for j, threshold in enumerate(THRESHOLDS):
                events = windows_to_events(windows, threshold=threshold)
                f1[row, j] = score_events(
                    in_scored_span(centre_events(events, size)), excerpt.experts[1]
                )["iou"]["f1"]
            row += 1
    mean = f1.mean(axis=0)
    best = int(np.argmax(mean))
    return float(THRESHOLDS[best]), float(mean[best])


def run_fold(name, test: int, excerpts: dict, size: Size, seed: int, device: str):
    """Train on every other excerpt of the pool, detect on ``test``, score."""
    train = [excerpts[k] for k in size.train_pool if k != test]
    start = time.perf_counter()
    threshold, train_f1 = choose_threshold(name, train, size, seed, device)
    model = fit_detector(name, train, size, seed, device)
    detected = scored_events(model, excerpts[test], size, threshold)
    return {
        "excerpt": test,
        "detector": name,
        "seed": seed,
        "threshold": threshold,
        "train_f1": train_f1,
        "seconds": time.perf_counter() - start,
        "scores": score_against_experts(detected, excerpts[test]),
    }


def yasa_row(name: str, data: Path, excerpt: Excerpt) -> tuple[dict | None, str]:
    """The scores of the YASA row ``name`` on ``excerpt`` (the same for every
    seed), or None, and its status (:func:`yasa_events`)."""
    start = time.perf_counter()
    events, status = yasa_events(*yasa_signal(name, data, excerpt))
    if events is None:
        return None, status
    row = {
        "excerpt": excerpt.number,
        "detector": name,
        "seed": None,
        "seconds": time.perf_counter() - start,
        "scores": score_against_experts(events, excerpt),
    }
    return row, status


def earlier_rows(path: Path, meta: dict, run) -> list[dict]:
    """The rows of the detectors not in ``run`` from an earlier results JSON
    of the same protocol; ``meta["rows_from"]`` records where they come from.

    Exits when the earlier run's recipe, thresholds, matching rules, scored
    span or seeds differ from this one's.
    """
    earlier = json.loads(path.read_text())
    fields = ("recipe", "thresholds", "matching", "scored_s", "seeds")
    differ = [
        k
        for k in fields
        if earlier["metadata"].get(k) != json.loads(json.dumps(meta[k]))
    ]
    if differ:
        sys.exit(
            f"{path} ran another protocol ({', '.join(differ)} differ): its rows "
            "cannot stand beside this run's."
        )
    kept = [r for r in earlier["rows"] if r["detector"] not in (EXPERT2, *run)]
    meta["rows_from"] = {
        "path": str(path),
        "detectors": sorted({r["detector"] for r in kept}),
        **{
            k: earlier["metadata"].get(k)
            for k in (
                "command",
                "git_commit",
                "started_utc",
                "wall_s",
                "versions",
                "cpu_model",
                "rows_from",
            )
        },
    }
    return kept


def agreement_rows(excerpts: dict, numbers) -> list[dict]:
    """Expert 2's spindles scored as detections against expert 1's."""
    return [
        {
            "excerpt": k,
            "detector": EXPERT2,
            "seed": None,
            "scores": {
                "expert 1": score_events(
                    in_scored_span(excerpts[k].experts[2]), excerpts[k].experts[1]
                )
            },
        }
        for k in numbers
        if 2 in excerpts[k].experts
    ]


def _mean_row(excerpt: str, detector: str, reference: str, scores: list[dict]):
    return {
        "excerpt": excerpt,
        "detector": detector,
        "reference": reference,
        **{
            m: float(np.mean([s[m] for s in scores]))
            for m in ("precision", "recall", "f1", "n_detected")
        },
    }


def summary(rows: list[dict], rule: str) -> list[dict]:
    """Precision, recall, F1 and detections per excerpt, detector and
    reference (mean over seeds), then their means over the excerpts both
    experts scored, over those of them YASA scored when it refused some, and,
    when others were tested, over all tested excerpts (only the pairs scored
    on every excerpt of the span)."""
    cells: dict[tuple, list[dict]] = {}
    for row in rows:
        for reference, scores in row["scores"].items():
            key = (row["excerpt"], row["detector"], reference)
            cells.setdefault(key, []).append(scores[rule])
    table = []
    for (excerpt, detector, reference), scores in sorted(
        cells.items(), key=lambda item: (item[0][0], _order(item[0][1]), item[0][2])
    ):
        table.append(
            {
                **_mean_row(str(excerpt), detector, reference, scores),
                "n_reference": scores[0]["n_reference"],
                "n_seeds": len(scores),
            }
        )
    tested = sorted({int(t["excerpt"]) for t in table})
    spans = {"mean 1-6": [k for k in tested if k in BOTH_EXPERTS]}
    scored = {(int(t["excerpt"]), t["detector"]) for t in table}
    for detector in (YASA, YASA_RESAMPLED):
        span = [k for k in spans["mean 1-6"] if (k, detector) in scored]
        if span and span != spans["mean 1-6"]:
            spans["mean " + ",".join(map(str, span))] = span
    if set(tested) - set(BOTH_EXPERTS):
        spans["mean all"] = tested
    pairs = dict.fromkeys((t["detector"], t["reference"]) for t in table)
    per_excerpt = list(table)
    for label, span in spans.items():
        for detector, reference in sorted(pairs, key=lambda p: (_order(p[0]), p[1])):
            group = [
                t
                for t in per_excerpt
                if (t["detector"], t["reference"]) == (detector, reference)
                and int(t["excerpt"]) in span
            ]
            if len(group) == len(span):
                table.append(
                    {
                        **_mean_row(label, detector, reference, group),
                        "n_reference": sum(g["n_reference"] for g in group),
                        "n_seeds": group[0]["n_seeds"],
                    }
                )
    return table


def _order(detector: str) -> int:
    return -1 if detector == EXPERT2 else DETECTORS.index(detector)


def f1_table(table: list[dict], refused: set[tuple[str, int]]) -> str:
    """One line per excerpt, one F1 column per (detector, reference);
    "refused" where ``refused`` holds the (detector, excerpt)."""
    columns = list(
        dict.fromkeys(f"{t['detector']} vs {t['reference'][-1]}" for t in table)
    )
    lines: dict[str, dict] = {}
    for t in table:
        line = lines.setdefault(t["excerpt"], {"excerpt": t["excerpt"]})
        line[f"{t['detector']} vs {t['reference'][-1]}"] = t["f1"]
        for detector in (YASA, YASA_RESAMPLED):
            if t["excerpt"].isdigit() and (detector, int(t["excerpt"])) in refused:
                line[f"{detector} vs {t['reference'][-1]}"] = "refused"
    return scores_table(list(lines.values()), ["excerpt", *columns])


def report(rows: list[dict], yasa: dict[str, dict[int, str]]) -> str:
    """The F1 tables (both matching rules), then precision and recall;
    ``yasa``: each YASA row's status per excerpt."""
    statuses = [(d, k, s) for d, by in yasa.items() for k, s in by.items()]
    refused = {(d, k) for d, k, s in statuses if s.startswith("refused")}
    notes = [f"{d} on excerpt {k}: {s}" for d, k, s in statuses if (d, k) in refused]
    missing = {s for _, _, s in statuses if s.startswith("not importable")}
    notes += [f"YASA left out: {s}" for s in missing]
    parts = []
    for rule, title in (
        ("iou", "Event F1, IoU >= 0.2 (primary); 'X vs 1' = X scored against expert 1"),
        ("peak", "Event F1, peaks within 0.5 s"),
    ):
        table = summary(rows, rule)
        parts += [title + ":", f1_table(table, refused)]
    parts += notes
    parts += [
        "Precision and recall, IoU >= 0.2 (n_detected: mean over seeds):",
        scores_table(
            summary(rows, "iou"),
            [
                "excerpt",
                "detector",
                "reference",
                "precision",
                "recall",
                "f1",
                "n_detected",
                "n_reference",
                "n_seeds",
            ],
        ),
    ]
    return "\n\n".join(parts)


def plot(rows: list[dict], path: Path) -> None:
    """Event F1 (IoU rule) per excerpt: the detectors against each expert and
    expert 2 against expert 1."""
    plt = harness.pyplot()

    table = summary(rows, "iou")
    pairs = list(dict.fromkeys((t["detector"], t["reference"]) for t in table))
    excerpts = list(dict.fromkeys(t["excerpt"] for t in table))
    width = 0.8 / len(pairs)
    # matplotlib's colour cycle less its grey, which marks expert 2.
    colours = iter(f"C{k}" for k in (0, 1, 2, 3, 4, 5, 6, 8, 9) * len(pairs))
    fig, ax = plt.subplots(figsize=(max(1.2 * len(excerpts) + 2, 7), 4.6))
    for i, (detector, reference) in enumerate(pairs):
        values = {
            t["excerpt"]: t["f1"]
            for t in table
            if (t["detector"], t["reference"]) == (detector, reference)
        }
        x = [j + i * width for j, e in enumerate(excerpts) if e in values]
        ax.bar(
            x,
            [values[e] for e in excerpts if e in values],
            width,
            label=f"{detector} vs {reference}",
            color="0.3" if detector == EXPERT2 else next(colours),
        )
    ax.set_xticks(
        np.arange(len(excerpts)) + 0.4 - width / 2,
        [e if e.startswith("mean") else f"excerpt {e}" for e in excerpts],
    )
    ax.set_ylabel("event F1 (IoU >= 0.2)")
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    harness.save_figure(fig, path)


def write_outputs(stem: Path, meta: dict, rows: list[dict], yasa: dict) -> str:
    """Write ``<stem>.json``, ``<stem>.txt`` and ``<stem>_f1.png``; return the
    text. ``yasa``: each YASA row's status per excerpt, kept in the JSON."""
    text = report(rows, yasa)
    table = summary(rows, "iou")
    harness.write_results(stem, meta, rows, text, table=table, yasa=yasa)
    plot(rows, stem.parent / f"{stem.name}_f1.png")
    return text


def _f1s(row: dict | None) -> str:
    """A row's event F1 (IoU rule) against each expert, for the console."""
    if row is None:
        return ""
    return "".join(
        f", F1 vs {ref[-1]} {s['iou']['f1']:.3f}" for ref, s in row["scores"].items()
    )


def main(argv: list[str] | None = None) -> dict:
    """Run the study; print the tables; write ``<out>/spindle_detection_<size>.*``.

    ``argv``: the command line (default ``sys.argv[1:]``). Returns ``{"metadata",
    "rows", "yasa"}``: one row per (excerpt, detector, seed) with its scores
    against each expert (and a trained detector's threshold), one ``"expert 2"``
    row per excerpt scored by both experts, and each YASA row's status per
    excerpt.
    """
    parser = harness.argument_parser(
        __doc__, SIZES, seeds={"help": "SC seeds (default: the size's)"}
    )
    parser.add_argument(
        "--detectors",
        nargs="+",
        choices=DETECTORS,
        default=list(DETECTORS),
        help="detectors to run (default: all)",
    )
    parser.add_argument(
        "--rows-from",
        type=Path,
        default=None,
        help="results JSON of an earlier run of the same protocol: the rows of "
        "the detectors not run are taken from it",
    )
    args = parser.parse_args(argv)
    size, seeds = harness.start_study(args, SIZES, DREAMS_FOLDER)
    stem = args.out / f"spindle_detection_{args.size}"
    meta = harness.provenance(
        __file__,
        argv,
        args,
        packages=("yasa",),
        recipe=asdict(size),
        thresholds=THRESHOLDS.tolist(),
        matching=MATCHING,
        scored_s=SCORED_S,
        seeds=seeds,
    )

    numbers = sorted(set(size.train_pool) | set(size.test_excerpts))
    excerpts = load_excerpts(args.data, numbers, size.sfreq)
    rows = agreement_rows(excerpts, size.test_excerpts)
    if args.rows_from is not None:
        rows += earlier_rows(args.rows_from, meta, args.detectors)
    yasa = {name: {} for name in (YASA, YASA_RESAMPLED) if name in args.detectors}
    for name, status in yasa.items():
        for test in size.test_excerpts:
            row, status[test] = yasa_row(name, args.data, excerpts[test])
            rows += [row] if row else []
            print(f"excerpt {test} {name}: {status[test]}{_f1s(row)}", flush=True)
    text = write_outputs(stem, meta, rows, yasa)
    start = time.perf_counter()
    for test in size.test_excerpts:
        for name in (n for n in TRAINED if n in args.detectors):
            for seed in seeds if name == "SC" else seeds[:1]:
                row = run_fold(name, test, excerpts, size, seed, args.device)
                rows.append(row)
                print(
                    f"[{time.perf_counter() - start:6.0f}s] excerpt {test} {name} "
                    f"seed {seed}: threshold {row['threshold']:.2f} (train F1 "
                    f"{row['train_f1']:.3f}){_f1s(row)}",
                    flush=True,
                )
        text = write_outputs(stem, meta, rows, yasa)
    print(text)
    print(f"wrote {stem}.json/.txt/_f1.png in {meta['wall_s']:.0f} s")
    return {"metadata": meta, "rows": rows, "yasa": yasa}


if __name__ == "__main__":
    main()
