"""The machine and the versions a result was measured with.

What the demo's ``results.json`` and every benchmark's results record beside
their numbers, so that a figure can be judged (2 shared cores or a GPU?) and
reproduced (which torch?).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

#: Distributions whose versions every result records: key -> distribution.
PACKAGES = {
    "numpy": "numpy",
    "scipy": "scipy",
    "sklearn": "scikit-learn",
    "torch": "torch",
    "skorch": "skorch",
    "mne": "mne",
}


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (``platform`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_version(distribution: str) -> str | None:
    """The installed version of a distribution; None when it is missing."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def versions(packages: Sequence[str] = ()) -> dict[str, str | None]:
    """Python's, skeeg's and :data:`PACKAGES`' versions, then ``packages``'
    (distribution names; None for one that is missing)."""
    import skeeg

    found = {"python": platform.python_version(), "skeeg": skeeg.__version__}
    found |= {key: package_version(dist) for key, dist in PACKAGES.items()}
    return found | {dist: package_version(dist) for dist in packages}


def machine() -> dict:
    """The CPU, how many CPUs there are and how many this process may use,
    the load average (1, 5 and 15 min) and torch's intra-op thread count,
    now."""
    import torch

    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu_model": cpu_model(),
        "os_cpu_count": os.cpu_count(),
        "cpus_allowed": len(allowed) if allowed is not None else os.cpu_count(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "torch_threads": torch.get_num_threads(),
    }
