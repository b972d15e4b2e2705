"""Wrapper overhead: skeeg against a raw PyTorch loop and braindecode, and
the import time of skeeg.

Each deep estimator's torch module (from its own ``_build_module``, the same
seed) is trained and then scored on fixed synthetic windows by three
contenders that do the same work:

- **raw**: a minimal PyTorch loop: ``DataLoader`` over tensors (shuffled),
  Adam, cross-entropy, ``clip_grad_norm_`` and a per-epoch linear
  learning-rate decay (``LinearLR``), as skeeg's default recipe
  (``skeeg.training.recipe``); inference in ``eval`` mode under ``no_grad``, batch
  by batch, softmax to numpy;
- **skeeg**: the estimator's ``fit`` (``validation_fraction=None``) and
  ``predict_proba``, from numpy in to numpy out;
- **braindecode**: ``braindecode.EEGClassifier`` around the same module
  instance, ``train_split=None``, with skorch's ``GradientNormClipping`` and
  ``LRScheduler`` callbacks so that it clips and decays as the others do;
  skipped ("not installed") when braindecode cannot be imported.

The synthetic task has 3 classes (a sinusoid of 4, 8 or 12 cycles per
window in noise), so that the three run the very same loss: braindecode's
``EEGClassifier`` is a skorch classifier with one logit per class and
``CrossEntropyLoss``, which is skeeg's loss for more than two classes (for two,
skeeg trains one logit with BCE).

Every measurement is repeated ``repeats`` times after one warm-up, the
contenders interleaved (raw, skeeg, braindecode, raw, ...) so that a load
change on a shared machine hits them alike; the median is kept. Times are
CPU seconds of the process (``time.process_time``, steadier than wall time
under load with pinned threads) and wall seconds; ratios use CPU time.

Import time: in fresh interpreters, ``import torch`` alone, then
``import skeeg`` and ``from skeeg import SCClassifier`` on top of it (the
time after torch is imported, within the same process), median of
``repeats``; then ``python -X importtime`` of the latter, summed by top-level
package, names what the time goes to.

    python benchmarks/overhead.py --size smoke
    /work/venv-bd/bin/python benchmarks/overhead.py --size reduced   # CPU
    python benchmarks/overhead.py --size full --device cuda          # GPU
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

CONTENDERS = ("raw", "skeeg", "braindecode")
N_CLASSES = 3
#: Per size: data, training and repeat settings (width applies to every model).
SIZES = {
    "smoke": {
        "n_windows": 64,
        "n_channels": 5,
        "n_times": 128,
        "batch_size": 32,
        "epochs": 1,
        "width": 4,
        "repeats": 1,
        "import_repeats": 1,
    },
    "reduced": {
        "n_windows": 256,
        "n_channels": 5,
        "n_times": 375,
        "batch_size": 64,
        "epochs": 2,
        "width": 8,
        "repeats": 5,
        "import_repeats": 7,
    },
    "full": {
        "n_windows": 2048,
        "n_channels": 5,
        "n_times": 375,
        "batch_size": 64,
        "epochs": 3,
        "width": 16,
        "repeats": 7,
        "import_repeats": 9,
    },
}
#: The estimators measured: their net trains on the plain supervised loss of
#: ``skeeg.training.net.SkeegNet``, so a raw loop can do the same work. Those with
#: their own loss and dataset (SMATE, TapNet, Siamese-ES) are left out: a raw
#: loop would have to re-implement skeeg's loss, and measure that instead.
MODELS = {
    "SC": ("SCClassifier", {"loss": "bce"}),
    "ResNet1D": ("ResNet1DClassifier", {}),
    "InceptionTime": ("InceptionTimeClassifier", {}),
    "XCM": ("XCMClassifier", {}),
    "SleepStager": ("SleepStager", {}),
}
LR = 3e-3
MIN_LR = 1e-5
GRAD_CLIP = 1.0


# -- data and modules ---------------------------------------------------------------
def synthetic_windows(
    n_windows: int, n_channels: int, n_times: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Windows of unit noise plus a sinusoid of 4, 8 or 12 cycles (the class),
    of random phase and a random amplitude per channel; float32, balanced."""
    rng = np.random.default_rng(seed)
    y = np.arange(n_windows) % N_CLASSES
    rng.shuffle(y)
    t = np.arange(n_times) / n_times
    phase = rng.uniform(0, 2 * np.pi, size=(n_windows, 1, 1))
    gain = rng.uniform(0.5, 1.5, size=(n_windows, n_channels, 1))
    cycles = 4.0 * (1 + y)[:, None, None]
    X = gain * np.sin(2 * np.pi * cycles * t + phase)
    X += rng.standard_normal((n_windows, n_channels, n_times))
    return X.astype(np.float32), y.astype(np.int64)


