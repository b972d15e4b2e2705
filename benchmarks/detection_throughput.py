"""Detection throughput: hours of EEG scored per second, and peak memory.

Synthetic recordings (5 channels, 512 Hz, AR(1) background of 20 µV with a
spike-and-wave every ~30 s) are written as real EDF files with ``edfio``.
On each, in a fresh subprocess with torch's and the BLAS threads pinned:

- **SC end-to-end**: :func:`skeeg.detection.detect_events` on the EDF path
  (read with ``preload=False`` in 300-s chunks, band-pass, scale, window,
  score, merge) with an SC pipeline (band-pass, scaler, ``SCClassifier``,
  width 16, trained briefly on a few windows: accuracy is not the point)
  loaded from a ``.skeeg`` model file;
- **SC forward only**: next, in the same subprocess (under the same load),
  the same run where the classifier's ``predict_proba`` is replaced by the
  network's forward pass, and only that forward is timed: the same windows,
  in the same batches;
- **spectrogram end-to-end**: ``detect_events`` with a pipeline of the same
  band-pass and scaler, the log-magnitude of each channel's STFT
  (:func:`scipy.signal.stft`, 250-ms segments, largest over the segments)
  and a logistic regression, fitted in the subprocess on the same training
  windows (on held-out windows it and SC both reach a window F1 near 1).

Times are CPU seconds of the process (user + system, ``time.process_time``)
and wall seconds; on a shared machine the CPU time is the steadier one, and
ratios use it. Peak RSS is the subprocess's high-water mark ``VmHWM``
(``/proc/self/status``; it includes Python, torch and the model):
``getrusage(RUSAGE_SELF).ru_maxrss``, also recorded, survives ``exec`` on
Linux and so starts at the parent's peak (the parent trains the model).
Event F1 is against the planted spikes (peak within half a window).

    python benchmarks/detection_throughput.py                  # 1 h and 24 h
    python benchmarks/detection_throughput.py --hours 1 6 --threads 2
    python benchmarks/detection_throughput.py --hours 24 --device cuda --batch-size 4096

On a GPU (``--device cuda``), the model is trained on the CPU, loaded onto the
GPU, and the wall time is the figure: ``eeg_h_per_wall_min`` against the
goal of 1,000 hours of 5-channel EEG scored per minute (issue #16).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

SFREQ = 512.0
CH_NAMES = ("Fp1-F7", "F7-T3", "T3-T5", "T5-O1", "Fp2-F8")
#: Relative amplitude of the planted spikes on each channel (a focus at T3).
SPIKE_GAINS = (0.4, 1.0, 0.8, 0.3, 0.1)
SPIKE_UV = 150.0
BACKGROUND_UV = 20.0
WINDOW_S = 1.5
BATCH_SIZE = 256
#: SC trains on mini-batches of 32 (a few hundred windows make few steps
#: at 256), then scores in batches of BATCH_SIZE.
TRAIN_BATCH_SIZE = 32
WIDTH = 16
#: The subprocesses; "sc" measures "forward" too.
WORKERS = ("sc", "spectrogram")
PIPELINES = ("sc", "forward", "spectrogram")
LABELS = {
    "sc": "SC end-to-end",
    "forward": "SC forward only",
    "spectrogram": "spectrogram end-to-end",
}


# -- synthetic recordings ----------------------------------------------------------
def spike_waveform() -> np.ndarray:
    """A 400-ms spike-and-slow-wave in µV (negative spike, positive wave)."""
    t = np.arange(-0.1, 0.3, 1 / SFREQ)
    spike = -np.exp(-0.5 * (t / 0.012) ** 2)
    wave = 0.35 * np.exp(-0.5 * ((t - 0.12) / 0.04) ** 2)
    return SPIKE_UV * (spike + wave)


def spike_times(duration_s: float, every_s: float, rng) -> np.ndarray:
    """One spike per ``every_s`` slot, jittered by a third of the slot."""
    slots = np.arange(every_s / 2, duration_s - every_s / 2, every_s)
    return slots + rng.uniform(-every_s / 3, every_s / 3, size=len(slots))


def channels(duration_s: float, times: np.ndarray, rng):
    """Each channel in µV, one at a time (24 h of one is 354 MB)."""
    from scipy.signal import lfilter

    n_samples = int(round(duration_s * SFREQ))
    waveform = spike_waveform()
    onset = np.round(times * SFREQ).astype(int) - int(0.1 * SFREQ)
    positions = onset[:, None] + np.arange(len(waveform))
    pole = 0.95  # AR(1): more power at low frequencies, as EEG
    for gain in SPIKE_GAINS:
        x = lfilter([1.0], [1.0, -pole], rng.standard_normal(n_samples))
        x *= BACKGROUND_UV * np.sqrt(1 - pole**2)
        x[positions] += gain * waveform
        yield x


def write_recording(path: Path, hours: float, seed: int) -> np.ndarray:
    """Write the EDF; returns its spike times in seconds."""
    from edfio import Edf, EdfSignal

    rng = np.random.default_rng(seed)
    duration_s = hours * 3600.0
    times = spike_times(duration_s, 30.0, rng)
    signals = [
        EdfSignal(
            x,
            SFREQ,
            label=name,
            physical_dimension="uV",
            physical_range=(-1000.0, 1000.0),
        )
        for name, x in zip(CH_NAMES, channels(duration_s, times, rng), strict=True)
    ]
    Edf(signals).write(path)
    return times


def training_windows(n_windows: int, seed: int):
    """Side-by-side windows in volts (as MNE reads EEG) with a spike every
    ~5 s; a window is positive when a spike's peak falls in it."""
    rng = np.random.default_rng(seed)
    n_times = int(round(WINDOW_S * SFREQ))
    duration_s = n_windows * WINDOW_S
    times = spike_times(duration_s, 5.0, rng)
    data = np.stack(list(channels(duration_s, times, rng))) * 1e-6
    X = data[:, : n_windows * n_times].reshape(len(CH_NAMES), n_windows, n_times)
    y = np.zeros(n_windows, dtype=int)
    y[np.floor(times / WINDOW_S).astype(int)] = 1
    return np.ascontiguousarray(X.transpose(1, 0, 2)), y


