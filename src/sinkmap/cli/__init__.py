"""The ``sinkmap`` command line: a click group with one module per subcommand.

Errors sinkmap raises on purpose (:class:`~sinkmap.errors.SinkmapError`) print as one line on stderr and exit
with status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
import sys

import click

from sinkmap._version import __version__
from sinkmap.errors import SinkmapError

__all__ = ["cli", "main"]


class _OneLine(logging.Filter):
    """Messages from the libraries sinkmap runs on (dask.distributed, tornado) as one line, without tracebacks:
    a worker that dies is retried by the scheduler, and the user needs to know that it happened, not where."""

    PREFIXES = ("distributed", "tornado", "asyncio")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(self.PREFIXES) and (record.exc_info or "\n" in str(record.msg)):
            first = record.getMessage().strip().splitlines()[0] if record.getMessage().strip() else ""
            if record.exc_info and record.exc_info[1] is not None:
                first = f"{first} ({type(record.exc_info[1]).__name__}: {str(record.exc_info[1]).splitlines()[0] if str(record.exc_info[1]) else ''})"
            record.msg, record.args, record.exc_info, record.exc_text, record.stack_info = first, (), None, None, None
        return True


def _configure_logging(verbosity: int) -> None:
    level = {-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}[max(-1, min(1, verbosity))]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True)
    if verbosity < 1:  # -v keeps the libraries' tracebacks for debugging
        for handler in logging.getLogger().handlers:
            handler.addFilter(_OneLine())
    for noisy in ("rasterio", "distributed", "fiona", "pyogrio", "urllib3", "asyncio", "tornado", "bokeh"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="sinkmap")
@click.option("-v", "--verbose", count=True, help="More log output (repeatable).")
@click.option("-q", "--quiet", count=True, help="Less output: warnings and the final summary only.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: int) -> None:
    """sinkmap: forest coverage, stock volume and ecosystem carbon sinks from satellite raster tiles, by region."""
    ctx.ensure_object(dict)
    ctx.obj["verbosity"] = verbose - quiet
    _configure_logging(verbose - quiet)


def _register() -> None:
    from sinkmap.cli import run as run_cmd

    cli.add_command(run_cmd.run)
    for module_name in ("export", "report", "regions", "invest", "loss"):
        try:
            module = __import__(f"sinkmap.cli.{module_name}", fromlist=["command"])
        except ModuleNotFoundError as exc:
            if exc.name != f"sinkmap.cli.{module_name}":
                raise
            continue
        cli.add_command(module.command)


_register()


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    try:
        cli.main(args=argv, prog_name="sinkmap", standalone_mode=False)
    except SinkmapError as exc:
        click.echo(f"sinkmap: error: {exc}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("sinkmap: aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    return 0
