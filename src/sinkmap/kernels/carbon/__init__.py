"""Per-pixel carbon science: pure numpy kernels for forests, grasslands, wetlands, karst and stock change.

Modules: :mod:`~sinkmap.kernels.carbon.zones` (climate/ecological zones), :mod:`~sinkmap.kernels.carbon.forest`,
:mod:`~sinkmap.kernels.carbon.grassland`, :mod:`~sinkmap.kernels.carbon.wetland`, :mod:`~sinkmap.kernels.carbon.karst`,
:mod:`~sinkmap.kernels.carbon.change` and :mod:`~sinkmap.kernels.carbon.invest`. Every kernel takes numpy arrays, returns new
arrays (never modifying its inputs), does no file access and no logging (the two table readers,
:func:`~sinkmap.kernels.carbon.invest.read_invest_carbon_table` and
:func:`~sinkmap.kernels.carbon.karst.read_catchment_table`, parse user CSVs next to the kernels that use them); factor values come from a
:class:`sinkmap.factors.FactorTables` passed in by the caller. Densities are per hectare; fluxes are signed so that a
sink (removal from the atmosphere) is positive.
"""

from __future__ import annotations

__all__ = ["C_TO_CO2"]

C_TO_CO2: float = 44.0 / 12.0
"""Mass ratio CO2 / C, to convert t C to t CO2e."""
