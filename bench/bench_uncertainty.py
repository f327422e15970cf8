"""Cost of the intervals: 10,000 Monte Carlo draws for every region of every level and every column with an
interval (carbon pools, stocks, sinks, forest area, coverage, stock volume), against the pipeline's own run time.

For each case, in this process on this machine:

* **pipeline**: the wall time of :func:`sinkmap.apps.pipeline.run_pipeline` on the case's pipeline as it is
  (without an ``uncertainty:`` section), rasters as configured, 2 threads;
* **pipeline + strata**: the same run with an ``uncertainty:`` section, so the engine also counts the forest
  strata table (:class:`sinkmap.steps.strata.ForestStrataStep`); the difference is the engine's cost of the
  activity table;
* **draws**: the wall time of :func:`sinkmap.apps.uncertainty.run_uncertainty` — building the model from the
  strata table and the factor tables, 10,000 draws of every factor, Approach 2 quantiles, Approach 1, variance
  shares and the top five contributors for every region of every level — on that run's strata table and, where
  the pipeline has a reference sample, its accuracy table (area ratios).

Each timed part is the fastest of ``--runs`` runs; before each, the script waits (up to ``--wait-quiet`` s) until
other processes use less than a quarter of a core, and prints the cores they used (``others``). It prints the
ratio draws / pipeline (target < 0.10) and strata / pipeline. The report goes to
``bench/results/uncertainty_latest.txt`` and ``uncertainty_latest.json``.

Cases: ``sample`` (``pipelines/china_sample.yaml``) and, when it has been generated
(``bench/make_pipeline_tiles.py``), ``tile`` (the 30 m tile set ``bench/data/pipeline30m_10000x10000``).

Usage::

    .venv/bin/python bench/bench_uncertainty.py
    .venv/bin/python bench/bench_uncertainty.py --runs 1 --skip tile
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_pipeline import QUIET_CORES, others_cores, wait_for_quiet  # noqa: E402

from sinkmap.apps.accuracy import run_accuracy  # noqa: E402
from sinkmap.apps.pipeline import region_results, run_pipeline  # noqa: E402
from sinkmap.apps.plan import plan_pipeline  # noqa: E402
from sinkmap.apps.uncertainty import run_uncertainty  # noqa: E402
from sinkmap.config import PipelineConfig, UncertaintySpec, load_pipeline  # noqa: E402
from sinkmap.engine.job import run_job  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CASES = {
    "sample": ROOT / "pipelines" / "china_sample.yaml",
    "tile": ROOT / "bench" / "data" / "pipeline30m_10000x10000" / "pipeline.yaml",
}


def _timed(func: Any, runs: int, wait_s: float) -> tuple[float, float, Any]:
    """(fastest seconds, others' cores during it, the last result) over ``runs`` runs."""
    best, best_others, out = float("inf"), 0.0, None
    for _ in range(runs):
        wait_for_quiet(wait_s)
        t0 = time.perf_counter()
        out = func()
        seconds = time.perf_counter() - t0
        others = others_cores(1.0)
        if seconds < best:
            best, best_others = seconds, others
    return best, best_others, out


def run_case(name: str, path: Path, args: argparse.Namespace) -> dict[str, Any]:
    base = load_pipeline(path)  # its own factor set (China Tier 2 on the sample)
    plain = dataclasses.replace(base, uncertainty=None)
    with_unc = dataclasses.replace(base, uncertainty=UncertaintySpec(draws=args.draws, seed=args.seed))

    def pipeline(config: PipelineConfig) -> Any:
        with tempfile.TemporaryDirectory() as tmp:
            return run_pipeline(config, output_dir=Path(tmp) / "run", threads=2, overwrite=True)

    p_s, p_others, _ = _timed(lambda: pipeline(plain), args.runs, args.wait_quiet)
    s_s, s_others, with_run = _timed(lambda: pipeline(with_unc), args.runs, args.wait_quiet)
    profile = {k: float(v) for k, v in with_run.profile.items()}
    steps = {k: v for k, v in profile.items() if "(client)" not in k}
    # the strata table of one run, then the draws on it
    plan = plan_pipeline(with_unc)
    job = dataclasses.replace(
        plan.job, steps=tuple(dataclasses.replace(s, rasters_wanted=()) if hasattr(s, "rasters_wanted") else s for s in plan.job.steps)
    )
    result = run_job(job, chunk_size=with_unc.chunk_size, threads=2)
    regions = region_results(dataclasses.replace(plan, job=job), result)
    tables = regions.tables
    accuracy = run_accuracy(plan, tables, regions.transitions)  # written for accuracy.csv with or without intervals
    adjusted = None if accuracy is None else accuracy[0]
    job_plan = dataclasses.replace(plan, job=job)
    d_s, d_others, unc = _timed(lambda: run_uncertainty(job_plan, result, tables, adjusted), args.runs, args.wait_quiet)
    n_regions = sum(len(t) for t in tables.values())
    nation = tables.get("nation")
    national = {}
    if nation is not None:
        for column in unc.columns:
            est, lo, hi = unc.values["nation"][column][0]
            national[column] = {
                "estimate": est,
                "p2_5": lo,
                "p97_5": hi,
                "half_width_pct": float(unc.half_width_pct["nation"][column][0]),
                "approach1_half_width_pct": float(unc.approach1_half_width_pct["nation"][column][0]),
            }
        top = unc.contributors[unc.contributors["level"] == "nation"]
        contributors = {
            column: [(r.variable, round(float(r.variance_share), 4)) for r in group.itertuples()]
            for column, group in top.groupby("column", sort=False)
        }
    else:
        contributors = {}
    return {
        "case": name,
        "pipeline": str(path.relative_to(ROOT)),
        "regions": n_regions,
        "levels": {level: len(t) for level, t in tables.items()},
        "draws": args.draws,
        "seed": args.seed,
        "model_terms": unc.manifest["n_terms"],
        "columns_with_intervals": len(unc.columns),
        "area_ratios": len(unc.manifest["activity_data"]["area_ratios"]) if isinstance(unc.manifest["activity_data"], dict) else 0,
        "factors": len(unc.manifest["factors"]),
        "strata_cells": {
            k: int(np.count_nonzero(v.any(axis=0))) for k, v in result.crosstabs.items() if k.startswith("forest_strata")
        },
        "pipeline_s": p_s,
        "pipeline_others": p_others,
        "pipeline_with_strata_s": s_s,
        "pipeline_with_strata_others": s_others,
        "draws_s": d_s,
        "draws_others": d_others,
        "ratio_draws_to_pipeline": d_s / p_s,
        "ratio_strata_to_pipeline": (s_s - p_s) / p_s,
        "profile_with_strata": profile,
        "strata_step_task_s": steps.get("forest_strata", 0.0),
        "strata_step_share_of_task_s": steps.get("forest_strata", 0.0) / sum(steps.values()),
        "national": national,
        "national_top5": contributors,
    }


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"sinkmap uncertainty benchmark — {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}",
        f"machine: {platform.machine()}, Python {platform.python_version()}, numpy {np.__version__}; "
        f"{args.draws} draws, seed {args.seed}; fastest of {args.runs} run(s); others = cores used by other "
        f"processes (waits up to {args.wait_quiet:g} s for < {QUIET_CORES})",
        "pipeline = run_pipeline without uncertainty (rasters as configured, 2 threads); +strata = with the "
        "uncertainty: section (the engine also counts the strata tables, and the run includes the draws); draws = run_uncertainty on that "
        "table (model, 10,000 draws, quantiles, Approach 1, shares, top five) for every column with an interval of every "
        "region of every level",
        "",
        "  case     regions  terms  factors  pipeline s  +strata s  draws s  draws/pipeline  strata/pipeline  others",
    ]
    for r in results:
        lines.append(
            f"  {r['case']:<8} {r['regions']:7d} {r['model_terms']:6d} {r['factors']:8d} {r['pipeline_s']:11.2f} "
            f"{r['pipeline_with_strata_s']:10.2f} {r['draws_s']:8.2f} {r['ratio_draws_to_pipeline']:15.3f} "
            f"{r['ratio_strata_to_pipeline']:16.3f}  {r['pipeline_others']:.2f}/{r['pipeline_with_strata_others']:.2f}/"
            f"{r['draws_others']:.2f}"
        )
    for r in results:
        lines += [
            "",
            f"[{r['case']}] levels {r['levels']}; strata cells with area {r['strata_cells']}; columns with intervals "
            f"{r['columns_with_intervals']}; area ratios {r['area_ratios']}",
            f"  strata step (last +strata run's profile): {r['strata_step_task_s']:.2f} task-s = "
            f"{r['strata_step_share_of_task_s']:.1%} of the task seconds of every part in the engine (read, steps, "
            "aggregation); profile: " + ", ".join(f"{k} {v:.2f}" for k, v in r["profile_with_strata"].items()),
        ]
        for column, v in r["national"].items():
            lines.append(
                f"  nation {column}: {v['estimate']:.4g} (95 % {v['p2_5']:.4g} – {v['p97_5']:.4g}), "
                f"± {v['half_width_pct']:.1f} % (Approach 1: ± {v['approach1_half_width_pct']:.1f} %)"
            )
        for column, top in r["national_top5"].items():
            lines.append(f"  top five, {column}: " + "; ".join(f"{f} {s:.1%}" for f, s in top))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=UncertaintySpec.seed)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--wait-quiet", type=float, default=60.0)
    parser.add_argument("--skip", default="", help="comma-separated cases to skip (sample, tile)")
    args = parser.parse_args(argv)
    skip = {s for s in args.skip.split(",") if s}
    results = []
    for name, path in CASES.items():
        if name in skip:
            continue
        if not path.exists():
            print(f"[{name}] {path.relative_to(ROOT)} not generated (bench/make_pipeline_tiles.py); skipped")
            continue
        results.append(run_case(name, path, args))
    text = report(results, args)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "uncertainty_latest.txt").write_text(text, encoding="utf-8")
    (RESULTS / "uncertainty_latest.json").write_text(json.dumps(results, indent=2, default=float), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