# -- the models ----------------------------------------------------------------------
def sc_pipeline(epochs: int, seed: int):
    from sklearn.pipeline import Pipeline

    from skeeg import SCClassifier
    from skeeg.preprocessing import BandpassFilter, Scaler

    return Pipeline(
        [
            ("bandpass", BandpassFilter(SFREQ, 1.0, 70.0)),
            ("scale", Scaler()),
            (
                "clf",
                SCClassifier(
                    width=WIDTH,
                    loss="bce",
                    optimizer="adam",
                    lr=3e-3,
                    max_epochs=epochs,
                    batch_size=TRAIN_BATCH_SIZE,
                    validation_fraction=None,
                    random_state=seed,
                    device="cpu",
                ),
            ),
        ]
    )


def log_stft(X: np.ndarray) -> np.ndarray:
    """Log-magnitude STFT of each channel of each window, its largest value
    over the segments per frequency (a spike anywhere in the window):
    (n_windows, n_channels * n_freqs)."""
    from scipy.signal import stft

    _, _, spectra = stft(X, fs=SFREQ, nperseg=128, axis=-1)
    return np.log(np.abs(spectra) + 1e-6).max(axis=-1).reshape(len(X), -1)


def spectrogram_pipeline():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from skeeg.preprocessing import BandpassFilter, Scaler

    return Pipeline(
        [
            ("bandpass", BandpassFilter(SFREQ, 1.0, 70.0)),
            ("scale", Scaler()),
            ("stft", FunctionTransformer(log_stft)),
            ("standardize", StandardScaler()),
            ("clf", LogisticRegression(max_iter=1000)),
        ]
    )


# -- one measurement, in its own process --------------------------------------------
def _time_forward_only(model) -> dict:
    """Replace the classifier's ``predict_proba`` by its network's forward
    pass (batched as the classifier batches), timing only the forward."""
    import torch
    from scipy.special import expit

    clf = model[-1]
    module = clf.net_.module_.eval()
    device = next(module.parameters()).device
    spent = {"wall": 0.0, "cpu": 0.0}

    def predict_proba(X):
        X = torch.from_numpy(np.asarray(X, dtype=np.float32))
        logits = []
        for start in range(0, len(X), clf.batch_size):
            batch = X[start : start + clf.batch_size]
            wall, cpu = time.perf_counter(), time.process_time()
            with torch.no_grad():
                # To the device and back inside the timing: .cpu() waits
                # for a GPU's kernels.
                out = module(batch.to(device))[:, 0].cpu()
            spent["wall"] += time.perf_counter() - wall
            spent["cpu"] += time.process_time() - cpu
            logits.append(out.double().numpy())
        p = expit(np.concatenate(logits))
        return np.column_stack([1 - p, p])

    clf.predict_proba = predict_proba
    return spent


