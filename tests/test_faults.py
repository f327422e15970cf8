"""Faults during a run: a second run on the same folder, leftovers of killed runs, SIGINT, a full disk, and
``--resume`` after SIGKILL giving byte-identical results.

These start real ``sinkmap`` processes (``python -m sinkmap``) on the tiny world of tests/badinput_world.py.
"""

from __future__ import annotations

import hashlib
import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from badinput_world import World
from sinkmap.cli import main

PY = sys.executable


def _sinkmap(*args: str, env: dict[str, str] | None = None, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PY, "-m", "sinkmap", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        **kwargs,  # type: ignore[arg-type]
    )


def _digest(folder: Path) -> dict[str, str]:
    """sha256 of every output that must not change: tables, GeoJSON and COGs (the manifest has times in it)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_second_run_on_the_same_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = World(tmp_path)
    world.write()
    world.output.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [PY, "-c", f"from sinkmap.apps.rundir import _lock; from pathlib import Path; import time, sys\n"
         f"with _lock(Path({str(world.output)!r})):\n    print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert main(["run", str(world.yaml)]) == 2
        err = capsys.readouterr().err
        assert f"pid {holder.pid}" in err and "another sinkmap run" in err and "Traceback" not in err
        assert not world.output.exists()
    finally:
        holder.kill()
        holder.communicate()
    # the holder died: its lock went with it, and the next run goes through and removes the stale lock file
    assert main(["run", str(world.yaml)]) == 0
    assert world.leftovers() == ["run"]


def test_leftovers_of_killed_runs_are_removed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = World(tmp_path)
    world.write()
    stale = world.output.with_name(f"{world.output.name}.partial-999999999")
    (stale / "rasters").mkdir(parents=True)
    (stale / "rasters" / "half.tif").write_bytes(b"\0" * 1000)
    assert main(["run", str(world.yaml)]) == 0
    assert "removing" in capsys.readouterr().err
    assert world.leftovers() == ["run"]


def test_resume_without_an_interrupted_run_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = World(tmp_path)
    world.write()
    assert main(["run", str(world.yaml), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert world.leftovers() == []


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))  # Python ignores SIGXFSZ: writes fail with EFBIG


def test_full_disk_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.write()
    proc = _sinkmap("run", str(world.yaml), preexec_fn=_limit_file_size)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("sinkmap: error:")]
    assert len(lines) == 1 and "cannot write" in lines[0] and str(world.output) in lines[0], err
    assert world.leftovers() == []


@pytest.mark.slow
def test_sigint_stops_cleanly_at_any_moment(tmp_path: Path) -> None:
    """Ctrl-C at random moments (start-up, planning, windows, COG encoding, tables): exit 130, one line, nothing left."""
    world = World(tmp_path, n=384)
    world.write()
    rng = random.Random(11)
    for delay in sorted(rng.uniform(1.0, 6.0) for _ in range(5)):
        proc = _sinkmap("run", str(world.yaml), "--overwrite")
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert "Traceback" not in err, err
        assert proc.returncode in (0, 130), (delay, err)
        left = world.leftovers()
        assert left in ([], ["run"]), (delay, left)
        if proc.returncode == 0:
            assert (world.output / "manifest.json").exists()


@pytest.mark.slow
def test_resume_after_sigkill_is_byte_identical(tmp_path: Path) -> None:
    """Kill -9 at random points after the first checkpoint, resume, and compare every output byte for byte."""
    world = World(tmp_path, n=384)
    world.write()
    reference = tmp_path / "reference"
    done = _sinkmap("run", str(world.yaml), "-o", str(reference))
    _, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    expected = _digest(reference)
    assert any(name.endswith(".tif") for name in expected) and "regions.csv" in expected

    rng = random.Random(5)
    resumed = 0
    for attempt in range(4):
        env = {"SINKMAP_CHECKPOINT_SECONDS": "0"}
        proc = _sinkmap("run", str(world.yaml), "--overwrite", env=env)
        deadline = time.monotonic() + 60
        checkpoints = list(world.output.parent.glob("*.partial-*/.checkpoint/checkpoint.json"))
        while not checkpoints and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
            checkpoints = list(world.output.parent.glob("*.partial-*/.checkpoint/checkpoint.json"))
        time.sleep(rng.uniform(0.0, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        partials = list(world.output.parent.glob("*.partial-*"))
        if proc.returncode == 0 or not partials or not checkpoints:
            continue  # finished (or never checkpointed) before the kill: nothing to resume this time
        again = _sinkmap("run", str(world.yaml), "--resume", "--overwrite")
        _, err = again.communicate(timeout=300)
        assert again.returncode == 0, err
        assert "resuming" in err
        assert _digest(world.output) == expected, f"attempt {attempt}"
        assert world.leftovers() == ["run"]
        resumed += 1
    assert resumed >= 2, "too few kills landed inside the run to test resuming"


@pytest.mark.slow
def test_worker_killed_on_a_local_cluster_is_one_warning(tmp_path: Path) -> None:
    """A dask worker process killed mid-run: the run finishes with identical tables, and stderr carries short
    warning lines, not tracebacks."""
    import psutil

    world = World(tmp_path, n=384)
    world.write()
    reference = tmp_path / "reference"
    assert main(["-q", "run", str(world.yaml), "-o", str(reference)]) == 0
    def command_line(process: psutil.Process) -> str:
        try:
            return " ".join(process.cmdline())
        except psutil.Error:  # it ended between being listed and being read (a helper process): not a worker
            return ""

    proc = _sinkmap("run", str(world.yaml), "--workers", "2", env={"SINKMAP_CHECKPOINT_SECONDS": "0"})
    try:
        parent = psutil.Process(proc.pid)
        killed = None
        deadline = time.monotonic() + 90
        while killed is None and proc.poll() is None and time.monotonic() < deadline:
            workers = [c for c in parent.children(recursive=True) if "spawn_main" in command_line(c)]
            windows_done = list(world.output.parent.glob("*.partial-*/.checkpoint/checkpoint.json"))
            if len(workers) == 2 and windows_done:
                try:
                    workers[0].kill()
                except psutil.NoSuchProcess:
                    continue
                killed = workers[0].pid
            time.sleep(0.02)
        _, err = proc.communicate(timeout=300)
    finally:  # never leave the run behind for later tests' garbage collector
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert killed is not None, "the run ended before a worker could be killed"
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    assert len(err.splitlines()) < 40, err
    assert (world.output / "regions.csv").read_bytes() == (reference / "regions.csv").read_bytes()
