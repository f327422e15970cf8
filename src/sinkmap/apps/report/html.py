"""The report's HTML, from Jinja2 templates shipped in ``templates/`` (package data).

The page is self-contained: inline CSS (``templates/report.css``), figures as base64 PNG data URIs, no scripts and
no external URL of any kind. Python hands the templates plain values (text, numbers already formatted, tables as
:class:`Table` of :class:`Cell`); the templates hold all the markup, and Jinja2's autoescape escapes every value.
"""

from __future__ import annotations

import base64
import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from jinja2 import Environment, PackageLoader, StrictUndefined

from sinkmap.apps.report.messages import EN

__all__ = [
    "Cell",
    "FigureSet",
    "Table",
    "environment",
    "fmt_number",
    "manifest_json",
    "pill_class",
    "plain_text",
    "render",
]

PAGE_TEMPLATE = "report.html.j2"
_PILL_CLASSES = {"met": "met", "on track": "on", "off track": "off"}


def plain_text(value: Any) -> str:
    """``value`` as text, empty for None/NaN (the template escapes it); the ``plain`` filter."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def pill_class(status: Any) -> str:
    """CSS class of the coloured label of a tracking status; the ``pill_class`` filter."""
    return _PILL_CLASSES.get(str(status), "none")


CellKind = Literal["text", "name", "pill", "code", "interval"]


@dataclass(frozen=True)
class Cell:
    """A table cell of plain text (escaped by the template), right-aligned when ``numeric``.

    ``kind`` picks the markup: ``text`` (``note`` in small type after the value), ``name`` (the Chinese name,
    ``note`` the English name under it), ``pill`` (a tracking status as a coloured label), ``code`` (monospace),
    ``interval`` (a value with its 95 % interval, ``note``, in small type under it).
    """

    text: Any = ""
    numeric: bool = False
    kind: CellKind = "text"
    note: Any = ""

    @classmethod
    def name(cls, name_zh: Any, name_en: Any) -> Cell:
        return cls(plain_text(name_zh), kind="name", note=plain_text(name_en))

    @classmethod
    def pill(cls, status: Any) -> Cell:
        return cls(status, kind="pill")

    @classmethod
    def code(cls, text: Any) -> Cell:
        return cls(plain_text(text), kind="code")


@dataclass(frozen=True)
class Table:
    """A table: ``headers`` (plain text), rows of cells, and an optional CSS class per row (``agg``)."""

    headers: Sequence[str]
    rows: Sequence[Sequence[Cell]]
    row_classes: Sequence[str] = field(default_factory=tuple)

    def row_class(self, i: int) -> str:
        return self.row_classes[i] if i < len(self.row_classes) else ""


class FigureSet:
    """The embedded figures: PNG bytes as data URIs, numbered in the order the page shows them."""

    def __init__(self, pngs: Mapping[str, bytes]) -> None:
        self._uris = {
            name: "data:image/png;base64," + base64.b64encode(png).decode("ascii")
            for name, png in pngs.items()
        }
        self._numbers: dict[str, int] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._uris

    def uri(self, name: str) -> str:
        return self._uris[name]

    def number(self, name: str) -> int:
        """The figure's number: 1 for the first one asked for, and so on (the same number when asked again)."""
        return self._numbers.setdefault(name, len(self._numbers) + 1)


@functools.cache
def environment() -> Environment:
    """The Jinja2 environment of the report templates (autoescape on, undefined names are errors)."""
    env = Environment(
        loader=PackageLoader("sinkmap.apps.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["plain"] = plain_text
    env.filters["pill_class"] = pill_class
    env.globals["t"] = EN  # the page's catalogue replaces it (render(..., t=catalogue(lang)))
    return env


def render(template: str = PAGE_TEMPLATE, /, **context: Any) -> str:
    """Render a report template with ``context``."""
    return environment().get_template(template).render(**context)


def manifest_json(data: Any) -> str:
    """Indented JSON for a <pre> block (plain text: the template escapes it)."""
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)


def fmt_number(value: Any, *, digits: int = 2, scale: float = 1.0) -> str:
    """``value / scale`` with thousands separators; ``—`` when missing."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(v):
        return "—"
    return f"{v / scale:,.{digits}f}"
