"""Factor tables as data: loading, validation, lookup and provenance.

sinkmap's per-pixel science takes every emission/removal factor, expansion factor and default stock from long-format
CSV tables shipped in ``sinkmap/data/factors/`` (one file per table family; see the README there). Each row is one
number with its provenance::

    table_id, <category key columns...>, property, value, unit, source, table, edition, evidence, verified, note

- ``table_id`` names the table (a file may hold several); the *key columns* of a table are the non-standard columns
  that are filled in for its rows; blank key cells mean "not a key of this table".
- ``property`` is one of ``def`` (central value), ``min``, ``max`` (range bounds, the IPCC 95 % range where the
  source gives one) or ``sd`` (standard deviation).
- ``evidence`` is ``R`` (read in the named, primary-ish source), ``S`` (read in a secondary compilation quoting the
  source) or ``M`` (recalled, derived or a proxy: **not verified**); a row with evidence ``M`` must have
  ``verified=false``. ``source``, ``unit``, ``table`` and ``edition`` may not be blank.

:func:`load_factor_tables` reads the packaged tables and, when given a path, a user directory (or a single file) of
CSVs in the same format whose rows override packaged rows with the same ``table_id`` and keys (all properties of
that category are replaced together, so a user ``def`` never sits beside a packaged ``min``/``max``) or add new
categories and tables, e.g. a province's Tier-2 factors. The result is a frozen :class:`FactorTables`.

This module reads the packaged and user factor tables; apart from it, only the InVEST pools and karst catchment
table readers in :mod:`sinkmap.kernels.carbon` read files.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import importlib.resources
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sinkmap.errors import FactorTableError, InputNotFoundError

__all__ = [
    "EVIDENCE_TAGS",
    "PROPERTIES",
    "STANDARD_COLUMNS",
    "FactorRow",
    "FactorTables",
    "TableFile",
    "factor_id",
    "load_factor_tables",
    "packaged_factor_tables",
    "parse_factor_id",
]

#: Columns every factor CSV must have (key columns come in addition).
STANDARD_COLUMNS: tuple[str, ...] = (
    "table_id",
    "property",
    "value",
    "unit",
    "source",
    "table",
    "edition",
    "evidence",
    "verified",
    "note",
)
#: Allowed values of the ``property`` column.
PROPERTIES: tuple[str, ...] = ("def", "min", "max", "sd")
#: Allowed values of the ``evidence`` column.
EVIDENCE_TAGS: tuple[str, ...] = ("R", "S", "M")

_NON_BLANK = (
    "table_id",
    "property",
    "value",
    "unit",
    "source",
    "table",
    "edition",
    "evidence",
    "verified",
)
_PACKAGED_ORIGIN = "packaged"
_USER_ORIGIN = "user"

KeyTuple = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class FactorRow:
    """One number of a factor table with its provenance.

    ``keys`` holds the category as ``(column, value)`` pairs in the table's key-column order; ``file`` and ``line``
    say where the row was read (line 1 is the header).
    """

    table_id: str
    keys: KeyTuple
    property: str
    value: float
    unit: str
    source: str
    table: str
    edition: str
    evidence: str
    verified: bool
    note: str
    file: str
    line: int

    def key(self, column: str) -> str:
        """The value of key column ``column`` for this row (``KeyError`` if the table has no such key)."""
        for name, value in self.keys:
            if name == column:
                return value
        raise KeyError(column)


@dataclass(frozen=True)
class TableFile:
    """Provenance of one CSV file that went into a :class:`FactorTables` (for the run manifest)."""

    file: str
    origin: str
    path: str
    sha256: str
    rows: int
    n_unverified: int
    table_ids: tuple[str, ...]


@dataclass(frozen=True)
class FactorTables:
    """Validated factor tables, immutable after loading; build with :func:`load_factor_tables`."""

    _rows: Mapping[str, tuple[FactorRow, ...]] = field(repr=False)
    _key_columns: Mapping[str, tuple[str, ...]] = field(repr=False)
    _index: Mapping[tuple[str, KeyTuple, str], FactorRow] = field(repr=False)
    files: tuple[TableFile, ...] = ()

    # ------------------------------------------------------------------ queries
    @property
    def table_ids(self) -> tuple[str, ...]:
        """All table ids, sorted."""
        return tuple(sorted(self._rows))

    def key_columns(self, table_id: str) -> tuple[str, ...]:
        """The key columns of ``table_id``, in file order."""
        self._require_table(table_id)
        return self._key_columns[table_id]

    def rows(self, table_id: str) -> tuple[FactorRow, ...]:
        """Every row of ``table_id`` (all properties), in load order."""
        self._require_table(table_id)
        return self._rows[table_id]

    def row(self, table_id: str, /, *, property: str = "def", **keys: object) -> FactorRow:
        """The row of ``table_id`` whose key columns equal ``keys`` and whose property is ``property``.

        Every key column of the table must be given (values are compared as stripped strings, so ``code=1`` matches
        ``"1"``). Raises :class:`FactorTableError` naming the table and keys when the row does not exist.
        """
        self._require_table(table_id)
        expected = self._key_columns[table_id]
        given = set(keys)
        if given != set(expected):
            missing = [k for k in expected if k not in given]
            unknown = sorted(given - set(expected))
            parts = []
            if missing:
                parts.append(f"missing key(s) {missing}")
            if unknown:
                parts.append(f"unknown key(s) {unknown}")
            raise FactorTableError(
                f"factor table {table_id!r}: lookup with {_fmt_keys(keys)} has {' and '.join(parts)}; "
                f"the table's key columns are {list(expected)}"
            )
        key = tuple((k, _norm(keys[k])) for k in expected)
        found = self._index.get((table_id, key, property))
        if found is None:
            raise FactorTableError(
                f"factor table {table_id!r} has no {property!r} value for {_fmt_keys(dict(key))}; "
                f"add a row to a user factor table (load_factor_tables(path=...)) or check the keys"
            )
        return found

    def value(self, table_id: str, /, *, property: str = "def", **keys: object) -> float:
        """The numeric value of :meth:`row` (same arguments and errors)."""
        return self.row(table_id, property=property, **keys).value

    def has(self, table_id: str, /, *, property: str = "def", **keys: object) -> bool:
        """Whether :meth:`row` would succeed."""
        if table_id not in self._rows or set(keys) != set(self._key_columns[table_id]):
            return False
        key = tuple((k, _norm(keys[k])) for k in self._key_columns[table_id])
        return (table_id, key, property) in self._index

    def describe(self) -> list[dict[str, Any]]:
        """One dict per CSV file: ``file``, ``origin`` (packaged/user), ``path``, ``sha256``, ``rows``,
        ``n_unverified`` and ``table_ids``, for the run manifest."""
        return [
            {
                "file": f.file,
                "origin": f.origin,
                "path": f.path,
                "sha256": f.sha256,
                "rows": f.rows,
                "n_unverified": f.n_unverified,
                "table_ids": list(f.table_ids),
            }
            for f in self.files
        ]

    def _require_table(self, table_id: str) -> None:
        if table_id not in self._rows:
            raise FactorTableError(
                f"no factor table {table_id!r}; known tables: {', '.join(sorted(self._rows)) or '(none)'}"
            )


# ---------------------------------------------------------------------- loading
def factor_id(table_id: str, **keys: object) -> str:
    """A factor row's id, ``table_id[key=value,…]`` in the table's key order as given (the uncertainty model's
    variables; :func:`parse_factor_id` reads it back)."""
    return f"{table_id}[{','.join(f'{k}={v}' for k, v in keys.items())}]"


def parse_factor_id(fid: str) -> tuple[str, dict[str, str]]:
    """The table id and keys of a :func:`factor_id`."""
    table_id, rest = fid.split("[", 1)
    pairs = [p.split("=", 1) for p in rest[:-1].split(",") if p]
    return table_id, {k: v for k, v in pairs}


def load_factor_tables(path: str | Path | None = None) -> FactorTables:
    """Load the packaged factor tables, overridden/extended by the CSVs at ``path``.

    Args:
        path: ``None`` for the packaged tables only; otherwise a directory of ``*.csv`` factor tables (read in
            sorted name order) or a single CSV file, in the packaged format. A user row replaces every packaged row
            of the same ``table_id`` and category (keys); new categories and tables are added. A user table must use
            the same key columns as the packaged table of the same id.

    Returns:
        A frozen :class:`FactorTables`.

    Raises:
        InputNotFoundError: ``path`` does not exist or holds no CSV file.
        FactorTableError: a table is malformed; the message names the file, line and column.
    """
    packaged = [(_PACKAGED_ORIGIN, name, where, data) for name, where, data in _packaged_files()]
    user: list[tuple[str, str, str, bytes]] = []
    if path is not None:
        p = Path(path)
        if p.is_dir():
            files = sorted(q for q in p.iterdir() if q.suffix.lower() == ".csv" and q.is_file())
            if not files:
                raise InputNotFoundError(f"factor table directory {str(p)!r} holds no *.csv file")
        elif p.is_file():
            files = [p]
        else:
            raise InputNotFoundError(f"factor table path {str(p)!r} does not exist")
        user = [(_USER_ORIGIN, q.name, str(q), q.read_bytes()) for q in files]
    return _build(packaged + user)


@functools.lru_cache(maxsize=1)
def packaged_factor_tables() -> FactorTables:
    """The packaged tables, loaded once per process (same as ``load_factor_tables(None)``)."""
    return load_factor_tables(None)


def _packaged_files() -> list[tuple[str, str, bytes]]:
    root = importlib.resources.files("sinkmap").joinpath("data", "factors")
    out = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.lower().endswith(".csv") and entry.is_file():
            out.append((entry.name, f"sinkmap/data/factors/{entry.name}", entry.read_bytes()))
    if not out:
        raise FactorTableError(
            "no packaged factor tables found in sinkmap/data/factors (broken installation?)"
        )
    return out


def _build(sources: Iterable[tuple[str, str, str, bytes]]) -> FactorTables:
    rows: dict[str, dict[KeyTuple, list[FactorRow]]] = {}
    key_columns: dict[str, tuple[str, ...]] = {}
    key_origin: dict[str, str] = {}
    files: list[TableFile] = []
    for origin, name, where, data in sources:
        parsed, file_keys = _parse_file(name, data)
        # within one file: no duplicate (table_id, keys, property)
        seen: dict[tuple[str, KeyTuple, str], int] = {}
        replaced: set[tuple[str, KeyTuple]] = set()
        for r in parsed:
            ident = (r.table_id, r.keys, r.property)
            if ident in seen:
                raise FactorTableError(
                    f"{name} line {r.line}: duplicate {r.property!r} row for table {r.table_id!r} "
                    f"{_fmt_keys(dict(r.keys))} (first at line {seen[ident]})"
                )
            seen[ident] = r.line
        for r in parsed:
            cols = file_keys[r.table_id]
            if r.table_id in key_columns and key_columns[r.table_id] != cols:
                if set(key_columns[r.table_id]) != set(cols):
                    raise FactorTableError(
                        f"{name} line {r.line}: table {r.table_id!r} has key columns {list(cols)} but "
                        f"{key_origin[r.table_id]} defines it with {list(key_columns[r.table_id])}; "
                        f"use the same key columns to override or extend it"
                    )
            key_columns.setdefault(r.table_id, cols)
            key_origin.setdefault(r.table_id, name)
            order = key_columns[r.table_id]
            keyd = dict(r.keys)
            canonical = tuple((k, keyd[k]) for k in order)
            r = _replace_keys(r, canonical)
            cats = rows.setdefault(r.table_id, {})
            cat = (r.table_id, canonical)
            if cat not in replaced:
                cats[canonical] = []  # a file's rows replace every earlier row of that category
                replaced.add(cat)
            cats[canonical].append(r)
        n_unverified = sum(1 for r in parsed if not r.verified)
        files.append(
            TableFile(
                file=name,
                origin=origin,
                path=where,
                sha256=hashlib.sha256(data).hexdigest(),
                rows=len(parsed),
                n_unverified=n_unverified,
                table_ids=tuple(sorted(file_keys)),
            )
        )
    flat: dict[str, tuple[FactorRow, ...]] = {}
    index: dict[tuple[str, KeyTuple, str], FactorRow] = {}
    for tid, cats in rows.items():
        lst = [r for cat_rows in cats.values() for r in cat_rows]
        flat[tid] = tuple(lst)
        for r in lst:
            index[(tid, r.keys, r.property)] = r
    return FactorTables(
        _rows=MappingProxyType(flat),
        _key_columns=MappingProxyType(dict(key_columns)),
        _index=MappingProxyType(index),
        files=tuple(files),
    )


def _replace_keys(r: FactorRow, keys: KeyTuple) -> FactorRow:
    if r.keys == keys:
        return r
    return FactorRow(
        table_id=r.table_id,
        keys=keys,
        property=r.property,
        value=r.value,
        unit=r.unit,
        source=r.source,
        table=r.table,
        edition=r.edition,
        evidence=r.evidence,
        verified=r.verified,
        note=r.note,
        file=r.file,
        line=r.line,
    )


def _parse_file(name: str, data: bytes) -> tuple[list[FactorRow], dict[str, tuple[str, ...]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FactorTableError(f"{name}: not UTF-8 text ({exc})") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise FactorTableError(f"{name}: empty file (expected a header line)") from None
    missing = [c for c in STANDARD_COLUMNS if c not in header]
    if missing:
        raise FactorTableError(
            f"{name} line 1: missing column(s) {missing}; a factor table needs {list(STANDARD_COLUMNS)} "
            f"plus its key columns"
        )
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes or "" in header:
        raise FactorTableError(f"{name} line 1: duplicate or empty column name(s) {dupes or ['']}")
    key_cols = [h for h in header if h not in STANDARD_COLUMNS]
    rows: list[FactorRow] = []
    file_keys: dict[str, tuple[str, ...]] = {}
    for line_no, cells in enumerate(reader, start=2):
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise FactorTableError(
                f"{name} line {line_no}: {len(cells)} cells but the header has {len(header)} columns"
            )
        rec = {h: c.strip() for h, c in zip(header, cells, strict=True)}
        for col in _NON_BLANK:
            if not rec[col]:
                raise FactorTableError(
                    f"{name} line {line_no}, column {col!r}: blank; every row needs a {col}"
                )
        prop = rec["property"]
        if prop not in PROPERTIES:
            raise FactorTableError(
                f"{name} line {line_no}, column 'property': unknown property {prop!r}; use one of {list(PROPERTIES)}"
            )
        try:
            value = float(rec["value"])
        except ValueError:
            raise FactorTableError(
                f"{name} line {line_no}, column 'value': {rec['value']!r} is not a number"
            ) from None
        if not math.isfinite(value):
            raise FactorTableError(
                f"{name} line {line_no}, column 'value': {rec['value']!r} is not finite"
            )
        evidence = rec["evidence"]
        if evidence not in EVIDENCE_TAGS:
            raise FactorTableError(
                f"{name} line {line_no}, column 'evidence': {evidence!r} is not one of {list(EVIDENCE_TAGS)}"
            )
        verified_text = rec["verified"].lower()
        if verified_text not in ("true", "false"):
            raise FactorTableError(
                f"{name} line {line_no}, column 'verified': {rec['verified']!r} is not true or false"
            )
        verified = verified_text == "true"
        if evidence == "M" and verified:
            raise FactorTableError(
                f"{name} line {line_no}, column 'verified': an [M] (unverified) value cannot be verified=true; "
                f"set verified=false or give the source it was checked against with evidence R or S"
            )
        tid = rec["table_id"]
        keys = tuple((k, rec[k]) for k in key_cols if rec[k])
        cols = tuple(k for k, _ in keys)
        if tid in file_keys and file_keys[tid] != cols:
            raise FactorTableError(
                f"{name} line {line_no}: table {tid!r} row fills key columns {list(cols)} but earlier rows "
                f"fill {list(file_keys[tid])}; every row of a table must fill the same key columns"
            )
        file_keys.setdefault(tid, cols)
        rows.append(
            FactorRow(
                table_id=tid,
                keys=keys,
                property=prop,
                value=value,
                unit=rec["unit"],
                source=rec["source"],
                table=rec["table"],
                edition=rec["edition"],
                evidence=evidence,
                verified=verified,
                note=rec["note"],
                file=name,
                line=line_no,
            )
        )
    if not rows:
        raise FactorTableError(f"{name}: no data rows")
    return rows, file_keys


def _norm(value: object) -> str:
    return str(value).strip()


def _fmt_keys(keys: Mapping[str, object]) -> str:
    return "{" + ", ".join(f"{k}={_norm(v)!r}" for k, v in keys.items()) + "}"
