"""Sharing the machine: one SC fit idle and beside busy processes, with
torch's own thread count, one thread and ``n_threads="auto"``; a grid
search, a cross-validation and the README demo with 1 and 2 jobs.

**Single fits.** The same ``SCClassifier`` fit (fixed synthetic windows,
the same seed) runs with no busy process of this script's, then beside 1 and
2 busy processes (a Python loop, ``while True: pass`` in effect: one thread
each, started and stopped by this script, at its priority), each time with
``n_threads=None`` (torch's own count: skeeg before the thread policy),
``n_threads=1`` and ``n_threads="auto"``, interleaved, ``repeats`` times
(after one warm-up fit of each at the start); the medians of wall and CPU
seconds are kept, with the threads each fit ran on (torch's count seen in
the forward passes). On a shared machine other people's work runs too: the
cores it kept busy during each fit (CPU time of the machine less this
script's processes) and the load average are recorded.

**Jobs.** ``GridSearchCV`` (learning rates x ``GroupKFold``,
``refit=False``: the search alone) and ``cross_validate`` of the same
classifier (``n_threads="auto"``), and the README demo
(:func:`skeeg.demo.run_ied_demo`, fewer epochs), with ``n_jobs=1`` and
``n_jobs=2``. joblib's worker processes are started afresh for every
``n_jobs=2`` run, so their start-up (importing torch and skeeg) is in its
time. The scores of the two are compared: they are bit-identical only where
every fit ran on the same thread count (in the workers joblib allows
``cpu_count // n_jobs``; the demo trains on one thread throughout).

    python benchmarks/thread_sharing.py --size smoke     # CI, seconds
    python benchmarks/thread_sharing.py --size reduced   # docs/performance.md
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

import numpy as np
import torch

from skeeg import SCClassifier
from skeeg.training.threads import cpu_seconds

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from overhead import synthetic_windows  # noqa: E402

POLICIES = {"torch default (before)": None, "1 thread": 1, "auto (after)": "auto"}
#: Per size: data, training, repeats and the search.
SIZES = {
    "smoke": {
        "n_windows": 64,
        "n_channels": 5,
        "n_times": 128,
        "width": 4,
        "epochs": 1,
        "batch_size": 32,
        "repeats": 1,
        "busy": [0, 1],
        "learning_rates": [1e-3, 3e-3],
        "n_splits": 2,
        "demo_epochs": None,
    },
    "reduced": {
        "n_windows": 944,
        "n_channels": 5,
        "n_times": 375,
        "width": 16,
        "epochs": 5,
        "batch_size": 64,
        "repeats": 3,
        "busy": [0, 1, 2],
        "learning_rates": [3e-4, 1e-3, 3e-3, 1e-2],
        "n_splits": 4,
        "demo_epochs": 5,
    },
}
N_GROUPS = 8


class RecordingSC(SCClassifier):
    """SC whose module notes torch's thread count in each forward pass."""

    def _build_module(self, n_channels, n_times, n_outputs):
        module = super()._build_module(n_channels, n_times, n_outputs)
        module.threads_seen = set()
        module.register_forward_hook(
            lambda mod, inputs, output: mod.threads_seen.add(torch.get_num_threads())
        )
        return module


def make_classifier(settings: dict, n_threads, seed: int, cls=SCClassifier):
    """The classifier of every measurement."""
    return cls(
        width=settings["width"],
        max_epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        loss="bce",
        validation_fraction=None,
        random_state=seed,
        device="cpu",
        n_threads=n_threads,
    )


class BusyProcesses:
    """``n`` single-threaded processes spinning for the length of a block."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> BusyProcesses:
        # Spins while this script lives (its parent), so that none outlives it.
        code = "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass"
        self.procs = [
            subprocess.Popen([sys.executable, "-c", code]) for _ in range(self.n)
        ]
        time.sleep(1.0)  # started, and seen by a load measurement
        return self

    def cpu_s(self) -> float:
        """CPU seconds the busy processes have used (Linux's /proc)."""
        ticks = 0
        for proc in self.procs:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1]
            ticks += sum(int(v) for v in fields.split()[11:13])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()


