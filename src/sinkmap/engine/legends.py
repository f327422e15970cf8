"""Product legends: a product's raw codes → sinkmap's internal codes, applied as a lookup table at read time.

sinkmap's kernels, steps and transitions work on *internal* codes: for land cover, the CLCD level-1 classes of
:data:`~sinkmap.engine.roles.CLCD_LEGEND` (1 cropland … 9 wetland). A layer from another product names its legend
(``legend: worldcover``, one of :data:`BUILTIN_LEGENDS`, or the path of a CSV in the same format), and
:class:`LegendSource` reads the raw codes and turns them into internal codes, so nothing downstream knows which
product the layer came from.

A legend file is a CSV with ``#`` header lines ``title``, ``role`` and ``citation``, then one row per raw code
(or inclusive range ``lo-hi`` of codes)::

    # title: ESA WorldCover 10 m
    # role: landcover
    # citation: Zanaga et al. 2022 …
    code,label,class,source,evidence,note
    0,No data,nodata,ESA WorldCover PUM,S,…
    10,Tree cover,forest,ESA WorldCover PUM,S,…

Optional columns ``forest_type`` and ``wetland_type`` give the code of that role a class also implies (GLC_FCS30D's
"closed evergreen broadleaved forest" is forest_type 2); :meth:`Legend.for_role` reads the same raw codes as that
role, so the pipeline can supply those roles from the land-cover layer.

``class`` is a name of the role's legend (``forest``, ``snow/ice``, … for ``landcover``), ``nodata`` (the code is
read as no data), or ``value`` for roles without a legend (``canopy_cover``, ``loss_year``: the code is kept as
it is). ``source`` and ``evidence`` (``R``/``S``/``M`` as in the factor tables) give each row's provenance.

Codes that are in no row are not classes of the product. :attr:`Legend.accepted_codes` is the set of raw codes a
layer may hold; the engine's input check counts the codes outside it (with pixel counts and an example location)
on the codes *as read*, before :meth:`LegendSource.reclassify` turns them into internal codes. Until that check
sees a cell, an unknown code reads as no data (internal −1), never as a class.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from sinkmap.engine.grid import Window
from sinkmap.engine.roles import ROLES
from sinkmap.engine.sources import Source
from sinkmap.errors import ConfigError, InputNotFoundError

__all__ = ["BUILTIN_LEGENDS", "Legend", "LegendRow", "LegendSource", "load_legend"]

BUILTIN_LEGENDS: tuple[str, ...] = (
    "clcd",
    "glc_fcs30d",
    "worldcover",
    "lc100",
    "esa_cci_lc",
    "hansen_treecover",
    "hansen_lossyear",
)
"""Legends packaged in ``sinkmap/data/legends/`` (one CSV each, rows with their sources)."""

NODATA = "nodata"
VALUE = "value"
EXTRA_ROLES = ("forest_type", "wetland_type")
"""Optional legend columns: the code of another role that a product class also gives (leaf type, wetland type)."""
_COLUMNS = ("code", "label", "class", "source", "evidence", "note")
_EVIDENCE = ("R", "S", "M")
_MAX_SPAN = 1 << 16  # lookup tables cover at most this many codes (uint16 products)


@dataclass(frozen=True)
class LegendRow:
    """Raw codes ``lo`` … ``hi`` (inclusive) of a product and the internal code they become (``None``: no data, or
    the raw code itself for class ``value``)."""

    lo: int
    hi: int
    label: str
    sinkmap_class: str
    internal: int | None
    source: str
    evidence: str
    note: str = ""
    extra: tuple[tuple[str, int | None], ...] = ()  # (role, code) from the optional forest_type / wetland_type columns


@dataclass(frozen=True)
class Legend:
    """A product's legend for one role (see the module docstring)."""

    name: str
    title: str
    role: str
    citation: str
    path: str
    sha256: str
    rows: tuple[LegendRow, ...]
    _lut: ClassVar[tuple[int, NDArray[np.int32]]]  # set per instance in __post_init__

    def __post_init__(self) -> None:
        lo = min(r.lo for r in self.rows)
        hi = max(r.hi for r in self.rows)
        lut = np.full(hi - lo + 1, -1, dtype=np.int32)
        for row in self.rows:
            if row.sinkmap_class == VALUE:  # the code is kept as it is
                lut[row.lo - lo : row.hi - lo + 1] = np.arange(row.lo, row.hi + 1)
            elif row.internal is not None:
                lut[row.lo - lo : row.hi - lo + 1] = row.internal
        lut.setflags(write=False)
        object.__setattr__(self, "_lut", (lo, lut))  # not a field: kept out of equality, repr and the manifest

    @property
    def derived_roles(self) -> tuple[str, ...]:
        """Roles this legend also maps to (its optional ``forest_type`` / ``wetland_type`` columns with a value)."""
        return tuple(r for r in EXTRA_ROLES if any(dict(row.extra).get(r) is not None for row in self.rows))

    def for_role(self, role: str) -> Legend:
        """The same raw codes mapped to ``role``'s codes by the legend's ``role`` column (empty: no data)."""
        names = ROLES[role].legend
        rows = tuple(
            LegendRow(
                row.lo, row.hi, row.label,
                names.get(code, NODATA) if (code := dict(row.extra).get(role)) is not None else NODATA,
                dict(row.extra).get(role), row.source, row.evidence, row.note,
            )
            for row in self.rows
        )  # fmt: skip
        return Legend(f"{self.name}:{role}", self.title, role, self.citation, self.path, self.sha256 + ":" + role, rows)

    @property
    def accepted_codes(self) -> frozenset[int]:
        """Every raw code the product may hold (its classes and its no-data codes)."""
        return frozenset(code for row in self.rows for code in range(row.lo, row.hi + 1))

    @property
    def nodata_codes(self) -> frozenset[int]:
        return frozenset(code for row in self.rows if row.internal is None for code in range(row.lo, row.hi + 1))

    def internal_code(self, code: int) -> int | None:
        """The internal code of raw ``code`` (``None`` for no data or a code outside the legend)."""
        lo, lut = self._lut
        if not lo <= code < lo + len(lut) or lut[code - lo] < 0:
            return None
        return int(lut[code - lo])

    def reclassify(self, values: NDArray[Any], valid: NDArray[np.bool_]) -> tuple[NDArray[np.int32], NDArray[np.bool_]]:
        """Raw codes → internal codes (int32, −1 where invalid, a no-data code or a code outside the legend)."""
        lo, lut = self._lut
        if values.dtype.kind == "u" and values.dtype.itemsize <= 2 and lo >= 0:
            full = _full_table(self, values.dtype)
            out = full[values]
        else:
            index = values.astype(np.int64) - lo
            inside = (index >= 0) & (index < len(lut))
            out = np.full(values.shape, -1, dtype=np.int32)
            out[inside] = lut[index[inside]]
        ok = valid & (out >= 0)
        return np.where(ok, out, np.int32(-1)), ok

    def classes(self) -> dict[int, str]:
        """Raw code (first of a range) → ``label → class`` for the manifest."""
        return {row.lo: f"{row.label} → {row.sinkmap_class}" for row in self.rows}

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "title": self.title,
            "role": self.role,
            "citation": self.citation,
            "path": self.path,
            "sha256": self.sha256,
            "rows": [
                {"codes": f"{r.lo}" if r.lo == r.hi else f"{r.lo}-{r.hi}", "label": r.label, "class": r.sinkmap_class,
                 "internal": r.internal, "source": r.source, "evidence": r.evidence}
                for r in self.rows
            ],
        }


