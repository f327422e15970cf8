"""Pipeline files: YAML → frozen, validated configuration.

Relative paths in a pipeline file resolve against the file's own folder. Every key is checked once, at load time;
an unknown or malformed key raises :class:`~sinkmap.errors.ConfigError` naming the file, the key and the fix.
See ``pipelines/china_sample.yaml`` for a complete example.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Literal

from sinkmap.engine.checks import POLICIES
from sinkmap.engine.legends import Legend, load_legend
from sinkmap.engine.regions import RegionLayerSpec
from sinkmap.engine.roles import ROLES
from sinkmap.errors import ConfigError, InputNotFoundError
from sinkmap.kernels.forest import CHINA, ForestDefinition, SpecialShrubland
from sinkmap.yamlfile import load_yaml_file

__all__ = [
    "LAYER_ROLES",
    "AccuracySpec",
    "DerivedSpec",
    "LayerSpec",
    "NationSpec",
    "PipelineConfig",
    "UncertaintySpec",
    "load_pipeline",
]

#: Layer roles a pipeline may name, with their units (from the registry in :mod:`sinkmap.engine.roles`).
LAYER_ROLES: dict[str, str] = {name: f"{role.description}, {role.unit}" for name, role in ROLES.items()}
RASTER_OUTPUTS = ("forest_mask", "stock_volume", "carbon_density", "carbon_sink")


@dataclass(frozen=True)
class LayerSpec:
    """A layer's files: ``static`` for one set of tiles, or ``by_epoch`` mapping an epoch to its tiles."""

    role: str
    static: tuple[str, ...] | None
    by_epoch: dict[int, tuple[str, ...]] | None
    nodata: float | None = None
    resampling: str | None = None
    scale: float | None = None
    base_year: int | None = None
    invalid: str = "error"
    legend: Legend | None = None

    @property
    def accepted_codes(self) -> frozenset[int] | None:
        """Raw codes the layer may hold: its product legend's, else its role's legend (``None``: not categorical)."""
        if self.legend is not None:
            return self.legend.accepted_codes
        role_legend = ROLES[self.role].legend
        return frozenset(role_legend) if role_legend else None

    def paths_for(self, epoch: int) -> tuple[str, ...] | None:
        if self.static is not None:
            return self.static
        assert self.by_epoch is not None
        return self.by_epoch.get(epoch)


@dataclass(frozen=True)
class DerivedSpec:
    """A layer computed from other layers (``derived:``; see :mod:`sinkmap.engine.derived`)."""

    name: str
    operation: str
    of: tuple[str, ...]
    above: float | None = None
    below: float | None = None
    mapping: tuple[tuple[int, int], ...] = ()
    default: int | None = None


@dataclass(frozen=True)
class CarbonSpec:
    """Carbon step options: ``factors`` (a folder or CSV of factor tables overriding the packaged ones);
    ``factor_set`` (``auto``: China Tier 2 under a China forest definition, IPCC Tier 1 otherwise;
    ``china_tier2``; ``ipcc_tier1``); ``dead_organic_matter`` (estimate dead wood and litter; Tier 1: off);
    ``karst_potential_in_total`` (count the karst maximum-potential sink in the total); ``monitoring_base``
    (epoch → monitoring base, e.g. NFI or 三调; different bases at the first and last epoch flag a series break);
    ``biomass_input`` (the layer forest carbon starts from: ``auto``, the most direct one given, or
    ``carbon_density``, ``agb``, ``growing_stock``)."""

    enabled: bool = True
    factors: str | None = None
    karst_include_buried: bool = False
    invest_pools: str | None = None
    karst_catchments: str | None = None
    pet_grid: str = "layer"
    factor_set: str = "auto"
    dead_organic_matter: bool = False
    karst_potential_in_total: bool = False
    monitoring_base: tuple[tuple[int, str], ...] = ()
    biomass_input: str = "auto"

    def resolved_factor_set(self, definition: ForestDefinition) -> str:
        """The forest factor set in effect: ``auto`` is China Tier 2 under a China forest definition."""
        if self.factor_set != "auto":
            return self.factor_set
        china = definition.name.startswith("China") or definition.source.startswith(_CHANGED_FROM_CHINA)
        return "china_tier2" if china else "ipcc_tier1"


