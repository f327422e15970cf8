"""The life of a run directory: a lock, a scratch folder that becomes the output only when complete, resume.

``<output_dir>.lock`` (next to the output) is held with ``flock`` for the whole run, so a second run into the same
folder stops at once with the holder's pid; the kernel releases the lock when a process dies, however it dies.
The run writes into ``<output_dir>.partial-<pid>``, renamed to ``<output_dir>`` when everything is written. A
partial folder left by a process that was killed is removed by the next run, or continued with ``--resume``.
Errors remove the partial folder, so nothing incomplete is left looking complete.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sinkmap.engine.checkpoint import Checkpoint
from sinkmap.errors import ConfigError, OutputExistsError, OutputWriteError, SinkmapError

__all__ = ["OutputWriteError", "RunLockedError", "output_error", "run_directory"]

log = logging.getLogger(__name__)


class RunLockedError(SinkmapError, RuntimeError):
    """Another run is writing the same output folder."""


_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EFBIG: "a file grew beyond the size this system allows",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOTDIR: "a regular file is in the way (not a folder)",
    errno.EEXIST: "a regular file is in the way (not a folder)",
}


def output_error(target: Path, exc: OSError) -> OutputWriteError:
    """A one-line error for an operating-system failure while writing ``target``."""
    reason = _REASONS.get(exc.errno or -1)
    if reason is None:
        text = str(exc).lower()
        if "no space" in text or "free disk space" in text:
            reason = "the disk is full"
        elif "file too large" in text:
            reason = "a file grew beyond the size this system allows"
        else:
            reason = " ".join(str(exc).split()) or type(exc).__name__
    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "choose a folder you can write to (`output_dir` in the pipeline or -o)"
    elif exc.errno in (errno.ENOTDIR, errno.EEXIST):
        fix = "choose another `output_dir` (or -o), or move the file"
    else:
        fix = "free some space or choose another `output_dir` (or -o), then run again"
    return OutputWriteError(f"output_dir {target}: cannot write{where}: {reason}; {fix}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _lock(target: Path) -> Iterator[None]:
    """Hold ``<target>.lock`` for the block (flock; the file is removed afterwards)."""
    path = target.with_name(f"{target.name}.lock")
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise RunLockedError(
                f"output_dir {target} is being written by another sinkmap run ({holder}; lock {path}); wait for it "
                "to finish, stop it, or choose another output_dir"
            ) from None
        # the holder may have removed the file between our open and our lock: lock the file that is there now
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.close(fd)


def _partials(target: Path) -> list[Path]:
    return sorted(target.parent.glob(f"{target.name}.partial-*"), key=lambda p: p.stat().st_mtime)


@contextlib.contextmanager
def run_directory(
    target: Path, *, overwrite: bool, resume: bool = False, fingerprint: dict[str, Any] | None = None
) -> Iterator[tuple[Path, Checkpoint]]:
    """Yield (a scratch folder that becomes ``target`` if the block finishes, the run's checkpoint).

    Raises:
        OutputExistsError: ``target`` exists and ``overwrite`` is false.
        RunLockedError: another run holds ``target``.
        OutputWriteError: the folder cannot be created or written.
        ConfigError: ``resume`` is asked but there is nothing (matching) to resume.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:  # a regular file where a folder should be
        raise output_error(target, OSError(errno.ENOTDIR, "not a folder", str(_first_file(target)))) from exc
    except OSError as exc:
        raise output_error(target, exc) from exc
    try:
        lock = _lock(target)
        lock.__enter__()
    except OSError as exc:
        raise output_error(target, exc) from exc
    try:
        if target.exists() and not overwrite:
            raise OutputExistsError(
                f"output directory {target} exists; pass --overwrite to replace it, or change output_dir"
            )
        scratch = target.with_name(f"{target.name}.partial-{os.getpid()}")
        checkpoint = Checkpoint(scratch / ".checkpoint", fingerprint or {})
        left = [p for p in _partials(target) if p != scratch]
        if resume:
            _take_over(left, scratch, checkpoint, target)
        else:
            for old in left:  # we hold the lock: no live run owns these
                pid = old.name.rsplit("-", 1)[-1]
                note = "" if not pid.isdigit() or not _alive(int(pid)) else f" (pid {pid} is not a sinkmap run on it)"
                log.warning(
                    "removing %s, left by an interrupted run%s (`sinkmap run --resume` continues such a folder instead)",
                    old,
                    note,
                )
                shutil.rmtree(old, ignore_errors=True)
            if scratch.exists():
                shutil.rmtree(scratch)
            scratch.mkdir()
        try:
            yield scratch, checkpoint
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        shutil.rmtree(scratch / ".checkpoint", ignore_errors=True)
        if target.exists():
            old = target.with_name(f"{target.name}.old-{os.getpid()}")
            target.rename(old)
            scratch.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            scratch.rename(target)
    except OSError as exc:
        if isinstance(exc, SinkmapError):
            raise
        raise output_error(target, exc) from exc
    finally:
        lock.__exit__(None, None, None)


def _first_file(target: Path) -> Path:
    """The first ancestor of ``target`` that is a regular file."""
    for parent in reversed(target.parents):
        if parent.is_file():
            return parent
    return target


def _take_over(left: list[Path], scratch: Path, checkpoint: Checkpoint, target: Path) -> None:
    """Adopt the newest interrupted run of ``target`` as this run's scratch folder."""
    for old in reversed(left):
        candidate = Checkpoint(old / ".checkpoint", checkpoint.fingerprint)
        if candidate.load() is None:
            continue
        changed = candidate.mismatch()
        if changed is not None:
            raise ConfigError(
                f"cannot resume {old}: {changed} changed since that run was interrupted; run without --resume to "
                "start again"
            )
        old.rename(scratch)
        for other in left:
            if other != old:
                shutil.rmtree(other, ignore_errors=True)
        log.warning("resuming the interrupted run in %s", old)
        return
    raise ConfigError(
        f"nothing to resume for {target}: no interrupted run with a checkpoint was found next to it; run without "
        "--resume"
    )
