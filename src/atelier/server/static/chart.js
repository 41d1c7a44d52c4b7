// A small loss chart on a <canvas>: every numeric key of the training log records (but step and
// images_per_s) is a series over the step; log scale optional; hover shows the values at a step.
// The canvas carries data-points (the longest series' length) and data-series for tests and tools.
import { h, figure } from "./dom.js";

const SKIP = new Set(["step", "images_per_s"]);
const PALETTE = 8;

export class LossChart {
  constructor() {
    this.series = new Map(); // name -> Map(step -> value)
    this.logScale = false;
    this.hoverStep = null;
    this.canvas = h("canvas", { class: "chart-canvas", role: "img", "aria-label": "Training loss curves", dataset: { points: "0" } });
    this.legend = h("ul", { class: "legend", "aria-label": "Latest values" });
    const logId = `log-${Math.random().toString(36).slice(2, 8)}`;
    this.logBox = h("input", { type: "checkbox", id: logId });
    this.logBox.addEventListener("change", () => { this.logScale = this.logBox.checked; this.draw(); });
    this.empty = h("p", { class: "chart-empty muted" }, "Waiting for the first loss values…");
    this.root = h("div", { class: "chart" },
      h("div", { class: "chart-head" }, h("h3", {}, "Loss"),
        h("div", { class: "check" }, this.logBox, h("label", { for: logId }, "Log scale"))),
      h("div", { class: "chart-box" }, this.canvas, this.empty),
      this.legend);
    this.canvas.addEventListener("pointermove", (e) => this.hover(e));
    this.canvas.addEventListener("pointerleave", () => { this.hoverStep = null; this.draw(); });
    this.resize = new ResizeObserver(() => this.draw());
    this.resize.observe(this.canvas);
  }

  /** Add one log record ({step, loss_g, loss_d, ...}); returns whether it held a value. */
  add(record, redraw = true) {
    if (!record || typeof record.step !== "number") return false;
    let any = false;
    for (const [key, value] of Object.entries(record)) {
      if (SKIP.has(key) || typeof value !== "number" || !isFinite(value)) continue;
      if (!this.series.has(key)) this.series.set(key, new Map());
      this.series.get(key).set(record.step, value);
      any = true;
    }
    if (any && redraw) this.draw();
    return any;
  }

  addAll(records) {
    for (const r of records || []) this.add(r, false);
    this.draw();
  }

  clear() {
    this.series.clear();
    this.draw();
  }

  get points() {
    let n = 0;
    for (const s of this.series.values()) n = Math.max(n, s.size);
    return n;
  }

  colours() {
    const style = getComputedStyle(this.canvas);
    const list = [];
    for (let i = 0; i < PALETTE; i++) list.push(style.getPropertyValue(`--c${i}`).trim() || "#888");
    return { list, grid: style.getPropertyValue("--chart-grid").trim() || "#ddd", text: style.getPropertyValue("--chart-text").trim() || "#666" };
  }

  sorted() {
    return [...this.series.entries()].map(([name, m]) => [name, [...m.entries()].sort((a, b) => a[0] - b[0])]);
  }

  hover(e) {
    if (!this.layout) return;
    const rect = this.canvas.getBoundingClientRect();
    const { x0, x1, s0, s1 } = this.layout;
    const t = (e.clientX - rect.left - x0) / Math.max(1, x1 - x0);
    const target = s0 + t * (s1 - s0);
    let best = null;
    for (const [, points] of this.sorted()) for (const [step] of points) {
      if (best === null || Math.abs(step - target) < Math.abs(best - target)) best = step;
    }
    this.hoverStep = best;
    this.draw();
  }