_FULL: dict[tuple[str, str], NDArray[np.int32]] = {}


def _full_table(legend: Legend, dtype: np.dtype[Any]) -> NDArray[np.int32]:
    """A lookup table over every value of a small unsigned dtype (one gather per window, no range checks)."""
    key = (legend.sha256, dtype.str)
    table = _FULL.get(key)
    if table is None:
        lo, lut = legend._lut
        table = np.full(1 << (8 * dtype.itemsize), -1, dtype=np.int32)
        n = min(len(lut), len(table) - lo)
        if n > 0:
            table[lo : lo + n] = lut[:n]
        _FULL[key] = table
    return table


def _codes(text: str, where: str) -> tuple[int, int]:
    parts = text.strip().split("-") if not text.strip().startswith("-") else [text.strip()]
    try:
        lo, hi = (int(parts[0]), int(parts[-1])) if len(parts) <= 2 else (None, None)
    except ValueError:
        lo = hi = None
    if lo is None or hi is None or hi < lo:
        raise ConfigError(f"{where}: code {text!r} is not a whole number or an inclusive range such as 0-100")
    if hi - lo >= _MAX_SPAN:
        raise ConfigError(f"{where}: code range {text!r} spans more than {_MAX_SPAN} codes")
    return lo, hi


def _parse(text: str, *, name: str, path: str, role: str | None, where: str) -> Legend:
    meta: dict[str, str] = {}
    body: list[str] = []
    for line in text.splitlines():
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            meta[key.strip().lower()] = value.strip()
        elif line.strip():
            body.append(line)
    legend_role = meta.get("role") or role
    if legend_role is None:
        raise ConfigError(f"{where}: no `# role:` line; start the file with `# role: landcover` (the role it is for)")
    if role is not None and legend_role != role:
        raise ConfigError(f"{where}: the legend is for role {legend_role!r}, not {role!r}; give it to a {legend_role} layer")
    if legend_role not in ROLES:
        raise ConfigError(f"{where}: `# role: {legend_role}` is not a layer role ({', '.join(ROLES)})")
    role_legend = ROLES[legend_role].legend
    internal_of: Mapping[str, int] = {label: code for code, label in role_legend.items()}
    allowed = [*internal_of, NODATA] if role_legend else [VALUE, NODATA]
    reader = csv.DictReader(body)
    if reader.fieldnames is None or list(reader.fieldnames)[:3] != list(_COLUMNS[:3]):
        raise ConfigError(f"{where}: expected the columns {', '.join(_COLUMNS)} (after the `#` header lines)")
    missing = [c for c in _COLUMNS if c not in reader.fieldnames]
    if missing:
        raise ConfigError(f"{where}: missing column(s) {', '.join(missing)}; every row names its source and evidence")
    rows: list[LegendRow] = []
    seen: list[int] = []  # data row number of each row
    for n, record in enumerate(reader, start=1):
        at = f"{where}, data row {n}"
        lo, hi = _codes(record["code"] or "", at)
        cls = (record["class"] or "").strip()
        if cls not in allowed:
            raise ConfigError(f"{at}: class {cls!r} is not one of {', '.join(allowed)} (for role {legend_role})")
        if not (record["source"] or "").strip():
            raise ConfigError(f"{at}: empty source; name the document the code comes from")
        evidence = (record["evidence"] or "").strip()
        if evidence not in _EVIDENCE:
            raise ConfigError(f"{at}: evidence {evidence!r} is not R, S or M")
        for other, row_number in zip(rows, seen, strict=True):
            if lo <= other.hi and other.lo <= hi:
                raise ConfigError(f"{at}: code {max(lo, other.lo)} is listed twice (also data row {row_number})")
        seen.append(n)
        internal = internal_of.get(cls)
        extra = []
        for role in EXTRA_ROLES:
            text = (record.get(role) or "").strip()
            if not text:
                continue
            if not text.isdigit() or int(text) not in ROLES[role].legend:
                raise ConfigError(
                    f"{at}: {role} {text!r} is not a {role} code ({', '.join(f'{k} {v}' for k, v in ROLES[role].legend.items())})"
                )
            extra.append((role, int(text)))
        rows.append(
            LegendRow(lo, hi, (record["label"] or "").strip(), cls, internal, record["source"].strip(), evidence,
                      (record["note"] or "").strip(), tuple(extra))
        )
    if not rows:
        raise ConfigError(f"{where}: the legend has no rows")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Legend(name, meta.get("title", name), legend_role, meta.get("citation", ""), path, digest, tuple(rows))


