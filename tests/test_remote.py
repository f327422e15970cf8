"""Remote and catalogued inputs: layers read over HTTP (``http(s)://`` → ``/vsicurl/``), from an S3-style endpoint
(``s3://`` → ``/vsis3/``) and through STAC item files give the same numbers as the same files read locally. The
server runs on 127.0.0.1, started by the test, and honours range requests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from rangeserver import range_server
from sinkmap.config import gdal_path, load_pipeline
from sinkmap.errors import ConfigError
from test_legends import SAOTOME, WORLDCOVER, _regions, _run

EPOCHS = [2020, 2021]


@pytest.fixture
def gdal_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy, no directory listing: GDAL talks to the loopback server only, and only for the files named."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "GDAL_HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR")
    monkeypatch.setenv("GDAL_HTTP_MAX_RETRY", "0")


def _layers(paths: dict[int, str], **extra: Any) -> dict[str, Any]:
    return {"landcover": {"paths": paths, "legend": "worldcover", **extra}}


def _numbers(result: Any) -> dict[str, np.ndarray]:
    return {level: table.select_dtypes("number").to_numpy() for level, table in result.tables.items()}


def _same(a: Any, b: Any) -> None:
    left, right = _numbers(a), _numbers(b)
    assert left.keys() == right.keys()
    for level in left:
        np.testing.assert_array_equal(left[level], right[level])


def _split(path: Path, folder: Path) -> list[Path]:
    """The raster cut into a left and a right tile (a two-tile mosaic of the same pixels)."""
    out = []
    with rasterio.open(path) as src:
        half = src.width // 2
        for name, window in (("left", Window(0, 0, half, src.height)), ("right", Window(half, 0, src.width - half, src.height))):
            profile = src.profile | {"width": window.width, "height": window.height, "transform": src.transform @ Affine.translation(window.col_off, window.row_off)}
            target = folder / f"{path.stem}_{name}.tif"
            with rasterio.open(target, "w", **profile) as dst:
                dst.write(src.read(1, window=window), 1)
            out.append(target)
    return out


def _item(item_id: str, href: str, **more_assets: str) -> dict[str, Any]:
    assets = {"data": {"href": href, "type": "image/tiff; application=geotiff", "roles": ["data"]}}
    assets.update({k: {"href": v, "roles": ["data"]} for k, v in more_assets.items()})
    return {"type": "Feature", "stac_version": "1.1.0", "id": item_id, "geometry": None, "properties": {"datetime": None}, "links": [], "assets": assets}


def test_gdal_paths() -> None:
    assert gdal_path("https://host/a.tif") == "/vsicurl/https://host/a.tif"
    assert gdal_path("http://127.0.0.1:8000/a.tif") == "/vsicurl/http://127.0.0.1:8000/a.tif"
    assert gdal_path("s3://bucket/dir/a.tif") == "/vsis3/bucket/dir/a.tif"
    assert gdal_path("/vsicurl/https://host/a.tif") == "/vsicurl/https://host/a.tif"
    assert gdal_path("rasters/a.tif") is None


@pytest.mark.slow
def test_http_s3_and_stac_inputs_give_the_local_numbers(tmp_path: Path, gdal_offline: None, monkeypatch: pytest.MonkeyPatch) -> None:
    served_root = tmp_path / "served"
    bucket = served_root / "bucket"
    bucket.mkdir(parents=True)
    for epoch, path in WORLDCOVER.items():
        shutil.copy(path, bucket / f"wc_{epoch}.tif")
    tiles = _split(WORLDCOVER[2021], bucket)

    def folder(name: str) -> Path:
        out = tmp_path / name
        out.mkdir()
        _regions(out, SAOTOME)
        return out

    local = _run(folder("local"), _layers({e: str(p) for e, p in WORLDCOVER.items()}), EPOCHS)
    with range_server(served_root) as server:
        # over HTTP
        http = _run(folder("http"), _layers({e: f"{server.url}/bucket/wc_{e}.tif" for e in EPOCHS}), EPOCHS)
        _same(local, http)
        ranged = [r for r in server.requests if r[3] == 206]
        assert ranged and all(r[1].startswith("/bucket/") for r in server.requests)
        # reads were partial: no request fetched a whole raster
        assert not [r for r in server.requests if r[0] == "GET" and r[3] == 200]
        manifest_inputs = [i for i in http.manifest["inputs"] if i["role"] == "landcover"]
        assert all(i["remote"] and i["path"].startswith("/vsicurl/http://127.0.0.1:") for i in manifest_inputs)

        # through an S3-style endpoint (unsigned requests to the same server)
        monkeypatch.setenv("AWS_S3_ENDPOINT", f"127.0.0.1:{server.port}")
        monkeypatch.setenv("AWS_HTTPS", "NO")
        monkeypatch.setenv("AWS_VIRTUAL_HOSTING", "FALSE")
        monkeypatch.setenv("AWS_NO_SIGN_REQUEST", "YES")
        s3 = _run(folder("s3"), _layers({e: f"s3://bucket/wc_{e}.tif" for e in EPOCHS}), EPOCHS)
        _same(local, s3)

        # STAC: an item pointing at the served file (2020), a search result of two tiles, one local and one served (2021)
        stac = folder("stac")
        (stac / "item_2020.json").write_text(json.dumps(_item("wc-2020", f"{server.url}/bucket/wc_2020.tif")), encoding="utf-8")
        search = {
            "type": "FeatureCollection",
            "features": [_item("left", str(Path("..") / "served" / "bucket" / tiles[0].name)), _item("right", f"{server.url}/bucket/{tiles[1].name}")],
        }
        (stac / "search_2021.json").write_text(json.dumps(search), encoding="utf-8")
        by_stac = _run(stac, _layers({2020: "item_2020.json", 2021: "search_2021.json"}), EPOCHS)
        _same(local, by_stac)
        files = [i["path"] for i in by_stac.manifest["inputs"] if i["role"] == "landcover"]
        assert any(f.endswith("_crop_left.tif") and not f.startswith("/vsi") for f in files)
        assert any(f.endswith("_crop_right.tif") and f.startswith("/vsicurl/") for f in files)


def test_remote_and_stac_errors(tmp_path: Path) -> None:
    _regions(tmp_path, SAOTOME)

    def pipeline(path: Any, **extra: Any) -> Path:
        import yaml

        doc = {
            "name": "x", "output_dir": "out", "epochs": [2021], "targets": "none",
            "layers": {"landcover": {"path": path, **extra}},
            "regions": [{"level": "d", "path": "regions.geojson", "id_field": "id", "name_field": "name"}],
        }
        out = tmp_path / "p.yaml"
        out.write_text(yaml.safe_dump(doc), encoding="utf-8")
        return out

    with pytest.raises(ConfigError, match="remote paths cannot be globbed"):
        load_pipeline(pipeline("https://example.invalid/tiles/*.tif"))
    two = _item("two", "a.tif", other="b.tif")
    two["assets"]["other"]["roles"] = ["data"]
    (tmp_path / "two.json").write_text(json.dumps(two), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"assets data, other; name the one to read with `asset:`"):
        load_pipeline(pipeline("two.json"))
    shutil.copy(WORLDCOVER[2021], tmp_path / "b.tif")
    config = load_pipeline(pipeline("two.json", asset="other"))
    assert config.layers["landcover"].static == (str((tmp_path / "b.tif").resolve()),)
