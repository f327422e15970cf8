"""The forest step: forest masks under a forest definition, land and forest area, growing stock, per epoch.

Per epoch it classifies every pixel with :func:`sinkmap.kernels.forest.forest_components` and returns per-m²
values for :data:`FOREST_STATS` (areas as 1 per m² of pixel, stock volume as m³/m²), the forest-mask and
stock-volume rasters, and the components for later steps (the carbon step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sinkmap.engine.step import Earlier, RasterSpec, StatSpec, Step, StepOutput, WindowInputs
from sinkmap.errors import ConfigError
from sinkmap.kernels.forest import ForestComponents, ForestDefinition, forest_components

__all__ = ["FOREST_STATS", "ForestProducts", "ForestStep"]

FOREST_CLASS_CODES = {"tree": 1, "bamboo": 2, "special_shrub": 3}
MASK_NODATA = 255
DENSITY_NODATA = -9999.0

#: (name, unit, description) of the forest statistics, each per epoch.
FOREST_STATS = (
    ("land_area_m2", "m2", "mapped land area inside the region (valid land-cover or canopy pixels), m²"),
    ("forest_area_m2", "m2", "forest area under the forest definition in effect, m²"),
    ("tree_stand_area_m2", "m2", "forest area from tree stands (canopy cover threshold or forest classes), m²"),
    ("bamboo_area_m2", "m2", "forest area from bamboo stands, m²"),
    ("special_shrub_area_m2", "m2", "forest area from nationally designated special shrubland, m²"),
    ("stock_volume_m3", "m3", "growing stock volume of tree stands (乔木林; 森林蓄积), m³"),
)
#: the coverage denominator statistic of each coverage basis (see ``ForestDefinition.coverage_basis``)
COVERAGE_BASIS_STATS = {
    "region_area": ("coverage_basis_region_area_m2", "area of the region inside the grid (土地总面积 basis), m²"),
    "mapped_land": ("coverage_basis_mapped_land_m2", "mapped land area (coverage basis), m²"),
    "official_land_area": (
        "coverage_basis_official_land_area_m2",
        "area of the region inside the grid, m² (the coverage denominator is the region's official land area)",
    ),
}


@dataclass(frozen=True)
class ForestProducts:
    """Per epoch: the forest components and the mapped-land mask of the window."""

    components: dict[int, ForestComponents]
    mapped: dict[int, NDArray[np.bool_]]


@dataclass(frozen=True)
class ForestStep(Step[ForestProducts]):
    """Forest area, coverage basis and growing stock under ``definition``.

    Attributes:
        definition: the forest definition in effect.
        epochs: the job's epochs.
        loss_base_year: with a ``loss_year`` layer, the year of the base canopy layer (Hansen: 2000); canopy of a
            later epoch is the base canopy with pixels lost up to that epoch set to 0.
        rasters_wanted: which of ``forest_mask`` and ``stock_volume`` to write.
    """

    name = "forest"
    definition: ForestDefinition
    epochs: tuple[int, ...]
    loss_base_year: int | None = None
    rasters_wanted: tuple[str, ...] = ("forest_mask", "stock_volume")

    def stats(self) -> tuple[StatSpec, ...]:
        basis, basis_text = COVERAGE_BASIS_STATS[self.definition.coverage_basis]
        return tuple(
            StatSpec(name, e, unit, text)
            for e in self.epochs
            for name, unit, text in (*FOREST_STATS, (basis, "m2", basis_text))
        )

    def rasters(self) -> tuple[RasterSpec, ...]:
        out = []
        source = f"{self.definition.name}: {self.definition.source}"
        for e in self.epochs:
            if "forest_mask" in self.rasters_wanted:
                out.append(
                    RasterSpec(
                        "forest_mask",
                        e,
                        "uint8",
                        MASK_NODATA,
                        "class code",
                        f"forest mask {e}: 0 not forest, 1 tree stand, 2 bamboo, 3 special shrubland, 255 no data",
                        {"EPOCH": str(e), "FOREST_DEFINITION": source},
                    )
                )
            if "stock_volume" in self.rasters_wanted:
                out.append(
                    RasterSpec(
                        "stock_volume",
                        e,
                        "float32",
                        DENSITY_NODATA,
                        "m3/ha",
                        f"growing stock volume density of tree-stand pixels {e} (0 elsewhere)",
                        {"EPOCH": str(e)},
                    )
                )
        return tuple(out)

    def _canopy(self, inputs: WindowInputs, epoch: int) -> tuple[NDArray[np.float32], NDArray[np.bool_]] | None:
        """Canopy cover (%) for ``epoch``: read, or a base-year canopy with lost pixels set to 0."""
        if self.loss_base_year is None or not inputs.has("loss_year"):
            got = inputs.layer("canopy_cover", epoch)
            return None if got is None else (got[0].astype(np.float32), got[1])
        base_year = self.loss_base_year
        base = inputs.layer("canopy_cover", base_year) or inputs.layer("canopy_cover", None)
        loss = inputs.layer("loss_year")
        if base is None or loss is None:
            return None
        cover, valid = base
        lost = loss[1] & (loss[0] > 0) & (loss[0].astype(np.int64) + base_year <= epoch)
        return np.where(lost, np.float32(0), cover.astype(np.float32)), valid

    def run(self, inputs: WindowInputs, earlier: Earlier) -> StepOutput[ForestProducts]:
        out = StepOutput(ForestProducts({}, {}))
        for epoch in self.epochs:
            landcover = inputs.categorical("landcover", epoch)
            canopy = self._canopy(inputs, epoch)
            if landcover is not None:
                mapped = landcover >= 0
            elif canopy is not None:
                mapped = canopy[1]
            else:  # validated at load time
                raise ConfigError("a pipeline needs a landcover or canopy_cover layer")
            canopy_pct = None if canopy is None else np.where(canopy[1], canopy[0], np.float32(np.nan))
            comps = forest_components(
                self.definition,
                mapped,
                canopy_cover_pct=canopy_pct,
                landcover=landcover,
                forest_type=inputs.categorical("forest_type", epoch),
                shrub_cover_pct=inputs.continuous("shrub_cover", epoch),
                annual_precip_mm=inputs.continuous("annual_precip", epoch),
                mean_temperature_c=inputs.continuous("mean_temperature", epoch),
                carbonate=inputs.categorical("carbonate", epoch),
                latitude_deg=inputs.latitude_deg,
                elevation_m=inputs.continuous("elevation", epoch),
            )
            forest = comps.forest
            gsv = inputs.continuous("growing_stock", epoch)
            # forest stock (森林蓄积) is the stock of tree stands; bamboo and shrubland carry none
            stock_per_m2 = (
                np.zeros(forest.shape, np.float32)
                if gsv is None
                else np.where(comps.tree & ~np.isnan(gsv), gsv, np.float32(0)) / np.float32(10_000)
            )
            values = (mapped, forest, comps.tree, comps.bamboo, comps.special_shrub, stock_per_m2)
            for (name, _, _), value in zip(FOREST_STATS, values, strict=True):
                out.stats[(name, epoch)] = value
            basis, _ = COVERAGE_BASIS_STATS[self.definition.coverage_basis]
            out.stats[(basis, epoch)] = mapped if self.definition.coverage_basis == "mapped_land" else np.ones(forest.shape, bool)
            if "forest_mask" in self.rasters_wanted:
                mask = np.full(forest.shape, MASK_NODATA, dtype=np.uint8)
                mask[mapped] = 0
                for part, code in FOREST_CLASS_CODES.items():
                    mask[getattr(comps, part)] = code
                out.rasters[("forest_mask", epoch)] = mask
            if "stock_volume" in self.rasters_wanted:
                out.rasters[("stock_volume", epoch)] = np.where(
                    mapped, stock_per_m2 * np.float32(10_000), np.float32(DENSITY_NODATA)
                ).astype(np.float32)
            out.products.components[epoch] = comps
            out.products.mapped[epoch] = mapped
        return out
