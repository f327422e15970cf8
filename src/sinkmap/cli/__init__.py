"""The ``sinkmap`` command line: a click group with one module per subcommand.

Errors sinkmap raises on purpose (:class:`~sinkmap.errors.SinkmapError`) print as one line on stderr and exit
with status 2; anything else is a bug and keeps its traceback.

Subcommand modules are imported only when their command runs (or its own ``--help`` is asked for), so
``sinkmap --help`` and ``sinkmap --version`` do not load numpy, pandas, GDAL or matplotlib.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from sinkmap._version import __version__
from sinkmap.errors import SinkmapError

__all__ = ["COMMANDS", "cli", "main"]

COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("sinkmap.cli.run", "run", "Run PIPELINE (a YAML file) and write its run directory."),
    "export": (
        "sinkmap.cli.export",
        "command",
        "Export regions of RUN_DIR (a `sinkmap run` output) to GeoJSON, GeoPackage, CSV, Excel or GeoParquet.",
    ),
    "report": (
        "sinkmap.cli.report",
        "command",
        "Write a self-contained, offline HTML report of RUN_DIR with maps, charts, tables, methods and manifest.",
    ),
    "regions": (
        "sinkmap.cli.regions",
        "command",
        "Build a region file from official-aligned boundaries (needs cnmaps), or --check your own.",
    ),
    "invest": (
        "sinkmap.cli.invest",
        "command",
        "Carbon storage by pool (t C) for a baseline and alternate land-cover rasters, with change and value.",
    ),
    "loss": (
        "sinkmap.cli.loss",
        "command",
        "Tree-cover loss (ha) and gross emissions by pool (t CO2e) per region and loss year.",
    ),
}
"""Subcommand → (module, name of its click command there, the first line of its docstring for ``sinkmap --help``;
a test keeps the line in step with the docstring)."""


class _LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when the subcommand is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *sorted(set(self.commands) - set(COMMANDS))]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in COMMANDS:
            return None
        module_name, attribute, _ = COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        self.commands[cmd_name] = command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from :data:`COMMANDS`, without importing the commands."""
        rows = [
            (name, COMMANDS[name][2] if name in COMMANDS else self.commands[name].get_short_help_str())
            for name in self.list_commands(ctx)
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


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


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="sinkmap")
@click.option("-v", "--verbose", count=True, help="More log output (repeatable).")
@click.option("-q", "--quiet", count=True, help="Less output: warnings and the final summary only.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: int) -> None:
    """sinkmap: forest coverage, stock volume and ecosystem carbon sinks from satellite raster tiles, by region."""
    ctx.ensure_object(dict)
    ctx.obj["verbosity"] = verbose - quiet
    _configure_logging(verbose - quiet)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point (``argv`` given: called from Python, e.g. by tests)."""
    try:
        cli.main(args=argv, prog_name="sinkmap", standalone_mode=False)
    except SinkmapError as exc:
        click.echo(f"sinkmap: error: {exc}", err=True)
        return 2
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("sinkmap: aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    finally:
        if argv is None:  # the process is about to exit: a late Ctrl-C must not turn a finished run into a crash
            import signal

            signal.signal(signal.SIGINT, signal.SIG_IGN)
    return 0