@dataclass(frozen=True)
class AccuracySpec:
    """A reference sample for accuracy-adjusted areas (Olofsson et al. 2014; :mod:`sinkmap.apps.accuracy`).

    ``reference_sample``: CSV of points with ``lon``, ``lat`` (EPSG:4326), ``map_<strata_epoch>`` (the map class at
    the point, the stratum) and ``ref_<E>`` (reference class) for each assessed epoch ``E``; ``strata_epoch``: the
    land-cover epoch whose classes stratified the sample; ``min_points``: points a stratum needs in a region for the
    region to be estimated (at least 2).
    """

    reference_sample: str
    strata_epoch: int
    min_points: int = 2


@dataclass(frozen=True)
class UncertaintySpec:
    """Monte Carlo intervals of the published columns (:mod:`sinkmap.apps.uncertainty`): ``draws`` iterations,
    ``seed`` for the draws (the same seed gives the same intervals), ``map_correlation`` how the pixel errors of a
    ``growing_stock_sd`` layer combine within a region (``region``: fully correlated; ``independent``)."""

    draws: int = 10_000
    seed: int = 20261130
    map_correlation: Literal["region", "independent"] = "region"


@dataclass(frozen=True)
class NationSpec:
    """The roll-up row of the first level. Without ``nation:`` in the pipeline it is "All regions", not China:
    the pipeline may cover any place (China's pipelines name it: ``{region_id: "100000", name_zh: 中国, …}``)."""

    region_id: str = "all"
    name_zh: str = "全部区域"
    name_en: str = "All regions"
    from_level: str = "province"


@dataclass(frozen=True)
class PipelineConfig:
    """A validated pipeline."""

    name: str
    path: str
    output_dir: str
    epochs: tuple[int, ...]
    layers: dict[str, LayerSpec]
    regions: tuple[RegionLayerSpec, ...]
    description: str = ""
    grid_like: str | None = None
    chunk_size: int = 512
    scheduler: str | None = None
    workers: int | None = None
    nation: NationSpec | None = field(default_factory=NationSpec)
    forest_definition: ForestDefinition = CHINA
    targets: str | None = "cpc_2021"
    raster_outputs: tuple[str, ...] = RASTER_OUTPUTS
    carbon: CarbonSpec = field(default_factory=CarbonSpec)
    area: str = "true"
    inputs: dict[str, LayerSpec] = field(default_factory=dict)
    derived: tuple[DerivedSpec, ...] = ()
    accuracy: AccuracySpec | None = None
    uncertainty: UncertaintySpec | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def base_dir(self) -> Path:
        return Path(self.path).parent


def _check_keys(data: dict[str, Any], allowed: set[str], where: str, required: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(allowed))}")
    missing = sorted(required - set(data))
    if missing:
        raise ConfigError(f"{where}: missing required key(s) {', '.join(map(repr, missing))}")


_VSI = {"http://": "/vsicurl/http://", "https://": "/vsicurl/https://", "s3://": "/vsis3/", "gs://": "/vsigs/"}


def gdal_path(path: str) -> str | None:
    """The GDAL virtual path of a remote raster (``https://…`` → ``/vsicurl/https://…``, ``s3://b/k`` →
    ``/vsis3/b/k``, a ``/vsi…`` path as it is), or ``None`` for a local path."""
    if path.startswith("/vsi"):
        return path
    for prefix, vsi in _VSI.items():
        if path.startswith(prefix):
            return vsi + path[len(prefix) :] if prefix in ("s3://", "gs://") else vsi[: -len(prefix)] + path
    return None


def _stac_assets(path: Path, asset: str | None, where: str) -> tuple[str, ...]:
    """The raster hrefs of a STAC item file, or of every item of a search result (FeatureCollection)."""
    import json

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{where}: {path} is not a readable STAC item file ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("type") not in ("Feature", "FeatureCollection"):
        raise ConfigError(f"{where}: {path} is neither a STAC item (type Feature) nor an item search result")
    items = doc.get("features", []) if doc["type"] == "FeatureCollection" else [doc]
    if not items:
        raise ConfigError(f"{where}: the search result {path} holds no items")
    hrefs = []
    for item in items:
        assets = item.get("assets") or {}
        name = asset
        if name is None:
            data = [k for k, a in assets.items() if "data" in (a.get("roles") or [])]
            name = data[0] if len(data) == 1 else (next(iter(assets)) if len(assets) == 1 else None)
        if name is None or name not in assets:
            raise ConfigError(
                f"{where}: STAC item {item.get('id')!r} in {path} has assets {', '.join(assets) or 'none'}; "
                "name the one to read with `asset:` in the layer"
            )
        href = str(assets[name]["href"])
        remote = gdal_path(href)
        if remote is not None:
            hrefs.append(remote)
        else:
            local = Path(href.removeprefix("file://"))
            local = local if local.is_absolute() else (path.parent / local).resolve()
            if not local.exists():
                raise InputNotFoundError(f"{where}: asset {name!r} of STAC item {item.get('id')!r} is {local}, which does not exist")
            hrefs.append(str(local))
    return tuple(hrefs)


