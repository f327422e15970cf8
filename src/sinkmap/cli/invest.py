"""``sinkmap invest``: InVEST Carbon pools table + one or two land-cover rasters → storage and change by region."""

from __future__ import annotations

from pathlib import Path

import click

from sinkmap.apps.invest import invest_storage
from sinkmap.errors import OutputExistsError

__all__ = ["command"]


@click.command(name="invest")
@click.option("--pools", "pools", required=True, type=click.Path(dir_okay=False), help="InVEST carbon pools CSV (lucode, c_above, c_below, c_soil, c_dead; t C/ha).")
@click.argument("lulc", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--regions", type=click.Path(dir_okay=False), help="Polygon file (GeoJSON, GeoPackage, Shapefile) to report by.")
@click.option("--id-field", help="Region id field (with --regions).")
@click.option("--name-field", help="Region name field (with --regions).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="CSV file to write.")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--chunk-size", type=click.IntRange(min=16), default=1024, show_default=True)
def command(
    pools: str,
    lulc: tuple[str, ...],
    regions: str | None,
    id_field: str | None,
    name_field: str | None,
    output: str,
    overwrite: bool,
    chunk_size: int,
) -> None:
    """Carbon storage by pool (t C) for LULC [LULC_LATER], and the change, per region and overall."""
    if len(lulc) > 2:
        raise click.UsageError("give one or two land-cover rasters")
    out = Path(output)
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists; pass --overwrite to replace it")
    table = invest_storage(pools, list(lulc), regions=regions, id_field=id_field, name_field=name_field, chunk_size=chunk_size)
    tmp = out.with_name(out.name + ".partial")
    table.to_csv(tmp, index=False, encoding="utf-8-sig")
    tmp.replace(out)
    overall = table.iloc[-1]
    click.echo(f"total storage: {overall['total_t_0']:,.0f} t C" + (f" → {overall['total_t_1']:,.0f} t C (change {overall['total_change_t']:+,.0f} t C)" if "total_t_1" in table else ""))
    for note in table.attrs.get("alignment", [])[1:]:
        click.echo(f"second raster: {note}")
    click.echo(f"wrote {out}")
