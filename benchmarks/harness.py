"""What every benchmark script shares: its command line, its provenance, its
results files.

A benchmark declares its run sizes as a registry ``SIZES = {"smoke": ...,
"reduced": ..., "full": ...}`` (a dataclass or a dict per size: everything a
size fixes), builds its command line with :func:`argument_parser` (``--size``
chooses from the registry; the other common options by name, :data:`STUDY`
or :data:`SPEED`), records :func:`provenance` before it measures anything,
and writes ``<stem>.json`` and ``<stem>.txt`` with :func:`write_results`
(after every step, if it likes: a cut run keeps what it finished)::

    args = harness.argument_parser(__doc__, SIZES).parse_args(argv)
    size, seeds = harness.start_study(args, SIZES, "eegmat")
    meta = harness.provenance(__file__, argv, args, recipe=asdict(size), seeds=seeds)
    ...
    harness.write_results(args.out / f"name_{args.size}", meta, rows, text)

Also here: :func:`run_worker` and :func:`print_worker_result` for a
measurement in a fresh interpreter, :func:`peak_rss_mb`, :func:`gpu_name`
(the CPU and the versions come from :mod:`skeeg.provenance`), :func:`pyplot`
and :func:`save_figure` for the plots, and :func:`header` for the top of a
text result.

The scripts import it as ``import harness`` after putting ``benchmarks/`` on
``sys.path``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Where results are written unless ``--out`` says otherwise.
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
#: How a worker subprocess marks the line that holds its result.
_RESULT = "RESULT "
#: Environment variables that set the BLAS and OpenMP thread pools.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def default_data_dir() -> Path:
    """``$SKEEG_SHARED_DATA`` or ``<repo>/../shared/data``."""
    return Path(
        os.environ.get("SKEEG_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")
    )


def _options() -> dict[str, tuple[str, dict]]:
    """The common options by name: flag and ``add_argument`` keywords."""
    return {
        "device": (
            "--device",
            {"default": "cpu", "help": "torch device, e.g. cuda (default: cpu)"},
        ),
        "seeds": (
            "--seeds",
            {
                "type": int,
                "default": None,
                "help": "number of seeds (default: the size's)",
            },
        ),
        "seed": ("--seed", {"type": int, "default": 0, "help": "random seed"}),
        "out": (
            "--out",
            {
                "type": Path,
                "default": RESULTS_DIR,
                "help": "folder of the results (default: benchmarks/results)",
            },
        ),
        "data": (
            "--data",
            {
                "type": Path,
                "default": default_data_dir(),
                "help": "shared data folder (default: $SKEEG_SHARED_DATA or "
                "../shared/data)",
            },
        ),
        "threads": (
            "--threads",
            {
                "type": int,
                "default": None,
                "help": "torch CPU threads (default: torch's)",
            },
        ),
    }


#: The options of a study on the shared data: how many seeds, which data.
STUDY = ("device", "seeds", "out", "data", "threads")
#: The options of a speed measurement on synthetic data: one seed; give it
#: ``threads=ONE_THREAD``.
SPEED = ("device", "threads", "seed", "out")
#: ``--threads`` of a speed measurement: pinned to one unless told.
ONE_THREAD = {"default": 1, "help": "torch and BLAS threads (default: 1)"}


def argument_parser(
    doc: str,
    sizes: Mapping[str, object] | None = None,
    options: Sequence[str] = STUDY,
    **overrides: dict,
) -> argparse.ArgumentParser:
    """A parser with ``--size`` and the named common options.

    Parameters
    ----------
    doc : str
        The script's docstring; its first line describes the command.
    sizes : mapping or None, default=None
        The script's size registry: ``--size`` chooses one of its keys
        (default ``"reduced"``). None: no ``--size``.
    options : sequence of str, default=STUDY
        Common options, in the order of ``--help``: ``"device"``,
        ``"seeds"`` (how many), ``"seed"`` (which), ``"out"``, ``"data"``,
        ``"threads"``; :data:`STUDY` and :data:`SPEED` are the usual sets.
    **overrides : dict
        Per option, ``add_argument`` keywords that replace the common ones,
        e.g. ``threads={"default": 1, "help": "torch and BLAS threads"}``.

    Returns
    -------
    parser : argparse.ArgumentParser
        The script adds its own options to it.
    """
    common = _options()
    unknown = set(options) - set(common) or set(overrides) - set(options)
    if unknown:
        raise ValueError(
            f"Unknown or unused options {sorted(unknown)}; the common ones are "
            f"{sorted(common)}."
        )
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    if sizes is not None:
        parser.add_argument("--size", choices=sorted(sizes), default="reduced")
    for name in options:
        flag, kwargs = common[name]
        parser.add_argument(flag, **{**kwargs, **overrides.get(name, {})})
    return parser


def thread_env(threads: int) -> dict[str, str]:
    """The BLAS/OpenMP variables that give a subprocess ``threads`` threads."""
    return dict.fromkeys(THREAD_VARIABLES, str(threads))


def pin_threads(threads: int | None) -> None:
    """Set torch's threads and the BLAS/OpenMP variables that subprocesses
    read; None leaves both as they are."""
    if not threads:
        return
    import torch

    os.environ.update(thread_env(threads))
    torch.set_num_threads(threads)


def run_worker(script: str, arguments: Sequence[str], threads: int) -> dict:
    """Run ``python <script> <arguments>`` in a fresh interpreter with its
    threads pinned; return the dict its :func:`print_worker_result` printed.

    A fresh process measures what a user's process would (imports, peak
    memory) and nothing this one holds. It imports the skeeg this process
    imported, wherever an installed one points.
    """
    import skeeg

    command = [sys.executable, str(Path(script).resolve()), *arguments]
    path = [str(Path(skeeg.__file__).resolve().parents[1])]
    path += [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []
    done = subprocess.run(
        command,
        env={**os.environ, **thread_env(threads), "PYTHONPATH": os.pathsep.join(path)},
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed:\n{done.stderr[-3000:]}")
    line = [x for x in done.stdout.splitlines() if x.startswith(_RESULT)][-1]
    return json.loads(line[len(_RESULT) :])


def print_worker_result(result: dict) -> None:
    """Print a worker's result as the line :func:`run_worker` reads."""
    print(_RESULT + json.dumps(result), flush=True)


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB (``VmHWM``, reset by exec;
    ``ru_maxrss`` where ``/proc`` is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def require_data(data: Path, *folders: str) -> None:
    """Exit with a clear message unless every folder is inside ``data``."""
    missing = [name for name in folders if not (data / name).is_dir()]
    if missing:
        sys.exit(
            f"Shared data not found: {data} must hold {', '.join(missing)} "
            "(pass --data or set SKEEG_SHARED_DATA)."
        )


def start_study(
    args: argparse.Namespace, sizes: Mapping[str, object], *folders: str
) -> tuple[object, list[int]]:
    """Check the data folders and pin the threads of a :data:`STUDY` command
    line; return its size (from ``sizes``) and its seeds (``--seeds`` or
    the size's ``n_seeds``)."""
    require_data(args.data, *folders)
    pin_threads(args.threads)
    size = sizes[args.size]
    return size, list(range(args.seeds or size.n_seeds))


def gpu_name(device: str) -> str | None:
    """The name of a CUDA ``device`` ("cuda", "cuda:1", or "auto" when a GPU
    is there); None for any other."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if not device.startswith("cuda"):
        return None
    return torch.cuda.get_device_name(torch.device(device))


def git_commit() -> str | None:
    """The repository's HEAD, with ``-dirty`` when tracked files other than
    results differ from it; None outside a git checkout."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            # A run rewrites its own results: they do not make the code dirty.
            ["git", "status", "--porcelain", "--untracked-files=no", "--"]
            + [".", f":!{RESULTS_DIR.relative_to(REPO_ROOT)}"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{head}-dirty" if changed else head


def provenance(
    script: str,
    argv: Sequence[str] | None,
    args: argparse.Namespace | None = None,
    *,
    packages: Sequence[str] = (),
    **fields,
) -> dict:
    """What a result needs to be reproduced and judged.

    Call it after the threads are set (it records torch's count) and before
    measuring: the start time it records is the origin of ``wall_s``.

    Parameters
    ----------
    script : str
        The script's path (``__file__``); the command names it from the
        repository root.
    argv : sequence of str or None
        The arguments given to ``main`` (None: ``sys.argv[1:]``).
    args : argparse.Namespace or None, default=None
        The parsed command line: its ``device`` (default ``"cpu"``) and
        ``size``, when it has them, are recorded.
    packages : sequence of str, default=()
        Further distributions whose versions to record (None when missing).
    **fields
        Script-specific entries (size, recipe, seeds, ...), after the common
        ones.

    Returns
    -------
    meta : dict
        ``command``, ``git_commit``, ``skeeg_path`` (the skeeg imported),
        ``started_utc``, ``versions``,
        ``cpu_model``, ``os_cpu_count``, ``load_average_at_start``,
        ``device``, ``gpu``, ``torch_threads``, ``size`` (with ``--size``),
        then ``fields``.
    """
    import skeeg
    from skeeg import provenance as machine

    device = getattr(args, "device", "cpu")
    if hasattr(args, "size"):
        fields = {"size": args.size, **fields}
    path = Path(script).resolve()
    name = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
    argv = sys.argv[1:] if argv is None else argv
    now = machine.machine()
    return {
        "command": shlex.join(["python", str(name), *map(str, argv)]),
        "git_commit": git_commit(),
        "skeeg_path": str(Path(skeeg.__file__).resolve().parent),
        "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "started_unix": time.time(),
        "versions": machine.versions(packages),
        "cpu_model": now["cpu_model"],
        "os_cpu_count": now["os_cpu_count"],
        "load_average_at_start": now["load_average"],
        "device": device,
        "gpu": gpu_name(device),
        "torch_threads": now["torch_threads"],
        **fields,
    }


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> None:
    """Lay ``fig`` out, write it to ``path`` at 110 dpi and close it."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)


def header(meta: dict) -> str:
    """The command and the machine, two lines for the top of a text result."""
    return (
        f"{meta['command']}\n{meta['cpu_model']}, {meta['torch_threads']} "
        f"thread(s), device {meta['gpu'] or meta['device']}, load average at "
        f"start {meta['load_average_at_start']}"
    )


def write_results(
    stem: Path, meta: dict, rows: list, text: str, *, rewrite: bool = False, **extra
) -> dict:
    """Write ``<stem>.json`` and ``<stem>.txt``; return what the JSON holds.

    Sets ``meta["wall_s"]``: seconds since :func:`provenance`, plus
    ``meta["resumed_wall_s"]`` when a run continues a cut one. Safe to call
    after every step, so that a cut run keeps what it finished.

    Parameters
    ----------
    stem : pathlib.Path
        The results' path without suffix; its folder is created.
    meta : dict
        From :func:`provenance`.
    rows : list
        One entry per measurement.
    text : str
        The tables as printed.
    rewrite : bool, default=False
        True when the tables of saved results are written again (no run):
        ``wall_s`` is kept as saved.
    **extra
        Further top-level JSON entries (aggregates, summaries, statuses).

    Returns
    -------
    result : dict
        ``{"metadata": meta, "rows": rows, **extra}``.
    """
    if not rewrite:
        elapsed = time.time() - meta["started_unix"]
        meta["wall_s"] = meta.get("resumed_wall_s", 0.0) + elapsed
    result = {"metadata": meta, "rows": rows, **extra}
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1, default=str))
    stem.with_suffix(".txt").write_text(text + "\n")
    return result
