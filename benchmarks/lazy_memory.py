"""Peak memory against the number of recordings: LazyWindows vs. loading.

Synthetic EDF recordings (5 channels, 250 Hz, Gaussian background of 20 µV,
written with ``edfio``) are cut into 2-s windows; a window's label is 1 in
the second half of every 20 s (accuracy is not the point). For each number
of recordings N, in a fresh subprocess (torch and BLAS on one thread,
``nice`` 10), one of:

- **lazy**: ``LazyWindows`` over the N files → ``SCClassifier`` (width 4,
  one epoch, batch 256) ``fit(ds)`` → ``predict_proba(ds)``;
- **in memory**: the same windows loaded with ``np.asarray(ds)`` → the same
  ``fit(X, y)`` → ``predict_proba(X)``.

Peak RSS is the subprocess's high-water mark ``VmHWM`` (``/proc``; it
includes Python, torch and MNE, about the "after imports" column), read
with :func:`harness.peak_rss_mb`.

    python benchmarks/lazy_memory.py --size reduced   # N = 1, 10, 50; 10 min each
    python benchmarks/lazy_memory.py --size smoke     # N = 1, 3; 1 min each
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

SFREQ = 250.0
N_CHANNELS = 5
WINDOW_S = 2.0
SIZES = {
    "smoke": {"recordings": [1, 3], "minutes": 1.0},
    "reduced": {"recordings": [1, 10, 50], "minutes": 10.0},
}
MODES = ("lazy", "memory")


def write_recordings(folder: Path, n: int, minutes: float, seed: int) -> list[str]:
    """Write ``n`` EDF files of ``minutes`` each; return their paths."""
    from edfio import Edf, EdfSignal

    rng = np.random.default_rng(seed)
    paths = []
    for r in range(n):
        signals = [
            EdfSignal(
                rng.normal(scale=20.0, size=int(minutes * 60 * SFREQ)),
                SFREQ,
                label=f"EEG{c}",
                physical_dimension="uV",
                physical_range=(-500.0, 500.0),
            )
            for c in range(N_CHANNELS)
        ]
        path = folder / f"rec{r:03d}.edf"
        Edf(signals).write(path)
        paths.append(str(path))
    return paths


def label_windows(path: str, onsets: np.ndarray) -> np.ndarray:
    """1 in the second half of every 20 s."""
    return (onsets % 20.0 >= 10.0).astype(int)


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker(args: argparse.Namespace) -> dict:
    """One mode on the first ``args.n`` recordings, in this process."""

    from skeeg import SCClassifier
    from skeeg.datasets import LazyWindows

    harness.pin_threads(1)
    after_imports = current_rss_mb()
    paths = sorted(str(p) for p in Path(args.folder).glob("*.edf"))[: args.n]
    ds = LazyWindows(paths, window_s=WINDOW_S, labels=label_windows)
    clf = SCClassifier(width=4, max_epochs=1, batch_size=256, random_state=args.seed)
    start = time.perf_counter()
    if args.mode == "lazy":
        clf.fit(ds)
        fitted = time.perf_counter()
        proba = clf.predict_proba(ds)
    else:
        X, y = np.asarray(ds), ds.y
        clf.fit(X, y)
        fitted = time.perf_counter()
        proba = clf.predict_proba(X)
    done = time.perf_counter()
    return {
        "mode": args.mode,
        "n_recordings": args.n,
        "n_windows": len(ds),
        "windows_mb": float(np.prod(ds.shape)) * 4 / 2**20,
        "after_imports_mb": after_imports,
        "peak_rss_mb": harness.peak_rss_mb(),
        "fit_s": fitted - start,
        "predict_s": done - fitted,
        "mean_proba": float(proba[:, 1].mean()),
    }


def run_worker(folder: str, mode: str, n: int, seed: int) -> dict:
    """:func:`worker` in a fresh interpreter on one thread."""
    arguments = ["--worker", "--mode", mode, "--n", str(n), "--folder", folder]
    return harness.run_worker(__file__, [*arguments, "--seed", str(seed)], threads=1)


def table(rows: list[dict]) -> str:
    by = {(r["n_recordings"], r["mode"]): r for r in rows}
    lines = [
        "| recordings | windows | windows in float32 (MB) | after imports (MB) "
        "| lazy peak RSS (MB) | in-memory peak RSS (MB) | lazy fit + predict (s) "
        "| in-memory fit + predict (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n in sorted({r["n_recordings"] for r in rows}):
        lazy, memory = by[(n, "lazy")], by[(n, "memory")]
        lines.append(
            f"| {n} | {lazy['n_windows']} | {lazy['windows_mb']:.1f} "
            f"| {lazy['after_imports_mb']:.0f} | {lazy['peak_rss_mb']:.0f} "
            f"| {memory['peak_rss_mb']:.0f} "
            f"| {lazy['fit_s'] + lazy['predict_s']:.1f} "
            f"| {memory['fit_s'] + memory['predict_s']:.1f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = harness.argument_parser(__doc__, SIZES, ("seed",))
    parser.add_argument("--recordings", type=int, nargs="+", default=None)
    parser.add_argument("--minutes", type=float, default=None)
    parser.add_argument(
        "--out", default=None, help="results stem (default benchmarks/results/...)"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.nice(10)
    if args.worker:
        harness.print_worker_result(worker(args))
        return
    size = SIZES[args.size]
    counts = args.recordings or size["recordings"]
    minutes = args.minutes or size["minutes"]
    out = Path(args.out or harness.RESULTS_DIR / f"lazy_memory_{args.size}")
    harness.pin_threads(1)
    meta = harness.provenance(
        __file__,
        argv,
        args,
        packages=("edfio",),
        minutes=minutes,
        seed=args.seed,
        recordings=counts,
    )
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        write_recordings(Path(folder), max(counts), minutes, args.seed)
        for n in counts:
            for mode in MODES:
                rows.append(run_worker(folder, mode, n, args.seed))
                print(json.dumps(rows[-1]), flush=True)
    text = (
        f"{N_CHANNELS} channels, {SFREQ:g} Hz, {minutes:g} min per recording, "
        f"{WINDOW_S:g}-s windows; SCClassifier width 4, 1 epoch, batch 256\n\n"
        + table(rows)
    )
    print(text)
    harness.write_results(out, meta, rows, text)


if __name__ == "__main__":
    main()
