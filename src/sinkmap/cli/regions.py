"""``sinkmap regions``: build region files for any province and level, or check a user's polygon file."""

from __future__ import annotations

import click

from sinkmap.apps.regions import (
    LEVELS,
    RegionLayerSpec,
    build_regions,
    check_regions,
    pipeline_entry,
    write_regions,
)
from sinkmap.errors import ConfigError

__all__ = ["command"]


@click.command(name="regions")
@click.option(
    "--province",
    metavar="NAME_OR_ADCODE",
    help="Province-level unit by adcode (520000), Chinese (贵州省, 贵州) or English (Guizhou) name. Default: all of China.",
)
@click.option("--level", type=click.Choice(list(LEVELS)), help="Level of the units to build.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=str),
    help="File to write: .geojson, .gpkg or .shp.",
)
@click.option("--overwrite", is_flag=True, help="Replace the output file if it exists.")
@click.option(
    "--check",
    "check_file",
    type=click.Path(dir_okay=False, path_type=str),
    metavar="FILE",
    help="Validate a polygon file (GeoJSON, GeoPackage, Shapefile) as a region level instead of building one.",
)
@click.option("--id-field", help="With --check: field holding the region id (adcode).")
@click.option("--name-field", help="With --check: field holding the Chinese name.")
@click.option("--name-en-field", help="With --check: field holding the English name (optional).")
@click.option(
    "--parent-field", help="With --check: field holding the parent region's id (optional)."
)
@click.option("--layer", help="With --check: layer of a multi-layer file such as a GeoPackage.")
@click.pass_context
def command(
    ctx: click.Context,
    province: str | None,
    level: str | None,
    output: str | None,
    overwrite: bool,
    check_file: str | None,
    id_field: str | None,
    name_field: str | None,
    name_en_field: str | None,
    parent_field: str | None,
    layer: str | None,
) -> None:
    """Build a region file from official-aligned boundaries (needs cnmaps), or --check your own.

    \b
    Examples:
      sinkmap regions --province 贵州 --level county -o guizhou_counties.geojson
      sinkmap regions --level province -o china_provinces.gpkg
      sinkmap regions --check my_regions.shp --id-field CODE --name-field NAME
    """
    verbosity = (ctx.obj or {}).get("verbosity", 0)
    if check_file is not None:
        if not id_field or not name_field:
            raise ConfigError(
                "--check needs --id-field and --name-field (the fields holding region id and name)"
            )
        report = check_regions(
            check_file,
            id_field=id_field,
            name_field=name_field,
            name_en_field=name_en_field,
            parent_field=parent_field,
            level=level or "custom",
            layer=layer,
        )
        w, s, e, n = report.bounds_lonlat
        click.echo(f"{report.path}: {report.count} regions, CRS {report.crs}")
        click.echo(
            f"  extent lon {w:.3f}–{e:.3f}, lat {s:.3f}–{n:.3f}; total area {report.total_area_km2:,.1f} km²"
        )
        for rid, zh, en in report.sample:
            click.echo(f"  {rid}  {zh}  {en}")
        for warning in report.warnings:
            click.echo(f"  warning: {warning}")
        click.echo(
            "OK: usable as a region level. Pipeline entry (set level: to what the file holds):"
        )
        click.echo("regions:")
        click.echo(report.entry)
        return
    if level is None or output is None:
        raise ConfigError(
            "give --level and -o FILE to build a region file (or --check FILE to validate one)"
        )
    if verbosity >= 0:
        click.echo(
            f"sinkmap: building {level} regions of {province or 'China'} from cnmaps", err=True
        )
    gdf = build_regions(level, province=province)
    path = write_regions(gdf, output, overwrite=overwrite)
    click.echo(
        f"wrote {path}: {len(gdf)} {level} units (adcode, name_zh, name_en, parent_id, prov_id)"
    )
    spec = RegionLayerSpec(
        level=level,
        path=str(path),
        id_field="adcode",
        name_field="name_zh",
        name_en_field="name_en",
        parent_field=None if level == "province" else "parent_id",
        parent_level={"province": None, "prefecture": "province", "county": "prefecture"}[level],
    )
    click.echo("pipeline entry (list the parent level first when parent_level is set):")
    click.echo(pipeline_entry(spec))