def _resolve_glob(pattern: str, base: Path, where: str, asset: str | None = None) -> tuple[str, ...]:
    remote = gdal_path(pattern)
    if remote is not None:  # read by GDAL over the network; no listing, so no glob
        if any(c in pattern for c in "*?["):
            raise ConfigError(f"{where}: {pattern!r}: remote paths cannot be globbed; list the files one by one")
        return (remote,)
    full = pattern if Path(pattern).is_absolute() else str(base / pattern)
    if full.lower().endswith(".json") and Path(full).is_file():  # a STAC item or item search result
        return _stac_assets(Path(full), asset, where)
    matches = sorted(glob.glob(full))
    if not matches:
        raise InputNotFoundError(f"{where}: no file matches {pattern!r} (looked for {full}); check the path")
    return tuple(matches)


def _paths(value: Any, base: Path, where: str, asset: str | None = None) -> tuple[str, ...]:
    patterns = [value] if isinstance(value, str) else value
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns) or not patterns:
        raise ConfigError(f"{where}: expected a file path, a glob pattern or a list of them")
    out: list[str] = []
    for p in patterns:
        out.extend(_resolve_glob(p, base, where, asset))
    return tuple(out)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _layer(role: str, data: Any, base: Path, where: str, epochs: tuple[int, ...], *, is_role: bool = True) -> LayerSpec:
    if is_role and role not in LAYER_ROLES:
        raise ConfigError(
            f"{where}: unknown layer {role!r}; known layers: {', '.join(LAYER_ROLES)} (see the README's role table for units)"
        )
    if isinstance(data, str | list):
        data = {"path": data}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected `path:` or `paths:` for layer {role!r}")
    _check_keys(data, {"path", "paths", "nodata", "resampling", "scale", "base_year", "invalid", "legend", "asset"}, where)
    invalid = data.get("invalid", "error")
    if invalid not in POLICIES:
        raise ConfigError(
            f"{where}.invalid: {invalid!r} is not known; use `error` (stop on values outside the role's valid range "
            "or legend, the default) or `mask` (treat them as nodata and count them in the manifest)"
        )
    asset = data.get("asset")
    if asset is not None and not isinstance(asset, str):
        raise ConfigError(f"{where}.asset: expected the name of a STAC asset, e.g. data")
    if ("path" in data) == ("paths" in data):
        raise ConfigError(f"{where}: give exactly one of `path` (one set of tiles) or `paths` (per epoch)")
    static = by_epoch = None
    if "path" in data:
        static = _paths(data["path"], base, f"{where}.path", asset)
    else:
        if not isinstance(data["paths"], dict):
            raise ConfigError(f"{where}.paths: expected a mapping epoch → path, e.g. {{2020: tiles_2020_*.tif}}")
        by_epoch = {}
        for epoch, value in data["paths"].items():
            try:
                year = int(epoch)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{where}.paths: epoch {epoch!r} is not a year") from exc
            by_epoch[year] = _paths(value, base, f"{where}.paths.{year}", asset)
    if role == "loss_year" and "base_year" not in data:
        raise ConfigError(f"{where}: a loss_year layer needs `base_year` (2000 for Hansen Global Forest Change)")
    resampling = data.get("resampling")
    if resampling is not None and not isinstance(resampling, str):
        raise ConfigError(f"{where}.resampling: expected a method name such as nearest or bilinear")
    legend = None
    if data.get("legend") is not None:
        if not isinstance(data["legend"], str):
            raise ConfigError(f"{where}.legend: expected a built-in legend name (e.g. worldcover) or a legend CSV path")
        legend = load_legend(data["legend"], role=role if is_role else None, base_dir=base, where=f"{where}.legend")
    return LayerSpec(
        role=role,
        legend=legend,
        static=static,
        by_epoch=by_epoch,
        nodata=None if data.get("nodata") is None else _number(data["nodata"], f"{where}.nodata"),
        resampling=resampling,
        scale=None if data.get("scale") is None else _number(data["scale"], f"{where}.scale"),
        base_year=None if data.get("base_year") is None else int(data["base_year"]),
        invalid=invalid,
    )