def _timed(fn) -> tuple[object, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _others_busy(fn, busy: BusyProcesses) -> tuple[float, float, float]:
    """Wall and CPU seconds of ``fn()``, and the cores other people's
    processes kept busy meanwhile: CPU time of the allowed CPUs less this
    process's and the ``busy`` processes'."""
    t0, cpus0, own0 = cpu_seconds()
    busy0 = busy.cpu_s()
    _, wall, cpu = _timed(fn)
    t1, cpus1, own1 = cpu_seconds()
    others = cpus1 - cpus0 - (own1 - own0) - (busy.cpu_s() - busy0)
    return wall, cpu, others / (t1 - t0)


def single_fits(X, y, settings: dict, seed: int) -> list[dict]:
    """One row per (busy processes, policy): median wall and CPU seconds."""
    for n_threads in POLICIES.values():  # warm-up: torch's first fit sets up
        make_classifier(settings, n_threads, seed).fit(X, y)
    rows = []
    for n_busy in settings["busy"]:
        with BusyProcesses(n_busy) as busy:
            load = os.getloadavg()
            runs = {policy: [] for policy in POLICIES}
            for _ in range(settings["repeats"]):
                for policy, n_threads in POLICIES.items():
                    clf = make_classifier(settings, n_threads, seed, RecordingSC)
                    wall, cpu, others = _others_busy(lambda c=clf: c.fit(X, y), busy)
                    seen = sorted(clf.net_.module_.threads_seen)
                    runs[policy].append((wall, cpu, others, seen))
        for policy, done in runs.items():
            rows.append(
                {
                    "busy_processes": n_busy,
                    "policy": policy,
                    "threads": sorted({t for *_, seen in done for t in seen}),
                    "wall_s": median(run[0] for run in done),
                    "cpu_s": median(run[1] for run in done),
                    "others_busy_cores": median(run[2] for run in done),
                    "load_average": load,
                    "runs": done,
                }
            )
            print(
                f"busy {n_busy}, {policy}: {rows[-1]['wall_s']:.2f} s wall, "
                f"threads {rows[-1]['threads']}",
                flush=True,
            )
    for row in rows:
        same = [r for r in rows if r["policy"] == row["policy"]]
        before = [r for r in rows if r["busy_processes"] == row["busy_processes"]]
        row["x_idle"] = row["wall_s"] / same[0]["wall_s"]
        row["x_before"] = row["wall_s"] / before[0]["wall_s"]
    return rows


def _fresh_workers() -> None:
    """Stop joblib's worker processes, so the next parallel run starts them."""
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)


def jobs(X, y, groups, settings: dict, seed: int) -> list[dict]:
    """GridSearchCV and cross_validate with 1 and 2 jobs: wall seconds and
    whether the scores of 2 jobs equal those of 1."""
    from sklearn.model_selection import GridSearchCV, GroupKFold, cross_validate

    cv = GroupKFold(settings["n_splits"])
    clf = make_classifier(settings, "auto", seed)
    runs = {
        "GridSearchCV": lambda n_jobs: (
            GridSearchCV(
                clf,
                {"lr": settings["learning_rates"]},
                cv=cv,
                scoring="neg_log_loss",
                refit=False,
                n_jobs=n_jobs,
            )
            .fit(X, y, groups=groups)
            .cv_results_["mean_test_score"]
        ),
        "cross_validate": lambda n_jobs: cross_validate(
            clf, X, y, groups=groups, cv=cv, scoring="neg_log_loss", n_jobs=n_jobs
        )["test_score"],
    }
    rows = []
    for name, run in runs.items():
        scores, walls = {}, {}
        for n_jobs in (1, 2):
            _fresh_workers()
            scores[n_jobs], walls[n_jobs], _ = _timed(lambda r=run, n=n_jobs: r(n))
        rows.append(
            {
                "search": name,
                "fits": len(scores[1]) * settings["n_splits"]
                if name == "GridSearchCV"
                else len(scores[1]),
                "wall_s_1_job": walls[1],
                "wall_s_2_jobs": walls[2],
                "speedup_2_jobs": walls[1] / walls[2],
                "scores_bit_identical": bool(np.array_equal(scores[1], scores[2])),
                "max_score_difference": float(np.max(np.abs(scores[1] - scores[2]))),
                "scores_1_job": scores[1].tolist(),
                "scores_2_jobs": scores[2].tolist(),
            }
        )
        print(f"{name}: 1 job {walls[1]:.1f} s, 2 jobs {walls[2]:.1f} s", flush=True)
    return rows


