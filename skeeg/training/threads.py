"""How many threads a deep estimator's fit and predict use.

torch starts as many intra-op threads as the machine has physical cores.
Beside another busy process they oversubscribe the cores, and since they
meet at a barrier after every operation, all wait for the one that is
descheduled: on 2 cores, beside one single-threaded busy process, an SC fit
on torch's 2 threads took 3.7 times as long as on the idle machine, and on
1 thread 1.2 times as long as 1 thread there (docs/performance.md, "Sharing
the machine").

:func:`limit_threads` sets torch's thread count for the duration of a block
(and lowers every OpenMP and BLAS pool threadpoolctl finds with more threads
to it), then gives the caller's settings back. :func:`resolve_threads`
decides the count:

- an int: that many threads, as asked;
- None: the caller's setting, untouched (torch's own default);
- "auto": the cores no other process keeps busy, rounded to the nearest
  core, at least 1 and at most :func:`allowed_threads`: the CPUs this
  process may use (:func:`joblib.cpu_count`: affinity and cgroup quota) and
  the caller's ``torch.get_num_threads()``. The caller's setting carries
  the limits in force: ``torch.set_num_threads``, a
  ``threadpoolctl.threadpool_limits`` (which reaches torch's OpenMP), and
  in joblib's workers ``OMP_NUM_THREADS``, which joblib sets to
  ``cpu_count // n_jobs`` or to ``parallel_config``'s
  ``inner_max_num_threads``. On an idle machine "auto" is the caller's
  setting, as before.

The busy cores are the CPU time of the allowed CPUs (``/proc/stat``) less
this process's own, over the time since the previous measurement, or over a
fresh 0.1-s sample when that is older than 5 s. Without ``/proc/stat``
(other systems than Linux) "auto" is :func:`allowed_threads`.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from joblib import cpu_count
from threadpoolctl import ThreadpoolController

#: The per-CPU counters of Linux, in clock ticks.
_PROC_STAT = Path("/proc/stat")
#: Shortest window of a load measurement, in seconds: the counters tick every
#: 10 ms, so a shorter one is mostly rounding.
_SAMPLE_S = 0.1
#: A window longer than this (s) describes the past more than the present and
#: is replaced by a fresh sample.
_MAX_AGE_S = 5.0


def cpu_seconds() -> tuple[float, float, float]:
    """Now, the CPU time of the CPUs this process may run on, and this
    process's own CPU time (all threads), in seconds (Linux)."""
    cpus = os.sched_getaffinity(0)
    ticks = 0
    for line in _PROC_STAT.read_text().splitlines():
        name, *fields = line.split()
        if not (name.startswith("cpu") and name[3:].isdigit()):
            continue
        if int(name[3:]) in cpus:
            # user nice system idle iowait irq softirq steal: all but idle
            # and iowait is time the CPU was taken (guest time is in user).
            user, nice, system, _, _, irq, softirq, steal = map(int, fields[:8])
            ticks += user + nice + system + irq + softirq + steal
    return time.monotonic(), ticks / os.sysconf("SC_CLK_TCK"), time.process_time()


class _BusyCores:
    """Cores of this process's CPUs that other processes keep busy, from the
    readings of ``clock`` (:func:`cpu_seconds`)."""

    def __init__(self, clock=cpu_seconds) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._last: tuple[float, float, float] | None = None
        self._busy = 0.0

    def __call__(self) -> float:
        """Busy cores, averaged over the time since the previous call (at least
        :data:`_SAMPLE_S`, at most :data:`_MAX_AGE_S`)."""
        with self._lock:
            now = self._clock()
            if self._last is None or now[0] - self._last[0] > _MAX_AGE_S:
                self._last = now
                time.sleep(_SAMPLE_S)
                now = self._clock()
            elif now[0] - self._last[0] < _SAMPLE_S:
                return self._busy
            (t0, cpu0, own0), (t1, cpu1, own1) = self._last, now
            self._busy = max(0.0, (cpu1 - cpu0 - (own1 - own0)) / (t1 - t0))
            self._last = now
            return self._busy


other_busy_cores = _BusyCores()
_controller: ThreadpoolController | None = None
_active = threading.local()


def _pools() -> ThreadpoolController:
    """The OpenMP and BLAS pools of the libraries loaded when first asked
    (looking them up takes 16 ms)."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller


def allowed_threads() -> int:
    """The most threads "auto" may use: the CPUs this process may run on
    (affinity and cgroup quota) and the caller's torch setting."""
    return min(cpu_count(), torch.get_num_threads())


def resolve_threads(n_threads: int | str | None) -> int | None:
    """The thread count of a fit or a predict under ``n_threads``.

    Parameters
    ----------
    n_threads : int >= 1, "auto" or None
        See the module's docstring.

    Returns
    -------
    threads : int or None
        None leaves the caller's setting.
    """
    if n_threads != "auto":
        return n_threads
    allowed = allowed_threads()
    if not _PROC_STAT.exists():  # no load measurement
        return allowed
    free = math.floor(len(os.sched_getaffinity(0)) - other_busy_cores() + 0.5)
    return max(1, min(allowed, free))


@contextmanager
def limit_threads(n_threads: int | str | None) -> Iterator[int | None]:
    """Run a block with :func:`resolve_threads`'s count of threads.

    Sets ``torch.set_num_threads`` and lowers every OpenMP and BLAS pool
    (threadpoolctl) with more threads to that count, for the block; restores
    the caller's settings after it, also when it raises. Inside another
    ``limit_threads`` block the outer count holds and nothing is measured
    again.

    Parameters
    ----------
    n_threads : int >= 1, "auto" or None

    Yields
    ------
    threads : int or None
        The count in force (None: the caller's setting, untouched).
    """
    if getattr(_active, "threads", None) is not None:
        yield _active.threads
        return
    threads = resolve_threads(n_threads)
    if threads is None:
        yield None
        return
    caller = torch.get_num_threads()
    pools = _pools()
    above = [p.filepath for p in pools.lib_controllers if p.num_threads > threads]
    try:
        with pools.select(filepath=above).limit(limits=threads):
            torch.set_num_threads(threads)
            _active.threads = threads
            yield threads
    finally:
        _active.threads = None
        torch.set_num_threads(caller)
