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
