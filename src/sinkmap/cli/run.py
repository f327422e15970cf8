"""``sinkmap run PIPELINE.yaml``: run a pipeline and print its key figures."""

from __future__ import annotations

import sys
import time

import click
import pandas as pd

from sinkmap.apps.pipeline import RunResult, run_pipeline
from sinkmap.config import load_pipeline

__all__ = ["print_summary", "run"]


class _Bar:
    """A one-line progress bar on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.started = time.perf_counter()
        self.last = -1

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        pct = int(100 * done / max(total, 1))
        if self.tty:
            bar = "#" * (pct // 4)
            sys.stderr.write(f"\r  windows {done}/{total} [{bar:<25}] {pct:3d}% {time.perf_counter() - self.started:6.1f}s")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()
        elif pct // 10 != self.last // 10 or done == total:
            sys.stderr.write(f"  windows {done}/{total} ({pct}%) after {time.perf_counter() - self.started:.1f}s\n")
            sys.stderr.flush()
        self.last = pct


def _fmt(value: float, scale: float = 1.0, digits: int = 1) -> str:
    return "—" if pd.isna(value) else f"{value / scale:,.{digits}f}"


_PREFIXES = ((1e9, "billion", "bn"), (1e6, "million", "M"), (1e3, "thousand", "k"), (1.0, "", ""))
_TONNES = {"bn": "G", "M": "M", "k": "k", "": ""}  # SI prefixes for tonnes: Gt, Mt, kt, t


def _scale(values: list[float]) -> tuple[float, str, str]:
    """(divisor, word, short prefix) that shows the largest of ``values`` with one to three digits before the point."""
    finite = [abs(float(v)) for v in values if not pd.isna(v)]
    top = max(finite, default=0.0)
    return next(((d, word, short) for d, word, short in _PREFIXES if top >= d), _PREFIXES[-1])


def print_summary(result: RunResult, *, max_rows: int = 40) -> None:
    """National and per-region key figures, then the files written."""
    tables = result.tables
    epochs = result.manifest["epochs"]
    first, last = epochs[0], epochs[-1]
    targets = result.manifest["targets"]
    has_stock = "growing_stock" in (result.manifest.get("pipeline", {}).get("layers") or {})
    click.echo("")
    # the nation and the first configured level (provinces in the sample)
    for level in list(tables)[:2]:
        table = tables[level]
        stock_cols = [f"stock_volume_m3_{first}", f"stock_volume_m3_{last}"]
        divisor, word, _ = _scale([v for c in stock_cols if c in table for v in table[c].head(max_rows)])
        stock_unit = f"{word} m³".strip()
        land = [v for v in table[f"land_area_km2_{last}"].head(max_rows) if not pd.isna(v)]
        land_digits = 0 if max(land, default=0.0) >= 100 else 2  # a small study area keeps its decimals
        click.echo(f"{level} — forest coverage (%) and stock volume ({stock_unit}), {first} → {last}")
        header = f"  {'region':<22} {'land km²':>12} {'cov ' + str(first):>9} {'cov ' + str(last):>9} {'stock ' + str(first):>10} {'stock ' + str(last):>10}"
        click.echo(header)
        for _, row in table.head(max_rows).iterrows():
            name = f"{row['name_en']}"[:22]
            # without a growing-stock layer the stock is not estimated: a dash, not 0
            stock = [_fmt(row[c], divisor, 3) if has_stock else "—" for c in stock_cols]
            click.echo(
                f"  {name:<22} {_fmt(row[f'land_area_km2_{last}'], 1, land_digits):>12} {_fmt(row[f'coverage_pct_{first}'], 1, 2):>9} "
                f"{_fmt(row[f'coverage_pct_{last}'], 1, 2):>9} {stock[0]:>10} {stock[1]:>10}"
            )
        if len(table) > max_rows:
            click.echo(f"  … {len(table) - max_rows} more rows in regions.csv")
        click.echo("")
    if "nation" in tables and targets is not None:
        row = tables["nation"].iloc[0]
        click.echo(f"targets: {targets['id']} — {targets['source']}")
        for t in targets["national"]:
            y = t["year"]
            parts = []
            if t.get("coverage_pct") is not None:
                parts.append(f"coverage {t['coverage_pct']:g} % (gap {row[f'coverage_gap_pct_points_{y}']:+.2f} points)")
            if t.get("stock_volume_m3") is not None:
                d, _, short = _scale([t["stock_volume_m3"]])
                parts.append(
                    f"stock {t['stock_volume_m3'] / d:g} {short} m³ (gap {row[f'stock_gap_m3_{y}'] / d:+.3f} {short} m³)".replace("  ", " ")
                )
            click.echo(f"  {y}: " + "; ".join(parts))
        click.echo("")
    if "nation" in tables and "total_sink_t_c_per_yr" in tables["nation"]:
        row = tables["nation"].iloc[0]
        factor_set = row.get("forest_factor_set")
        named = f"; forest factor set {factor_set}" if isinstance(factor_set, str) and factor_set else ""
        click.echo(f"carbon ({row['name_en']}; sinks positive{named}):")
        stocks = [row.get(f"forest_carbon_t_c_{e}") for e in (first, last)]
        d, _, short = _scale([v for v in stocks if v is not None])
        short = _TONNES[short]
        click.echo(
            f"  forest carbon {first}: {row[f'forest_carbon_t_c_{first}'] / d:,.3f} {short}t C "
            f"(vegetation {row[f'forest_vegetation_carbon_t_c_{first}'] / d:,.3f}); {last}: "
            f"{row[f'forest_carbon_t_c_{last}'] / d:,.3f} {short}t C"
        )
        parts = [p for p in ("forest", "grassland", "wetland", "karst", "total") if f"{p}_sink_t_c_per_yr" in row]
        d, _, short = _scale([row[f"{p}_sink_t_co2e_per_yr"] for p in parts])
        short = _TONNES[short]
        for part in parts:
            click.echo(
                f"  {part:<9} sink {row[f'{part}_sink_t_c_per_yr'] / d:10.2f} {short}t C/yr "
                f"{row[f'{part}_sink_t_co2e_per_yr'] / d:10.2f} {short}t CO2/yr"
            )
        for part in ("grassland", "wetland"):
            status = row.get(f"{part}_sink_status")
            if f"{part}_sink_t_c_per_yr" not in row and isinstance(status, str) and status:
                click.echo(f"  {part:<9} sink {status}")
        if "karst_potential_sink_t_c_per_yr" in row and not pd.isna(row["karst_potential_sink_t_c_per_yr"]):
            click.echo(
                f"  karst potential sink {row['karst_potential_sink_t_c_per_yr'] / d:.2f} {short}t C/yr "
                "(maximum potential dissolution, an upper bound, outside the total)"
            )
        series_break = row.get("series_break")
        if isinstance(series_break, str) and series_break and not series_break.startswith("no"):
            click.echo(f"  series break: {series_break}")
        click.echo("")
    _print_observed_shares(tables, last, max_rows)
    masked = {layer: c for layer, c in result.manifest.get("input_checks", {}).items() if c["invalid_pixels"]}
    for layer, c in masked.items():
        click.echo(
            f"masked as invalid: {c['invalid_pixels']:,} pixel(s) of {layer} outside {c['expected']} "
            f"(`invalid: mask`; counts in manifest.json input_checks)"
        )
    if masked:
        click.echo("")
    click.echo(f"wrote {result.output_dir} in {result.elapsed_s:.1f} s:")
    for path in ["manifest.json", *result.manifest["outputs"]]:
        click.echo(f"  {result.output_dir / path}")


#: (column without epoch, header, per epoch) of the observed-share columns the summary shows
_SHARES = (
    ("observed_area_pct", "land", False),
    ("carbon_observed_share_pct", "carbon", True),
    ("forest_carbon_observed_share_pct", "forest C", True),
    ("grassland_carbon_observed_share_pct", "grass C", True),
    ("sink_observed_share_pct", "sink", False),
)


def _print_observed_shares(tables: dict[str, pd.DataFrame], last: int, max_rows: int) -> None:
    """Per region, the share of area (%) each product is estimated on: totals count only that area."""
    for level in list(tables)[:2]:
        table = tables[level]
        shown = [(f"{c}_{last}" if per_epoch else c, head) for c, head, per_epoch in _SHARES]
        shown = [(c, head) for c, head in shown if c in table]
        if not any(c.startswith("carbon_observed") for c, _ in shown):
            continue
        click.echo(f"{level} — share of area observed (%), {last}; totals count the observed area only")
        click.echo(f"  {'region':<22} " + " ".join(f"{head:>9}" for _, head in shown))
        for _, row in table.head(max_rows).iterrows():
            name = f"{row['name_en']}"[:22]
            click.echo(f"  {name:<22} " + " ".join(f"{_fmt(row[c], 1, 1):>9}" for c, _ in shown))
        if len(table) > max_rows:
            click.echo(f"  … {len(table) - max_rows} more rows in regions.csv")
        click.echo("")


@click.command()
@click.argument("pipeline", type=click.Path(dir_okay=False, path_type=str))
@click.option("--overwrite", is_flag=True, help="Replace the output directory if it exists.")
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted run of this pipeline from its last checkpoint (identical results).",
)
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), help="Write here instead of the pipeline's output_dir.")
@click.option("--scheduler", help="threads (default), synchronous, processes, or a dask.distributed address tcp://HOST:PORT.")
@click.option("--threads", type=click.IntRange(min=1), help="Threads for the default scheduler (default: all cores).")
@click.option("--workers", type=click.IntRange(min=1), help="Start a local dask.distributed cluster with N worker processes.")
@click.option("--chunk-size", type=click.IntRange(min=16), help="Window size in pixels (default from the pipeline, 512).")
@click.pass_context
def run(
    ctx: click.Context,
    pipeline: str,
    overwrite: bool,
    resume: bool,
    output_dir: str | None,
    scheduler: str | None,
    threads: int | None,
    workers: int | None,
    chunk_size: int | None,
) -> None:
    """Run PIPELINE (a YAML file) and write its run directory."""
    verbosity = (ctx.obj or {}).get("verbosity", 0)
    config = load_pipeline(pipeline)
    click.echo(f"sinkmap: running {config.name!r} from {pipeline}", err=True)
    result = run_pipeline(
        config,
        overwrite=overwrite,
        scheduler=scheduler,
        threads=threads,
        workers=workers,
        chunk_size=chunk_size,
        output_dir=output_dir,
        progress=_Bar(verbosity >= 0),
        resume=resume,
    )
    print_summary(result)
