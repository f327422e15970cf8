"""Reading the YAML files users write (pipelines, target sets): UTF-8, no aliases, one-line errors.

YAML anchors and aliases let a few lines expand into gigabytes (a "billion laughs" document); sinkmap's files never
need them, so an alias is refused where it appears, and the manifest stays the size of what the user wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sinkmap.errors import ConfigError

__all__ = ["load_yaml_file", "load_yaml_text"]


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses anchors' aliases."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"alias *{event.anchor} is not allowed (anchors and aliases are refused)", event.start_mark
            )
        return super().compose_node(parent, index)


def load_yaml_text(text: str, where: str) -> Any:
    """Parse YAML ``text``; errors name ``where``, the line and column."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        place = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "somewhere"
        hint = "; write the value out instead" if "alias" in problem else "; check the indentation and brackets there"
        raise ConfigError(f"{where}: not valid YAML at {place}: {problem}{hint}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {' '.join(str(exc).split())}") from None


def load_yaml_file(path: Path, what: str = "file") -> Any:
    """Read a UTF-8 YAML file; a file that is not UTF-8 or not valid YAML raises :class:`ConfigError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{what} {path}: not UTF-8 ({exc.reason} at byte {exc.start}); save it as UTF-8 "
            "(e.g. `iconv -f GBK -t UTF-8 in.yaml > out.yaml`)"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{what} {path} is a folder; give the YAML file") from None
    return load_yaml_text(text, f"{what} {path}")
