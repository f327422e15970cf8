"""Start-up time of the ``sinkmap`` command: ``--help`` and ``--version``, whole process, wall clock.

Runs each command ``--runs`` times (after one warm-up run) with the virtual environment's ``sinkmap`` script and
prints min / median / max wall seconds; with ``--write`` the table goes to ``bench/results/cli_startup.txt``
together with the figures measured before (kept in that file's header by hand).

    .venv/bin/python bench/bench_cli_startup.py --runs 20 --write
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "cli_startup.txt"
MARK = "## measured by bench/bench_cli_startup.py"


def time_command(argv: list[str], runs: int) -> list[float]:
    subprocess.run(argv, check=True, capture_output=True)  # warm-up: file cache, .pyc files
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--write", action="store_true", help=f"append the table to {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args()
    exe = str(Path(sys.executable).with_name("sinkmap"))
    lines = [
        f"{MARK} on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.python_implementation()} "
        f"{platform.python_version()}, {args.runs} runs after one warm-up",
        f"{'command':<20} {'min s':>8} {'median s':>9} {'max s':>8}",
    ]
    for flag in ("--help", "--version"):
        times = time_command([exe, flag], args.runs)
        lines.append(f"sinkmap {flag:<12} {min(times):8.3f} {statistics.median(times):9.3f} {max(times):8.3f}")
    text = "\n".join(lines)
    print(text)
    if args.write:
        before = RESULTS.read_text(encoding="utf-8").split(MARK)[0] if RESULTS.exists() else ""
        RESULTS.write_text(before + text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
