"""Karst (carbonate weathering) carbon sink: thermodynamic MPD per pixel and hydrochemical runoff per catchment.

Carbonate dissolution by carbonic acid, ``CaCO3 + CO2 + H2O → Ca²⁺ + 2 HCO3⁻``, takes one CO2 from soil air/the
atmosphere per two HCO3⁻ produced, so half of the dissolved inorganic carbon (DIC) is a sink (FACTORS §C1; Zeng, Liu &
Kaufmann 2019, eq. 1: ``CCSF = 0.5 × 12 × R × DIC``).

**(a) Maximum potential dissolution (MPD)**, per pixel (:func:`karst_sink_mpd_t_c_per_km2_yr`)::

    CCSF_MPD [t C km⁻² yr⁻¹] = 12 × runoff [m/yr] × [Ca²⁺]_eq [mmol/L]

(for calcite DIC_eq ≈ 2 [Ca²⁺]_eq, and 0.5 × 2 = 1; 1 m/yr over 1 km² is 10⁹ L, × 1 mmol/L = 10⁶ mol, × 12 g/mol =
12 t). It is an upper bound: it assumes the water leaves at calcite saturation.

- ``[Ca²⁺]_eq`` (:func:`calcium_equilibrium_mmol_per_l`): ``( pCO2·K1·KC·KH / (4·K2·γCa·γHCO3²) )^(1/3)`` mol/L with
  the Plummer & Busenberg (1982) temperature functions of FACTORS §C3 (T in K, log = log10), the cube root applied to
  the whole ratio (the §C3 markdown typo puts it on the denominator only). Activity coefficients are extended
  Debye–Hückel (Truesdell & Jones 1974): ``log γ = −A z² √I / (1 + a B √I)`` with ``A = 0.4883 + 8.074e-4 Tc``,
  ``B = 0.3241 + 1.600e-4 Tc`` (Å⁻¹, i.e. 10⁸ cm⁻¹) and ion sizes a = 5.0 Å (Ca²⁺), 5.4 Å (HCO3⁻), I = 0.1 mol/L
  by default as in §C3. **Deviation from §C3 as printed:** §C3 (and the CarboKitten code it was read from) writes
  ``A = −0.4883 + …``, ``B = −0.3241 + …`` and ``5.0·10⁻⁸ B`` with B not scaled by 10⁸. Taken literally that makes
  log γ positive (γCa ≈ 3.9 at 25 °C, physically impossible for an ionic solution, where Debye–Hückel γ < 1) and
  drops the ion-size term; at 25 °C and pCO2 = 10⁻² atm it gives 0.70 mmol/L against 2.25 mmol/L here (1.39 for
  ideal activities γ = 1, 1.6 with a self-consistent ionic strength). sinkmap uses the standard signs and units.
  ``ionic_strength_mol_per_l=None`` solves I = 3[Ca²⁺] self-consistently instead of fixing I = 0.1.
- Soil pCO2 (:func:`soil_pco2_atm_brook`): Brook, Folkoff & Box (1983),
  ``log10 pCO2 = −3.47 + 2.09 (1 − exp(−0.00172 AET))``, AET in mm/yr, **pCO2 in atm** (at AET = 0 it gives
  10^−3.47 atm = 339 ppmv, the atmospheric value of 1983, so the unit must be atm rather than % or ppmv), clamped
  to the §C3 range 10^−3.5…10^−1.5 atm.
- Runoff = P − AET with AET from Turc (1954, 1961) (:func:`turc_aet_mm_per_yr`):
  ``AET = P / sqrt(0.9 + P²/L²)``, ``L = 300 + 25 T + 0.05 T³`` (mm/yr, T = annual mean air temperature °C),
  capped at P; where L <= 0 (T <= −10 °C) AET = 0. The same AET feeds Brook's pCO2 unless an AET raster is passed.
  With T = 15 °C and P = 1200 mm/yr it gives AET ≈ 702 mm/yr and runoff ≈ 0.50 m/yr.
- Water temperature is taken as the annual mean air temperature clipped to 0–90 °C (the fits' range; no liquid
  dissolution below 0 °C).
- ``carbonate`` codes (DESIGN.md): 1 exposed carbonate, 2 buried/covered carbonate, 0 other. Code 2 counts only
  with ``include_buried=True`` — report the area basis with the result (FACTORS §F4).

**(b) Hydrochemical runoff**, per gauged catchment (:func:`karst_sink_hydrochem_t_c_per_km2_yr`)::

    CSF [t C km⁻² yr⁻¹] = ½ × (1 − f_nc) × [HCO3⁻] [mg/L] × Q [L/s] × 3.1536e7 [s/yr] × 1e-9 [t/mg] × (12/61) / A [km²]

where f_nc is the fraction of HCO3⁻ produced by sulfuric/nitric-acid weathering (not a CO2 sink; 3–32 % in Chinese
catchments, FACTORS §C2). :func:`read_catchment_table` reads the inputs from a CSV.

**Nodata:** MPD outputs are float64 with NaN on non-carbonate pixels (and buried ones unless included), where
``valid`` is False, or where temperature/precipitation is NaN.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from sinkmap.errors import ConfigError, InputNotFoundError
from sinkmap.kernels.carbon._common import FloatArray, as_codes, as_float, require_codes, valid_mask

__all__ = [
    "ATMOSPHERIC_SHARE_OF_DIC",
    "BROOK_COEFFICIENTS",
    "CATCHMENT_COLUMNS",
    "DEFAULT_IONIC_STRENGTH_MOL_PER_L",
    "PCO2_RANGE_ATM",
    "SECONDS_PER_YEAR",
    "TURC_COEFFICIENTS",
    "CatchmentTable",
    "activity_coefficients",
    "calcium_equilibrium_mmol_per_l",
    "equilibrium_constants_log10",
    "karst_sink_hydrochem_t_c_per_km2_yr",
    "karst_sink_mpd_t_c_per_km2_yr",
    "read_catchment_table",
    "runoff_m_per_yr",
    "soil_pco2_atm_brook",
    "turc_aet_mm_per_yr",
]

# These constants are also shipped, with provenance, in data/factors/karst.csv (a test keeps the two equal).
ATMOSPHERIC_SHARE_OF_DIC = 0.5
BROOK_COEFFICIENTS = (-3.47, 2.09, 0.00172)  # intercept, amplitude, rate (per mm/yr AET)
PCO2_RANGE_ATM = (10.0**-3.5, 10.0**-1.5)
DEFAULT_IONIC_STRENGTH_MOL_PER_L = 0.1
TURC_COEFFICIENTS = (0.9, 300.0, 25.0, 0.05)  # denominator constant, L0, L1, L3
SECONDS_PER_YEAR = 3.1536e7  # 365-day year, as in FACTORS §C2
_C_PER_HCO3 = 12.0 / 61.0
_KELVIN = 273.15

CATCHMENT_COLUMNS = ("catchment_id", "area_km2", "discharge_l_per_s", "hco3_mg_per_l")
_OPTIONAL_CATCHMENT_COLUMNS = ("non_carbonic_fraction",)


@dataclass(frozen=True)
class EquilibriumConstants:
    """log10 of the carbonate equilibrium constants at a temperature (Plummer & Busenberg 1982)."""

    log_k1: FloatArray
    log_k2: FloatArray
    log_kc: FloatArray
    log_kh: FloatArray


def equilibrium_constants_log10(temperature_c: ArrayLike) -> EquilibriumConstants:
    """log10 K1, K2, KC (calcite), KH (CO2 Henry) at ``temperature_c`` (°C, valid 0–90), FACTORS §C3.

    At 25 °C: log K1 = −6.35, log K2 = −10.33, log KC = −8.48, log KH = −1.47.
    """
    t = as_float(temperature_c, "temperature_c") + _KELVIN
    lt = np.log10(t)
    return EquilibriumConstants(
        log_k1=-356.3094 - 0.06091964 * t + 21834.37 / t + 126.8339 * lt - 1684915.0 / t**2,
        log_k2=-107.8871 - 0.03252849 * t + 5151.79 / t + 38.92561 * lt - 563713.9 / t**2,
        log_kc=-171.9065 - 0.077993 * t + 2839.319 / t + 71.595 * lt,
        log_kh=108.3865 + 0.01985076 * t - 6919.53 / t - 40.45154 * lt + 669365.0 / t**2,
    )


def activity_coefficients(
    temperature_c: ArrayLike,
    *,
    ionic_strength_mol_per_l: ArrayLike = DEFAULT_IONIC_STRENGTH_MOL_PER_L,
) -> tuple[FloatArray, FloatArray]:
    """Activity coefficients (γCa²⁺, γHCO3⁻), extended Debye–Hückel (see module docstring); both < 1 for I > 0."""
    tc = as_float(temperature_c, "temperature_c")
    ionic = as_float(ionic_strength_mol_per_l, "ionic_strength_mol_per_l")
    if np.any(ionic[np.isfinite(ionic)] < 0):
        raise ValueError("ionic_strength_mol_per_l must be >= 0")
    a = 0.4883 + 8.074e-4 * tc
    b = 0.3241 + 1.600e-4 * tc  # per angstrom (1e8 per cm)
    s = np.sqrt(ionic)
    log_ca = -4.0 * a * s / (1.0 + 5.0 * b * s)
    log_hco3 = -1.0 * a * s / (1.0 + 5.4 * b * s)
    return 10.0**log_ca, 10.0**log_hco3


def calcium_equilibrium_mmol_per_l(
    temperature_c: ArrayLike,
    pco2_atm: ArrayLike,
    *,
    ionic_strength_mol_per_l: float | None = DEFAULT_IONIC_STRENGTH_MOL_PER_L,
) -> FloatArray:
    """Equilibrium Ca²⁺ concentration of water in contact with calcite and CO2 at ``pco2_atm``, mmol/L.

    Args:
        temperature_c: water temperature, °C (0–90, the range of the constants' fits; not clipped here).
        pco2_atm: CO2 partial pressure, atm (> 0; soils 10^−3.5…10^−1.5).
        ionic_strength_mol_per_l: fixed ionic strength (default 0.1, FACTORS §C3), or ``None`` to solve
            I = 3 [Ca²⁺] by fixed-point iteration (closer to real karst water, ~28 % lower concentrations).

    Increases with pCO2 (∝ pCO2^(1/3)) and decreases with temperature (retrograde solubility). NaN gives NaN.
    """
    tc = as_float(temperature_c, "temperature_c")
    p = as_float(pco2_atm, "pco2_atm")
    if np.any(p[np.isfinite(p)] <= 0):
        raise ValueError("pco2_atm must be > 0 atm")
    k = equilibrium_constants_log10(tc)
    log_ratio = k.log_k1 + k.log_kc + k.log_kh - k.log_k2
    base = p * 10.0**log_ratio / 4.0  # mol^3 L^-3 before activity correction

    def solve(ionic: ArrayLike) -> FloatArray:
        g_ca, g_hco3 = activity_coefficients(tc, ionic_strength_mol_per_l=ionic)
        return np.cbrt(base / (g_ca * g_hco3**2))

    if ionic_strength_mol_per_l is not None:
        return solve(ionic_strength_mol_per_l) * 1000.0
    ca = np.cbrt(base)  # ideal start
    for _ in range(50):
        new = solve(3.0 * ca)
        if np.allclose(new, ca, rtol=1e-12, atol=0.0, equal_nan=True):
            ca = new
            break
        ca = new
    return ca * 1000.0


def soil_pco2_atm_brook(aet_mm_per_yr: ArrayLike, *, clamp: bool = True) -> FloatArray:
    """Soil CO2 partial pressure, atm, from actual evapotranspiration (Brook et al. 1983).

    ``log10 pCO2 = −3.47 + 2.09 (1 − exp(−0.00172 AET))`` with AET in mm/yr (>= 0); with ``clamp`` (default) the
    result is limited to 10^−3.5…10^−1.5 atm (FACTORS §C3). AET = 700 mm/yr gives ≈ 0.0098 atm.
    """
    aet = as_float(aet_mm_per_yr, "aet_mm_per_yr")
    c0, c1, k = BROOK_COEFFICIENTS
    log_p = c0 + c1 * (1.0 - np.exp(-k * np.maximum(aet, 0.0)))
    p = 10.0**log_p
    if clamp:
        p = np.clip(p, *PCO2_RANGE_ATM)
    return p


def turc_aet_mm_per_yr(
    annual_precip_mm_per_yr: ArrayLike, mean_temperature_c: ArrayLike
) -> FloatArray:
    """Annual actual evapotranspiration, mm/yr, by Turc (1954): ``P / sqrt(0.9 + P²/L²)``, capped at P.

    ``L = 300 + 25 T + 0.05 T³``; where L <= 0 (T <= −10 °C) the result is 0. P in mm/yr (>= 0), T in °C.
    """
    p = as_float(annual_precip_mm_per_yr, "annual_precip_mm_per_yr")
    t = as_float(mean_temperature_c, "mean_temperature_c")
    if np.any(p[np.isfinite(p)] < 0):
        raise ValueError("annual_precip_mm_per_yr must be >= 0")
    d, l0, l1, l3 = TURC_COEFFICIENTS
    big_l = l0 + l1 * t + l3 * t**3
    safe_l = np.where(big_l > 0, big_l, 1.0)
    aet = np.minimum(p / np.sqrt(d + (p / safe_l) ** 2), p)
    return np.where(big_l > 0, aet, np.where(np.isnan(big_l), np.nan, 0.0))


def runoff_m_per_yr(
    annual_precip_mm_per_yr: ArrayLike,
    mean_temperature_c: ArrayLike,
    *,
    aet_mm_per_yr: ArrayLike | None = None,
) -> FloatArray:
    """Runoff (P − AET), m/yr; AET from Turc unless given (then clipped to 0…P)."""
    p = as_float(annual_precip_mm_per_yr, "annual_precip_mm_per_yr")
    aet = (
        turc_aet_mm_per_yr(p, mean_temperature_c)
        if aet_mm_per_yr is None
        else np.clip(as_float(aet_mm_per_yr, "aet_mm_per_yr"), 0.0, p)
    )
    return (p - aet) / 1000.0


def karst_sink_mpd_t_c_per_km2_yr(
    mean_temperature_c: ArrayLike,
    annual_precip_mm_per_yr: ArrayLike,
    carbonate: ArrayLike,
    *,
    aet_mm_per_yr: ArrayLike | None = None,
    include_buried: bool = False,
    ionic_strength_mol_per_l: float | None = DEFAULT_IONIC_STRENGTH_MOL_PER_L,
    valid: ArrayLike | None = None,
) -> FloatArray:
    """Carbonate-weathering carbon sink by maximum potential dissolution, t C/km²/yr (positive = sink).

    Args:
        mean_temperature_c: annual mean air temperature, °C (used as water temperature, clipped to 0–90).
        annual_precip_mm_per_yr: annual precipitation, mm/yr (>= 0).
        carbonate: lithology codes, 1 exposed carbonate, 2 buried/covered carbonate, 0 other.
        aet_mm_per_yr: optional actual evapotranspiration, mm/yr; default Turc from T and P.
        include_buried: count code 2 pixels (default only exposed carbonate).
        ionic_strength_mol_per_l: see :func:`calcium_equilibrium_mmol_per_l`.
        valid: optional boolean mask.

    Returns:
        float64 array, NaN off carbonate (and where inputs are NaN). Divide by 100 for t C/ha/yr. With
        T = 15 °C, P = 1200 mm/yr: ≈ 15.7 t C/km²/yr.
    """
    t = as_float(mean_temperature_c, "mean_temperature_c")
    p = as_float(annual_precip_mm_per_yr, "annual_precip_mm_per_yr")
    carb = as_codes(carbonate, "carbonate")
    carb = np.where(carb < 0, -1, carb)
    require_codes(carb, (-1, 0, 1, 2), "carbonate")
    shape = np.broadcast_shapes(t.shape, p.shape, carb.shape)
    t, p = np.broadcast_to(t, shape), np.broadcast_to(p, shape)
    carb = np.broadcast_to(carb, shape)
    on = (carb == 1) | ((carb == 2) if include_buried else np.zeros(shape, dtype=bool))
    on = on & valid_mask(valid, shape)
    # the chemistry runs on the carbonate cells only (elementwise, so the same numbers as on the whole array)
    t_on, p_on = t[on], p[on]
    aet = (
        turc_aet_mm_per_yr(p_on, t_on)
        if aet_mm_per_yr is None
        else np.clip(np.broadcast_to(as_float(aet_mm_per_yr, "aet_mm_per_yr"), shape)[on], 0.0, p_on)
    )
    runoff = (p_on - aet) / 1000.0
    pco2 = soil_pco2_atm_brook(aet)
    ca = calcium_equilibrium_mmol_per_l(
        np.clip(t_on, 0.0, 90.0), pco2, ionic_strength_mol_per_l=ionic_strength_mol_per_l
    )
    out = np.full(shape, np.nan)
    out[on] = 2.0 * ATMOSPHERIC_SHARE_OF_DIC * 12.0 * runoff * ca
    return out


def karst_sink_hydrochem_t_c_per_km2_yr(
    hco3_mg_per_l: ArrayLike,
    discharge_l_per_s: ArrayLike,
    area_km2: ArrayLike,
    non_carbonic_fraction: ArrayLike = 0.0,
) -> FloatArray:
    """Catchment carbon sink from river hydrochemistry, t C/km²/yr (positive = sink).

    ``½ × (1 − f_nc) × [HCO3⁻] × Q × 3.1536e7 s/yr × 1e-9 t/mg × 12/61 / A``.

    Args:
        hco3_mg_per_l: discharge-weighted mean HCO3⁻ concentration, mg/L (>= 0).
        discharge_l_per_s: mean annual discharge, L/s (>= 0).
        area_km2: catchment (carbonate) area, km² (> 0).
        non_carbonic_fraction: fraction of HCO3⁻ from sulfuric/nitric-acid weathering, 0–1 (default 0).
    """
    c = as_float(hco3_mg_per_l, "hco3_mg_per_l")
    q = as_float(discharge_l_per_s, "discharge_l_per_s")
    a = as_float(area_km2, "area_km2")
    f = as_float(non_carbonic_fraction, "non_carbonic_fraction")
    for name, arr in (("hco3_mg_per_l", c), ("discharge_l_per_s", q)):
        if np.any(arr[np.isfinite(arr)] < 0):
            raise ValueError(f"{name} must be >= 0")
    if np.any(a[np.isfinite(a)] <= 0):
        raise ValueError("area_km2 must be > 0")
    if np.any((f[np.isfinite(f)] < 0) | (f[np.isfinite(f)] > 1)):
        raise ValueError("non_carbonic_fraction must be within 0..1")
    hco3_t_per_yr = c * q * SECONDS_PER_YEAR * 1e-9
    return ATMOSPHERIC_SHARE_OF_DIC * (1.0 - f) * hco3_t_per_yr * _C_PER_HCO3 / a


@dataclass(frozen=True)
class CatchmentTable:
    """Catchment hydrochemistry read by :func:`read_catchment_table` (arrays aligned with ``catchment_id``)."""

    catchment_id: tuple[str, ...]
    area_km2: FloatArray
    discharge_l_per_s: FloatArray
    hco3_mg_per_l: FloatArray
    non_carbonic_fraction: FloatArray

    def sink_t_c_per_km2_yr(self) -> FloatArray:
        """Per-catchment sink by :func:`karst_sink_hydrochem_t_c_per_km2_yr`, t C/km²/yr."""
        return karst_sink_hydrochem_t_c_per_km2_yr(
            self.hco3_mg_per_l, self.discharge_l_per_s, self.area_km2, self.non_carbonic_fraction
        )

    def sink_t_c_per_yr(self) -> FloatArray:
        """Per-catchment total sink, t C/yr (density × area)."""
        return self.sink_t_c_per_km2_yr() * self.area_km2


def read_catchment_table(path: str | Path) -> CatchmentTable:
    """Read a catchment CSV: ``catchment_id, area_km2, discharge_l_per_s, hco3_mg_per_l`` and optionally
    ``non_carbonic_fraction`` (header names case-insensitive; extra columns ignored).

    Raises:
        InputNotFoundError: the file does not exist.
        ConfigError: missing columns, duplicate ids, blank/non-numeric/out-of-range values; the message names
            the file, line and column.
    """
    p = Path(path)
    if not p.is_file():
        raise InputNotFoundError(f"catchment table {str(p)!r} does not exist")
    text = p.read_bytes().decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ConfigError(f"{p.name}: empty file (expected a header line)") from None
    missing = [c for c in CATCHMENT_COLUMNS if c not in header]
    if missing:
        raise ConfigError(
            f"{p.name} line 1: missing column(s) {missing}; a catchment table needs {list(CATCHMENT_COLUMNS)} "
            f"and optionally {list(_OPTIONAL_CATCHMENT_COLUMNS)}"
        )
    idx = {
        c: header.index(c)
        for c in (*CATCHMENT_COLUMNS, *_OPTIONAL_CATCHMENT_COLUMNS)
        if c in header
    }
    ids: list[str] = []
    seen: dict[str, int] = {}
    values: dict[str, list[float]] = {
        c: [] for c in (*CATCHMENT_COLUMNS[1:], "non_carbonic_fraction")
    }
    for line_no, cells in enumerate(reader, start=2):
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) < len(header):
            raise ConfigError(
                f"{p.name} line {line_no}: {len(cells)} cells but the header has {len(header)} columns"
            )
        cid = cells[idx["catchment_id"]].strip()
        if not cid:
            raise ConfigError(f"{p.name} line {line_no}, column 'catchment_id': blank")
        if cid in seen:
            raise ConfigError(
                f"{p.name} line {line_no}: duplicate catchment_id {cid!r} (first at line {seen[cid]})"
            )
        seen[cid] = line_no
        ids.append(cid)
        for col in values:
            if col not in idx:
                values[col].append(0.0)
                continue
            raw = cells[idx[col]].strip()
            if not raw and col == "non_carbonic_fraction":
                values[col].append(0.0)
                continue
            try:
                v = float(raw)
            except ValueError:
                raise ConfigError(
                    f"{p.name} line {line_no}, column {col!r}: {raw!r} is not a number"
                ) from None
            if not math.isfinite(v):
                raise ConfigError(f"{p.name} line {line_no}, column {col!r}: {raw!r} is not finite")
            bad = (
                (col == "area_km2" and v <= 0)
                or (col in ("discharge_l_per_s", "hco3_mg_per_l") and v < 0)
                or (col == "non_carbonic_fraction" and not 0 <= v <= 1)
            )
            if bad:
                rule = {"area_km2": "> 0", "non_carbonic_fraction": "within 0..1"}.get(col, ">= 0")
                raise ConfigError(f"{p.name} line {line_no}, column {col!r}: {v} must be {rule}")
            values[col].append(v)
    if not ids:
        raise ConfigError(f"{p.name}: no catchment rows")
    return CatchmentTable(
        catchment_id=tuple(ids),
        area_km2=np.array(values["area_km2"]),
        discharge_l_per_s=np.array(values["discharge_l_per_s"]),
        hco3_mg_per_l=np.array(values["hco3_mg_per_l"]),
        non_carbonic_fraction=np.array(values["non_carbonic_fraction"]),
    )
