"""The bad-input catalogue: every input or fault a user can cause ends in one line naming what is wrong and the
fix, a non-zero exit, no traceback and nothing left behind.

Each case changes one thing in a tiny, valid pipeline world (tests/badinput_world.py) and runs the command line
in-process. A case lists the exit code it expects and words the message must contain: the file, key or layer,
and the fix.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from badinput_world import NORTH, RES, WEST, N, World, feature, provinces, square
from sinkmap.cli import main


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


@dataclass(frozen=True)
class Case:
    id: str
    change: Callable[[World], object]
    words: tuple[str, ...]
    argv: Callable[[World], list[str]] = field(default=lambda w: ["run", str(w.yaml)])
    code: int = 2


def _set(path: str, value: object) -> Callable[[World], None]:
    """Set a key of the pipeline (dotted path) to ``value``."""

    def change(w: World) -> None:
        node = w.pipeline
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[keys[-1]] = value

    return change


def _drop(path: str) -> Callable[[World], None]:
    def change(w: World) -> None:
        node = w.pipeline
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    return change


def _stock(values: Callable[[np.ndarray], np.ndarray], nodata: float | None = -9999.0, epoch: int = 2020) -> Callable[[World], None]:
    def change(w: World) -> None:
        w.raster(f"stock_{epoch}.tif", values(w.read(f"stock_{epoch}.tif")).astype(np.float32), nodata=nodata)

    return change


def _landcover(values: Callable[[np.ndarray], np.ndarray], nodata: float | None = 0, epoch: int = 2020) -> Callable[[World], None]:
    def change(w: World) -> None:
        w.raster(f"landcover_{epoch}.tif", values(w.read(f"landcover_{epoch}.tif")).astype(np.uint8), nodata=nodata)

    return change


def _put(a: np.ndarray, value: float, where: tuple[slice, slice] = (slice(3, 5), slice(2, 4))) -> np.ndarray:
    a = a.astype(np.float64)
    a[where] = value
    return a


def _regions(collection: Callable[[], dict]) -> Callable[[World], None]:
    return lambda w: w.write_regions(collection())


def _overlapping() -> dict:
    out = provinces()
    # the east province reaches 0.06° into the west one: 0.06° × 0.48° ≈ 318 km² of overlap
    ring = out["features"][1]["geometry"]["coordinates"][0]
    for point in ring:
        if point[0] == WEST + N * RES / 2:
            point[0] -= 0.06
    return out


def _projected_without_crs() -> dict:
    out = provinces()
    for f in out["features"]:  # coordinates in metres (as in a UTM file) but no `crs` member: read as degrees
        ring = f["geometry"]["coordinates"][0]
        f["geometry"]["coordinates"] = [[[x * 111_000 + 500_000, y * 111_000] for x, y in ring]]
    return out


def _duplicate_ids() -> dict:
    out = provinces()
    out["features"][1]["properties"]["adcode"] = "520001"
    return out


def _points() -> dict:
    out = provinces()
    out["features"][1]["geometry"] = {"type": "Point", "coordinates": [106.3, 26.5]}
    return out


def _far_away() -> dict:
    return {"type": "FeatureCollection", "features": [feature("1", "远", "Far", square(10, 10, 11, 11))]}


def _gbk(w: World) -> None:
    text = json.dumps(provinces(), ensure_ascii=False)
    w.regions.write_bytes(text.encode("gbk"))


def _truncated_regions(w: World) -> None:
    text = json.dumps(provinces(), ensure_ascii=False)
    w.regions.write_text(text[: len(text) // 2], encoding="utf-8")


def _targets_file(national: list[dict]) -> Callable[[World], None]:
    def change(w: World) -> None:
        path = w.root / "targets.yaml"
        path.write_text(
            json.dumps({"id": "mine", "title": "t", "source": "s", "national": {"region_id": "100000", "targets": national}}),
            encoding="utf-8",
        )
        w.pipeline["targets"] = str(path)

    return change


def _yaml_text(text: str) -> Callable[[World], str]:
    return lambda w: text


ANCHOR_BOMB = """\
name: tiny
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
description: [*c, *c, *c, *c, *c, *c, *c, *c, *c]
"""


def _raw_yaml(change: Callable[[World], str]) -> Callable[[World], None]:
    def apply(w: World) -> None:
        w.write_text_override = change(w)  # type: ignore[attr-defined]

    return apply


def _on_other_grid(w: World) -> None:
    from affine import Affine

    w.raster("stock_2020.tif", np.full((N // 2, N // 2), 50, np.float32), nodata=-9999.0,
             transform=Affine(2 * RES, 0, WEST, 0, -2 * RES, NORTH))


def _no_crs(w: World) -> None:
    w.raster("canopy_2020.tif", w.read("canopy_2020.tif"), nodata=255, crs=None)


def _not_a_tiff(w: World) -> None:
    (w.data / "canopy_2025.tif").write_bytes(b"this is not a GeoTIFF\n" * 10)


def _elsewhere(w: World) -> None:
    from affine import Affine

    w.raster("forest_type.tif", w.read("forest_type.tif"), nodata=255, transform=Affine(RES, 0, 10.0, 0, -RES, 10.0))
    w.pipeline["layers"]["forest_type"]["resampling"] = "nearest"


def _output_in_file(w: World) -> None:
    blocker = w.root / "blocker"
    blocker.write_text("a regular file", encoding="utf-8")
    w.pipeline["output_dir"] = str(blocker / "run")


def _existing_output(w: World) -> None:
    w.output.mkdir(parents=True)
    (w.output / "keep.txt").write_text("earlier results", encoding="utf-8")


def _finished_run_then(damage: Callable[[Path], None]) -> Callable[[World], None]:
    """Run the world's pipeline, then damage its run directory."""

    def change(w: World) -> None:
        w.write()
        assert main(["-q", "run", str(w.yaml)]) == 0
        damage(w.output)

    return change


