"""The HTML report's assets (package data): template, script, style, and uPlot (MIT, see uplot/LICENSE)."""