def _timed_detection(model, args, window_s: float) -> dict:
    """One ``detect_events`` run over the EDF: times, events, event F1."""
    from skeeg.detection import detect_events
    from skeeg.evaluation.event_metrics import event_scores

    wall, cpu = time.perf_counter(), time.process_time()
    events = detect_events(
        model,
        args.edf,
        window_s=window_s,
        ch_names=list(CH_NAMES),
        sfreq=SFREQ,
        batch_size=args.batch_size,
    )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    scores = event_scores(
        events,
        np.load(args.spikes),
        recording_duration_s=args.hours * 3600,
        tolerance_s=window_s / 2,
    )
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "n_events": len(events),
        "event_f1": scores["f1"],
        "peak_rss_mb": harness.peak_rss_mb(),
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def worker(args: argparse.Namespace) -> dict:
    """Run one pipeline over one EDF; print and return its measurements.

    "sc" times the end-to-end run, then, in the same process (so under the
    same load), the forward-only run on the same windows.
    """
    import torch

    from skeeg.model_file import load_model, read_model_metadata

    harness.pin_threads(args.threads)

    if args.worker == "spectrogram":
        with np.load(args.train) as data:
            model = spectrogram_pipeline().fit(data["X"], data["y"])
        window_s = WINDOW_S
    else:
        model = load_model(args.model, device=args.device)
        model.set_params(clf__batch_size=args.batch_size)
        window_s = read_model_metadata(args.model)["window_s"]
    rss_before = harness.peak_rss_mb()
    results = {args.worker: _timed_detection(model, args, window_s)}
    if args.worker == "sc":
        spent = _time_forward_only(model)
        run = _timed_detection(model, args, window_s)
        results["forward"] = {
            **run,
            "wall_s": spent["wall"],
            "cpu_s": spent["cpu"],
            "run_cpu_s": run["cpu_s"],
        }
    for result in results.values():
        result["rss_before_mb"] = rss_before
        result["torch_threads"] = torch.get_num_threads()
    harness.print_worker_result(results)
    return results


def measure(name: str, edf: Path, files: dict, hours: float, args) -> dict:
    """Run :func:`worker` in a fresh interpreter with the threads pinned;
    its results by pipeline."""
    arguments = [
        "--worker",
        name,
        "--edf",
        str(edf),
        "--hours",
        str(hours),
        "--threads",
        str(args.threads),
        "--seed",
        str(args.seed),
        *("--device", args.device, "--batch-size", str(args.batch_size)),
        *("--model", str(files["model"]), "--train", str(files["train"])),
        *("--spikes", str(files[edf])),
    ]
    return harness.run_worker(__file__, arguments, args.threads)


# -- the run ------------------------------------------------------------------------
def prepare(args, workdir: Path) -> dict:
    """Train and save the SC model, keep the training windows, write the EDFs."""
    import torch

    from skeeg.model_file import save_model

    torch.set_num_threads(args.threads)
    files = {"model": workdir / "sc.skeeg", "train": workdir / "train.npz"}
    X, y = training_windows(args.train_windows, args.seed)
    np.savez(files["train"], X=X, y=y)
    start = time.perf_counter()
    model = sc_pipeline(args.epochs, args.seed).fit(X, y)
    model.set_params(clf__batch_size=BATCH_SIZE)
    print(
        f"trained SC on {len(y)} windows ({y.sum()} positive) in "
        f"{time.perf_counter() - start:.0f} s"
    )
    save_model(
        model,
        files["model"],
        sfreq=SFREQ,
        ch_names=list(CH_NAMES),
        window_s=WINDOW_S,
        training_summary={"n_windows": len(y), "n_positive": int(y.sum())},
    )
    for i, hours in enumerate(args.hours):
        edf = workdir / f"synthetic_{hours:g}h.edf"
        start = time.perf_counter()
        times = write_recording(edf, hours, args.seed + 1 + i)
        files[edf] = workdir / f"spikes_{hours:g}h.npy"
        np.save(files[edf], times)
        print(
            f"wrote {edf.name} ({edf.stat().st_size / 2**20:.0f} MiB) in "
            f"{time.perf_counter() - start:.0f} s"
        )
    return files