def _derived(raw: Any, known: set[str], where: str) -> tuple[DerivedSpec, ...]:
    """``derived:``: name → {operation: inputs}; each may use inputs, layers and other derived layers (returned in
    an order where every layer comes after those it is computed from)."""
    from sinkmap.engine.derived import OPERATIONS, parse_mapping

    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of layer name → {{operation: inputs}}, e.g. annual_precip: {{sum: [p01, p02]}}")
    parsed: list[DerivedSpec] = []
    for name, spec in raw.items():
        at = f"{where}.{name}"
        if name in known:
            raise ConfigError(f"{at}: {name!r} is already a layer or an input; a derived layer needs a name of its own")
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in OPERATIONS:
            raise ConfigError(f"{at}: expected one operation of {', '.join(OPERATIONS)}, e.g. {{sum: [p01, p02]}}")
        operation, arg = next(iter(spec.items()))
        kwargs: dict[str, Any] = {}
        if operation in ("sum", "mean", "min", "max"):
            of = arg
            if not isinstance(of, list) or not of or not all(isinstance(x, str) for x in of):
                raise ConfigError(f"{at}.{operation}: expected a list of layer or input names")
        else:
            if not isinstance(arg, dict) or not isinstance(arg.get("of"), str):
                raise ConfigError(f"{at}.{operation}: expected {{of: NAME, …}}")
            of = [arg["of"]]
            if operation == "threshold":
                _check_keys(arg, {"of", "above", "below"}, f"{at}.threshold")
                if ("above" in arg) == ("below" in arg):
                    raise ConfigError(f"{at}.threshold: give exactly one of `above` or `below`")
                for key in ("above", "below"):
                    if key in arg:
                        kwargs[key] = _number(arg[key], f"{at}.threshold.{key}")
            else:
                _check_keys(arg, {"of", "map", "default"}, f"{at}.reclassify", required={"of", "map"})
                try:
                    kwargs["mapping"] = parse_mapping(arg["map"]) if isinstance(arg["map"], dict) else None
                except ValueError as exc:
                    raise ConfigError(f"{at}.reclassify.map: {exc} is not a whole-number code → code pair") from exc
                if not kwargs["mapping"]:
                    raise ConfigError(f"{at}.reclassify.map: expected {{code: new code, …}}")
                default = arg.get("default")
                if default is not None and (isinstance(default, bool) or not isinstance(default, int)):
                    raise ConfigError(f"{at}.reclassify.default: expected a whole-number code")
                kwargs["default"] = default
        parsed.append(DerivedSpec(name=name, operation=operation, of=tuple(of), **kwargs))
    names = {d.name for d in parsed}
    out: list[DerivedSpec] = []
    pending = list(parsed)
    while pending:
        ready = [d for d in pending if all(x in known for x in d.of)]
        if not ready:
            first = pending[0]
            missing = [x for x in first.of if x not in known]
            cycle = all(x in names for x in missing)
            raise ConfigError(
                f"{where}.{first.name}: "
                + (f"{', '.join(map(repr, missing))} and {first.name!r} are computed from each other; break the cycle"
                   if cycle else
                   f"{', '.join(map(repr, [x for x in missing if x not in names]))} is not a layer, an input or a "
                   f"derived layer (known: {', '.join(sorted(known | names))})")
            )
        for d in ready:
            out.append(d)
            known.add(d.name)
            pending.remove(d)
    return tuple(out)


