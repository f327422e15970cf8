"""Where window tasks run: dask's threaded or process scheduler, or a dask.distributed cluster.

* no scheduler, ``"threads"``: dask's threaded scheduler with ``workers`` threads (default: all cores);
* ``"processes"`` or ``"synchronous"``: dask's local schedulers;
* ``workers=N`` alone: a fresh :class:`distributed.LocalCluster` with N single-threaded worker processes;
* ``"tcp://host:port"`` (or any address with ``://``): an existing dask.distributed scheduler.

The plan (grids, file paths, region geometry) is sent to workers once; each task reads its own raster windows.
Results come back in task order whatever the scheduler, so sums are added in the same order every time.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import dask
import dask.multiprocessing
import dask.threaded
from dask.callbacks import Callback

from sinkmap.errors import ConfigError

__all__ = ["run_tasks"]

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


class _Progress(Callback):
    def __init__(self, total: int, report: Callable[[int, int], None]) -> None:
        super().__init__()
        self.total = total
        self.done = 0
        self.report = report

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        if isinstance(key, tuple) and str(key[0]).startswith("window-"):
            self.done += 1
            self.report(self.done, self.total)


_TRIM_EVERY = 16  # windows per thread between returns of freed memory to the system
_local = threading.local()
try:  # glibc: give freed heap pages back (per-thread arenas otherwise keep every window's temporaries)
    _malloc_trim: Callable[[int], int] | None = ctypes.CDLL("libc.so.6").malloc_trim
except (OSError, AttributeError):
    _malloc_trim = None


def _trimmed(func: Callable[[Any, T], R], plan: Any, item: T) -> R:
    """Run one task; every few tasks on this thread, hand freed memory back to the operating system.

    Window tasks allocate and free tens of MB each; glibc keeps freed pages in per-thread arenas, so without this
    the resident memory grows with the number of windows, not with the window size (measured: +19 % peak when
    the raster doubles, flat with it; see bench/README.md).
    """
    try:
        return func(plan, item)
    finally:
        count = getattr(_local, "count", 0) + 1
        _local.count = count
        if _malloc_trim is not None and count % _TRIM_EVERY == 0:
            _malloc_trim(0)


def run_tasks(
    func: Callable[[Any, T], R],
    plan: Any,
    items: Sequence[T],
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[R]:
    """Apply ``func(plan, item)`` to every item on the chosen scheduler and return results in item order."""
    if scheduler is not None and "://" in scheduler:
        return _run_distributed(func, plan, items, address=scheduler, workers=None, progress=progress)
    if scheduler is None and workers is not None:
        return _run_distributed(func, plan, items, address=None, workers=workers, progress=progress)
    name = scheduler or "threads"
    if name not in {"threads", "processes", "synchronous", "sync"}:
        raise ConfigError(
            f"scheduler {name!r} is not known: use threads, processes, synchronous or a dask.distributed address "
            "such as tcp://127.0.0.1:8786"
        )
    plan_key = "plan-" + dask.base.tokenize(id(plan))
    graph: dict[Any, Any] = {plan_key: plan}
    keys = []
    for i, item in enumerate(items):
        key = (f"window-{plan_key}", i)
        graph[key] = (_trimmed, func, plan_key, item)
        keys.append(key)
    if name in {"synchronous", "sync"}:
        get: Callable[..., Any] = dask.get
        kwargs: dict[str, Any] = {}
    else:
        get = dask.threaded.get if name == "threads" else dask.multiprocessing.get
        kwargs = {} if workers is None else {"num_workers": workers}
    with _Progress(len(items), progress) if progress is not None else contextlib.nullcontext():
        return list(get(graph, keys, **kwargs))


def _run_distributed(
    func: Callable[[Any, T], R],
    plan: Any,
    items: Sequence[T],
    *,
    address: str | None,
    workers: int | None,
    progress: Callable[[int, int], None] | None,
) -> list[R]:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    try:
        if address is None:
            # dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536, which turns off glibc's adaptive mmap
            # threshold: every array of more than 128 KiB is then a fresh mmap whose pages fault in on first
            # touch, and a window task takes ~2x as long as on a thread. Unset it for the workers we start.
            with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
                cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            client = Client(cluster)
        else:
            try:
                client = Client(address, timeout="10s")
            except OSError as exc:
                raise ConfigError(
                    f"cannot reach the dask.distributed scheduler at {address}: {exc}; start one with "
                    "`dask scheduler` and `dask worker`, or run without --scheduler"
                ) from exc
        with client:
            log.info("dask.distributed: %s", client)
            plan_future = client.scatter(plan, broadcast=True)
            futures = [client.submit(_trimmed, func, plan_future, item, pure=False) for item in items]
            index = {f.key: i for i, f in enumerate(futures)}
            results: list[Any] = [None] * len(items)
            for done, future in enumerate(as_completed(futures), start=1):
                results[index[future.key]] = future.result()
                if progress is not None:
                    progress(done, len(items))
            return results
    finally:
        if cluster is not None:
            cluster.close()
