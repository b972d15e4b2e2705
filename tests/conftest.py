"""Shared fixtures: the real-data folder and a small labelled 3-D set."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from joblib import cpu_count
from threadpoolctl import threadpool_limits

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one worker per CPU this process may use (affinity and
    cgroup quota, as joblib counts them), not psutil's count of the host's
    cores."""
    return cpu_count()


def pytest_configure(config):
    """Under pytest-xdist (``-n``), share the cores among the workers as joblib
    shares them among its own: each worker gets ``cpu_count() // n_workers``
    threads (at least 1) for torch and every OpenMP and BLAS pool. Left at
    their defaults, each worker would start one thread per core, and threads
    that oversubscribe the cores wait on each other (docs/performance.md,
    "Sharing the machine")."""
    n_workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if n_workers:
        threads = max(1, cpu_count() // int(n_workers))
        threadpool_limits(threads)
        torch.set_num_threads(threads)


def shared_data_dir() -> Path:
    """``$SKEEG_SHARED_DATA`` or ``<repo>/../shared/data`` (as CI lays it out)."""
    return Path(
        os.environ.get("SKEEG_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")
    )


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real EEG data not found at {path} (set SKEEG_SHARED_DATA)")
    return path


def bump_dataset(n_windows=80, n_channels=3, n_times=64, prevalence=0.25, seed=0):
    """Noise windows; positives carry a Gaussian bump at a random time.

    Returns X (n_windows, n_channels, n_times) float64, y int {0, 1}, groups
    (8 groups).
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_windows, n_channels, n_times))
    y = np.zeros(n_windows, dtype=int)
    y[: int(round(prevalence * n_windows))] = 1
    rng.shuffle(y)
    t = np.arange(n_times)
    for i in np.flatnonzero(y):
        centre = rng.integers(n_times // 4, 3 * n_times // 4)
        X[i] += 4.0 * np.exp(-0.5 * ((t - centre) / 2.0) ** 2)
    groups = np.arange(n_windows) % 8
    return X, y, groups


@pytest.fixture
def bumps():
    return bump_dataset()