  draw() {
    const canvas = this.canvas;
    const series = this.sorted();
    canvas.dataset.points = String(this.points);
    canvas.dataset.series = series.map(([n]) => n).join(",");
    this.empty.hidden = this.points > 0;
    const dpr = window.devicePixelRatio || 1;
    const cssW = canvas.clientWidth || 600;
    const cssH = canvas.clientHeight || 220;
    if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
      canvas.width = Math.round(cssW * dpr);
      canvas.height = Math.round(cssH * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    const { list, grid, text } = this.colours();
    this.renderLegend(series, list);
    if (!this.points) { this.layout = null; return; }

    const tf = this.logScale ? (v) => (v > 0 ? Math.log10(v) : null) : (v) => v;
    let s0 = Infinity, s1 = -Infinity, v0 = Infinity, v1 = -Infinity;
    for (const [, points] of series) for (const [step, value] of points) {
      const y = tf(value);
      if (y === null) continue;
      s0 = Math.min(s0, step); s1 = Math.max(s1, step);
      v0 = Math.min(v0, y); v1 = Math.max(v1, y);
    }
    if (!isFinite(v0)) { this.layout = null; return; }
    if (s1 === s0) { s0 -= 1; s1 += 1; }
    if (v1 === v0) { v0 -= Math.abs(v0) * 0.1 + 1e-3; v1 += Math.abs(v1) * 0.1 + 1e-3; }
    const pad = (v1 - v0) * 0.06;
    v0 -= pad; v1 += pad;

    ctx.font = "11px system-ui, sans-serif";
    const ticks = niceTicks(v0, v1, 4);
    const labels = ticks.map((t) => (this.logScale ? figure(10 ** t) : figure(t)));
    const x0 = Math.max(...labels.map((l) => ctx.measureText(l).width)) + 12;
    const x1 = cssW - 10, y0 = cssH - 22, y1 = 8;
    this.layout = { x0, x1, s0, s1 };
    const X = (s) => x0 + ((s - s0) / (s1 - s0)) * (x1 - x0);
    const Y = (v) => y0 - ((v - v0) / (v1 - v0)) * (y0 - y1);

    ctx.strokeStyle = grid;
    ctx.fillStyle = text;
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    ticks.forEach((t, i) => {
      const y = Math.round(Y(t)) + 0.5;
      ctx.beginPath(); ctx.moveTo(x0, y); ctx.lineTo(x1, y); ctx.stroke();
      ctx.fillText(labels[i], x0 - 6, y);
    });
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const t of niceTicks(s0, s1, 5)) {
      if (t < s0 || t > s1 || !Number.isInteger(t)) continue;
      ctx.fillText(String(t), X(t), y0 + 6);
    }
    ctx.beginPath(); ctx.moveTo(x0, y0 + 0.5); ctx.lineTo(x1, y0 + 0.5); ctx.stroke();

    series.forEach(([, points], i) => {
      const colour = list[i % list.length];
      ctx.strokeStyle = ctx.fillStyle = colour;
      ctx.lineWidth = 1.75;
      ctx.lineJoin = "round";
      ctx.beginPath();
      let started = false;
      for (const [step, value] of points) {
        const y = tf(value);
        if (y === null) continue;
        if (started) ctx.lineTo(X(step), Y(y)); else { ctx.moveTo(X(step), Y(y)); started = true; }
      }
      ctx.stroke();
      if (points.length < 40) for (const [step, value] of points) {
        const y = tf(value);
        if (y === null) continue;
        ctx.beginPath(); ctx.arc(X(step), Y(y), 2.2, 0, Math.PI * 2); ctx.fill();
      }
    });
    if (this.hoverStep !== null) {
      ctx.strokeStyle = text;
      ctx.setLineDash([3, 3]);
      const x = Math.round(X(this.hoverStep)) + 0.5;
      ctx.beginPath(); ctx.moveTo(x, y1); ctx.lineTo(x, y0); ctx.stroke();
      ctx.setLineDash([]);
    }
  }

  renderLegend(series, colours) {
    const step = this.hoverStep;
    const items = series.map(([name, points], i) => {
      let shown = points[points.length - 1];
      if (step !== null) shown = points.find(([s]) => s === step) || null;
      return h("li", {},
        h("span", { class: `swatch c${i % PALETTE}`, "aria-hidden": "true" }),
        h("span", { class: "legend-name" }, name),
        h("span", { class: "legend-value mono" }, shown ? figure(shown[1]) : "–"));
    });
    const last = Math.max(0, ...series.map(([, p]) => (p.length ? p[p.length - 1][0] : 0)));
    items.push(h("li", { class: "legend-step muted" }, step !== null ? `step ${step}` : last ? `step ${last}` : ""));
    this.legend.replaceChildren(...items);
  }
}

/** About ``count`` round tick values between ``lo`` and ``hi``. */
export function niceTicks(lo, hi, count) {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)));
  return out;
}
