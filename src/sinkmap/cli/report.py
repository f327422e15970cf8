"""``sinkmap report RUN_DIR``: a self-contained HTML report and its figures as PNG."""

from __future__ import annotations

import sys

import click

from sinkmap.apps.report import ReportResult, build_report

__all__ = ["command", "print_report_summary"]


def print_report_summary(result: ReportResult) -> None:
    """The region shown, the notes, and every file written."""
    for line in result.key_figures:
        click.echo(line)
    if result.region is not None:
        click.echo(f"region in detail: {result.region.describe()}")
    if result.carbon_columns:
        mapped = (
            f"; sink map of {result.sink_column}"
            if result.sink_column
            else "; no sink column to map"
        )
        click.echo(f"carbon: {len(result.carbon_columns)} columns{mapped}")
    else:
        click.echo("carbon: no carbon results in this run")
    click.echo(f"figure font: {result.cjk_font or 'no CJK font (English names in figures)'}")
    for note in result.notes:
        click.echo(f"note: {note}")
    click.echo(f"wrote {result.path}")
    for path in result.figures.values():
        click.echo(f"  {path}")


@click.command(name="report")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=str))
@click.option(
    "--region",
    metavar="NAME_OR_ADCODE",
    help="Region to show in detail (map, bars, trend), by adcode or Chinese/English name. "
    "Default: the region with the deepest subregions in the run, e.g. Guizhou with its counties.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=str),
    help="HTML file to write (default RUN_DIR/report.html); figures go to figures/ beside it.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing report.")
@click.option(
    "--english-figures",
    is_flag=True,
    help="Use English names in figures even when a CJK font is installed.",
)
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    help="zh: the report in Chinese (figures in Chinese when a CJK font is found); en: the report in English. "
    "Default: zh when the regions have Chinese names, else en.",
)
@click.pass_context
def command(
    ctx: click.Context,
    run_dir: str,
    region: str | None,
    output: str | None,
    overwrite: bool,
    english_figures: bool,
    lang: str | None,
) -> None:
    """Write a self-contained, offline HTML report of RUN_DIR with maps, charts, tables, methods and manifest."""
    verbosity = (ctx.obj or {}).get("verbosity", 0)

    def progress(step: int, steps: int, name: str) -> None:
        if verbosity >= 0:
            sys.stderr.write(f"  figure {step}/{steps}: {name}\n")
            sys.stderr.flush()

    if verbosity >= 0:
        click.echo(f"sinkmap: writing the report of {run_dir}", err=True)
    result = build_report(
        run_dir,
        region=region,
        output=output,
        overwrite=overwrite,
        use_cjk=False if english_figures else None,
        progress=progress,
        lang=lang,
    )
    print_report_summary(result)
