"""Standard outputs: the run directory validates as a STAC collection (core and extension schemas, offline), its
items describe the COGs as they are on disk, and every COG passes rio-cogeo's COG validator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pystac
import pytest
import rasterio
from pystac.extensions.classification import ClassificationExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.validation import JsonSchemaSTACValidator, validate_dict
from rio_cogeo.cogeo import cog_validate

from netguard import loopback_only
from sinkmap.apps.stac import CLASSES, EXTENSIONS
from test_legends import SAOTOME, WORLDCOVER, _regions, _run

SCHEMAS = Path(__file__).parent / "data" / "stac_schemas"


def _validator() -> JsonSchemaSTACValidator:
    """pystac's validator with the extension schemas from tests/data (the core schemas come with pystac)."""
    validator = JsonSchemaSTACValidator()
    for uri in EXTENSIONS:
        name = uri.split("/")[3] + "-" + uri.split("/")[4] + ".json"  # projection-v1.1.0.json
        validator.schema_cache[uri] = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    return validator


@pytest.fixture(scope="module")
def worldcover_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A run outside China: São Tomé, WorldCover with its built-in legend, two epochs, forest-mask rasters."""
    folder = tmp_path_factory.mktemp("stac")
    _regions(folder, SAOTOME)
    return _run(folder, {"landcover": {"paths": {e: str(p) for e, p in WORLDCOVER.items()}, "legend": "worldcover"}}, [2020, 2021])


def _check_catalog(run_dir: Path) -> list[pystac.Item]:
    validator = _validator()
    collection_dict = json.loads((run_dir / "collection.json").read_text(encoding="utf-8"))
    with loopback_only() as refused:
        validate_dict(collection_dict, validator=validator)
        items = []
        for link in collection_dict["links"]:
            if link["rel"] != "item":
                continue
            path = run_dir / link["href"]
            item_dict = json.loads(path.read_text(encoding="utf-8"))
            validate_dict(item_dict, validator=validator)
            items.append(pystac.Item.from_file(str(path)))
    assert refused == []
    # every raster is an item, and every item's asset is a file of the run
    rasters = sorted(p.name for p in (run_dir / "rasters").glob("*.tif"))
    assert sorted(Path(item.assets["data"].get_absolute_href() or "").name for item in items) == rasters
    collection = pystac.Collection.from_file(str(run_dir / "collection.json"))
    assert sorted(i.id for i in collection.get_items()) == sorted(Path(r).stem for r in rasters)
    for asset in collection.assets.values():
        assert Path(asset.get_absolute_href() or "").exists(), asset.href
    return items


def _check_item_against_file(item: pystac.Item) -> None:
    path = item.assets["data"].get_absolute_href()
    assert path is not None
    with rasterio.open(path) as src:
        proj = ProjectionExtension.ext(item)
        assert proj.shape == [src.height, src.width]
        assert proj.transform == pytest.approx(list(src.transform)[:6])
        assert proj.epsg == src.crs.to_epsg()
        band = item.assets["data"].extra_fields["raster:bands"][0]
        assert band["data_type"] == src.dtypes[0] and band.get("unit") == src.tags().get("UNITS")
        if src.nodata is not None:
            assert band["nodata"] == src.nodata
        # the footprint contains the grid's centre in lon/lat
        west, south, east, north = item.bbox or [0, 0, 0, 0]
        cx, cy = rasterio.warp.transform(src.crs, "EPSG:4326", [(src.bounds.left + src.bounds.right) / 2], [(src.bounds.bottom + src.bounds.top) / 2])
        assert west <= cx[0] <= east and south <= cy[0] <= north


def test_worldcover_run_is_a_valid_stac_collection(worldcover_run: Any) -> None:
    items = _check_catalog(worldcover_run.output_dir)
    assert {item.id for item in items} >= {"forest_mask_2020", "forest_mask_2021"}
    for item in items:
        _check_item_against_file(item)
        if not item.id.startswith("forest_mask"):
            continue
        classes = ClassificationExtension.ext(item.assets["data"]).classes
        assert classes is not None and [c.value for c in classes] == [v for v, _, _ in CLASSES["forest_mask"]]
        year = item.id.rsplit("_", 1)[1]
        assert item.common_metadata.start_datetime is not None and item.common_metadata.start_datetime.year == int(year)
    assert "collection.json" in worldcover_run.manifest["outputs"]


def test_sample_run_is_a_valid_stac_collection(sample_run: Any) -> None:
    items = _check_catalog(sample_run.output_dir)
    for item in items:
        _check_item_against_file(item)
    sink = next(item for item in items if item.id == "carbon_sink")
    epochs = sample_run.manifest["epochs"]
    assert sink.common_metadata.start_datetime.year == epochs[0]  # type: ignore[union-attr]
    assert sink.common_metadata.end_datetime.year == epochs[-1]  # type: ignore[union-attr]


def test_invalid_item_is_caught_by_the_offline_validator(worldcover_run: Any) -> None:
    """The validator would catch a wrong field: the check above can fail."""
    path = worldcover_run.output_dir / "stac" / "forest_mask_2020.json"
    item = json.loads(path.read_text(encoding="utf-8"))
    item["properties"]["proj:shape"] = [400]
    with loopback_only(), pytest.raises(pystac.errors.STACValidationError, match="projection"):
        validate_dict(item, validator=_validator())


@pytest.mark.parametrize("which", ["worldcover_run", "sample_run"])
def test_every_raster_is_a_valid_cog(which: str, request: pytest.FixtureRequest) -> None:
    run = request.getfixturevalue(which)
    rasters = sorted((run.output_dir / "rasters").glob("*.tif"))
    assert rasters
    for path in rasters:
        valid, errors, warnings = cog_validate(str(path), quiet=True)
        assert valid and errors == [], (path.name, errors)
        assert not [w for w in warnings if "overview" not in w.lower()], (path.name, warnings)
