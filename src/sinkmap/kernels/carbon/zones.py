"""Climate and ecological zones per pixel, from annual climate layers.

Two classifications are derived from annual mean temperature (MAT, °C), annual precipitation (MAP, mm/yr), latitude
(degrees, north positive) and, optionally, elevation (m):

**(a) IPCC climate zones** (:func:`ipcc_climate_zone`), used by the soil (SOC_ref, stock-change) and grassland
tables. The rule follows the decision tree of IPCC 2006 Vol. 4 Ch. 3 Annex 3A.5 (Fig. 3A.5.1):

==========================  ====================================================================================
zone                        rule (checked top to bottom)
==========================  ====================================================================================
tropical montane (1)        MAT > 18 °C and elevation > 1000 m
tropical wet / moist / dry  MAT > 18 °C; MAP > 2000 wet (2); 1000 < MAP <= 2000 moist (3); MAP <= 1000 dry (4)
warm temperate              10 < MAT <= 18 °C; moist (5) if MAP >= PET else dry (6)
cool temperate              0 < MAT <= 10 °C; moist (7) if MAP >= PET else dry (8)
boreal                      MAT <= 0 °C and warmest month > 10 °C; moist (9) / dry (10) as above
polar                       MAT <= 0 °C and warmest month <= 10 °C; moist (11) / dry (12) as above
==========================  ====================================================================================

Code 0 means nodata (any input NaN). Without elevation no pixel is tropical montane.

**(b) FAO global ecological zones** (:func:`fao_ecological_zone`), used by the forest tables (2019R Table 4.9 growth
rates, Table 4.4 root-to-shoot ratios). FAO (2001/2012) defines the domains by the number of months with mean
temperature above 10 °C (Köppen–Trewartha): tropical = all months >= 18 °C; subtropical = >= 8 months > 10 °C;
temperate = 4–7 months; boreal = 1–3 months; polar = none. Zones within a domain:

==============================  ================================================================================
zone                            rule
==============================  ================================================================================
mountain systems                elevation > 1000 m (tropical 4, subtropical 7), > 800 m (temperate 10),
                                > 600 m (boreal 12); approximate FAO altitude limits (recalled, [M])
tropical rainforest (1)         MAP > 2000 mm
tropical moist deciduous (2)    1000 < MAP <= 2000 mm
tropical dry (3)                MAP <= 1000 mm (FAO's tropical shrubland/desert are folded in)
subtropical humid (5) / dry (6) MAP >= PET humid, else dry (steppe/desert folded into dry)
temperate oceanic (8)           coldest month > 0 °C (Trewartha Do)
temperate continental (9)       coldest month <= 0 °C (Dc; steppe/desert folded in)
boreal coniferous (11)          boreal domain below the mountain limit (tundra woodland folded in)
polar (13)                      warmest month <= 10 °C
==============================  ================================================================================

**Monthly proxy.** Both schemes need monthly information that an annual raster does not hold. sinkmap models the
monthly mean temperature as a cosine, ``T_m = MAT − A·cos(2π m/12)`` with m = 0 for January (July in the southern
hemisphere), so the coldest month is ``MAT − A`` and the warmest ``MAT + A``. The half annual range ``A`` (°C) can be
passed per pixel (``annual_half_range_c``); by default it comes from latitude, ``A = clip(0.55·(|lat| − 10), 2, 25)``,
a rough fit to climate normals of eastern Chinese stations (Haikou 20°N ≈ 5.5, Guangzhou 23°N ≈ 7.5, Shanghai 31°N ≈
12, Beijing 40°N ≈ 15, Harbin 46°N ≈ 21, Mohe 53°N ≈ 23; values recalled, [M]). It overestimates ``A`` on the
south-western plateaus (Kunming ≈ 6 vs 8 modelled) — pass real monthly extremes where that matters.

**PET proxy.** The moisture split uses potential evapotranspiration from Thornthwaite (1948) applied to the twelve
modelled months: heat index ``I = Σ (T_m/5)^1.514`` over months with T_m > 0; ``a = 6.75e-7 I³ − 7.71e-5 I² +
1.792e-2 I + 0.49239``; ``PET_m = 16 (10 T_m / I)^a`` mm for 0 < T_m < 26.5 °C and ``−415.85 + 32.24 T_m − 0.43 T_m²``
above 26.5 °C (Willmott et al. 1985), 0 for T_m <= 0; each month scaled by ``(daylength/12)·(days/30)`` with the
mid-month day length at the pixel's latitude (Cooper 1969 declination). A PET raster can be passed instead
(``pet_mm_per_yr``).

All functions are vectorised over arrays (inputs broadcast), pure, and return new arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sinkmap.kernels.carbon._common import FloatArray, as_float

__all__ = [
    "FAO_ZONE_CODES",
    "FAO_ZONE_NAMES",
    "IPCC_CLIMATE_CODES",
    "IPCC_CLIMATE_NAMES",
    "annual_half_range_c_from_latitude",
    "fao_ecological_zone",
    "ipcc_climate_zone",
    "monthly_temperature_proxy_c",
    "thornthwaite_pet_mm_per_yr",
]

IPCC_CLIMATE_NAMES: Mapping[int, str] = MappingProxyType(
    {
        0: "nodata",
        1: "tropical_montane",
        2: "tropical_wet",
        3: "tropical_moist",
        4: "tropical_dry",
        5: "warm_temperate_moist",
        6: "warm_temperate_dry",
        7: "cool_temperate_moist",
        8: "cool_temperate_dry",
        9: "boreal_moist",
        10: "boreal_dry",
        11: "polar_moist",
        12: "polar_dry",
    }
)
"""IPCC 2006 V4 Ch. 3 Annex 3A.5 climate zones by integer code (0 = nodata)."""

IPCC_CLIMATE_CODES: Mapping[str, int] = MappingProxyType(
    {v: k for k, v in IPCC_CLIMATE_NAMES.items()}
)

FAO_ZONE_NAMES: Mapping[int, str] = MappingProxyType(
    {
        0: "nodata",
        1: "tropical_rainforest",
        2: "tropical_moist_deciduous",
        3: "tropical_dry",
        4: "tropical_mountain",
        5: "subtropical_humid",
        6: "subtropical_dry",
        7: "subtropical_mountain",
        8: "temperate_oceanic",
        9: "temperate_continental",
        10: "temperate_mountain",
        11: "boreal_coniferous",
        12: "boreal_mountain",
        13: "polar",
    }
)
"""FAO global ecological zones (as used by IPCC forest tables) by integer code (0 = nodata)."""

FAO_ZONE_CODES: Mapping[str, int] = MappingProxyType({v: k for k, v in FAO_ZONE_NAMES.items()})

_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.float64)
_MID_DOY = np.cumsum(_DAYS) - _DAYS / 2.0
_MOUNTAIN_M = {"tropical": 1000.0, "subtropical": 1000.0, "temperate": 800.0, "boreal": 600.0}


def annual_half_range_c_from_latitude(latitude_deg: ArrayLike) -> FloatArray:
    """Default half annual range of monthly mean temperature, °C: ``clip(0.55·(|lat| − 10), 2, 25)``.

    Args:
        latitude_deg: latitude in degrees (−90…90); NaN gives NaN.
    """
    lat = np.abs(as_float(latitude_deg, "latitude_deg"))
    return np.clip(0.55 * (lat - 10.0), 2.0, 25.0)


def monthly_temperature_proxy_c(
    mean_temperature_c: ArrayLike,
    latitude_deg: ArrayLike,
    *,
    annual_half_range_c: ArrayLike | None = None,
) -> FloatArray:
    """Modelled monthly mean temperatures, °C, shape ``(12, *broadcast_shape)``, January first.

    ``T_m = MAT − A·cos(2π m/12)`` (northern hemisphere; shifted six months where latitude < 0).
    """
    mat, lat, amp = _inputs(mean_temperature_c, latitude_deg, annual_half_range_c)
    return np.stack([_month_t(mat, lat, amp, m) for m in range(12)])


def thornthwaite_pet_mm_per_yr(
    mean_temperature_c: ArrayLike,
    latitude_deg: ArrayLike,
    *,
    annual_half_range_c: ArrayLike | None = None,
) -> FloatArray:
    """Annual potential evapotranspiration, mm/yr, by Thornthwaite (1948) on the cosine monthly proxy.

    See the module docstring for the formula. Valid for latitudes within ±65° (beyond, day length is clipped to
    0–24 h). NaN inputs give NaN.
    """
    mat, lat, amp = _inputs(mean_temperature_c, latitude_deg, annual_half_range_c)
    heat = np.zeros(mat.shape)
    for m in range(12):
        t = np.maximum(_month_t(mat, lat, amp, m), 0.0)
        heat += (t / 5.0) ** 1.514
    a = 6.75e-7 * heat**3 - 7.71e-5 * heat**2 + 1.792e-2 * heat + 0.49239
    safe_heat = np.where(heat > 0, heat, 1.0)
    pet = np.zeros(mat.shape)
    for m in range(12):
        t = _month_t(mat, lat, amp, m)
        tpos = np.maximum(t, 0.0)
        base = np.where(
            t >= 26.5,
            -415.85 + 32.24 * t - 0.43 * t**2,
            16.0 * (10.0 * tpos / safe_heat) ** a,
        )
        base = np.where(t > 0.0, base, 0.0)
        day_len = _day_length_h(lat, _MID_DOY[m])
        pet += base * (day_len / 12.0) * (_DAYS[m] / 30.0)
    nan = np.isnan(mat) | np.isnan(lat) | np.isnan(amp)
    return np.where(nan, np.nan, pet)


def ipcc_climate_zone(
    mean_temperature_c: ArrayLike,
    annual_precip_mm_per_yr: ArrayLike,
    latitude_deg: ArrayLike,
    *,
    elevation_m: ArrayLike | None = None,
    pet_mm_per_yr: ArrayLike | None = None,
    annual_half_range_c: ArrayLike | None = None,
) -> NDArray[np.uint8]:
    """IPCC climate zone code per pixel (see :data:`IPCC_CLIMATE_NAMES` and the module docstring for the rule).

    Args:
        mean_temperature_c: annual mean air temperature, °C.
        annual_precip_mm_per_yr: annual precipitation, mm/yr (>= 0).
        latitude_deg: latitude, degrees north (negative south).
        elevation_m: optional elevation, m a.s.l. (only used for tropical montane).
        pet_mm_per_yr: optional PET raster, mm/yr; default Thornthwaite on the monthly proxy.
        annual_half_range_c: optional half annual temperature range, °C; default from latitude.

    Returns:
        uint8 codes 1–12, 0 where any required input is NaN.
    """
    mat, lat, amp, prec, pet, elev = _climate_inputs(
        mean_temperature_c, annual_precip_mm_per_yr, latitude_deg, elevation_m, pet_mm_per_yr, annual_half_range_c
    )
    shape = mat.shape
    moist = prec >= pet
    warmest = mat + amp
    out = np.zeros(shape, dtype=np.uint8)
    tropical = mat > 18.0
    out[tropical & (prec > 2000.0)] = 2
    out[tropical & (prec > 1000.0) & (prec <= 2000.0)] = 3
    out[tropical & (prec <= 1000.0)] = 4
    out[tropical & (elev > 1000.0)] = 1
    warm = (mat > 10.0) & (mat <= 18.0)
    out[warm] = np.where(moist[warm], 5, 6)
    cool = (mat > 0.0) & (mat <= 10.0)
    out[cool] = np.where(moist[cool], 7, 8)
    cold = mat <= 0.0
    boreal = cold & (warmest > 10.0)
    out[boreal] = np.where(moist[boreal], 9, 10)
    polar = cold & (warmest <= 10.0)
    out[polar] = np.where(moist[polar], 11, 12)
    nan = np.isnan(mat) | np.isnan(prec) | np.isnan(lat) | np.isnan(amp) | np.isnan(pet)
    if elevation_m is not None:
        nan = nan | (tropical & np.isnan(elev))
    out[nan] = 0
    return out


def fao_ecological_zone(
    mean_temperature_c: ArrayLike,
    annual_precip_mm_per_yr: ArrayLike,
    latitude_deg: ArrayLike,
    *,
    elevation_m: ArrayLike | None = None,
    pet_mm_per_yr: ArrayLike | None = None,
    annual_half_range_c: ArrayLike | None = None,
) -> NDArray[np.uint8]:
    """FAO global ecological zone code per pixel (see :data:`FAO_ZONE_NAMES` and the module docstring).

    Arguments as for :func:`ipcc_climate_zone`; without ``elevation_m`` no pixel is a mountain zone.

    Returns:
        uint8 codes 1–13, 0 where any required input is NaN.
    """
    mat, lat, amp, prec, pet, elev = _climate_inputs(
        mean_temperature_c, annual_precip_mm_per_yr, latitude_deg, elevation_m, pet_mm_per_yr, annual_half_range_c
    )
    shape = mat.shape
    months_above_10 = np.zeros(shape, dtype=np.int64)
    for m in range(12):
        months_above_10 += _month_t(mat, lat, amp, m) > 10.0
    coldest = mat - amp
    warmest = mat + amp
    out = np.zeros(shape, dtype=np.uint8)

    tropical = coldest >= 18.0
    subtropical = ~tropical & (months_above_10 >= 8)
    temperate = ~tropical & (months_above_10 >= 4) & (months_above_10 < 8)
    boreal = ~tropical & (months_above_10 >= 1) & (months_above_10 < 4) & (warmest > 10.0)
    polar = ~tropical & ~subtropical & ~temperate & ~boreal

    out[tropical & (prec > 2000.0)] = 1
    out[tropical & (prec > 1000.0) & (prec <= 2000.0)] = 2
    out[tropical & (prec <= 1000.0)] = 3
    out[tropical & (elev > _MOUNTAIN_M["tropical"])] = 4
    out[subtropical] = np.where(prec[subtropical] >= pet[subtropical], 5, 6)
    out[subtropical & (elev > _MOUNTAIN_M["subtropical"])] = 7
    out[temperate] = np.where(coldest[temperate] > 0.0, 8, 9)
    out[temperate & (elev > _MOUNTAIN_M["temperate"])] = 10
    out[boreal] = 11
    out[boreal & (elev > _MOUNTAIN_M["boreal"])] = 12
    out[polar] = 13
    nan = (
        np.isnan(mat)
        | np.isnan(prec)
        | np.isnan(lat)
        | np.isnan(amp)
        | (subtropical & np.isnan(pet))
    )
    if elevation_m is not None:
        nan = nan | np.isnan(elev)
    out[nan] = 0
    return out


# ---------------------------------------------------------------------- private
def _climate_inputs(
    mean_temperature_c: ArrayLike,
    annual_precip_mm_per_yr: ArrayLike,
    latitude_deg: ArrayLike,
    elevation_m: ArrayLike | None,
    pet_mm_per_yr: ArrayLike | None,
    annual_half_range_c: ArrayLike | None,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Validated, broadcast (MAT, latitude, half range, MAP, PET, elevation) for the zone classifications."""
    mat, lat, amp = _inputs(mean_temperature_c, latitude_deg, annual_half_range_c)
    prec = as_float(annual_precip_mm_per_yr, "annual_precip_mm_per_yr")
    shape = np.broadcast_shapes(mat.shape, prec.shape)
    mat, lat, amp, prec = (np.broadcast_to(x, shape) for x in (mat, lat, amp, prec))
    pet = (
        thornthwaite_pet_mm_per_yr(mat, lat, annual_half_range_c=amp)
        if pet_mm_per_yr is None
        else np.broadcast_to(as_float(pet_mm_per_yr, "pet_mm_per_yr"), shape)
    )
    elev = np.zeros(shape) if elevation_m is None else np.broadcast_to(as_float(elevation_m, "elevation_m"), shape)
    return mat, lat, amp, prec, pet, elev