def _truncate(name: str) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        text = (run / name).read_bytes()
        (run / name).write_bytes(text[: len(text) // 2])

    return damage


def _pools(rows: str) -> Callable[[World], None]:
    return lambda w: (w.root / "pools.csv").write_text("lucode,c_above,c_below,c_soil,c_dead\n" + rows, encoding="utf-8")


def _invest(w: World, *extra: str) -> list[str]:
    return ["invest", str(w.data / "landcover_2020.tif"), str(w.data / "landcover_2025.tif"), "--pools",
            str(w.root / "pools.csv"), "-o", str(w.root / "invest.csv"), *extra]


def _export(w: World, *extra: str) -> list[str]:
    return ["export", str(w.output), "--level", "province", "-o", str(w.root / "x.geojson"), *extra]


CASES = [
    # --- values that used to give confident, wrong numbers
    Case("stock -9999 not declared nodata", _stock(lambda a: np.where(a == 0, -9999.0, a), nodata=None),
         ("growing_stock[2020]", "stock_2020.tif", "-9999", "nodata:", "invalid: mask")),
    Case("stock negative", _stock(lambda a: _put(a, -5.0)), ("growing_stock[2020]", "-5", "0 to 3000")),
    Case("stock NaN not declared nodata", _stock(lambda a: _put(a, np.nan)), ("growing_stock[2020]", "nan", "nodata")),
    Case("stock +inf", _stock(lambda a: _put(a, np.inf)), ("growing_stock[2020]", "inf")),
    Case("stock -inf", _stock(lambda a: _put(a, -np.inf), epoch=2025), ("growing_stock[2025]", "-inf")),
    Case("stock in dm3/ha (×1000)", _stock(lambda a: a * 1000.0), ("growing_stock[2020]", "scale")),
    Case("stock epoch all nodata", _stock(lambda a: np.full_like(a, -9999.0), epoch=2025),
         ("growing_stock[2025]", "stock_2025.tif", "no valid pixel")),
    Case("landcover epoch all nodata", _landcover(lambda a: np.zeros_like(a), epoch=2025),
         ("landcover[2025]", "landcover_2025.tif", "no valid pixel")),
    Case("landcover code 42", _landcover(lambda a: _put(a, 42)), ("landcover[2020]", "(codes: 42 × 4)", "legend")),
    Case("landcover codes 42 and 77", _landcover(lambda a: _put(_put(a, 42), 77, (slice(10, 11), slice(0, 3)))),
         ("landcover[2020]", "(codes: 42 × 4, 77 × 3)", "7 pixel(s)")),
    Case("landcover 0 without nodata", _landcover(lambda a: _put(a, 0), nodata=None), ("landcover[2020]", " 0 at", "nodata")),
    Case("canopy 200 %", lambda w: w.raster("canopy_2025.tif", _put(w.read("canopy_2025.tif"), 200).astype(np.uint8), nodata=255),
         ("canopy_cover[2025]", "200", "0 to 100 %")),
    Case("wetland_type code 7", lambda w: w.raster("wetland_type.tif", _put(w.read("wetland_type.tif"), 7).astype(np.uint8), nodata=255),
         ("wetland_type", "wetland_type.tif", "7", "legend")),
    Case("forest_type code 9", lambda w: w.raster("forest_type.tif", _put(w.read("forest_type.tif"), 9).astype(np.uint8), nodata=255),
         ("forest_type", "9")),
    Case("temperature in tenths of a degree", lambda w: w.raster("temperature.tif", np.full((N, N), 150.0, np.float32), nodata=-9999.0),
         ("mean_temperature", "150", "scale")),
    Case("precipitation negative", lambda w: w.raster("precip.tif", np.full((N, N), -3, np.int16), nodata=-32768),
         ("annual_precip", "-3")),
    Case("unknown invalid policy", _set("layers.growing_stock.invalid", "ignore"), ("layers.growing_stock.invalid", "mask")),
    # --- region files
    Case("regions overlap within a level", _regions(_overlapping), ("overlap", "520001", "520002", "km²", "provinces.geojson")),
    Case("projected coordinates without crs", _regions(_projected_without_crs), ("provinces.geojson", "coordinates", "CRS")),
    Case("duplicate region ids", _regions(_duplicate_ids), ("provinces.geojson", "520001", "repeats")),
    Case("point geometry among regions", _regions(_points), ("provinces.geojson", "polygons")),
    Case("regions far from the rasters", _regions(_far_away), ("no region overlaps",)),
    Case("regions in GBK", _gbk, ("provinces.geojson", "UTF-8")),
    Case("regions truncated", _truncated_regions, ("provinces.geojson", "cannot read")),
    Case("regions file missing", _set("regions.0.path", "data/nope.geojson"), ("nope.geojson", "does not exist")),
    Case("region id field missing", _set("regions.0.id_field", "code"), ("code", "available fields")),
    Case("region level named nation", _set("regions.0.level", "nation"), ("nation", "reserved")),
    Case("parent level not listed", _set("regions.0.parent_level", "country"), ("parent_level", "country")),
    Case("overlap via regions --check", _regions(_overlapping), ("overlap", "520001"),
         argv=lambda w: ["regions", "--check", str(w.regions), "--id-field", "adcode", "--name-field", "name_zh"]),
    Case("projected without crs via regions --check", _regions(_projected_without_crs), ("coordinates", "CRS"),
         argv=lambda w: ["regions", "--check", str(w.regions), "--id-field", "adcode", "--name-field", "name_zh"]),
    # --- targets
    Case("target coverage 150 %", _targets_file([{"year": 2025, "coverage_pct": 150}]), ("coverage_pct", "150", "0 and 100")),
    Case("target coverage negative", _targets_file([{"year": 2025, "coverage_pct": -1}]), ("coverage_pct", "-1")),
    Case("target stock negative", _targets_file([{"year": 2025, "stock_volume_m3": -18e9}]), ("stock_volume_m3", "negative")),
    Case("target year not a year", _targets_file([{"year": "soon", "coverage_pct": 20}]), ("year", "soon")),
    Case("unknown target set", _set("targets", "cpc_2099"), ("cpc_2099",)),
    # --- the pipeline file
    Case("nation given as a string", _set("nation", "China"), ("nation", "region_id")),
    Case("yaml anchor bomb", _raw_yaml(_yaml_text(ANCHOR_BOMB)), ("pipeline.yaml", "alias")),
    Case("yaml syntax error", _raw_yaml(_yaml_text("name: tiny\nlayers: [a, b\nepochs: 2020\n")), ("pipeline.yaml", "line", "column")),
    Case("yaml tab indentation", _raw_yaml(_yaml_text("name: tiny\n\tepochs: [2020]\n")), ("pipeline.yaml", "line")),
    Case("pipeline is a list", _raw_yaml(_yaml_text("- a\n- b\n")), ("pipeline.yaml", "mapping")),
    Case("pipeline not UTF-8", lambda w: setattr(w, "write_text_override", b"name: \xc4\xe3\xba\xc3\n"), ("pipeline.yaml", "UTF-8")),
    Case("unknown top-level key", _set("colour", "green"), ("'colour'", "allowed")),
    Case("missing epochs", _drop("epochs"), ("'epochs'", "missing")),
    Case("epochs not a list", _set("epochs", "2020"), ("epochs", "list of years")),
    Case("unknown layer role", _set("layers.biomass", {"path": "data/stock_2020.tif"}), ("biomass", "known layers")),
    Case("layer without path", _set("layers.forest_type", {"nodata": 0}), ("layers.forest_type", "path")),
    Case("layer glob matches nothing", _set("layers.forest_type.path", "data/nothing_*.tif"), ("nothing_*.tif", "no file")),
    Case("landcover missing an epoch", _set("layers.landcover.paths", {2020: "data/landcover_2020.tif"}), ("landcover", "2025")),
    Case("loss_year without base_year", _set("layers.loss_year", {"path": "data/forest_type.tif"}), ("loss_year", "base_year")),
    Case("chunk_size too small", _set("chunk_size", 3), ("chunk_size", "16")),
    Case("workers zero", _set("workers", 0), ("workers", "positive")),
    Case("unknown scheduler", _set("scheduler", "gpu"), ("gpu", "threads")),
    Case("unknown resampling", _set("layers.forest_type.resampling", "magic"), ("magic", "nearest")),
    Case("layer on another grid", _on_other_grid, ("growing_stock[2020]", "resampling")),
    Case("layer far from the grid", _elsewhere, ("forest_type", "does not overlap")),
    Case("raster without CRS", _no_crs, ("canopy_2020.tif", "CRS")),
    Case("raster not a GeoTIFF", _not_a_tiff, ("canopy_2025.tif", "gdalinfo")),
    Case("grid.like unknown", _set("grid", {"like": "dem"}), ("grid.like", "dem")),
    Case("unknown raster output", _set("outputs", {"rasters": ["carbon_flux"]}), ("outputs.rasters", "carbon_flux")),
    Case("unknown pet_grid", _set("carbon", {"pet_grid": "fine"}), ("carbon.pet_grid", "fine")),
    Case("factors folder missing", _set("carbon", {"factors": "nowhere"}), ("carbon.factors", "nowhere")),
    Case("pipeline file missing", lambda w: None, ("nope.yaml", "does not exist"), argv=lambda w: ["run", str(w.root / "nope.yaml")]),
    # --- output folders
    Case("output_dir inside a regular file", _output_in_file, ("blocker", "not a folder")),
    Case("output_dir without permission", _set("output_dir", "/sys/sinkmap-test/run"), ("/sys/sinkmap-test", "permission", "output_dir")),
    Case("output exists without --overwrite", _existing_output, ("exists", "--overwrite")),
    # --- export and report
    Case("export: not a run directory", lambda w: None, ("manifest.json",),
         argv=lambda w: ["export", str(w.data), "--level", "province", "-o", str(w.root / "x.geojson")]),
    Case("report: not a run directory", lambda w: None, ("manifest.json",), argv=lambda w: ["report", str(w.data)]),
    Case("export: truncated level GeoJSON", _finished_run_then(_truncate("regions_province.geojson")),
         ("regions_province.geojson", "run the pipeline again"), argv=_export),
    Case("report: truncated level GeoJSON", _finished_run_then(_truncate("regions_province.geojson")),
         ("regions_province.geojson", "run the pipeline again"), argv=lambda w: ["report", str(w.output)]),
    Case("export: truncated manifest", _finished_run_then(_truncate("manifest.json")),
         ("manifest.json", "re-run"), argv=_export),
    Case("export: unknown level", _finished_run_then(lambda run: None), ("county", "province"),
         argv=lambda w: ["export", str(w.output), "--level", "county", "-o", str(w.root / "x.geojson")]),
    Case("export: unknown region", _finished_run_then(lambda run: None), ("Atlantis",),
         argv=lambda w: _export(w, "--region", "Atlantis")),
    Case("invest: --regions without --id-field", _pools("1,10,2,50,1\n2,80,20,90,5\n3,20,5,60,2\n4,5,2,70,1\n5,0,0,0,0\n9,10,3,200,1\n"),
         ("--id-field",), argv=lambda w: _invest(w, "--regions", str(w.regions))),
    Case("invest: code missing from the pools table", _pools("1,10,2,50,1\n2,80,20,90,5\n"), ("pools.csv", "3"),
         argv=_invest),
    Case("invest: pools table without c_soil", lambda w: (w.root / "pools.csv").write_text("lucode,c_above,c_below,c_dead\n1,1,1,1\n"),
         ("pools.csv", "c_soil"), argv=_invest),
    Case("export: output exists", _finished_run_then(lambda run: (run.parent.parent / "x.geojson").write_text("{}")),
         ("x.geojson", "--overwrite"), argv=_export),
]


def _prepare(world: World, case: Case) -> None:
    case.change(world)
    override = getattr(world, "write_text_override", None)
    if isinstance(override, bytes):
        world.yaml.write_bytes(override)
    else:
        world.write(override)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, world: World, capsys: pytest.CaptureFixture[str]) -> None:
    _prepare(world, case)
    existing = set(world.leftovers())
    code = main(case.argv(world))
    out, err = capsys.readouterr()
    assert code == case.code, f"exit {code}, stderr: {err}"
    assert "Traceback" not in err and "Traceback" not in out
    message = [line for line in err.splitlines() if line.startswith("sinkmap: error:")]
    assert len(message) == 1, err
    for word in case.words:
        assert word.lower() in message[0].lower(), f"{word!r} not in: {message[0]}"
    assert set(world.leftovers()) == existing, "a failed run left files next to its output"


def test_the_world_itself_runs(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """The catalogue's base case is valid: exit 0 and a complete run directory, and nothing else beside it."""
    world.write()
    assert main(["run", str(world.yaml)]) == 0
    capsys.readouterr()
    assert (world.output / "manifest.json").exists()
    assert world.leftovers() == ["run"]
    manifest = json.loads((world.output / "manifest.json").read_text(encoding="utf-8"))
    stock = manifest["input_checks"]["growing_stock[2020]"]
    assert stock["invalid_pixels"] == 0 and stock["valid_pixels"] == N * N


def test_invalid_mask_counts_and_masks(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """`invalid: mask` turns invalid pixels into nodata, counts them exactly and says so in the summary."""
    stock = world.read("stock_2020.tif").astype(np.float32)
    forest = stock > 0
    rows, cols = np.nonzero(forest)
    stock[rows[:7], cols[:7]] = -9999.0  # seven forest pixels carry an undeclared fill value
    world.raster("stock_2020.tif", stock, nodata=None)
    world.pipeline["layers"]["growing_stock"]["invalid"] = "mask"
    world.write()
    assert main(["run", str(world.yaml)]) == 0
    out, _ = capsys.readouterr()
    assert "masked as invalid: 7 pixel(s) of growing_stock[2020]" in out
    manifest = json.loads((world.output / "manifest.json").read_text(encoding="utf-8"))
    check = manifest["input_checks"]["growing_stock[2020]"]
    assert check["invalid_pixels"] == 7 and check["valid_pixels"] == N * N - 7 and check["policy"] == "mask"
    assert check["example"]["value"] == -9999.0
    # the stock total is the sum over the pixels left (80 m³/ha each), by true pixel area
    import pandas as pd
    from pyproj import Geod

    table = pd.read_csv(world.output / "regions.csv")
    nation = table[table["level"] == "nation"].iloc[0]
    geod = Geod(ellps="WGS84")

    def row_area_ha(r: int) -> float:  # a pixel's edges follow parallels: densify them so geodesics hug them
        y0, xs = NORTH - r * RES, np.linspace(WEST, WEST + RES, 60)
        lons = np.concatenate([xs, xs[::-1]])
        lats = np.concatenate([np.full(60, y0), np.full(60, y0 - RES)])
        return abs(geod.polygon_area_perimeter(lons, lats)[0]) / 1e4

    rows_kept = np.nonzero(stock > 0)[0]
    total = sum(row_area_ha(r) * 80.0 * n for r, n in zip(*np.unique(rows_kept, return_counts=True), strict=True))
    # per-pixel stock per m² is float32 in the forest step (80 / 10 000 carries a 4.7e-8 relative rounding)
    assert nation["stock_volume_m3_2020"] == pytest.approx(total, rel=1e-7)


def test_region_vertex_budget(world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Regions whose densified outline would not fit in memory are refused before rasterizing."""
    import sinkmap.engine.regions as regions

    monkeypatch.setattr(regions, "MAX_REGION_VERTICES", 100)
    world.pipeline["layers"] = {  # an equal-area grid, so the regions (EPSG:4326) are densified to be placed on it
        "landcover": {"paths": {e: f"data/albers_{e}.tif" for e in (2020, 2025)}},
    }
    from affine import Affine

    for e in (2020, 2025):
        world.raster(f"albers_{e}.tif", np.full((50, 50), 2, np.uint8), nodata=0, crs="+proj=aea +lat_1=25 +lat_2=47 +lon_0=105",
                     transform=Affine(1000, 0, 0, 0, -1000, 3_000_000))
    world.pipeline["targets"] = "none"
    world.write()
    assert main(["run", str(world.yaml)]) == 2
    err = capsys.readouterr().err
    assert "vertices" in err and "budget of 100" in err and "Traceback" not in err


def test_catalogue_is_large_enough() -> None:
    assert len(CASES) + 1 >= 60
    assert len({c.id for c in CASES}) == len(CASES)


def test_example_location_is_right(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """The message's example pixel is the first invalid one in window order, with its centre's lon/lat."""
    world.raster("canopy_2020.tif", _put(world.read("canopy_2020.tif"), 180, (slice(20, 21), slice(30, 31))).astype(np.uint8), nodata=255)
    world.write()
    assert main(["run", str(world.yaml)]) == 2
    _, err = capsys.readouterr()
    lon, lat = WEST + 30.5 * RES, NORTH - 20.5 * RES
    assert f"180 at row 20, col 30 (lon {lon:.4f}, lat {lat:.4f})" in err
    assert "1 pixel(s)" in err