def demo(epochs: int | None) -> list[dict]:
    """The README demo (:func:`skeeg.demo.run_ied_demo`) with its folds one
    after the other and two at once: wall seconds, and whether its table is
    the same. None: not run."""
    import tempfile

    from skeeg.demo import run_ied_demo

    if epochs is None:
        return []
    tables, walls = {}, {}
    for n_jobs in (1, 2):
        _fresh_workers()
        with tempfile.TemporaryDirectory() as out:
            rows, walls[n_jobs], _ = _timed(
                lambda o=out, n=n_jobs: run_ied_demo(o, epochs=epochs, n_jobs=n)
            )
        tables[n_jobs] = [{k: v for k, v in r.items() if k != "fit_s"} for r in rows]
    return [
        {
            "search": f"README demo, {epochs} epochs",
            "fits": 15,
            "wall_s_1_job": walls[1],
            "wall_s_2_jobs": walls[2],
            "speedup_2_jobs": walls[1] / walls[2],
            "scores_bit_identical": tables[1] == tables[2],
            "max_score_difference": max(
                abs(one[k] - two[k])
                for one, two in zip(tables[1], tables[2], strict=True)
                for k in one
                if k != "model"
            ),
        }
    ]


def table(single: list[dict], searches: list[dict]) -> str:
    from skeeg.evaluation.metrics import scores_table

    fit_columns = [
        "busy_processes",
        "policy",
        "threads",
        "others_busy_cores",
        "wall_s",
        "cpu_s",
        "x_idle",
        "x_before",
    ]
    job_columns = [
        "search",
        "fits",
        "wall_s_1_job",
        "wall_s_2_jobs",
        "speedup_2_jobs",
        "scores_bit_identical",
        "max_score_difference",
    ]
    return "\n\n".join(
        [scores_table(single, fit_columns), scores_table(searches, job_columns)]
    )


def main(argv: list[str] | None = None) -> dict:
    args = harness.argument_parser(__doc__, SIZES, ("seed", "out")).parse_args(argv)
    settings = SIZES[args.size]
    meta = harness.provenance(
        __file__,
        argv,
        args,
        packages=("joblib",),
        cpus_allowed=len(os.sched_getaffinity(0)),
        nice=os.nice(0),
        seed=args.seed,
        settings=settings,
        absolute_times="CPU, shared machine",
    )
    X, y = synthetic_windows(
        settings["n_windows"], settings["n_channels"], settings["n_times"], args.seed
    )
    y = (y > 0).astype(np.int64)  # two classes: a sinusoid of 4 cycles or faster
    groups = np.arange(len(y)) % N_GROUPS
    single = single_fits(X, y, settings, args.seed)
    searches = jobs(X, y, groups, settings, args.seed) + demo(settings["demo_epochs"])
    text = table(single, searches)
    print(text)
    stem = "thread_sharing" if args.size == "reduced" else f"thread_sharing_{args.size}"
    return harness.write_results(
        args.out / stem,
        meta,
        single,
        harness.header(meta) + "\n\n" + text,
        jobs=searches,
        goals={
            "busy_1_auto_x_idle_at_most": 1.6,
            "speedup_2_jobs_at_least": 1.4,
            "idle_auto_x_torch_default_at_most": 1.0,
        },
    )


if __name__ == "__main__":
    main()