def _inputs(
    mean_temperature_c: ArrayLike, latitude_deg: ArrayLike, annual_half_range_c: ArrayLike | None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    mat = as_float(mean_temperature_c, "mean_temperature_c")
    lat = as_float(latitude_deg, "latitude_deg")
    if np.any(np.abs(lat[np.isfinite(lat)]) > 90.0):
        raise ValueError("latitude_deg must be within -90..90 degrees")
    amp = (
        annual_half_range_c_from_latitude(lat)
        if annual_half_range_c is None
        else as_float(annual_half_range_c, "annual_half_range_c")
    )
    if np.any(amp[np.isfinite(amp)] < 0.0):
        raise ValueError("annual_half_range_c must be >= 0 degC")
    shape = np.broadcast_shapes(mat.shape, lat.shape, amp.shape)
    return (np.broadcast_to(mat, shape), np.broadcast_to(lat, shape), np.broadcast_to(amp, shape))


def _month_t(mat: FloatArray, lat: FloatArray, amp: FloatArray, month: int) -> FloatArray:
    north = np.cos(2.0 * np.pi * month / 12.0)
    if not np.any(lat < 0.0):  # one hemisphere: a scalar phase (the same numbers, without a per-pixel choice)
        return mat - amp * north
    phase = np.where(lat < 0.0, -north, north)
    return mat - amp * phase


def _day_length_h(lat: FloatArray, doy: float) -> FloatArray:
    decl = np.deg2rad(23.44) * np.sin(2.0 * np.pi * (284.0 + doy) / 365.0)
    x = -np.tan(np.deg2rad(np.clip(lat, -89.9, 89.9))) * np.tan(decl)
    return 24.0 / np.pi * np.arccos(np.clip(x, -1.0, 1.0))
