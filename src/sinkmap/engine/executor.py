"""Where window tasks run: threads, in the calling thread, or on a dask.distributed cluster.

* ``"threads"`` (the default): a :class:`concurrent.futures.ThreadPoolExecutor` with ``threads`` threads (default:
  all cores). Window tasks spend most of their time in numpy and GDAL, which release the GIL.
* ``"synchronous"``: every task in the calling thread (for debugging and profiling).
* ``workers=N`` or ``"processes"``: a fresh :class:`distributed.LocalCluster` of N single-threaded worker processes.
* ``"tcp://host:port"`` (any address with ``://``): an existing dask.distributed scheduler.

:func:`stream` hands results back as tasks finish, with a bounded number in flight, so the caller can write each
window's rasters and drop them at once: memory holds a few windows, never the whole grid. Results carry their
item's index, so callers that need a fixed order (exact, repeatable sums) can restore it.

On a cluster, workers read their input files themselves and send results (sums and raster windows) back to the
client, so no folder needs to be shared for outputs; the input paths must be readable on every worker, which
:func:`stream` checks before the first task.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import logging
import os
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import TypeVar

from sinkmap.errors import ConfigError

__all__ = ["SCHEDULERS", "check_scheduler", "stream"]

log = logging.getLogger(__name__)
S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")

SCHEDULERS = ("threads", "synchronous", "processes")

GDAL_CACHE_BYTES = 64 * 2**20
"""GDAL's raster block cache for a run. GDAL's default is 5 % of RAM (1.2 GB on a 24 GB machine) and fills with
decoded tiles of every layer, although the engine reads each window of each layer only once: on the sample with
512-px windows and 2 threads the peak was 1.4–1.5 GB with the default and 0.6 GB with this budget. A
``GDAL_CACHEMAX`` environment variable wins."""


def _set_gdal_cache(limit: int) -> None:
    if "GDAL_CACHEMAX" not in os.environ:
        from rasterio.env import set_gdal_config

        set_gdal_config("GDAL_CACHEMAX", limit)  # an integer: GDAL's process-wide cache size in bytes

_TRIM_EVERY = 16  # tasks per thread between returns of freed memory to the system
_local = threading.local()
try:  # glibc: give freed heap pages back (per-thread arenas otherwise keep every window's temporaries)
    _malloc_trim: Callable[[int], int] | None = ctypes.CDLL("libc.so.6").malloc_trim
except (OSError, AttributeError):
    _malloc_trim = None


def _trimmed(func: Callable[[S, T], R], shared: S, item: T) -> R:
    """Run one task; every few tasks on this thread, hand freed memory back to the operating system.

    Window tasks allocate and free tens of MB each; glibc keeps freed pages in per-thread arenas, so without this
    the resident memory grows with the number of windows rather than with the window size.
    """
    try:
        return func(shared, item)
    finally:
        count = getattr(_local, "count", 0) + 1
        _local.count = count
        if _malloc_trim is not None and count % _TRIM_EVERY == 0:
            _malloc_trim(0)


def check_scheduler(scheduler: str | None) -> None:
    """Raise :class:`ConfigError` now for a scheduler name :func:`stream` would refuse after planning."""
    if scheduler is not None and "://" not in scheduler and scheduler not in (*SCHEDULERS, "sync"):
        raise ConfigError(
            f"scheduler {scheduler!r} is not known: use threads, synchronous, processes or a dask.distributed "
            "address such as tcp://127.0.0.1:8786"
        )


def _missing_paths(paths: Sequence[str]) -> list[str]:
    return [p for p in paths if "://" not in p and not p.startswith("/vsi") and not os.path.exists(p)]


def stream(
    func: Callable[[S, T], R],
    shared: S,
    items: Sequence[T],
    *,
    scheduler: str | None = None,
    threads: int | None = None,
    workers: int | None = None,
    input_paths: Sequence[str] = (),
) -> Generator[tuple[int, R], None, None]:
    """Yield ``(index, func(shared, items[index]))`` for every item, as tasks finish.

    Args:
        func: the task; on a cluster it and ``shared`` are pickled (``shared`` is sent to each worker once).
        shared: the object every task needs (a job description; no raster data).
        items: one per task.
        scheduler: ``threads``, ``synchronous``, ``processes`` or a dask.distributed address.
        threads: threads for ``threads`` (default: all cores).
        workers: worker processes for a local cluster (``workers`` alone starts one).
        input_paths: files the tasks read; on a cluster every worker must see them.

    Raises:
        ConfigError: an unknown scheduler, an unreachable cluster, or input files that workers cannot read.
    """
    _set_gdal_cache(GDAL_CACHE_BYTES)
    if scheduler is not None and "://" in scheduler:
        yield from _stream_distributed(func, shared, items, address=scheduler, workers=None, input_paths=input_paths)
        return
    if scheduler == "processes" or (scheduler is None and workers is not None):
        n = workers or os.cpu_count() or 1
        yield from _stream_distributed(func, shared, items, address=None, workers=n, input_paths=input_paths)
        return
    check_scheduler(scheduler)
    name = scheduler or "threads"
    if name in {"synchronous", "sync"}:
        for i, item in enumerate(items):
            yield i, _trimmed(func, shared, item)
        return
    n = threads or workers or os.cpu_count() or 1  # ``scheduler="threads", workers=N``: N threads
    with cf.ThreadPoolExecutor(max_workers=n, thread_name_prefix="sinkmap") as pool:
        yield from _bounded(lambda item: pool.submit(_trimmed, func, shared, item), items, 2 * n + 1)


def _bounded(submit: Callable[[T], cf.Future[R]], items: Sequence[T], in_flight: int) -> Iterator[tuple[int, R]]:
    """Keep at most ``in_flight`` tasks submitted; yield results as they finish."""
    pending: dict[cf.Future[R], int] = {}
    next_item = 0
    try:
        while next_item < len(items) or pending:
            while next_item < len(items) and len(pending) < in_flight:
                pending[submit(items[next_item])] = next_item
                next_item += 1
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in sorted(done, key=pending.__getitem__):
                yield pending.pop(future), future.result()
    finally:
        for future in pending:
            future.cancel()


def _stream_distributed(
    func: Callable[[S, T], R],
    shared: S,
    items: Sequence[T],
    *,
    address: str | None,
    workers: int | None,
    input_paths: Sequence[str],
) -> Iterator[tuple[int, R]]:
    from distributed import Client, LocalCluster

    if not log.isEnabledFor(logging.DEBUG):  # importing distributed set its loggers to INFO: keep them to warnings
        for name in ("distributed", "distributed.scheduler", "distributed.nanny", "distributed.core"):
            logging.getLogger(name).setLevel(logging.WARNING)
    with contextlib.ExitStack() as stack:
        if address is None:
            # dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536, which turns off glibc's adaptive mmap
            # threshold: every array of more than 128 KiB is then a fresh mmap whose pages fault in on first
            # touch, and a window task takes ~2x as long as on a thread. Unset it for the workers we start.
            import dask

            with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
                try:
                    cluster = stack.enter_context(
                        LocalCluster(
                            n_workers=workers,
                            threads_per_worker=1,
                            processes=True,
                            dashboard_address=None,
                            silence_logs=logging.ERROR,
                        )
                    )
                except (RuntimeError, OSError, TimeoutError) as exc:
                    raise ConfigError(
                        f"could not start a local dask cluster of {workers} worker process(es) ({exc}); run again, "
                        "or run without --workers (threads)"
                    ) from exc
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(address, timeout="10s"))
            except OSError as exc:
                raise ConfigError(
                    f"cannot reach the dask.distributed scheduler at {address}: {exc}; start one with "
                    "`dask scheduler` and `dask worker`, or run without --scheduler"
                ) from exc
        log.info("dask.distributed: %s", client)
        client.run(_set_gdal_cache, GDAL_CACHE_BYTES)
        if input_paths:
            missing = client.run(_missing_paths, list(input_paths))
            for worker, paths in missing.items():
                if paths:
                    raise ConfigError(
                        f"dask worker {worker} cannot read {len(paths)} input file(s), e.g. {paths[0]}; workers read "
                        "their inputs themselves: put the inputs on storage every worker mounts at the same path"
                    )
        shared_future = client.scatter(shared, broadcast=True, hash=False)
        n_workers = max(len(client.scheduler_info().get("workers", {})), 1)
        executor = client.get_executor(pure=False)
        yield from _bounded(
            lambda item: executor.submit(_trimmed, func, shared_future, item), items, 2 * n_workers + 1
        )
