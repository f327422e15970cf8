"""True pixel area, in square metres, for any raster grid.

* Geographic CRS (degrees): each pixel row's area is the ellipsoidal zone area between the row's two edge
  latitudes times the row's share of the full circle of longitude. The zone area between the equator and
  latitude φ on an ellipsoid with semi-minor axis ``b`` and eccentricity ``e`` is
  ``π b² [atanh(e sin φ)/e + sin φ / (1 − e² sin² φ)]`` (the authalic-latitude form also used by Global Forest
  Watch's ``Geodesy.scala``, see FACTORS.md §A6). Area depends on latitude only, so a 1-D vector per row is exact.
* Projected equal-area CRS: the constant |a·e − b·d| of the affine transform, in the CRS's linear unit squared,
  converted to m².
* Any other projected CRS: the nominal pixel area divided by the projection's areal scale factor
  (:meth:`pyproj.Proj.get_factors`) at each pixel centre, so UTM or Web Mercator grids still give true area.

Pixel counts are never used as area.

**Nominal area** (:func:`nominal_pixel_area_m2`) is the option for reproducing tools that take the pixel's size in
projected metres as its area (InVEST Carbon does): |a·e| of the affine in the CRS's linear unit squared, with no
correction for the projection's areal scale. On a UTM grid it overstates true area by the areal scale factor
(k² ≈ 0.9996² … 1.0016² across a zone). It is refused on geographic grids, where a pixel's size is in degrees.
"""

from __future__ import annotations

import numpy as np
from affine import Affine
from pyproj import CRS, Proj, Transformer

from sinkmap.errors import CRSError

__all__ = ["AREA_METHODS", "ellipsoid_zone_area_m2", "geodesic_row_area_m2", "nominal_pixel_area_m2", "pixel_area_m2"]

AREA_METHODS = ("true", "nominal")
"""How pixel area is measured: ``true`` (the default: geodesic, equal-area or scale-corrected) or ``nominal``."""

_EQUAL_AREA_TOLERANCE = 1e-9


def ellipsoid_zone_area_m2(lat_deg: np.ndarray, *, semi_major_m: float, inverse_flattening: float) -> np.ndarray:
    """Signed surface area (m²) between the equator and latitude ``lat_deg`` over all 360° of longitude.

    Differences of this function give the area of a latitude band; it is odd in latitude.
    """
    a = semi_major_m
    f = 1.0 / inverse_flattening if inverse_flattening else 0.0
    b = a * (1.0 - f)
    sin_phi = np.sin(np.deg2rad(np.asarray(lat_deg, dtype=np.float64)))
    if f == 0.0:  # sphere
        return 2.0 * np.pi * a * a * sin_phi
    e = np.sqrt(1.0 - (b / a) ** 2)
    es = e * sin_phi
    return np.pi * b * b * (np.arctanh(es) / e + sin_phi / (1.0 - es * es))


def geodesic_row_area_m2(
    top_lat_deg: float, pixel_height_deg: float, n_rows: int, pixel_width_deg: float, crs: CRS
) -> np.ndarray:
    """Area (m²) of one pixel in each of ``n_rows`` rows of a north-up geographic grid.

    ``pixel_height_deg`` is the (usually negative) row step in latitude; ``pixel_width_deg`` the column step.
    """
    ellipsoid = crs.ellipsoid
    if ellipsoid is None:
        raise CRSError(f"CRS {crs.name!r} has no ellipsoid; give the raster a geographic CRS such as EPSG:4326")
    edges = top_lat_deg + pixel_height_deg * np.arange(n_rows + 1, dtype=np.float64)
    edges = np.clip(edges, -90.0, 90.0)
    zone = ellipsoid_zone_area_m2(
        edges, semi_major_m=ellipsoid.semi_major_metre, inverse_flattening=ellipsoid.inverse_flattening
    )
    return np.abs(np.diff(zone)) * (abs(pixel_width_deg) / 360.0)


def _areal_scale(crs: CRS, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    to_lonlat = Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True)
    lon, lat = to_lonlat.transform(xs, ys)
    factors = Proj(crs).get_factors(lon, lat)
    return np.asarray(factors.areal_scale, dtype=np.float64)


def is_equal_area(crs: CRS, bounds: tuple[float, float, float, float]) -> bool:
    """Whether a projected CRS preserves area over ``bounds`` (sampled on an 11 × 11 grid of points)."""
    xs, ys = np.meshgrid(np.linspace(bounds[0], bounds[2], 11), np.linspace(bounds[1], bounds[3], 11))
    scale = _areal_scale(crs, xs.ravel(), ys.ravel())
    return bool(np.all(np.abs(scale - 1.0) < _EQUAL_AREA_TOLERANCE))


def pixel_area_m2(
    crs: CRS, transform: Affine, row_off: int, n_rows: int, col_off: int, n_cols: int, *, equal_area: bool | None = None
) -> np.ndarray:
    """Area in m² of each pixel of a window, broadcastable to shape ``(n_rows, n_cols)``.

    Returns shape ``(n_rows, 1)`` for geographic grids, ``(1, 1)`` for equal-area grids and ``(n_rows, n_cols)``
    otherwise. ``equal_area`` lets a caller that already checked the CRS skip the check.
    """
    if transform.b != 0.0 or transform.d != 0.0:
        raise CRSError(
            f"the raster grid is rotated or sheared (affine {tuple(transform)[:6]}); sinkmap needs north-up grids: "
            "warp it first, e.g. with `gdalwarp`"
        )
    if crs.is_geographic:
        top = transform.f + transform.e * row_off
        return geodesic_row_area_m2(top, transform.e, n_rows, transform.a, crs)[:, None]
    if not crs.is_projected:
        raise CRSError(f"CRS {crs.name!r} is neither geographic nor projected; sinkmap cannot measure area in it")
    unit = crs.axis_info[0].unit_conversion_factor
    nominal = abs(transform.a * transform.e) * unit * unit
    if equal_area is None:
        x0, y0 = transform @ (col_off, row_off)
        x1, y1 = transform @ (col_off + n_cols, row_off + n_rows)
        equal_area = is_equal_area(crs, (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    if equal_area:
        return np.full((1, 1), nominal)
    cols, rows = np.meshgrid(np.arange(n_cols) + col_off + 0.5, np.arange(n_rows) + row_off + 0.5)
    xs, ys = transform @ (cols, rows)
    scale = _areal_scale(crs, np.asarray(xs).ravel(), np.asarray(ys).ravel())
    return nominal / scale.reshape(n_rows, n_cols)


def nominal_pixel_area_m2(crs: CRS, transform: Affine) -> np.ndarray:
    """Nominal pixel area in m², shape ``(1, 1)``: |a·e| of the affine in the projected CRS's unit squared.

    This is the area InVEST and other tools take for every pixel of a projected grid; it is *not* the true area
    unless the projection is equal-area (see the module docstring).

    Raises:
        CRSError: the grid is geographic (its pixel size is in degrees) or rotated.
    """
    if transform.b != 0.0 or transform.d != 0.0:
        raise CRSError(f"the raster grid is rotated or sheared (affine {tuple(transform)[:6]}); sinkmap needs north-up grids")
    if not crs.is_projected:
        raise CRSError(
            f"area: nominal needs a projected grid in metres, but the grid's CRS {crs.name!r} is not projected "
            "(its pixel size is in degrees); use the default true area, or warp the rasters to a projected CRS"
        )
    unit = crs.axis_info[0].unit_conversion_factor
    return np.full((1, 1), abs(transform.a * transform.e) * unit * unit)
