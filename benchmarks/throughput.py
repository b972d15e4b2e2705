"""SC throughput: achieved GFLOP/s against the measured matmul peak.

On fixed synthetic windows (those of ``benchmarks/overhead.py``), in one run
with pinned threads:

- **FLOPs** of SC per window: forward (inference) and forward + backward of
  the cross-entropy loss (training), counted by
  :class:`torch.utils.flop_counter.FlopCounterMode` (convolutions and matrix
  products; normalisation, activations and the optimizer step are not
  counted);
- **peak**: the median GFLOP/s of a square ``torch.mm`` (float32 and bf16);
- **inference variants** of the same trained SC module: the estimator's
  ``predict_proba``, ``eval`` + ``no_grad`` at the estimator's batch (the
  reference), ``inference_mode``, larger batches, bf16 autocast, and, with
  ``--compile``, ``torch.compile`` (compile time recorded apart). Each
  variant's probabilities are compared with the reference's: it "holds" when
  the largest absolute difference is within the tolerance (1e-5 for float32,
  2e-2 for bf16) and every predicted class agrees;
- **training**: the raw loop's steps (Adam, clipping), float32 and bf16
  autocast.

Achieved GFLOP/s = FLOPs per window x windows per CPU second; its share of the
float32 matmul peak is the figure of merit. Channels-last memory format is
defined for 4-D tensors only; SC's convolutions are 1-D, so it is not tried.

    python benchmarks/throughput.py --size smoke
    python benchmarks/throughput.py --size reduced --compile      # CPU
    python benchmarks/throughput.py --size full --device cuda     # GPU
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from statistics import median

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402


def _load_overhead():
    """``benchmarks/overhead.py``: its data and its provenance of a speed
    benchmark."""
    path = Path(__file__).resolve().with_name("overhead.py")
    spec = importlib.util.spec_from_file_location("skeeg_bench_overhead", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


overhead = _load_overhead()

SIZES = {
    "smoke": {
        "n_windows": 64,
        "n_channels": 5,
        "n_times": 128,
        "widths": [4],
        "batch_size": 32,
        "batches": [32, 64],
        "train_epochs": 1,
        "repeats": 1,
        "mm_size": 256,
    },
    "reduced": {
        "n_windows": 256,
        "n_channels": 5,
        "n_times": 375,
        "widths": [16, 64],
        "batch_size": 64,
        "batches": [64, 256],
        "train_epochs": 1,
        "repeats": 5,
        "mm_size": 2048,
    },
    "full": {
        "n_windows": 4096,
        "n_channels": 5,
        "n_times": 375,
        "widths": [16, 64, 256],
        "batch_size": 64,
        "batches": [64, 256, 1024, 4096],
        "train_epochs": 1,
        "repeats": 7,
        "mm_size": 4096,
    },
}
TOLERANCE = {"float32": 1e-5, "bf16": 2e-2}


# -- FLOPs and peak -------------------------------------------------------------------
def count_flops(module, x, *, train: bool) -> float:
    """FLOPs per window of ``module`` on the batch ``x``: the forward, or the
    forward and backward of the cross-entropy against class 0 when ``train``."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    module.train(train)
    counter = FlopCounterMode(display=False)
    with counter:
        if train:
            target = torch.zeros(len(x), dtype=torch.long, device=x.device)
            torch.nn.functional.cross_entropy(module(x), target).backward()
        else:
            with torch.no_grad():
                module(x)
    module.zero_grad(set_to_none=True)
    return counter.get_total_flops() / len(x)


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def matmul_peak(n: int, dtype_name: str, repeats: int, device: str) -> dict:
    """GFLOP/s of an ``n x n`` ``torch.mm`` (``2 n**3`` FLOPs), median of
    ``repeats`` after a warm-up, by CPU and by wall time."""
    import torch

    dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
    cpu_s, wall_s = [], []
    for i in range(repeats + 1):
        wall, cpu = time.perf_counter(), time.process_time()
        torch.mm(a, b)
        _sync(device)
        if i:
            cpu_s.append(time.process_time() - cpu)
            wall_s.append(time.perf_counter() - wall)
    flops = 2.0 * n**3
    return {
        "dtype": dtype_name,
        "n": n,
        "gflops_per_cpu_s": flops / median(cpu_s) / 1e9,
        "gflops_per_wall_s": flops / median(wall_s) / 1e9,
    }


