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
  const levels = data.levels || [];
  // The y range takes in the alert levels, so a line near the data is always on screen.
  const yRange = (u, min, max) => {
    const values = levels.map((l) => l.value).concat([min, max]).filter((v) => v !== null && Number.isFinite(v));
    if (!values.length) return [0, 1];
    const lo = Math.min(...values), hi = Math.max(...values), pad = (hi - lo) * 0.08 || 1;
    return [lo - pad, hi + pad];
  };
  const opts = {
    width: Math.max(280, holder.clientWidth || 600),
    height: 220,
    scales: { x: { time: true }, y: { range: yRange } },
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
        // Alert levels: a line each (urgent darker), the side beyond it lightly shaded.
        for (const level of levels) {
          const y = u.valToPos(level.value, "y", true);
          const high = level.label.includes("≥");
          ctx.fillStyle = level.kind === "urgent" ? "rgba(164, 22, 26, 0.10)" : "rgba(184, 110, 0, 0.08)";
          const top = high ? u.bbox.top : y, bottom = high ? y : u.bbox.top + u.bbox.height;
          ctx.fillRect(u.bbox.left, top, u.bbox.width, Math.max(0, bottom - top));
          ctx.strokeStyle = level.kind === "urgent" ? "#a4161a" : "#8a5a00";
          ctx.setLineDash(level.kind === "urgent" ? [] : [6, 3]);
          ctx.beginPath(); ctx.moveTo(u.bbox.left, y); ctx.lineTo(u.bbox.left + u.bbox.width, y); ctx.stroke();
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

// ---------------------------------------------------------------- the alert inbox
// A few lines of EventSource rather than the htmx SSE extension: the page must keep the
// selection and announce what changed after each refresh, which is our code either way.

const SHORTCUT_ACTIONS = { a: "acknowledged", s: "snoozed", e: "escalated", r: "resolved" };

function startInbox() {
  if (!document.getElementById("inbox") || typeof htmx === "undefined") return;
  const announce = (text) => {
    const status = document.getElementById("inbox-announce");
    if (status) status.textContent = text;
  };
  const rows = () => Array.from(document.querySelectorAll("#inbox tr[data-alert-id]"));
  let selectedId = null;
  let pending = null; // {id, action} of the shortcut whose result we are waiting for

  function select(row, byKeyboard) {
    rows().forEach((r) => r.classList.toggle("selected", r === row));
    if (!row) { selectedId = null; return; }
    selectedId = row.dataset.alertId;
    if (!byKeyboard) return; // tabbing into a row selects it and leaves the focus where it is
    row.querySelector("a.open-alert")?.focus();
    announce(row.dataset.summary);
  }

  function move(step) {
    const all = rows();
    if (!all.length) { announce("No alerts."); return; }
    const at = all.findIndex((r) => r.dataset.alertId === selectedId);
    const next = at < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, at + step));
    select(all[next], true);
  }

  function act(key) {
    const row = rows().find((r) => r.dataset.alertId === selectedId);
    if (!row) { announce("Select an alert first with j or k."); return; }
    const button = row.querySelector(`button[data-key="${key}"]`);
    if (!button) { announce(`Alert ${selectedId} cannot be ${SHORTCUT_ACTIONS[key]} now.`); return; }
    pending = { id: selectedId, action: SHORTCUT_ACTIONS[key] };
    button.click();
  }

  let known = new Set(rows().map((r) => r.dataset.alertId));
  let indexBefore = -1;
  const swaps = {}; // part id -> whether the focus was inside it before its swap
  // The stream refreshes a stable wrapper (innerHTML), the forms the part itself (outerHTML).
  const PARTS = { "alerts-part": "inbox", inbox: "inbox", "worklist-part": "worklist", worklist: "worklist" };
  const partOf = (event) => PARTS[event.detail.target && event.detail.target.id] || PARTS[event.target && event.target.id];
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    const target = event.detail.target;
    if (!target) return;
    const part = PARTS[target.id];
    if (!part) return;
    // Two swaps of a part may overlap (a form's answer and the stream's refresh): the focus
    // counts as inside if it was before either of them.
    swaps[part] = Boolean(swaps[part]) || target.contains(document.activeElement);
    if (part === "inbox") indexBefore = rows().findIndex((r) => r.dataset.alertId === selectedId);
  });
  document.body.addEventListener("htmx:afterSettle", (event) => {
    const part = partOf(event);
    // Put the focus back only when the swap took it away (it fell to the page's body): a key
    // pressed between the swap and its settling has moved it somewhere on purpose.
    const focusLost = !document.activeElement || document.activeElement === document.body;
    const hadFocus = Boolean(swaps[part]) && focusLost;
    delete swaps[part];
    if (part === "worklist") {
      // The button pressed is gone: keep the focus in the worklist, not on the page's start.
      if (hadFocus) document.getElementById("worklist-title")?.focus();
      return;
    }
    if (part !== "inbox") return;
    const all = rows();
    const ids = new Set(all.map((r) => r.dataset.alertId));
    const fresh = all.filter((r) => !known.has(r.dataset.alertId));
    known = ids;
    if (selectedId !== null) {
      const row = all.find((r) => r.dataset.alertId === selectedId) ||
        all[Math.min(Math.max(indexBefore, 0), all.length - 1)];
      if (row) {
        row.classList.add("selected");
        selectedId = row.dataset.alertId;
        if (hadFocus) row.querySelector("a.open-alert")?.focus();
      } else {
        selectedId = null;
      }
    }
    const refused = document.querySelector("#inbox [role=alert]");
    if (pending) {
      announce(refused ? refused.textContent : `Alert ${pending.id} ${pending.action}.`);
      pending = null;
    } else if (fresh.length) {
      announce(fresh.length === 1 ? `New ${fresh[0].dataset.summary}` : `${fresh.length} new alerts.`);
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable], dialog[open]")) return;
    const help = document.getElementById("shortcuts");
    if (event.key === "?") {
      event.preventDefault();
      if (help && !help.open) help.showModal();
      return;
    }
    if (event.key === "j" || event.key === "k") {
      event.preventDefault();
      move(event.key === "j" ? 1 : -1);
    } else if (event.key in SHORTCUT_ACTIONS) {
      event.preventDefault();
      act(event.key);
    } else if (event.key === "Enter" && selectedId !== null && !target.closest("a, button")) {
      const link = rows().find((r) => r.dataset.alertId === selectedId)?.querySelector("a.open-alert");
      if (link) window.location.assign(link.href);
    }
  });
  document.getElementById("shortcuts-open")?.addEventListener("click", () => {
    document.getElementById("shortcuts")?.showModal();
  });
  document.getElementById("inbox").addEventListener("focusin", (event) => {
    const row = event.target.closest("tr[data-alert-id]");
    if (row && row.dataset.alertId !== selectedId) select(row, false);
  });

  // Live: the stream says what changed; the lists are fetched like any other request.
  // Each wrapper is its own source, so a refresh of one never replaces the other's in the
  // queue, and a queued refresh never lands in a part an earlier swap took out of the page.
  const refresh = (part) => {
    const [path, wrapper] = part === "alerts" ? ["/alerts?partial=true", "#alerts-part"] : ["/worklist", "#worklist-part"];
    if (document.querySelector(wrapper)) htmx.ajax("GET", path, { source: wrapper, target: wrapper, swap: "innerHTML" });
  };
  // The page's marker goes with the first connection, the last event's id (Last-Event-ID)
  // with a reconnection: what changed in between comes at once.
  const source = document.querySelector("[data-stream]");
  const stream = new EventSource(source ? source.dataset.stream : "/alerts/stream");
  stream.addEventListener("alerts", () => refresh("alerts"));
  stream.addEventListener("worklist", () => refresh("worklist"));
  window.addEventListener("pagehide", () => stream.close());
  document.body.dataset.live = "on";
}

document.addEventListener("DOMContentLoaded", startInbox);
