"""``sinkmap loss``: tree-cover loss and gross emissions per region and loss year (Global Forest Watch style)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sinkmap.apps.loss import loss_emissions
from sinkmap.errors import OutputExistsError

__all__ = ["command"]


def _raster_or_value(text: str | None) -> str | float | None:
    """A path, or one number applied everywhere."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return text


@click.command(name="loss")
@click.option("--tree-cover", required=True, type=click.Path(dir_okay=False), help="Tree cover in the base year, % (Hansen treecover2000).")
@click.option("--loss-year", required=True, type=click.Path(dir_okay=False), help="Hansen loss year (0 none, N = loss in base year + N).")
@click.option("--last-year", required=True, type=int, help="Last loss year of the product (e.g. 2018 for GFC v1.6).")
@click.option("--agb", type=click.Path(dir_okay=False), help="Above-ground biomass in the base year, t d.m./ha.")
@click.option("--growing-stock", type=click.Path(dir_okay=False), help="Growing stock, m³/ha (instead of --agb; with --bcef).")
@click.option("--bcef", type=float, help="t above-ground biomass per m³ of growing stock (with --growing-stock).")
@click.option("--base-year", type=int, default=2000, show_default=True)
@click.option("--threshold", type=float, default=None, help="Tree-cover threshold, % (default GFW's 30).")
@click.option("--inclusive", is_flag=True, help="Forest extent is tree cover ≥ threshold (GFW: > threshold).")
@click.option("--domain", type=click.Choice(["tropical", "temperate", "boreal"]), required=True, help="Climate domain for the dead wood / litter rule.")
@click.option("--precip", help="Annual precipitation: a raster (mm/yr) or one value.")
@click.option("--elevation", help="Elevation: a raster (m) or one value.")
@click.option("--soil-carbon", type=click.Path(dir_okay=False), help="Mineral soil organic carbon, t C/ha (soil emissions with --soil-f-lu).")
@click.option("--soil-f-lu", type=float, help="F_LU, the fraction of soil C kept 20 years after loss (GFW: 0.72 shifting cultivation, 0.80 settlements).")
@click.option("--regions", type=click.Path(dir_okay=False), help="Polygon file to report by.")
@click.option("--id-field", help="Region id field (required with --regions).")
@click.option("--name-field", help="Region name field.")
@click.option("--rasters", type=click.Path(file_okay=False), help="Folder for per-pixel gross emissions (t CO2e/ha, COG).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="CSV to write (the manifest goes next to it as .json).")
@click.option("--overwrite", is_flag=True)
@click.option("--chunk-size", type=click.IntRange(min=16), default=256, show_default=True)
def command(
    tree_cover: str,
    loss_year: str,
    last_year: int,
    agb: str | None,
    growing_stock: str | None,
    bcef: float | None,
    base_year: int,
    threshold: float | None,
    inclusive: bool,
    domain: str,
    precip: str | None,
    elevation: str | None,
    soil_carbon: str | None,
    soil_f_lu: float | None,
    regions: str | None,
    id_field: str | None,
    name_field: str | None,
    rasters: str | None,
    output: str,
    overwrite: bool,
    chunk_size: int,
) -> None:
    """Tree-cover loss (ha) and gross emissions by pool (t CO2e) per region and loss year."""
    out = Path(output)
    manifest_path = out.with_suffix(".json")
    for path in (out, manifest_path):
        if path.exists() and not overwrite:
            raise OutputExistsError(f"{path} exists; pass --overwrite to replace it")
    table = loss_emissions(
        tree_cover,
        loss_year,
        last_year=last_year,
        agb=agb,
        growing_stock=growing_stock,
        bcef=bcef,
        base_year=base_year,
        threshold_pct=threshold,
        inclusive=inclusive,
        domain=domain,
        annual_precip=_raster_or_value(precip),
        elevation=_raster_or_value(elevation),
        soil_carbon=soil_carbon,
        soil_f_lu=soil_f_lu,
        regions=regions,
        id_field=id_field,
        name_field=name_field,
        raster_dir=rasters,
        chunk_size=chunk_size,
    )
    tmp = out.with_name(out.name + ".partial")
    table.to_csv(tmp, index=False, encoding="utf-8-sig")
    tmp.replace(out)
    manifest_path.write_text(json.dumps(table.attrs["manifest"], ensure_ascii=False, indent=2), encoding="utf-8")
    manifest = table.attrs["manifest"]
    click.echo(f"forest extent: {manifest['forest_extent']}; loss years {manifest['loss_years'][0]}–{manifest['loss_years'][1]}")
    click.echo(
        f"tree-cover loss {table['tree_cover_loss_ha'].sum():,.4g} ha, gross emissions "
        f"{table['gross_emissions_t_co2e'].sum():,.4g} t CO2e (forest extent, all regions and years)"
    )
    click.echo(f"wrote {out} and {manifest_path}")
