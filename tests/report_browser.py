"""Open an HTML report in the real browser (Debian's chromium, driven by Playwright
through executable_path: no browser download) and say what it did: console errors,
every request the page made, and each chart uPlot drew with its data points."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"


@dataclass
class Opened:
    errors: list = field(default_factory=list)  # console errors and uncaught exceptions
    requests: list = field(default_factory=list)  # every URL the page asked for
    charts: dict = field(default_factory=dict)  # chart id -> points per series (non-null values)
    canvases: int = 0  # <canvas> elements in the page
    overlaps: list = field(default_factory=list)  # pairs of charts drawn over each other
    text: str = ""  # the page's visible text
    seconds: float = 0.0  # from navigation to every chart drawn


# Pairs of chart ids whose drawn plots (uPlot's root element) cover each other.
OVERLAPS = """(() => {
  const boxes = window.reportCharts.map(c => [c.id, c.plot.root.getBoundingClientRect()]);
  const out = [];
  boxes.forEach(([a, r], i) => boxes.slice(i + 1).forEach(([b, q]) => {
    if (r.left < q.right - 1 && q.left < r.right - 1 && r.top < q.bottom - 1 && q.top < r.bottom - 1) out.push([a, b]);
  }));
  return out;
})()"""


def open_report(path, screenshot=None, viewport=(1280, 900)) -> Opened:
    opened = Opened()
    with sync_playwright() as playwright:
        # --no-sandbox: the suite runs as root, where chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            page.on("console", lambda message: message.type == "error" and opened.errors.append(message.text))
            page.on("pageerror", lambda error: opened.errors.append(str(error)))
            page.on("request", lambda request: opened.requests.append(request.url))
            began = time.monotonic()
            page.goto(f"file://{path}", wait_until="load")
            page.wait_for_function("window.reportCharts !== undefined")
            opened.seconds = time.monotonic() - began
            opened.charts = page.evaluate(
                "Object.fromEntries(window.reportCharts.map(c => [c.id, "
                "c.plot.data.slice(1).map(s => s.filter(v => v !== null && v !== undefined).length)]))")
            opened.canvases = page.locator("canvas").count()
            opened.overlaps = page.evaluate(OVERLAPS)
            opened.text = page.inner_text("body")
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return opened


def assert_drawn(opened: Opened, path) -> None:
    """No console error, no request but the file itself, and every chart drew points."""
    assert opened.errors == [], opened.errors
    assert opened.requests == [f"file://{path}"], opened.requests
    assert opened.charts, "no chart drawn"
    assert opened.canvases >= len(opened.charts)
    assert opened.overlaps == [], opened.overlaps
    empty = {chart: points for chart, points in opened.charts.items() if not points or max(points) == 0}
    assert not empty, f"charts without data: {empty}"
