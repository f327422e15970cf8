"""The command line as a user meets it: help, version, errors as one line with a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from sinkmap import __version__
from sinkmap.cli import cli, main


def test_help_lists_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "run" in result.output


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_missing_pipeline_is_one_line_error(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code = main(["run", str(tmp_path / "nope.yaml")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("sinkmap: error: pipeline file") and "nope.yaml" in err
    assert "Traceback" not in err


def test_python_dash_m(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\noutput_dir: out\nepochs: [2020]\nlayers: {}\nregions: []\nbogus: 1\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "sinkmap", "run", str(bad)], capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "'bogus'" in proc.stderr and "bad.yaml" in proc.stderr
    assert proc.stderr.count("\n") == 1


HEAVY = ("numpy", "pandas", "rasterio", "geopandas", "matplotlib", "shapely", "pyproj", "dask", "xarray", "yaml")


def test_help_and_version_import_no_heavy_library() -> None:
    """`sinkmap --help` / `--version` load click and sinkmap's CLI only (start-up well under 0.5 s)."""
    code = (
        "import sys\nfrom sinkmap.cli import main\n"
        "for argv in (['--help'], ['--version']):\n"
        "    assert main(argv) == 0\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_command_list_matches_each_command() -> None:
    """The one-line help `sinkmap --help` shows without importing a command is the first line of its docstring."""
    from sinkmap.cli import COMMANDS

    for name in COMMANDS:
        command = cli.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None and command.name == name
        assert COMMANDS[name][2] == (command.help or "").splitlines()[0], name


def test_help_and_version_are_fast() -> None:
    """Whole-process start-up, median of 5 runs, under the 0.5 s budget (0.07 s measured; see bench/results)."""
    import statistics
    import time

    times = []
    for argv in (["--help"], ["--version"]) * 3:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sinkmap", *argv], capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    assert statistics.median(times) < 0.5