def make_estimator(model: str, settings: dict, device: str, seed: int):
    """The skeeg estimator of ``model`` with the benchmark's training settings."""
    import skeeg

    name, extra = MODELS[model]
    return getattr(skeeg, name)(
        width=settings["width"],
        max_epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        lr=LR,
        optimizer="adam",
        lr_schedule="linear",
        min_lr=MIN_LR,
        grad_clip=GRAD_CLIP,
        validation_fraction=None,
        random_state=seed,
        device=device,
        **extra,
    )


def module_builder(estimator, X: np.ndarray, y: np.ndarray, seed: int):
    """A function returning a fresh copy of the estimator's module.

    The estimator is fitted for one epoch on one batch first, so that the
    fitted attributes its ``_build_module`` reads (e.g. XCM's ``window_``)
    exist; every copy is built under the same seed.
    """
    import torch
    from sklearn.base import clone

    probe = clone(estimator).set_params(max_epochs=1)
    probe.fit(X[: estimator.batch_size], y[: estimator.batch_size])
    n_channels, n_times = X.shape[1:]

    def build():
        torch.manual_seed(seed)
        return probe._build_module(n_channels, n_times, N_CLASSES)

    return build


# -- the contenders -----------------------------------------------------------------
class Raw:
    """A minimal PyTorch loop doing what skeeg's default recipe does per step.

    ``bf16=True`` runs the forward and the loss under bf16 autocast
    (``benchmarks/throughput.py``).
    """

    def __init__(self, build, settings: dict, device: str, bf16: bool = False) -> None:
        self.build = build
        self.settings = settings
        self.device = device
        self.bf16 = bf16

    def fit(self, X: np.ndarray, y: np.ndarray) -> Raw:
        import torch
        from torch.nn.functional import cross_entropy
        from torch.utils.data import DataLoader, TensorDataset

        epochs = self.settings["epochs"]
        self.module = self.build().to(self.device)
        optimizer = torch.optim.Adam(self.module.parameters(), lr=LR)
        # skeeg's linear plan: lr at epoch 0, min_lr at the last epoch.
        schedule = torch.optim.lr_scheduler.LinearLR(
            optimizer,
            start_factor=1.0,
            end_factor=MIN_LR / LR,
            total_iters=max(epochs - 1, 1),
        )
        loader = DataLoader(
            TensorDataset(torch.from_numpy(X), torch.from_numpy(y)),
            batch_size=self.settings["batch_size"],
            shuffle=True,
        )
        autocast = torch.autocast(
            device_type=self.device.split(":")[0],
            dtype=torch.bfloat16,
            enabled=self.bf16,
        )
        self.module.train()
        for _ in range(epochs):
            for xb, yb in loader:
                xb, yb = xb.to(self.device), yb.to(self.device)
                optimizer.zero_grad()
                with autocast:
                    loss = cross_entropy(self.module(xb), yb)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.module.parameters(), GRAD_CLIP)
                optimizer.step()
            schedule.step()
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        import torch

        self.module.eval()
        X = torch.from_numpy(X)
        out = []
        with torch.no_grad():
            for start in range(0, len(X), self.settings["batch_size"]):
                batch = X[start : start + self.settings["batch_size"]]
                out.append(self.module(batch.to(self.device)).softmax(1).cpu())
        return torch.cat(out).numpy()


class Braindecode:
    """``braindecode.EEGClassifier`` around the same module and recipe."""

    def __init__(self, build, settings: dict, device: str) -> None:
        self.build = build
        self.settings = settings
        self.device = device

    def fit(self, X: np.ndarray, y: np.ndarray) -> Braindecode:
        import torch
        from braindecode import EEGClassifier
        from skorch.callbacks import GradientNormClipping, LRScheduler

        epochs = self.settings["epochs"]
        self.net = EEGClassifier(
            self.build(),
            criterion=torch.nn.CrossEntropyLoss,
            optimizer=torch.optim.Adam,
            lr=LR,
            max_epochs=epochs,
            batch_size=self.settings["batch_size"],
            train_split=None,
            iterator_train__shuffle=True,
            callbacks=[
                ("grad_clip", GradientNormClipping(gradient_clip_value=GRAD_CLIP)),
                (
                    "lr_schedule",
                    LRScheduler(
                        policy=torch.optim.lr_scheduler.LinearLR,
                        start_factor=1.0,
                        end_factor=MIN_LR / LR,
                        total_iters=max(epochs - 1, 1),
                    ),
                ),
            ],
            classes=list(range(N_CLASSES)),
            device=self.device,
            verbose=0,
        )
        self.net.fit(X, y)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.net.predict_proba(X)


