"""What a pipeline's own choices are called: a changed forest definition is the user's (not China's, cited with
the changes), and the roll-up row is "All regions" unless the pipeline names its nation."""

from __future__ import annotations

from pathlib import Path

import yaml

from badinput_world import World
from sinkmap.config import CarbonSpec, load_pipeline
from sinkmap.kernels.forest import CHINA


def _load(tmp_path: Path, *, drop: tuple[str, ...] = (), **changes: object) -> object:
    world = World(tmp_path)
    world.pipeline.update(changes)
    for key in drop:
        del world.pipeline[key]
    return load_pipeline(world.write(yaml.safe_dump(world.pipeline, allow_unicode=True)))


def test_changed_definition_is_named_and_cited_as_the_users(tmp_path: Path) -> None:
    config = _load(tmp_path, forest_definition={"canopy_cover_min_pct": 10, "special_shrubland": None})
    definition = config.forest_definition  # type: ignore[attr-defined]
    assert definition.name == "User forest definition"
    assert definition.source.startswith("changes from China's national definition in pipeline.yaml: ")
    assert "canopy_cover_min_pct 10.0 (China's: 20.0)" in definition.source
    assert "special_shrubland None" in definition.source
    # still China-based, so the automatic factor set stays China's Tier 2
    assert CarbonSpec().resolved_factor_set(definition) == "china_tier2"


def test_definition_named_by_the_pipeline_keeps_its_name(tmp_path: Path) -> None:
    config = _load(tmp_path, forest_definition={"name": "FAO FRA 2020", "source": "FAO (2018) FRA 2020 terms", "canopy_cover_min_pct": 10})
    definition = config.forest_definition  # type: ignore[attr-defined]
    assert (definition.name, definition.source) == ("FAO FRA 2020", "FAO (2018) FRA 2020 terms")
    assert CarbonSpec().resolved_factor_set(definition) == "ipcc_tier1"


def test_unchanged_definition_is_chinas(tmp_path: Path) -> None:
    config = _load(tmp_path, forest_definition={"canopy_cover_min_pct": 20})
    assert config.forest_definition == CHINA  # type: ignore[attr-defined]


def test_nation_defaults_to_all_regions_not_china(tmp_path: Path) -> None:
    config = _load(tmp_path, drop=("nation",))
    nation = config.nation  # type: ignore[attr-defined]
    assert (nation.region_id, nation.name_zh, nation.name_en) == ("all", "全部区域", "All regions")


def test_run_summary_names_the_factor_set_and_what_is_not_estimated(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from sinkmap.cli import main

    world = World(tmp_path)
    world.write()
    assert main(["run", str(world.yaml)]) == 0
    out = capsys.readouterr().out
    assert "forest factor set China Tier 2" in out
    assert "grassland sink not estimated: no grassland management/degradation layer" in out
    assert "t CO2/yr" in out and "CO2e" not in out.split("carbon (")[1].split("\n\n")[0]
