// VitalGate care-team app: draw each chart from its inert JSON, send the CSRF token with
// htmx requests. No inline scripts, so the Content-Security-Policy can forbid them.
"use strict";

function drawAgp(figure, holder, agp) {
  // Hours of the day on x; the 5-95 % and 25-75 % bands filled between their lines.
  const x = agp.bin_start_min.map((m) => m / 60);
  const grey = "#8a8a8a";
  const opts = {
    width: Math.max(280, holder.clientWidth || 600),
    height: 240,
    scales: { x: { time: false, range: [0, 24] }, y: { range: [40, 350] } },
    axes: [{ label: "hour of day" }, { label: "mg/dL" }],
    series: [
      {},
      { label: "5 %", stroke: grey, dash: [4, 4] },
      { label: "25 %", stroke: "#0b5cad" },
      { label: "median", stroke: "#0b2e4f", width: 3 },
      { label: "75 %", stroke: "#0b5cad" },
      { label: "95 %", stroke: grey, dash: [4, 4] },
    ],
    bands: [
      { series: [5, 1], fill: "rgba(11, 92, 173, 0.08)" },
      { series: [4, 2], fill: "rgba(11, 92, 173, 0.22)" },
    ],
  };
  new uPlot(opts, [x, agp.p5, agp.p25, agp.p50, agp.p75, agp.p95], holder);
  figure.dataset.drawn = String(agp.count.filter((n) => n > 0).length);
}

function drawChart(figure) {
  const holder = figure.querySelector(".plot");
  const source = figure.querySelector('script[type="application/json"]');
  if (!holder || !source || typeof uPlot === "undefined") return;
  const data = JSON.parse(source.textContent);
  if (data.kind === "agp") {
    drawAgp(figure, holder, data.agp);
    return;
  }
  if (!data.series.length) return;
  // nullMode 1 keeps an explicit null (a silence) as a gap; misaligned points are spanned.
  const aligned = uPlot.join(data.series.map((s) => [s.x, s.y]), data.series.map(() => [1]));
  const colours = ["#0b5cad", "#a4161a", "#1f5f2a"];
  const markers = data.markers || [];
  const opts = {
    width: Math.max(280, holder.clientWidth || 600),
    height: 220,
    scales: { x: { time: true } },
    axes: [{}, { label: data.unit }],
    series: [{}].concat(data.series.map((s, i) => ({
      label: s.label, stroke: colours[i % colours.length], width: 2, spanGaps: false,
      points: { show: s.x.length < 200 },
    }))),
    hooks: {
      draw: [(u) => {
        const ctx = u.ctx;
        ctx.save();
        ctx.strokeStyle = "#a4161a";
        ctx.setLineDash([4, 4]);
        for (const t of markers) {
          const x = u.valToPos(t, "x", true);
          ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
        }
        ctx.restore();
      }],
    },
  };
  new uPlot(opts, aligned, holder);
  figure.dataset.drawn = String(
    data.series.reduce((n, s) => n + s.y.filter((v) => v !== null).length, 0),
  );
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("figure.chart").forEach((figure) => {
    try {
      drawChart(figure);
    } catch (error) {
      // One chart that cannot be drawn must not take the others with it.
      figure.dataset.error = String(error);
    }
  });
  const meta = document.querySelector('meta[name="csrf-token"]');
  document.body.addEventListener("htmx:configRequest", (event) => {
    if (meta) event.detail.headers["X-CSRF-Token"] = meta.content;
  });
});