# -- inference variants --------------------------------------------------------------
def _forward_proba(module, X, batch: int, *, mode: str, bf16: bool, device: str):
    import torch

    grad = torch.inference_mode() if mode == "inference_mode" else torch.no_grad()
    autocast = (
        torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)
        if bf16
        else nullcontext()
    )
    out = []
    with grad, autocast:
        for start in range(0, len(X), batch):
            logits = module(X[start : start + batch].to(device))
            out.append(logits.float().softmax(1).cpu())
    return torch.cat(out).numpy()


def inference_variants(estimator, X, settings: dict, args) -> dict:
    """Name -> (function X -> probabilities, precision, batch) of every variant."""
    import torch

    module = estimator.net_.module_.eval()
    base = settings["batch_size"]

    def forward(net, batch: int, mode: str = "no_grad", bf16: bool = False):
        return partial(
            _forward_proba, net, batch=batch, mode=mode, bf16=bf16, device=args.device
        )

    variants = {
        "skeeg predict_proba": (estimator.predict_proba, "float32", base),
        "no_grad (reference)": (forward(module, base), "float32", base),
        "inference_mode": (forward(module, base, "inference_mode"), "float32", base),
    }
    for batch in settings["batches"]:
        if batch != base:
            variants[f"no_grad, batch {batch}"] = (
                forward(module, batch),
                "float32",
                batch,
            )
    for batch in (base, settings["batches"][-1]):
        variants[f"bf16 autocast, batch {batch}"] = (
            forward(module, batch, "inference_mode", bf16=True),
            "bf16",
            batch,
        )
    if "precision" in estimator.get_params():
        bf16_estimator = _refit_free_copy(estimator, precision="bf16")
        variants["skeeg predict_proba, precision='bf16'"] = (
            bf16_estimator.predict_proba,
            "bf16",
            base,
        )
    if args.compile:
        variants[f"torch.compile, batch {base}"] = (
            forward(torch.compile(module), base),
            "float32",
            base,
        )
    return variants


def _refit_free_copy(estimator, **params):
    """A copy of a fitted estimator with new inference parameters (no refit)."""
    from copy import deepcopy

    copy = deepcopy(estimator)
    copy.set_params(**params)
    return copy


def _agreement(proba: np.ndarray, reference: np.ndarray, precision: str) -> dict:
    max_abs_diff = float(np.max(np.abs(proba - reference)))
    classes_agree = bool(np.all(proba.argmax(1) == reference.argmax(1)))
    return {
        "max_abs_diff": max_abs_diff,
        "tolerance": TOLERANCE[precision],
        "classes_agree": classes_agree,
        "holds": classes_agree and max_abs_diff <= TOLERANCE[precision],
    }


