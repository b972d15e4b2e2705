"""The thread policy of fit and predict (skeeg.training.threads)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch
from joblib import Parallel, cpu_count, delayed, parallel_config
from threadpoolctl import threadpool_info, threadpool_limits

from skeeg.training import threads
from skeeg.training.threads import (
    _BusyCores,
    allowed_threads,
    limit_threads,
    resolve_threads,
)

needs_two_cores = pytest.mark.skipif(cpu_count() < 2, reason="needs 2 CPUs")
measures_load = pytest.mark.skipif(
    not threads._PROC_STAT.exists(), reason="load is measured on Linux only"
)


@pytest.fixture
def caller_threads():
    """torch's thread count as the test found it, given back after it."""
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


@pytest.fixture
def idle(monkeypatch):
    """No other process keeps a core busy."""
    monkeypatch.setattr(threads, "other_busy_cores", lambda: 0.0)


def _pool_threads(user_api: str | None = None) -> set[int]:
    return {
        pool["num_threads"]
        for pool in threadpool_info()
        if user_api in (None, pool["user_api"])
    }


def test_explicit_count_holds_inside_and_caller_setting_returns(caller_threads):
    torch.set_num_threads(2)
    with limit_threads(3) as used:
        assert used == 3
        assert torch.get_num_threads() == 3
    assert torch.get_num_threads() == 2


def test_pools_above_the_count_are_lowered_never_raised(caller_threads):
    with threadpool_limits(4):
        with limit_threads(3):
            assert _pool_threads() == {3}
        with limit_threads(5):
            assert torch.get_num_threads() == 5
            assert _pool_threads("blas") == {4}
        assert _pool_threads() == {4}


def test_caller_setting_returns_when_the_block_raises(caller_threads):
    torch.set_num_threads(2)
    with pytest.raises(RuntimeError, match="inside"), limit_threads(1):
        raise RuntimeError("inside")
    assert torch.get_num_threads() == 2


def test_none_leaves_the_caller_setting(caller_threads):
    torch.set_num_threads(3)
    with limit_threads(None) as used:
        assert used is None
        assert torch.get_num_threads() == 3


def test_inner_block_keeps_the_outer_count(caller_threads):
    with limit_threads(1), limit_threads(3) as inner:
        assert inner == 1
        assert torch.get_num_threads() == 1


def test_auto_on_an_idle_machine_is_the_caller_setting(idle):
    for caller in range(1, min(cpu_count(), 2) + 1):
        with threadpool_limits(caller):  # every pool, torch's OpenMP included
            assert resolve_threads("auto") == caller


@measures_load
@pytest.mark.parametrize(("busy", "expected"), [(0.3, 2), (0.7, 1), (1.0, 1), (2.0, 1)])
def test_auto_leaves_the_cores_others_keep_busy(monkeypatch, busy, expected):
    # 2 CPUs, the caller allows 2; the free share rounds to the nearest core,
    # at least 1.
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(threads, "cpu_count", lambda: 2)
    monkeypatch.setattr(threads, "allowed_threads", lambda: 2)
    monkeypatch.setattr(threads, "other_busy_cores", lambda: busy)
    assert resolve_threads("auto") == expected


@needs_two_cores
def test_auto_respects_an_openmp_limit(idle, caller_threads):
    torch.set_num_threads(2)
    with threadpool_limits(1, user_api="openmp"):  # torch's OpenMP among them
        assert resolve_threads("auto") == 1


@needs_two_cores
def test_a_blas_limit_holds_without_capping_torch(idle, caller_threads):
    # As in a dask worker (OPENBLAS_NUM_THREADS=1) where torch was raised.
    torch.set_num_threads(2)
    with threadpool_limits(1, user_api="blas"):
        with limit_threads("auto") as used:
            assert used == 2
            assert _pool_threads("blas") == {1}
        assert _pool_threads("blas") == {1}


def _auto_in_worker() -> tuple[int, int]:
    return allowed_threads(), torch.get_num_threads()


@needs_two_cores
@pytest.mark.parametrize("inner", [1, 2])
def test_auto_in_joblib_workers_follows_inner_max_num_threads(inner):
    with parallel_config(backend="loky", inner_max_num_threads=inner):
        seen = Parallel(n_jobs=2)(delayed(_auto_in_worker)() for _ in range(2))
    assert seen == [(inner, inner)] * 2


def test_busy_cores_from_counters():
    # (time s, CPU time of the allowed CPUs s, this process's CPU time s)
    snapshots = iter([(12.0, 104.0, 6.0), (12.05, 200.0, 7.0)])
    busy = _BusyCores(clock=lambda: next(snapshots))
    busy._last = (10.0, 100.0, 5.0)
    # 4 CPU-s in 2 s, 1 of them this process's: others kept 1.5 cores busy.
    assert busy() == pytest.approx(1.5)
    # 0.05 s later, too short a window: the last value stands, and the window
    # keeps growing from the last snapshot used.
    assert busy() == pytest.approx(1.5)
    assert busy._last == (12.0, 104.0, 6.0)


def test_stale_window_is_replaced_by_a_fresh_sample():
    snapshots = iter([(100.0, 50.0, 1.0), (100.1, 50.1, 1.0)])
    busy = _BusyCores(clock=lambda: next(snapshots))
    busy._last = (0.0, 0.0, 0.0)  # 100 s ago: 0.5 cores on average
    start = time.monotonic()
    assert busy() == pytest.approx(1.0)
    assert time.monotonic() - start >= threads._SAMPLE_S


@measures_load
def test_a_spinning_process_counts_as_one_busy_core():
    before = _BusyCores()()
    if before > len(threads.os.sched_getaffinity(0)) - 1.2:
        pytest.skip(f"{before:.1f} cores already busy: no room to see one more")
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        during = _BusyCores()()
    finally:
        spinner.kill()
        spinner.wait()
    assert during - before == pytest.approx(1.0, abs=0.45)