def _from_mapping(cls: type, data: Any, where: str) -> Any:
    """Build a frozen dataclass from a mapping, rejecting unknown keys and coercing tuples."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping")
    names = {f.name: f for f in fields(cls)}
    _check_keys(data, set(names), where)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        default = getattr(cls(), key) if _has_defaults(cls) else None
        if isinstance(default, tuple):
            if not isinstance(value, list):
                raise ConfigError(f"{where}.{key}: expected a list")
            value = tuple(value)
        elif key == "special_shrubland":
            value = None if value in (None, False) else _from_mapping(SpecialShrubland, value, f"{where}.{key}")
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{where}.{key}: expected true or false, got {value!r}")
        elif isinstance(default, str):
            value = str(value)
        elif value is not None:
            value = _number(value, f"{where}.{key}")
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _has_defaults(cls: type) -> bool:
    try:
        cls()
    except TypeError:
        return False
    return True


_CHANGED_FROM_CHINA = "changes from China's national definition"


def _label_changes(definition: ForestDefinition, given: dict[str, Any], path: Path) -> ForestDefinition:
    """A definition the pipeline changed is not China's: name it as the user's and cite the changes, unless the
    pipeline names it and its source itself."""
    if "name" in given or "source" in given:
        return definition
    changed = [
        f"{f.name} {getattr(definition, f.name)!r} (China's: {getattr(CHINA, f.name)!r})"
        for f in fields(ForestDefinition)
        if f.name not in ("name", "source") and getattr(definition, f.name) != getattr(CHINA, f.name)
    ]
    if not changed:
        return definition
    return replace(
        definition,
        name="User forest definition",
        source=f"{_CHANGED_FROM_CHINA} in {path.name}: {'; '.join(changed)}; other rules as China's ({CHINA.source})",
    )


def load_pipeline(path: str | Path) -> PipelineConfig:
    """Read and validate a pipeline file.

    Raises:
        InputNotFoundError: the pipeline file or a file it names does not exist.
        ConfigError: a key is unknown, missing or malformed.
    """
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"pipeline file {path} does not exist")
    data = load_yaml_file(path, "pipeline file")
    where = str(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a pipeline file is a mapping of keys such as name, epochs, layers, regions")
    allowed = {
        "name", "description", "output_dir", "epochs", "grid", "chunk_size", "scheduler", "workers", "layers",
        "regions", "nation", "forest_definition", "targets", "outputs", "carbon", "area", "inputs", "derived",
        "accuracy", "uncertainty",
    }
    _check_keys(data, allowed, where, required={"name", "output_dir", "epochs", "layers", "regions"})
    base = path.resolve().parent

    epochs_raw = data["epochs"]
    if not isinstance(epochs_raw, list) or not epochs_raw or not all(isinstance(e, int) for e in epochs_raw):
        raise ConfigError(f"{where}: epochs: expected a list of years, e.g. [2020, 2025]")
    epochs = tuple(sorted(set(epochs_raw)))

    layers_raw = data["layers"]
    if not isinstance(layers_raw, dict) or not layers_raw:
        raise ConfigError(f"{where}: layers: expected a mapping of layer role → files")
    layers = {role: _layer(role, spec, base, f"{where}: layers.{role}", epochs) for role, spec in layers_raw.items()}
    inputs_raw = data.get("inputs") or {}
    if not isinstance(inputs_raw, dict):
        raise ConfigError(f"{where}: inputs: expected a mapping of name → files (rasters that derived layers use)")
    clash = sorted(set(inputs_raw) & (set(layers) | set(LAYER_ROLES)))
    if clash:
        raise ConfigError(f"{where}: inputs: {', '.join(clash)} is a layer role; list it under layers, or rename the input")
    inputs = {
        str(name): _layer(str(name), spec, base, f"{where}: inputs.{name}", epochs, is_role=False)
        for name, spec in inputs_raw.items()
    }
    derived = _derived(data.get("derived") or {}, set(layers) | set(inputs), f"{where}: derived")
    if "landcover" not in layers and "canopy_cover" not in layers:
        raise ConfigError(f"{where}: layers: needs `landcover` or `canopy_cover` to find forest")
    given = set(layers) | {d.name for d in derived}
    for sd, of in (("agb_sd", "agb"), ("carbon_density_sd", "carbon_density"), ("growing_stock_sd", "growing_stock")):
        if sd in given and of not in given:
            raise ConfigError(
                f"{where}: layers.{sd} is the standard deviation of an `{of}` layer, but there is no `{of}` layer; "
                f"add layers.{of} (its mean), or remove layers.{sd}"
            )
    derived_canopy = "loss_year" in layers
    for role, spec in layers.items():
        if spec.by_epoch is None:
            continue
        required = role in ("landcover", "grassland_management") or (role == "canopy_cover" and not derived_canopy)
        missing = [e for e in epochs if e not in spec.by_epoch]
        if required and missing:
            raise ConfigError(f"{where}: layers.{role}.paths has no files for epoch(s) {missing}")

    regions_raw = data["regions"]
    if not isinstance(regions_raw, list) or not regions_raw:
        raise ConfigError(f"{where}: regions: expected a list of levels, each with level, path, id_field, name_field")
    regions = []
    levels_seen: set[str] = set()
    for i, item in enumerate(regions_raw):
        w = f"{where}: regions[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{w}: expected a mapping")
        _check_keys(
            item,
            {
                "level", "path", "id_field", "name_field", "name_en_field", "parent_field", "parent_level", "layer",
                "land_area_field",
            },
            w,
            required={"level", "path", "id_field", "name_field"},
        )
        if item["level"] in levels_seen or item["level"] == "nation":
            raise ConfigError(f"{w}: level {item['level']!r} is used twice (or is the reserved name 'nation')")
        levels_seen.add(item["level"])
        if item.get("parent_level") and item["parent_level"] not in levels_seen:
            raise ConfigError(f"{w}: parent_level {item['parent_level']!r} must be listed before this level")
        file = item["path"] if Path(item["path"]).is_absolute() else str(base / item["path"])
        if not Path(file).exists():
            raise InputNotFoundError(f"{w}.path: {file} does not exist")
        regions.append(RegionLayerSpec(**{**item, "path": file}))

    grid_like = None
    if "grid" in data:
        _check_keys(data["grid"] or {}, {"like"}, f"{where}: grid", required={"like"})
        grid_like = data["grid"]["like"]
        if grid_like not in layers:
            raise ConfigError(f"{where}: grid.like: {grid_like!r} is not one of the layers ({', '.join(layers)})")

    nation: NationSpec | None = NationSpec(from_level=regions[0].level)
    if "nation" in data:
        if data["nation"] in (None, False):
            nation = None
        else:
            if not isinstance(data["nation"], dict):
                raise ConfigError(
                    f"{where}: nation: expected a mapping such as {{region_id: \"100000\", name_zh: 中国, name_en: China}} "
                    f"(or `nation: none` for no national row), got {data['nation']!r}"
                )
            nation = _from_mapping(NationSpec, {"from_level": regions[0].level, **data["nation"]}, f"{where}: nation")
            if nation is not None and nation.from_level not in levels_seen:
                raise ConfigError(f"{where}: nation.from_level {nation.from_level!r} is not a configured level")

    forest_definition = CHINA
    if "forest_definition" in data:
        forest_definition = _from_mapping(ForestDefinition, data["forest_definition"], f"{where}: forest_definition")
        forest_definition = _label_changes(forest_definition, data["forest_definition"], path)
    if forest_definition.coverage_basis == "official_land_area":
        without = [spec.level for spec in regions if not spec.land_area_field]
        if without:
            raise ConfigError(
                f"{where}: forest_definition.coverage_basis: official_land_area needs `land_area_field` (the field "
                f"holding each region's official land area in km²) on every region level; missing on {without}"
            )

    raster_outputs = RASTER_OUTPUTS
    if "outputs" in data:
        _check_keys(data["outputs"] or {}, {"rasters"}, f"{where}: outputs")
        raster_outputs = tuple(data["outputs"].get("rasters", RASTER_OUTPUTS) or ())
        unknown = set(raster_outputs) - set(RASTER_OUTPUTS)
        if unknown:
            raise ConfigError(f"{where}: outputs.rasters: unknown {sorted(unknown)}; choose from {RASTER_OUTPUTS}")

    chunk_size = data.get("chunk_size", 512)
    if not isinstance(chunk_size, int) or chunk_size < 16:
        raise ConfigError(f"{where}: chunk_size: expected a whole number of pixels ≥ 16, got {chunk_size!r}")
    workers = data.get("workers")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"{where}: workers: expected a positive whole number")
    output_dir = data["output_dir"]
    if not isinstance(output_dir, str):
        raise ConfigError(f"{where}: output_dir: expected a path")

    carbon = CarbonSpec(factor_set=CarbonSpec().resolved_factor_set(forest_definition))
    if "carbon" in data:
        raw_carbon = data["carbon"] or {}
        if raw_carbon is False:
            raw_carbon = {"enabled": False}
        _check_keys(
            raw_carbon,
            {
                "enabled", "factors", "karst_include_buried", "invest_pools", "karst_catchments", "pet_grid",
                "factor_set", "dead_organic_matter", "karst_potential_in_total", "monitoring_base",
                "biomass_input",
            },
            f"{where}: carbon",
        )
        karst_catchments = raw_carbon.get("karst_catchments")
        if karst_catchments is not None:
            karst_catchments = karst_catchments if Path(karst_catchments).is_absolute() else str(base / karst_catchments)
            from sinkmap.kernels.carbon.karst import read_catchment_table

            read_catchment_table(karst_catchments)  # validate now
        invest_pools = raw_carbon.get("invest_pools")
        if invest_pools is not None:
            invest_pools = invest_pools if Path(invest_pools).is_absolute() else str(base / invest_pools)
            from sinkmap.kernels.carbon.invest import read_invest_carbon_table

            read_invest_carbon_table(invest_pools)  # validate now
            if "landcover" not in layers:
                raise ConfigError(f"{where}: carbon.invest_pools needs a landcover layer (its codes are the lucodes)")
        factors = raw_carbon.get("factors")
        if factors is not None:
            factors = factors if Path(factors).is_absolute() else str(base / factors)
            if not Path(factors).exists():
                raise InputNotFoundError(f"{where}: carbon.factors: {factors} does not exist")
            from sinkmap.factors import load_factor_tables

            load_factor_tables(factors)  # validate now
        pet_grid = raw_carbon.get("pet_grid", "layer")
        if pet_grid not in ("layer", "pixel"):
            raise ConfigError(
                f"{where}: carbon.pet_grid: {pet_grid!r} is not known; use `layer` (PET computed on mean_temperature's "
                "own grid, then aligned) or `pixel` (PET computed for every pipeline pixel)"
            )
        factor_set = raw_carbon.get("factor_set", "auto")
        if factor_set not in ("auto", "china_tier2", "ipcc_tier1"):
            raise ConfigError(
                f"{where}: carbon.factor_set: {factor_set!r} is not known; use auto, china_tier2 or ipcc_tier1"
            )
        flags = {}
        for key in ("dead_organic_matter", "karst_potential_in_total"):
            value = raw_carbon.get(key, False)
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: carbon.{key}: expected true or false, got {value!r}")
            flags[key] = value
        bases_raw = raw_carbon.get("monitoring_base") or {}
        if not isinstance(bases_raw, dict):
            raise ConfigError(f"{where}: carbon.monitoring_base: expected a mapping epoch → base, e.g. {{2020: NFI}}")
        bases = []
        for epoch, base_name in bases_raw.items():
            if not isinstance(epoch, int) or epoch not in epochs:
                raise ConfigError(f"{where}: carbon.monitoring_base: {epoch!r} is not one of the epochs {list(epochs)}")
            bases.append((epoch, str(base_name)))
        biomass_input = raw_carbon.get("biomass_input", "auto")
        choices = ("carbon_density", "agb", "growing_stock")
        if biomass_input not in ("auto", *choices):
            raise ConfigError(
                f"{where}: carbon.biomass_input: {biomass_input!r} is not known; use auto, {', '.join(choices)}"
            )
        if biomass_input != "auto" and biomass_input not in given:
            raise ConfigError(
                f"{where}: carbon.biomass_input: {biomass_input} needs a layers.{biomass_input} layer; add it, or "
                "use `auto` (the most direct of carbon_density, agb, growing_stock that the pipeline has)"
            )
        starts = biomass_input if biomass_input != "auto" else next((c for c in choices if c in given), None)
        if starts == "carbon_density" and flags["dead_organic_matter"]:
            raise ConfigError(
                f"{where}: carbon.dead_organic_matter: true needs biomass to scale dead wood and litter from, but "
                "forest carbon starts from the carbon_density layer (vegetation carbon only); set it to false, or "
                "start from an agb or growing_stock layer (carbon.biomass_input)"
            )
        if factor_set == "auto":  # resolved here, so the manifest names the set in effect
            factor_set = CarbonSpec().resolved_factor_set(forest_definition)
        carbon = CarbonSpec(
            factor_set=factor_set,
            monitoring_base=tuple(sorted(bases)),
            biomass_input=biomass_input,
            **flags,
            enabled=bool(raw_carbon.get("enabled", True)),
            pet_grid=pet_grid,
            factors=factors,
            karst_include_buried=bool(raw_carbon.get("karst_include_buried", False)),
            invest_pools=invest_pools,
            karst_catchments=karst_catchments,
        )

    area = data.get("area", "true")
    if area not in ("true", "nominal"):
        raise ConfigError(
            f"{where}: area: {area!r} is not known; use `true` (true pixel area, the default) or `nominal` (the "
            "pixel's projected size, as InVEST counts it; projected grids only)"
        )

    targets = data.get("targets", "cpc_2021")
    targets = None if targets in (None, False, "none") else str(targets)
    if targets is not None:
        from sinkmap.targets import load_targets

        load_targets(targets, base_dir=base)  # fail now, not after the computation

    accuracy = None if data.get("accuracy") is None else _accuracy(data["accuracy"], base, f"{where}: accuracy", layers, epochs)
    uncertainty = None
    if data.get("uncertainty") not in (None, False):
        raw_u = {} if data["uncertainty"] is True else data["uncertainty"]
        if not isinstance(raw_u, dict):
            raise ConfigError(f"{where}: uncertainty: expected a mapping with draws and seed, or true")
        _check_keys(raw_u, {"draws", "seed", "map_correlation"}, f"{where}: uncertainty")
        draws, seed = raw_u.get("draws", 10_000), raw_u.get("seed", UncertaintySpec.seed)
        if not isinstance(draws, int) or isinstance(draws, bool) or draws < 100:
            raise ConfigError(f"{where}: uncertainty.draws: expected a whole number ≥ 100, got {draws!r}")
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ConfigError(f"{where}: uncertainty.seed: expected a whole number ≥ 0, got {seed!r}")
        correlation = raw_u.get("map_correlation", "region")
        if correlation not in ("region", "independent"):
            raise ConfigError(
                f"{where}: uncertainty.map_correlation: expected region (pixel errors fully correlated within a "
                f"region) or independent, got {correlation!r}"
            )
        uncertainty = UncertaintySpec(draws=draws, seed=seed, map_correlation=correlation)

    return PipelineConfig(
        name=str(data["name"]),
        description=str(data.get("description", "")).strip(),
        path=str(path.resolve()),
        output_dir=output_dir if Path(output_dir).is_absolute() else str(base / output_dir),
        epochs=epochs,
        layers=layers,
        regions=tuple(regions),
        grid_like=grid_like,
        chunk_size=chunk_size,
        scheduler=data.get("scheduler"),
        workers=workers,
        nation=nation,
        forest_definition=forest_definition,
        targets=targets,
        raster_outputs=raster_outputs,
        carbon=carbon,
        area=area,
        inputs=inputs,
        derived=derived,
        accuracy=accuracy,
        uncertainty=uncertainty,
        raw=data,
    )


def _accuracy(data: Any, base: Path, where: str, layers: dict[str, LayerSpec], epochs: tuple[int, ...]) -> AccuracySpec:
    """The ``accuracy:`` section; the sample's header is checked now, its rows when the run's tables are made."""
    import csv

    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping with reference_sample and strata_epoch")
    _check_keys(data, {"reference_sample", "strata_epoch", "min_points"}, where, required={"reference_sample", "strata_epoch"})
    if "landcover" not in layers:
        raise ConfigError(f"{where}: accuracy-adjusted areas need a landcover layer (the map the sample assesses)")
    strata_epoch = data["strata_epoch"]
    if strata_epoch not in epochs:
        raise ConfigError(f"{where}.strata_epoch: {strata_epoch!r} is not one of the epochs {list(epochs)}")
    min_points = data.get("min_points", 2)
    if not isinstance(min_points, int) or min_points < 2:
        raise ConfigError(f"{where}.min_points: expected a whole number ≥ 2 (the variance needs two points a stratum)")
    path = str(data["reference_sample"])
    path = path if Path(path).is_absolute() else str(base / path)
    if not Path(path).is_file():
        raise InputNotFoundError(f"{where}.reference_sample: {path} does not exist")
    with open(path, newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f), [])
    need = ["lon", "lat", f"map_{strata_epoch}"]
    missing = [c for c in need if c not in header]
    if missing:
        raise ConfigError(f"{where}.reference_sample: {path} has no column(s) {missing}; it needs {need} and ref_<epoch>")
    if not any(f"ref_{e}" in header for e in epochs):
        raise ConfigError(
            f"{where}.reference_sample: {path} has no reference column; add ref_<epoch> for one of the epochs {list(epochs)}"
        )
    from sinkmap.kernels.accuracy import read_reference_sample

    read_reference_sample(path, epochs, int(strata_epoch))  # every row checked now, not after the computation
    return AccuracySpec(reference_sample=path, strata_epoch=int(strata_epoch), min_points=min_points)


def as_dict(obj: Any) -> Any:
    """Plain-data view of a config object (for the manifest)."""
    if isinstance(obj, Legend):  # the legend's name and file; its rows are in the manifest's layers
        return {"name": obj.name, "path": obj.path, "sha256": obj.sha256}
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: as_dict(getattr(obj, f.name)) for f in fields(obj) if f.name != "raw"}
    if isinstance(obj, dict):
        return {str(k): as_dict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [as_dict(v) for v in obj]
    return obj
