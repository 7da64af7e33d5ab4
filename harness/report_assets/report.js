// Draws the page from the JSON in #report-data (built by harness/report_data.py):
// text through textContent only (the result file's strings are never parsed as HTML),
// every chart with uPlot. window.reportCharts lists each chart drawn (id, uPlot
// instance) so a test can check that it holds data.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const root = document.getElementById("report");
  const palette = ["#1f6feb", "#d1495b", "#2a9d8f", "#e9a23b", "#7b4bd8", "#5c677d", "#c2185b", "#00838f",
                   "#8d6e63", "#558b2f"];
  const bandColours = { warmup: "rgba(120,120,120,0.15)", ramp: "rgba(42,157,143,0.15)",
                        disruption: "rgba(209,73,91,0.22)" };
  // Time axes tick on whole seconds (a 3-second run gets no 1.05 s ticks).
  const SECOND_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400];
  window.reportCharts = [];

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function percentileLabel(x) {
    const q = 100 * (1 - 1 / x);
    if (q <= 0) return "0%";
    const digits = Math.max(0, Math.ceil(-Math.log10(100 - q)) + 1);
    let text = q.toFixed(Math.min(digits, 6));
    if (text.includes(".")) text = text.replace(/0+$/, "").replace(/\.$/, "");
    return text + "%";
  }

  // The spectrum's ticks: one per decade of 1/(1-q), i.e. 0%, 90%, 99%, 99.9%, ...
  function decades(u, axisIdx, min, max) {
    const out = [];
    for (let x = 1; x <= max * 1.0001; x *= 10) if (x >= min / 1.0001) out.push(x);
    return out;
  }

  function table(spec) {
    const wrap = el("div");
    if (spec.title) wrap.appendChild(el("h3", spec.title));
    const t = el("table");
    const head = el("tr");
    spec.columns.forEach((c) => head.appendChild(el("th", c)));
    t.appendChild(head);
    spec.rows.forEach((row) => {
      const tr = el("tr");
      row.forEach((cell) => {
        const td = el("td", cell);
        if (["PASS", "FAIL", "ok", "noise", "REGRESSION"].includes(cell)) td.className = "verdict-" + cell;
        tr.appendChild(td);
      });
      t.appendChild(tr);
    });
    wrap.appendChild(t);
    return wrap;
  }

  function bandsPlugin(bands) {
    return {
      hooks: {
        drawAxes: [(u) => {
          const ctx = u.ctx;
          const { top, height } = u.bbox;
          ctx.save();
          bands.forEach((b) => {
            const x0 = u.valToPos(b.from, "x", true);
            const x1 = u.valToPos(b.to, "x", true);
            ctx.fillStyle = bandColours[b.label] || "rgba(120,120,120,0.15)";
            ctx.fillRect(Math.min(x0, x1), top, Math.max(Math.abs(x1 - x0), 2), height);
          });
          ctx.restore();
        }],
      },
    };
  }

  function chartBox(spec, holder) {
    const box = el("div", null, "chart");
    box.id = "chart-" + spec.id;
    box.appendChild(el("h3", spec.title));
    holder.appendChild(box);
    return box;
  }

  // Drawn once every box is in the page: a box's width depends on its neighbours.
  function chart(spec, box) {
    const spectrum = spec.kind === "spectrum";
    const width = Math.max(320, box.clientWidth - 16);
    const series = [{ label: spectrum ? "percentile" : "second",
                      value: (u, v) => v == null ? "-" : (spectrum ? percentileLabel(v) : v + " s") }];
    // Series of one group (a command in both runs of a compare page) share a colour.
    const groups = [];
    spec.series.forEach((s) => { const g = s.group || s.label; if (!groups.includes(g)) groups.push(g); });
    spec.series.forEach((s) => {
      const colour = palette[groups.indexOf(s.group || s.label) % palette.length];
      series.push({ label: s.label, stroke: colour, width: 1.5, spanGaps: !spectrum,
                    dash: s.dash ? [6, 4] : undefined, points: { show: spec.x.length < 60 },
                    value: (u, v) => v == null ? "-" : v.toLocaleString() });
    });
    const opts = {
      width: width,
      height: 260,
      series: series,
      scales: { x: spectrum ? { time: false, distr: 3, log: 10, range: (u, min, max) => [min, max] }
                            : { time: false } },
      axes: [
        spectrum ? { label: spec.x_label, splits: decades, values: (u, vals) => vals.map(percentileLabel) }
                 : { label: spec.x_label, incrs: SECOND_STEPS },
        { label: spec.y_label, size: 70 },
      ],
      legend: { live: true },
      plugins: spec.bands && spec.bands.length ? [bandsPlugin(spec.bands)] : [],
    };
    const plot = new uPlot(opts, [spec.x, ...spec.series.map((s) => s.values)], box);
    window.reportCharts.push({ id: spec.id, plot: plot });
  }

  document.title = data.title;
  root.appendChild(el("h1", data.title));
  root.appendChild(el("div", data.source, "source"));
  if (data.glance && data.glance.length) {
    const dl = el("dl", null, "glance");
    data.glance.forEach(([label, value]) => { dl.appendChild(el("dt", label)); dl.appendChild(el("dd", value)); });
    root.appendChild(dl);
  }
  (data.warnings || []).forEach((w) => root.appendChild(el("div", w, "warning")));
  const pending = [];
  data.sections.forEach((s) => {
    root.appendChild(el("h2", s.title));
    (s.notes || []).forEach((n) => root.appendChild(el("div", n, "note")));
    s.tables.forEach((t) => root.appendChild(table(t)));
    if (s.charts.length) {
      const grid = el("div", null, "charts");
      root.appendChild(grid);
      s.charts.forEach((c) => pending.push([c, chartBox(c, grid)]));
    }
  });
  pending.forEach(([spec, box]) => chart(spec, box));
})();
