"""One self-contained HTML page from the report's data: the template, the chart library
(uPlot, vendored in report_assets/uplot/ with its MIT licence), the page's own script
and style, and the data inline as JSON. Nothing is fetched from anywhere when the page
opens (its Content-Security-Policy forbids it too), so it works offline and by mail.
"""

from __future__ import annotations

import html
import json
import re
from importlib import resources

from harness.results import write_text_atomic

ASSETS = "harness.report_assets"
_PLACEHOLDER = re.compile(r"__(TITLE|UPLOT_CSS|REPORT_CSS|DATA|UPLOT_JS|REPORT_JS)__")


def _asset(name: str) -> str:
    return resources.files(ASSETS).joinpath(name).read_text(encoding="utf-8")


def inline_json(data: dict) -> str:
    """JSON that cannot end the <script> element it sits in: '<', '>' and '&' are
    written as \\u escapes, which JSON.parse reads back as the same characters."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(data: dict) -> str:
    parts = {
        "TITLE": html.escape(str(data.get("title", "report"))),
        "UPLOT_CSS": _asset("uplot/uPlot.min.css"),
        "REPORT_CSS": _asset("report.css"),
        "DATA": inline_json(data),
        "UPLOT_JS": _asset("uplot/uPlot.iife.min.js"),
        "REPORT_JS": _asset("report.js"),
    }
    # One pass over the template: text put in is never searched for placeholders again.
    return _PLACEHOLDER.sub(lambda match: parts[match.group(1)], _asset("report.html"))


def write_page(path: str, data: dict) -> None:
    """Write the page atomically (OSError if it cannot be written)."""
    write_text_atomic(path, render(data))