def load_legend(name_or_path: str, *, role: str | None = None, base_dir: str | Path | None = None,
                where: str = "legend") -> Legend:
    """A built-in legend by name (:data:`BUILTIN_LEGENDS`) or a legend CSV by path (relative to ``base_dir``).

    Raises:
        InputNotFoundError: neither a built-in legend nor an existing file.
        ConfigError: the file is malformed, or its role is not ``role``.
    """
    key = name_or_path.strip().lower()
    if key in BUILTIN_LEGENDS:
        ref = resources.files("sinkmap.data").joinpath("legends", f"{key}.csv")
        return _parse(ref.read_text(encoding="utf-8"), name=key, path=f"sinkmap/data/legends/{key}.csv", role=role,
                      where=f"{where} {key!r}")
    path = Path(name_or_path)
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if not path.is_file():
        raise InputNotFoundError(
            f"{where}: {name_or_path!r} is neither a built-in legend ({', '.join(BUILTIN_LEGENDS)}) nor a file "
            f"(looked for {path}); give a built-in name or the path of a legend CSV"
        )
    return _parse(path.read_text(encoding="utf-8-sig"), name=path.stem, path=str(path.resolve()), role=role,
                  where=f"{where} {path}")


@dataclass(frozen=True)
class LegendSource:
    """A layer read through a product legend: :meth:`read` gives the raw codes (for the input check),
    :meth:`reclassify` turns them into internal codes; :class:`~sinkmap.engine.step.WindowInputs` applies both."""

    source: Source
    legend: Legend

    def __post_init__(self) -> None:
        dtype = getattr(self.source, "dtype", None)
        if dtype is not None and np.dtype(dtype).kind not in "iu":
            raise ConfigError(
                f"layer {self.source.name!r}: legend {self.legend.name!r} maps whole-number codes, but the raster holds "
                f"{dtype} values; give the legend to the product's integer class raster"
            )

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def paths(self) -> tuple[str, ...]:
        return self.source.paths

    @property
    def aligned(self) -> bool:
        return bool(getattr(self.source, "aligned", True))

    @property
    def accepted_codes(self) -> frozenset[int]:
        return self.legend.accepted_codes

    def read(self, window: Window) -> tuple[NDArray[Any], NDArray[np.bool_]]:
        """The raw codes of ``window`` and the cells the layer covers (as the wrapped source reads them)."""
        return self.source.read(window)

    def reclassify(self, values: NDArray[Any], valid: NDArray[np.bool_]) -> tuple[NDArray[np.int32], NDArray[np.bool_]]:
        return self.legend.reclassify(values, valid)

    def read_internal(self, window: Window) -> tuple[NDArray[np.int32], NDArray[np.bool_]]:
        """Read and reclassify in one call (for readers outside a job: the API, tests)."""
        return self.reclassify(*self.read(window))

    def describe(self) -> dict[str, object]:
        return {**self.source.describe(), "legend": {k: v for k, v in self.legend.describe().items() if k != "rows"}}