def run(args) -> tuple[list[dict], list[dict]]:
    """Every pipeline on every recording, ``repeats`` times interleaved; the
    fastest repeat (CPU time) is kept."""
    rows, summaries = [], []
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        workdir = Path(tmp)
        files = prepare(args, workdir)
        for hours in args.hours:
            edf = workdir / f"synthetic_{hours:g}h.edf"
            best: dict[str, dict] = {}
            for _ in range(args.repeats):
                for name in WORKERS:
                    for pipeline, result in measure(
                        name, edf, files, hours, args
                    ).items():
                        print(f"{hours:g} h {LABELS[pipeline]}: {result}")
                        if (
                            pipeline not in best
                            or result["cpu_s"] < best[pipeline]["cpu_s"]
                        ):
                            best[pipeline] = result
            forward = best["forward"]["cpu_s"]
            for pipeline in PIPELINES:
                r = best[pipeline]
                rows.append(
                    {
                        "recording_h": hours,
                        "pipeline": LABELS[pipeline],
                        "cpu_s": r["cpu_s"],
                        "wall_s": r["wall_s"],
                        "eeg_h_per_cpu_s": hours / r["cpu_s"],
                        "eeg_h_per_wall_min": 60 * hours / r["wall_s"],
                        "x_sc_forward": r["cpu_s"] / forward,
                        "peak_rss_mb": r["peak_rss_mb"],
                        "rss_before_mb": r["rss_before_mb"],
                        "n_events": r["n_events"],
                        "event_f1": r["event_f1"],
                    }
                )
            summaries.append(
                {
                    "recording_h": hours,
                    "sc_end_to_end_over_forward": best["sc"]["cpu_s"] / forward,
                    "goal_end_to_end_over_forward": 1.3,
                    "spectrogram_over_sc_end_to_end": best["spectrogram"]["cpu_s"]
                    / best["sc"]["cpu_s"],
                    "sc_eeg_h_per_cpu_s": hours / best["sc"]["cpu_s"],
                    "sc_eeg_h_per_wall_s": hours / best["sc"]["wall_s"],
                    "sc_eeg_h_per_wall_min": 60 * hours / best["sc"]["wall_s"],
                    "goal_gpu_eeg_h_per_wall_min": 1000,
                    "sc_peak_rss_mb": best["sc"]["peak_rss_mb"],
                    "goal_peak_rss_mb": 1024,
                }
            )
    return rows, summaries


def provenance(args, argv: list[str] | None) -> dict:
    """:func:`harness.provenance` with the settings of the run."""
    return harness.provenance(
        __file__,
        argv,
        args,
        threads=args.threads,
        seed=args.seed,
        repeats=args.repeats,
        recording={
            "n_channels": len(CH_NAMES),
            "sfreq": SFREQ,
            "format": "EDF (edfio), 16-bit, 1-s records",
            "spike_every_s": 30.0,
        },
        model={
            "sc_width": WIDTH,
            "window_s": WINDOW_S,
            "step_s": WINDOW_S,
            "batch_size": args.batch_size,
            "chunk_s": 300.0,
            "train_windows": args.train_windows,
            "train_batch_size": TRAIN_BATCH_SIZE,
            "epochs": args.epochs,
        },
    )


def table(rows: list[dict]) -> str:
    from skeeg.evaluation.metrics import scores_table

    columns = [
        "recording_h",
        "pipeline",
        "cpu_s",
        "wall_s",
        "eeg_h_per_cpu_s",
        "eeg_h_per_wall_min",
        "x_sc_forward",
        "peak_rss_mb",
        "n_events",
        "event_f1",
    ]
    return scores_table(rows, columns)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = harness.argument_parser(
        __doc__,
        None,
        harness.SPEED,
        threads=harness.ONE_THREAD,
        device={
            "help": "torch device the saved model is loaded onto and scores on "
            "(training stays on the CPU; default: cpu)"
        },
    )
    parser.add_argument(
        "--hours",
        type=float,
        nargs="+",
        default=[1.0, 24.0],
        help="recording lengths in hours (default: 1 24)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="runs of each measurement, interleaved; the fastest is kept",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=BATCH_SIZE,
        help=f"windows per forward pass when scoring (default: {BATCH_SIZE})",
    )
    parser.add_argument(
        "--train-windows",
        type=int,
        default=400,
        help="training windows of both models (default: 400)",
    )
    parser.add_argument(
        "--epochs", type=int, default=8, help="SC training epochs (default: 8)"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where the EDF files are written, then removed (default: a temp dir)",
    )
    # Internal: one measurement in a subprocess.
    parser.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    for name in ("--edf", "--model", "--train", "--spikes"):
        parser.add_argument(name, type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.worker:
        args.hours = args.hours[0]
        return worker(args)
    harness.pin_threads(args.threads)
    meta = provenance(args, argv)
    rows, summaries = run(args)
    text = table(rows)
    print(text)
    suffix = "" if args.device == "cpu" else f"_{args.device.replace(':', '')}"
    return harness.write_results(
        args.out / f"detection_throughput{suffix}",
        meta,
        rows,
        f"{harness.header(meta)}\n\n{text}\n\n{json.dumps(summaries, indent=1)}",
        summary=summaries,
    )


if __name__ == "__main__":
    main()
