"""``sinkmap export RUN_DIR``: one region with its subregions, or every region of a level, to one file."""

from __future__ import annotations

import click
import pandas as pd

from sinkmap.apps.export import FORMATS, ExportResult, export_regions

__all__ = ["command", "print_export_summary"]


def _fmt(value: object, scale: float = 1.0, digits: int = 2) -> str:
    if value is None or pd.isna(value):
        return "—"
    return f"{float(value) / scale:,.{digits}f}"  # type: ignore[arg-type]


def print_export_summary(result: ExportResult) -> None:
    """Rows written per level, key figures of the chosen region (or the level) and the file."""
    what = (
        result.region.describe() if result.region else f"all {next(iter(result.rows), '')} regions"
    )
    click.echo(f"exported {what}; target set {result.target_set}")
    for level, n in result.rows.items():
        click.echo(f"  {level}: {n} region{'s' if n != 1 else ''}")
    head = next(iter(result.frames.values()))
    if result.region is not None and len(head):
        row = head.iloc[0]
        cols = [c for c in head.columns if c.startswith("coverage_pct_")]
        if cols:
            last = cols[-1].rsplit("_", 1)[1]
            click.echo(
                f"  {row['name_zh']} {row['name_en']}: coverage {_fmt(row[cols[-1]])} % in {last}, "
                f"stock {_fmt(row.get(f'stock_volume_m3_{last}'), 1e6, 1)} million m³"
            )
        for col in [c for c in head.columns if c.startswith("coverage_status_")]:
            year = col.rsplit("_", 1)[1]
            click.echo(
                f"  coverage target {year}: {_fmt(row.get(f'coverage_target_{year}'))} % — {row[col]}"
            )
    click.echo(f"wrote {result.path}")


@click.command(name="export")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=str))
@click.option(
    "--level",
    required=True,
    help="Finest level to export: province, prefecture, county (any level of the run).",
)
@click.option(
    "--region",
    metavar="NAME_OR_ADCODE",
    help="One region with its subregions down to --level, by adcode (520000), Chinese (贵州省, 贵州) or English "
    "(Guizhou) name. Default: every region of --level.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(FORMATS)),
    help="Output format (default: from the suffix of -o).",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=str),
    help="File to write.",
)
@click.option("--overwrite", is_flag=True, help="Replace the output file if it exists.")
@click.option(
    "--precision",
    type=click.IntRange(0, 9),
    help="Decimal places of lon/lat for GeoJSON, GeoPackage and GeoParquet (default per level: province 4, county 5).",
)
@click.pass_context
def command(
    ctx: click.Context,
    run_dir: str,
    level: str,
    region: str | None,
    fmt: str | None,
    output: str,
    overwrite: bool,
    precision: int | None,
) -> None:
    """Export regions of RUN_DIR (a `sinkmap run` output) to GeoJSON, GeoPackage, CSV, Excel or GeoParquet.

    Every file carries the region table's columns, the target set's id and the target tracking columns
    (trend, projections, year the target is reached, on/off track).
    """
    verbosity = (ctx.obj or {}).get("verbosity", 0)
    if verbosity >= 0:
        click.echo(
            f"sinkmap: exporting {region or 'all regions'} at {level} level from {run_dir}",
            err=True,
        )
    result = export_regions(
        run_dir,
        output,
        level=level,
        region=region,
        fmt=fmt,
        overwrite=overwrite,
        precision=precision,
    )
    print_export_summary(result)
