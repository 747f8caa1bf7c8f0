// VitalGate care-team app: draw each chart from its inert JSON, send the CSRF token with
// htmx requests. No inline scripts, so the Content-Security-Policy can forbid them.
"use strict";

function drawChart(figure) {
  const holder = figure.querySelector(".plot");
  const source = figure.querySelector('script[type="application/json"]');
  if (!holder || !source || typeof uPlot === "undefined") return;
  const data = JSON.parse(source.textContent);
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
  document.querySelectorAll("figure.chart").forEach(drawChart);
  const meta = document.querySelector('meta[name="csrf-token"]');
  document.body.addEventListener("htmx:configRequest", (event) => {
    if (meta) event.detail.headers["X-CSRF-Token"] = meta.content;
  });
});