def braindecode_version() -> str | None:
    """braindecode's version, or None when it cannot be imported."""
    try:
        import braindecode
    except ImportError:
        return None
    return braindecode.__version__


def _timed(fn) -> tuple[object, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.process_time() - cpu, time.perf_counter() - wall


def measure_model(model: str, X, y, settings: dict, args, contenders) -> dict:
    """Training and inference times of every contender on one model.

    Returns the per-repeat times and the training accuracy of the last
    repeat, by contender.
    """
    from sklearn.base import clone

    estimator = make_estimator(model, settings, args.device, args.seed)
    build = module_builder(estimator, X, y, args.seed)
    makers = {
        "raw": lambda: Raw(build, settings, args.device),
        "skeeg": lambda: clone(estimator),
        "braindecode": lambda: Braindecode(build, settings, args.device),
    }
    keys = ("fit_cpu_s", "fit_wall_s", "predict_cpu_s", "predict_wall_s")
    runs = {c: {k: [] for k in keys} for c in contenders}
    for repeat in range(settings["repeats"] + 1):  # repeat 0 warms up
        for c in contenders:
            fitted, fit_cpu, fit_wall = _timed(lambda c=c: makers[c]().fit(X, y))
            proba, pred_cpu, pred_wall = _timed(lambda f=fitted: f.predict_proba(X))
            if repeat == 0:
                continue
            runs[c]["fit_cpu_s"].append(fit_cpu)
            runs[c]["fit_wall_s"].append(fit_wall)
            runs[c]["predict_cpu_s"].append(pred_cpu)
            runs[c]["predict_wall_s"].append(pred_wall)
            runs[c]["train_accuracy"] = float(np.mean(np.argmax(proba, 1) == y))
            runs[c]["proba_shape"] = list(np.shape(proba))
    return runs


def overhead_rows(model: str, runs: dict, settings: dict) -> list[dict]:
    """One row per contender: medians, windows/s and ratios to raw."""
    n_train = settings["n_windows"] * settings["epochs"]
    raw = {k: median(v) for k, v in runs["raw"].items() if k.endswith("_s")}
    rows = []
    for contender, run in runs.items():
        med = {k: median(v) for k, v in run.items() if k.endswith("_s")}
        rows.append(
            {
                "model": model,
                "contender": contender,
                "fit_cpu_s": med["fit_cpu_s"],
                "predict_cpu_s": med["predict_cpu_s"],
                "train_windows_per_cpu_s": n_train / med["fit_cpu_s"],
                "infer_windows_per_cpu_s": settings["n_windows"] / med["predict_cpu_s"],
                "fit_x_raw": med["fit_cpu_s"] / raw["fit_cpu_s"],
                "predict_x_raw": med["predict_cpu_s"] / raw["predict_cpu_s"],
                "fit_x_raw_wall": med["fit_wall_s"] / raw["fit_wall_s"],
                "predict_x_raw_wall": med["predict_wall_s"] / raw["predict_wall_s"],
                "train_accuracy": run["train_accuracy"],
                "proba_shape": run["proba_shape"],
                "repeats": run,
            }
        )
    return rows


# -- import time --------------------------------------------------------------------
IMPORTS = {
    "torch": "",
    "torch + import skeeg": "import skeeg",
    "torch + from skeeg import SCClassifier": "from skeeg import SCClassifier",
}
_IMPORT_PROBE = (
    "import json, time\n"
    "t0 = time.perf_counter()\n"
    "import torch\n"
    "t1 = time.perf_counter()\n"
    "{statement}\n"
    "t2 = time.perf_counter()\n"
    "print(json.dumps({{'torch_s': t1 - t0, 'after_torch_s': t2 - t1}}))\n"
)


def _python(code: str, env: dict, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *flags, "-c", code],
        env=env,
        cwd=harness.REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )


def import_times(repeats: int, threads: int) -> dict:
    """Median import seconds of each :data:`IMPORTS` case in fresh interpreters.

    Returns, per case, ``torch_s`` (``import torch``) and ``after_torch_s``
    (the statement that follows it), medians over ``repeats`` interleaved
    runs, and the raw runs.
    """
    env = {**os.environ, **harness.thread_env(threads)}
    runs = {case: [] for case in IMPORTS}
    for _ in range(repeats):
        for case, statement in IMPORTS.items():
            done = _python(_IMPORT_PROBE.format(statement=statement), env)
            runs[case].append(json.loads(done.stdout.splitlines()[-1]))
    return {
        case: {
            "torch_s": median(r["torch_s"] for r in rs),
            "after_torch_s": median(r["after_torch_s"] for r in rs),
            "runs": rs,
        }
        for case, rs in runs.items()
    }


