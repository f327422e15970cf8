"""``sinkmap invest``: InVEST Carbon pools table + a baseline and any number of alternate land-cover rasters →
storage, change and value by region, and per-pixel rasters on request."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from sinkmap.apps.invest import NODATA_IN_TABLE, invest_storage
from sinkmap.errors import ConfigError, OutputExistsError

__all__ = ["command", "scaled_carbon"]

_CARBON_UNITS = ((1e9, "Gt C"), (1e6, "Mt C"), (1e3, "kt C"), (1.0, "t C"), (1e-3, "kg C"), (1e-6, "g C"))


def scaled_carbon(values: Sequence[float]) -> tuple[list[str], str]:
    """Format carbon masses given in t C in one unit chosen for the largest of them (g C … Gt C), 4 significant
    digits, so that a tiny case does not print as "0 t C"."""
    largest = max((abs(v) for v in values), default=0.0)
    divisor, unit = next(((d, u) for d, u in _CARBON_UNITS if largest >= d * (1 - 1e-9)), _CARBON_UNITS[-1])
    return [f"{v / divisor:,.4g}" for v in values], unit


def _years(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(f"--years {text!r}: give whole years separated by commas, e.g. --years 2020,2030") from None


@click.command(name="invest")
@click.option("--pools", "pools", required=True, type=click.Path(dir_okay=False), help="InVEST carbon pools CSV (lucode, c_above, c_below, c_soil, c_dead; t C/ha).")
@click.argument("lulc", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--regions", type=click.Path(dir_okay=False), help="Polygon file (GeoJSON, GeoPackage, Shapefile) to report by.")
@click.option("--id-field", help="Region id field (required with --regions).")
@click.option("--name-field", help="Region name field (with --regions).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="CSV file to write.")
@click.option("--area", type=click.Choice(["true", "nominal"]), default="true", show_default=True, help="Pixel area: true area, or the nominal pixel size (InVEST's totals).")
@click.option("--nodata-in-table", type=click.Choice(list(NODATA_IN_TABLE)), default="mask", show_default=True, help="Pixels holding the raster's nodata code when the pools table lists it: mask them, or map them through the table (InVEST).")
@click.option("--years", help="One year per raster, baseline first, comma-separated (needed for valuation).")
@click.option("--price", "price", type=float, help="Valuation: price per t C (any currency).")
@click.option("--discount-rate", type=float, default=0.0, show_default=True, help="Valuation: market discount rate, % per year.")
@click.option("--rate-change", type=float, default=0.0, show_default=True, help="Valuation: annual change in the price of carbon, % per year.")
@click.option("--rasters", "rasters", type=click.Path(file_okay=False), help="Folder for per-pixel COGs (storage, pools, change, value per ha).")
@click.option("--invest-names", is_flag=True, help="Name the rasters as InVEST does (c_storage_bas.tif, c_change_bas_alt.tif, …).")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT (and the rasters folder) if it exists.")
@click.option("--chunk-size", type=click.IntRange(min=16), default=1024, show_default=True)
def command(
    pools: str,
    lulc: tuple[str, ...],
    regions: str | None,
    id_field: str | None,
    name_field: str | None,
    output: str,
    area: str,
    nodata_in_table: str,
    years: str | None,
    price: float | None,
    discount_rate: float,
    rate_change: float,
    rasters: str | None,
    invest_names: bool,
    overwrite: bool,
    chunk_size: int,
) -> None:
    """Carbon storage by pool (t C) for a baseline and alternate land-cover rasters, with change and value.

    Storage per region and overall for the BASELINE raster and any number of ALTERNATES, the change of each
    alternate against the baseline, and its net present value when a price is given.

    LULC: the baseline raster, then the alternates."""
    out = Path(output)
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists; pass --overwrite to replace it")
    if rasters is not None and Path(rasters).exists() and any(Path(rasters).iterdir()) and not overwrite:
        raise OutputExistsError(f"--rasters {rasters} exists and is not empty; pass --overwrite or choose a new folder")
    table = invest_storage(
        pools,
        list(lulc),
        regions=regions,
        id_field=id_field,
        name_field=name_field,
        area=area,
        nodata_in_table=nodata_in_table,
        years=_years(years),
        price_per_t_c=price,
        discount_rate_pct=discount_rate,
        price_change_pct=rate_change,
        raster_dir=rasters,
        invest_names=invest_names,
        chunk_size=chunk_size,
    )
    tmp = out.with_name(out.name + ".partial")
    table.to_csv(tmp, index=False, encoding="utf-8-sig")
    tmp.replace(out)
    overall = table.iloc[-1]
    names = table.attrs["scenarios"]
    n = len(names)
    stocks = [float(overall[f"total_t_{k}"]) for k in range(n)]
    changes = [float(overall["total_change_t" + ("" if n == 2 else f"_{k}")]) for k in range(1, n)]
    text, unit = scaled_carbon(stocks + changes)
    click.echo(f"area: {table.attrs['area']} ({table.attrs['area_method']})")
    click.echo(f"storage {names[0]}: {text[0]} {unit}")
    for k in range(1, n):
        click.echo(f"storage {names[k]}: {text[k]} {unit} (change {names[0]} → {names[k]}: {text[n + k - 1]} {unit})")
        column = "npv" + ("" if n == 2 else f"_{k}")
        if column in table:
            click.echo(f"net present value {names[0]} → {names[k]}: {float(overall[column]):,.6g} (currency of --price)")
    for note in table.attrs.get("alignment", [])[1:]:
        click.echo(f"alternate raster: {note}")
    for warning in table.attrs.get("warnings", []):
        click.echo(f"warning: {warning}", err=True)
    if table.attrs.get("rasters"):
        click.echo(f"wrote {len(table.attrs['rasters'])} rasters to {rasters}")
    click.echo(f"wrote {out}")
