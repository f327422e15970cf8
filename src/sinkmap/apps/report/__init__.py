"""``sinkmap report``: one self-contained HTML file per run, plus its figures as PNG for slides.

The report (:func:`build_report`) holds a national choropleth of forest coverage and, when the run has carbon
results, of the carbon sink (official-style layout with the South China Sea islands inset), a map of the chosen
region, bar charts of coverage and stock against targets, the trend chart with projections, tables, the methods
and factor sources, and the run manifest. It works offline: figures are embedded as PNG data URIs, and the page
has no scripts, web fonts or map tiles.
"""

from sinkmap.apps.report.build import (
    ReportResult,
    build_report,
    carbon_columns,
    default_region,
    sink_column,
)

__all__ = ["ReportResult", "build_report", "carbon_columns", "default_region", "sink_column"]