def import_breakdown(threads: int, top: int = 8) -> list[dict]:
    """Where ``from skeeg import SCClassifier`` spends its time after torch.

    ``python -X importtime`` lists each module as its import completes, so the
    modules after the top-level ``torch`` line are those the skeeg statement
    imported; their self times are summed by top-level package.
    """
    env = {**os.environ, **harness.thread_env(threads)}
    done = _python(
        "import torch; from skeeg import SCClassifier", env, "-X", "importtime"
    )
    by_package: dict[str, float] = {}
    after_torch = False
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        self_us, _, name = (part.strip() for part in line[12:].split("|"))
        if not self_us.isdigit():
            continue  # the header line
        if not after_torch:
            after_torch = name == "torch"
            continue
        package = name.split(".")[0]
        by_package[package] = by_package.get(package, 0.0) + int(self_us) / 1e6
    ranked = sorted(by_package.items(), key=lambda kv: -kv[1])
    return [{"package": p, "self_s": s} for p, s in ranked[:top]]


# -- output -------------------------------------------------------------------------
def speed_provenance(
    script: str, argv, args, settings: dict, packages: tuple[str, ...] = ()
) -> dict:
    """:func:`harness.provenance` of a speed benchmark: its seed, size and
    settings, and what its absolute times are."""
    return harness.provenance(
        script,
        argv,
        args,
        packages=packages,
        python_executable=sys.executable,
        seed=args.seed,
        settings=settings,
        absolute_times="GPU" if args.device.startswith("cuda") else "CPU under load",
    )


def table(rows: list[dict], imports: dict, breakdown: list[dict]) -> str:
    from skeeg.evaluation.metrics import scores_table

    columns = [
        "model",
        "contender",
        "train_windows_per_cpu_s",
        "infer_windows_per_cpu_s",
        "fit_x_raw",
        "predict_x_raw",
        "fit_x_raw_wall",
        "predict_x_raw_wall",
        "train_accuracy",
    ]
    import_rows = [
        {"imports": case, "torch_s": r["torch_s"], "after_torch_s": r["after_torch_s"]}
        for case, r in imports.items()
    ]
    return "\n\n".join(
        [
            scores_table(rows, columns),
            scores_table(import_rows),
            "after torch, by package (-X importtime, self s):\n"
            + scores_table(breakdown),
        ]
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = harness.argument_parser(
        __doc__, SIZES, harness.SPEED, threads=harness.ONE_THREAD
    )
    parser.add_argument(
        "--models",
        nargs="+",
        choices=sorted(MODELS),
        default=list(MODELS),
        help="models to measure (default: all)",
    )
    parser.add_argument(
        "--n-windows",
        type=int,
        default=None,
        help="training windows instead of the size's (results get a _n<N> suffix)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    harness.pin_threads(args.threads)
    settings = dict(SIZES[args.size])
    stem = f"overhead_{args.size}"
    if args.n_windows is not None:
        settings["n_windows"] = args.n_windows
        stem += f"_n{args.n_windows}"
    meta = speed_provenance(__file__, argv, args, settings, ("braindecode",))
    contenders = [c for c in CONTENDERS if c != "braindecode" or braindecode_version()]
    X, y = synthetic_windows(
        settings["n_windows"], settings["n_channels"], settings["n_times"], args.seed
    )
    rows = []
    for model in args.models:
        runs = measure_model(model, X, y, settings, args, contenders)
        rows += overhead_rows(model, runs, settings)
        print(
            f"{model}: "
            + ", ".join(
                f"{r['contender']} fit x{r['fit_x_raw']:.3f} "
                f"predict x{r['predict_x_raw']:.3f}"
                for r in rows[-len(runs) :]
            ),
            flush=True,
        )
    if "braindecode" not in contenders:
        rows += [
            {"model": m, "contender": "braindecode (not installed)"}
            for m in args.models
        ]
    imports = import_times(settings["import_repeats"], args.threads)
    breakdown = import_breakdown(args.threads)
    text = table(rows, imports, breakdown)
    print(text)
    return harness.write_results(
        args.out / stem,
        meta,
        rows,
        harness.header(meta) + "\n\n" + text,
        imports=imports,
        import_breakdown=breakdown,
        goals={
            "skeeg_fit_x_raw_at_most": 1.03,
            "skeeg_predict_faster_than_braindecode": True,
            "skeeg_import_after_torch_s_below": 0.5,
        },
    )


if __name__ == "__main__":
    main()
