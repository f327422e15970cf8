"""Target sets: forest coverage and stock-volume targets by year, each set naming its source document.

Targets live in YAML files (the packaged sets are in ``sinkmap/data/targets``); a pipeline names a packaged set
by id or points at its own file. A set has national targets and optional per-region targets keyed by region id::

    id: my_province_2021
    title: ...
    source: document, article, date
    national: {region_id: "100000", targets: [{year: 2025, coverage_pct: 24.1, stock_volume_m3: 18.0e9}]}
    regions:
      "520000": [{year: 2025, coverage_pct: 64.0}]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from sinkmap.errors import ConfigError, InputNotFoundError
from sinkmap.yamlfile import load_yaml_file, load_yaml_text

__all__ = ["Target", "TargetSet", "builtin_target_sets", "load_targets"]


@dataclass(frozen=True)
class Target:
    year: int
    coverage_pct: float | None = None
    stock_volume_m3: float | None = None
    note: str | None = None


@dataclass(frozen=True)
class TargetSet:
    id: str
    title: str
    source: str
    date: str | None
    national_region_id: str
    national: tuple[Target, ...]
    regions: dict[str, tuple[Target, ...]] = field(default_factory=dict)
    series_note: str | None = None
    path: str | None = None

    @property
    def years(self) -> tuple[int, ...]:
        years = {t.year for t in self.national}
        for targets in self.regions.values():
            years.update(t.year for t in targets)
        return tuple(sorted(years))

    def for_region(self, region_id: str, *, is_nation: bool) -> tuple[tuple[Target, ...], str]:
        """The region's own targets (scope ``"regional"``) or, failing those, the national ones (``"national"``)."""
        if region_id in self.regions:
            return self.regions[region_id], "regional"
        return self.national, "national" if not is_nation else "regional"

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "source": self.source,
            "date": self.date,
            "series_note": self.series_note,
            "file": self.path,
            "national": [t.__dict__ for t in self.national],
            "regions": {k: [t.__dict__ for t in v] for k, v in self.regions.items()},
        }


_TARGET_KEYS = {"year", "coverage_pct", "stock_volume_m3", "note"}
_SET_KEYS = {"id", "title", "source", "date", "national", "regions", "series_note"}


def _targets(items: Any, where: str) -> tuple[Target, ...]:
    if not isinstance(items, list):
        raise ConfigError(f"{where}: expected a list of targets like [{{year: 2025, coverage_pct: 24.1}}]")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "year" not in item:
            raise ConfigError(f"{where}[{i}]: each target needs a `year`")
        unknown = set(item) - _TARGET_KEYS
        if unknown:
            raise ConfigError(f"{where}[{i}]: unknown key(s) {sorted(unknown)}; allowed: {sorted(_TARGET_KEYS)}")
        year = item["year"]
        if isinstance(year, bool) or not isinstance(year, int) or not 1900 <= year <= 2200:
            raise ConfigError(f"{where}[{i}].year: {year!r} is not a year; write it as a whole number such as 2030")
        coverage = _value(item, "coverage_pct", f"{where}[{i}]")
        if coverage is not None and not 0.0 <= coverage <= 100.0:
            raise ConfigError(
                f"{where}[{i}].coverage_pct: {coverage:g} is not a coverage; forest coverage is a percentage between "
                "0 and 100 (24.1 for 24.1 %)"
            )
        stock = _value(item, "stock_volume_m3", f"{where}[{i}]")
        if stock is not None and stock < 0:
            raise ConfigError(
                f"{where}[{i}].stock_volume_m3: {stock:g} is negative; a stock target is a volume in m³ (18.0e9 for "
                "180 亿 m³)"
            )
        out.append(Target(year=year, coverage_pct=coverage, stock_volume_m3=stock, note=item.get("note")))
    return tuple(out)


def _value(item: dict[str, Any], key: str, where: str) -> float | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, str):  # YAML 1.1 reads 18.0e9 (no sign in the exponent) as text
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or abs(value) == float("inf"):
        raise ConfigError(f"{where}.{key}: expected a finite number, got {value!r}")
    return float(value)


def _parse(data: Any, where: str) -> TargetSet:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a target file is a mapping with keys {sorted(_SET_KEYS)}")
    unknown = set(data) - _SET_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_SET_KEYS)}")
    for key in ("id", "title", "source", "national"):
        if not data.get(key):
            raise ConfigError(f"{where}: missing `{key}` (every target set must name its source document)")
    national = data["national"]
    if not isinstance(national, dict) or "targets" not in national:
        raise ConfigError(f"{where}: `national` needs `region_id` and `targets`")
    regions = data.get("regions") or {}
    return TargetSet(
        id=str(data["id"]),
        title=str(data["title"]).strip(),
        source=str(data["source"]).strip(),
        date=None if data.get("date") is None else str(data["date"]),
        national_region_id=str(national.get("region_id", "100000")),
        national=_targets(national["targets"], f"{where}: national.targets"),
        regions={str(k): _targets(v, f"{where}: regions.{k}") for k, v in regions.items()},
        series_note=None if data.get("series_note") is None else str(data["series_note"]).strip(),
        path=where,
    )


def builtin_target_sets() -> dict[str, TargetSet]:
    """The packaged target sets, by id."""
    out = {}
    for entry in resources.files("sinkmap.data.targets").iterdir():
        if entry.name.endswith(".yaml"):
            where = f"sinkmap/data/targets/{entry.name}"
            ts = _parse(load_yaml_text(entry.read_text(encoding="utf-8"), where), where)
            out[ts.id] = ts
    return out


def load_targets(ref: str, *, base_dir: Path | None = None) -> TargetSet:
    """A packaged set by id (e.g. ``cpc_2021``) or a YAML file path (relative paths resolve against ``base_dir``)."""
    builtin = builtin_target_sets()
    if ref in builtin:
        return builtin[ref]
    path = Path(ref)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.exists():
        raise InputNotFoundError(
            f"targets {ref!r}: neither a packaged target set ({', '.join(sorted(builtin))}) nor an existing file"
        )
    return _parse(load_yaml_file(path, "targets file"), str(path))