def _timed_cpu(fn) -> tuple[object, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.process_time() - cpu, time.perf_counter() - wall


def measure_width(width: int, X, y, settings: dict, args) -> tuple[list, dict]:
    """Rows of every inference and training variant of SC at ``width``,
    and its FLOPs per window."""
    import torch

    train_settings = {
        "width": width,
        "epochs": settings["train_epochs"],
        "batch_size": settings["batch_size"],
    }
    estimator = overhead.make_estimator("SC", train_settings, args.device, args.seed)
    estimator.fit(X, y)
    batch = torch.from_numpy(X[: settings["batch_size"]]).to(args.device)
    build = overhead.module_builder(estimator, X, y, args.seed)
    flops = {
        "forward": count_flops(build().to(args.device), batch, train=False),
        "forward_backward": count_flops(build().to(args.device), batch, train=True),
        "n_blocks": estimator.n_blocks_,
    }
    X_t = torch.from_numpy(X)
    variants = inference_variants(estimator, X_t, settings, args)
    # The estimator takes numpy; the others tensors.
    inputs = {name: X if name.startswith("skeeg") else X_t for name in variants}
    trainers = {
        f"raw training ({p})": (
            lambda b=(p == "bf16"): overhead.Raw(
                build, train_settings, args.device, bf16=b
            ).fit(X, y),
            p,
        )
        for p in ("float32", "bf16")
    }
    times = {name: [] for name in [*variants, *trainers]}
    probas, errors, compile_s = {}, {}, None
    for repeat in range(settings["repeats"] + 1):  # repeat 0 warms up (compiles)
        for name, (fn, _, _) in list(variants.items()):
            try:
                proba, cpu, wall = _timed_cpu(lambda f=fn, x=inputs[name]: f(x))
            except Exception as exc:  # noqa: BLE001 -- record why a variant fails
                errors[name] = f"{type(exc).__name__}: {exc}"[:500]
                del variants[name]
                continue
            _sync(args.device)
            if repeat == 0:
                compile_s = wall if name.startswith("torch.compile") else compile_s
                probas[name] = proba
                continue
            times[name].append((cpu, wall))
        for name, (fn, _) in trainers.items():
            _, cpu, wall = _timed_cpu(fn)
            if repeat:
                times[name].append((cpu, wall))
    reference = probas["no_grad (reference)"]
    rows = []
    for name, (_, precision, n_batch) in variants.items():
        cpu = median(t[0] for t in times[name])
        wall = median(t[1] for t in times[name])
        rows.append(
            {
                "width": width,
                "kind": "inference",
                "variant": name,
                "batch": n_batch,
                "precision": precision,
                "windows_per_cpu_s": len(X) / cpu,
                "windows_per_wall_s": len(X) / wall,
                "gflops_per_cpu_s": flops["forward"] * len(X) / cpu / 1e9,
                **_agreement(probas[name], reference, precision),
            }
        )
    n_train = len(X) * settings["train_epochs"]
    for name, (_, precision) in trainers.items():
        cpu = median(t[0] for t in times[name])
        wall = median(t[1] for t in times[name])
        rows.append(
            {
                "width": width,
                "kind": "training",
                "variant": name,
                "batch": settings["batch_size"],
                "precision": precision,
                "windows_per_cpu_s": n_train / cpu,
                "windows_per_wall_s": n_train / wall,
                "gflops_per_cpu_s": flops["forward_backward"] * n_train / cpu / 1e9,
            }
        )
    for name, error in errors.items():
        rows.append(
            {"width": width, "kind": "inference", "variant": name, "error": error}
        )
    flops["compile_s"] = compile_s
    return rows, flops


def table(rows: list[dict], peaks: list[dict]) -> str:
    from skeeg.evaluation.metrics import scores_table

    columns = [
        "width",
        "kind",
        "variant",
        "batch",
        "windows_per_cpu_s",
        "gflops_per_cpu_s",
        "pct_of_peak",
        "max_abs_diff",
        "holds",
    ]
    shown = [{**r, "holds": str(r.get("holds", ""))} for r in rows]
    return scores_table(peaks) + "\n\n" + scores_table(shown, columns)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = harness.argument_parser(
        __doc__, SIZES, harness.SPEED, threads=harness.ONE_THREAD
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="also try torch.compile (its compile time is recorded apart)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    harness.pin_threads(args.threads)
    settings = SIZES[args.size]
    meta = overhead.speed_provenance(__file__, argv, args, settings)
    X, y = overhead.synthetic_windows(
        settings["n_windows"], settings["n_channels"], settings["n_times"], args.seed
    )
    peaks = [
        matmul_peak(settings["mm_size"], dtype, settings["repeats"], args.device)
        for dtype in ("float32", "bf16")
    ]
    rows, flops = [], {}
    for width in settings["widths"]:
        width_rows, flops[width] = measure_width(width, X, y, settings, args)
        rows += width_rows
    # The peak again at the end: the load may have changed meanwhile.
    peaks_end = [
        matmul_peak(settings["mm_size"], dtype, settings["repeats"], args.device)
        for dtype in ("float32", "bf16")
    ]
    peak = max(peaks[0]["gflops_per_cpu_s"], peaks_end[0]["gflops_per_cpu_s"])
    for row in rows:
        if "gflops_per_cpu_s" in row:
            row["pct_of_peak"] = 100.0 * row["gflops_per_cpu_s"] / peak
    text = table(rows, peaks + peaks_end)
    print(text)
    return harness.write_results(
        args.out / f"throughput_{args.size}",
        meta,
        rows,
        harness.header(meta) + "\n\n" + text,
        matmul_peak={"start": peaks, "end": peaks_end, "float32_gflops": peak},
        flops_per_window=flops,
        goals={"inference_pct_of_float32_peak_at_least": 50.0},
    )


if __name__ == "__main__":
    main()
