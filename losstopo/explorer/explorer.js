// losstopo explorer: linked views of one sweep, plain JavaScript and SVG/canvas, no external code.
// Data: the JSON in <script id="data"> written by losstopo/explorer/build.py (see data.py for its layout).
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const SVGNS = "http://www.w3.org/2000/svg";
const S = { family: null, xKey: null, yKey: null, facet: null, fixed: {}, metric: null, sx: null, sy: null,
            selected: null, pinned: null, brushed: new Set(), log: false };
const UNITS = new Map(D.units.filter(u => u.family).map(u => [u.id, u]));
const MISSING = "#e6e6e6", FAILED = "#9a9a9a", BRUSH = "#e07a00", SELECT = "#000";

// ---------------------------------------------------------------- small helpers
function el(tag, attrs, parent, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}
const QMAX = 65532;
function unpack(p) {  // {b64, shape} (float32) or {q, lo, hi, log, shape} (16-bit codes) -> Float32Array with .shape
  const bin = atob(p.b64 ?? p.q), bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  let a;
  if (p.b64 !== undefined) a = new Float32Array(bytes.buffer);
  else {
    const codes = new Uint16Array(bytes.buffer), span = p.hi - p.lo;
    a = new Float32Array(codes.length);
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i];
      const v = c === 65535 ? NaN : c === 65534 ? Infinity : c === 65533 ? -Infinity : p.lo + c / QMAX * span;
      a[i] = p.log && Number.isFinite(v) ? 10 ** v : v;
    }
  }
  a.shape = p.shape; return a;
}
function fmt(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (typeof v !== "number") return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : +v.toPrecision(4) + "";
}
const VIRIDIS = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141], [39, 173, 129],
                 [92, 200, 99], [170, 220, 50], [253, 231, 37]];
function viridis(s) {
  s = Math.min(1, Math.max(0, s)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(s)), f = s - i, a = VIRIDIS[i], b = VIRIDIS[i + 1];
  return `rgb(${a.map((x, j) => Math.round(x + f * (b[j] - x))).join(",")})`;
}
function scaleOf(values, log) {  // value -> [0, 1]; log when asked and every value is positive
  const tf = log ? Math.log10 : (x => x);
  let lo = Infinity, hi = -Infinity;  // a loop: arrays of 10^5 values are too long for Math.min(...v)
  for (const x of values) if (x !== null && Number.isFinite(x) && (!log || x > 0)) { lo = Math.min(lo, tf(x)); hi = Math.max(hi, tf(x)); }
  if (lo > hi) { lo = 0; hi = 1; }
  if (hi === lo) { hi = lo + 1; }
  const f = x => (x === null || !Number.isFinite(x) || (log && x <= 0)) ? null : (tf(x) - lo) / (hi - lo);
  f.lo = log ? 10 ** lo : lo; f.hi = log ? 10 ** hi : hi; return f;
}
function ticks(lo, hi, n) {
  const step0 = (hi - lo) / n, mag = 10 ** Math.floor(Math.log10(step0 || 1)), r = step0 / mag;
  const step = (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag, out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(+t.toPrecision(12));
  return out;
}
// An x-y chart frame: returns {svg, X(v), Y(v)} with axes drawn; logy / logx: that axis in log10.
function frame(parent, w, h, xr, yr, xlabel, ylabel, logy, logx) {
  const m = { l: 46, r: 8, t: 6, b: 28 };
  const svg = el("svg:svg", { width: w, height: h }, parent);
  const ty = logy ? (v => Math.log10(v)) : (v => v), tx = logx ? (v => Math.log10(v)) : (v => v);
  let [y0, y1] = yr.map(ty), [x0, x1] = xr.map(tx);
  if (!(x1 > x0)) { x0 -= 0.5; x1 += 0.5; }
  if (!(y1 > y0)) { y0 -= 0.5; y1 += 0.5; }
  const X = v => m.l + (tx(v) - x0) / (x1 - x0) * (w - m.l - m.r);
  const Y = v => h - m.b - (ty(v) - y0) / (y1 - y0) * (h - m.t - m.b);
  const g = el("svg:g", { class: "axis" }, svg);
  el("svg:line", { x1: m.l, x2: w - m.r, y1: h - m.b, y2: h - m.b }, g);
  el("svg:line", { x1: m.l, x2: m.l, y1: m.t, y2: h - m.b }, g);
  const logTicks = (a, b) => { const t = ticks(a, b, 4), whole = t.filter(Number.isInteger); return whole.length > 1 ? whole : t; };
  for (const t of logx ? logTicks(x0, x1) : ticks(x0, x1, 4)) {
    const xx = m.l + (t - x0) / (x1 - x0) * (w - m.l - m.r);
    el("svg:text", { x: xx, y: h - m.b + 11, "text-anchor": "middle" }, g, logx ? "1e" + t : fmt(t));
  }
  for (const t of logy ? logTicks(y0, y1) : ticks(y0, y1, 4)) {
    const yy = h - m.b - (t - y0) / (y1 - y0) * (h - m.t - m.b);
    el("svg:text", { x: m.l - 3, y: yy + 3, "text-anchor": "end" }, g, logy ? "1e" + t : fmt(t));
  }
  el("svg:text", { x: (m.l + w) / 2, y: h - 2, "text-anchor": "middle" }, g, (logx ? "log " : "") + xlabel);
  el("svg:text", { x: 10, y: (h - m.b) / 2, transform: `rotate(-90 10 ${(h - m.b) / 2})`, "text-anchor": "middle" },
     g, (logy ? "log " : "") + ylabel);
  return { svg, X, Y, m, w, h };
}
function extent(arrs) {
  let lo = Infinity, hi = -Infinity;
  for (const a of arrs) for (const v of a) if (v !== null && Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  return lo <= hi ? [lo, hi] : [0, 1];
}
function polyline(f, xs, ys, attrs) {
  let d = "", pen = false;
  for (let i = 0; i < xs.length; i++) {
    const ok = ys[i] !== null && Number.isFinite(ys[i]) && Number.isFinite(xs[i]);
    if (ok) { d += (pen ? "L" : "M") + f.X(xs[i]).toFixed(1) + "," + f.Y(ys[i]).toFixed(1); }
    pen = ok;
  }
  return el("svg:path", Object.assign({ d, fill: "none", "stroke-width": 1.5 }, attrs), f.svg);
}

// ---------------------------------------------------------------- state and controls
const famUnits = () => D.units.filter(u => u.family === S.family);
const finals = () => famUnits().filter(u => u.epoch === null);
const fam = () => D.families[S.family];
function options(select, values, current, none, labelOf) {
  select.innerHTML = "";
  if (none) el("option", { value: "" }, select, "(none)");
  for (const v of values) el("option", { value: v }, select, labelOf ? labelOf(v) : v);
  select.value = current === null || current === undefined ? "" : current;
}
function initFamily() {
  const f = fam(), keys = f.swept;
  S.xKey = keys[0] ?? null; S.yKey = keys[1] ?? null; S.facet = keys[2] ?? null; S.fixed = {};
  for (const k of keys.slice(3)) S.fixed[k] = f.values[k][0];
  const perf = f.metrics;
  S.metric = perf.includes(S.metric) ? S.metric : perf[0] ?? null;
  S.sx = perf.includes("n_minima") ? "n_minima" : perf[0] ?? null;
  S.sy = perf.find(m => m !== S.sx) ?? S.sx;
  S.brushed = new Set();
  const first = finals().find(u => u.status === "ok") || finals()[0];
  S.selected = first ? first.id : null;
}
function controls() {
  const f = fam(), keys = f.swept;
  options(document.getElementById("family"), Object.keys(D.families), S.family);
  options(document.getElementById("xkey"), keys, S.xKey, true);
  options(document.getElementById("ykey"), keys, S.yKey, true);
  options(document.getElementById("facet"), keys, S.facet, true);
  const better = m => (f.better || {})[m] ? `${m} (${f.better[m]} is better)` : m;  // performance metrics
  options(document.getElementById("metric"), f.metrics, S.metric, false, better);
  options(document.getElementById("sx"), f.metrics, S.sx, false, better);
  options(document.getElementById("sy"), f.metrics, S.sy, false, better);
  const sel = document.getElementById("selectors"); sel.innerHTML = "";
  for (const k of keys.filter(k => ![S.xKey, S.yKey, S.facet].includes(k))) {
    if (!(k in S.fixed)) S.fixed[k] = f.values[k][0];
    const lab = el("label", {}, sel, k + " ");
    const s = el("select", { "data-key": k }, lab);
    options(s, f.values[k], S.fixed[k]);
    s.onchange = () => { S.fixed[k] = f.values[k].find(v => String(v) === s.value); drawAll(); };
  }
}
function bind() {
  const on = (id, fn) => { document.getElementById(id).onchange = e => { fn(e.target.value); controls(); drawAll(); }; };
  on("family", v => { S.family = v; initFamily(); });
  on("xkey", v => { S.xKey = v || null; });
  on("ykey", v => { S.yKey = v || null; });
  on("facet", v => { S.facet = v || null; });
  on("metric", v => { S.metric = v; });
  on("sx", v => { S.sx = v; });
  on("sy", v => { S.sy = v; });
  document.getElementById("logcolour").onchange = e => { S.log = e.target.checked; drawAll(); };
  document.getElementById("clear-brush").onclick = () => { S.brushed = new Set(); drawAll(); };
  document.getElementById("pin").onclick = () => { S.pinned = S.selected; drawDetails(); };
  document.getElementById("unpin").onclick = () => { S.pinned = null; drawDetails(); };
}
function select(id) { S.selected = id; drawMap(); drawScatter(); drawConnectivity(); drawDetails(); }
function toggleBrush(run) { S.brushed.has(run) ? S.brushed.delete(run) : S.brushed.add(run); drawMap(); drawScatter(); }
const metricOf = u => (u && u.metrics && S.metric in u.metrics) ? u.metrics[S.metric] : null;
const sameValue = (a, b) => String(a) === String(b);

// ---------------------------------------------------------------- sweep map
function colourScale() { return scaleOf(famUnits().map(metricOf), S.log); }
function legend(scale) {
  const box = document.getElementById("legend"); box.innerHTML = "";
  const c = el("canvas", { width: 120, height: 10 }, null), ctx = c.getContext("2d");
  for (let i = 0; i < 120; i++) { ctx.fillStyle = viridis(i / 119); ctx.fillRect(i, 0, 1, 10); }
  box.append(fmt(scale.lo) + " ", c, " " + fmt(scale.hi) + (S.log ? " (log)" : ""));
}
function drawMap() {
  const box = document.getElementById("map"); box.innerHTML = "";
  const f = fam(), seeds = f.seeds, epochs = f.epochs, scale = colourScale();
  legend(scale);
  const xs = S.xKey ? f.values[S.xKey] : [null], ys = S.yKey ? f.values[S.yKey] : [null];
  const facets = S.facet ? f.values[S.facet] : [null];
  const sq = 18, small = epochs.length ? Math.max(5, Math.floor(sq / Math.max(1, epochs.length)) - 2) : 0;
  const cellW = seeds.length * (sq + 3) + 6, cellH = sq + (epochs.length ? small + 3 : 0) + 8;
  const labW = 56, labH = 16;
  const byKey = new Map();
  for (const u of famUnits()) {
    const match = Object.entries(S.fixed).every(([k, v]) => !(k in u.swept) || sameValue(u.swept[k], v) ||
                                                          [S.xKey, S.yKey, S.facet].includes(k));
    if (!match) continue;
    const key = [S.facet ? u.swept[S.facet] : null, S.xKey ? u.swept[S.xKey] : null,
                 S.yKey ? u.swept[S.yKey] : null, u.seed, u.epoch].map(String).join("|");
    byKey.set(key, u);
  }
  const counts = { shown: 0, coloured: 0, failed: 0, missing: 0 };
  for (const fv of facets) {
    const wrap = el("div", { style: "display:inline-block;margin-right:12px;vertical-align:top" }, box);
    if (S.facet) el("div", {}, wrap, `${S.facet} = ${fv}`);
    const W = labW + xs.length * cellW, H = labH + ys.length * cellH + 14;
    const svg = el("svg:svg", { width: W, height: H, class: "map-grid" }, wrap);
    xs.forEach((xv, i) => el("svg:text", { x: labW + i * cellW + cellW / 2, y: 11, "text-anchor": "middle" }, svg,
                             S.xKey ? `${xv}` : ""));
    ys.forEach((yv, j) => el("svg:text", { x: labW - 4, y: labH + j * cellH + sq / 2 + 6, "text-anchor": "end" },
                             svg, S.yKey ? `${yv}` : ""));
    el("svg:text", { x: 2, y: H - 2 }, svg, `${S.yKey ?? ""} ↓  ${S.xKey ?? ""} →`);
    xs.forEach((xv, i) => ys.forEach((yv, j) => seeds.forEach((seed, s) => {
      const x0 = labW + i * cellW + 3 + s * (sq + 3), y0 = labH + j * cellH;
      [null, ...epochs].forEach((ep, e) => {
        const u = byKey.get([fv, xv, yv, seed, ep].map(String).join("|"));
        const big = ep === null;
        const x = big ? x0 : x0 + (e - 1) * (small + 2), y = big ? y0 : y0 + sq + 3, size = big ? sq : small;
        if (!big && x + size > x0 + sq + 1) return;  // more checkpoints than fit: the track is cut
        const v = metricOf(u), t = scale(v);
        const fill = !u ? MISSING : t === null ? FAILED : viridis(t);
        const r = el("svg:rect", { x, y, width: size, height: size, fill, class: "cell" }, svg);
        if (big) counts.shown++;
        if (!u) { if (big) counts.missing++; r.setAttribute("stroke", "#bbb"); r.setAttribute("stroke-dasharray", "2,2");
          el("svg:title", {}, r, `missing: no run folder for ${S.xKey}=${xv} ${S.yKey ?? ""}=${yv ?? ""} seed ${seed}` +
             (big ? "" : ` epoch ${ep}`)); return; }
        if (t !== null) counts.coloured++;
        if (big && u.status !== "ok") counts.failed++;
        r.setAttribute("data-unit", u.id);
        r.setAttribute("data-status", u.status);
        if (u.id === S.selected) { r.setAttribute("stroke", SELECT); r.setAttribute("stroke-width", 2); }
        else if (S.brushed.has(u.run)) { r.setAttribute("stroke", BRUSH); r.setAttribute("stroke-width", 2); }
        if (u.status !== "ok") el("svg:text", { x: x + size / 2, y: y + size / 2 + 4, "text-anchor": "middle",
                                                 "pointer-events": "none" }, svg, big ? "!" : "");
        el("svg:title", {}, r, `${u.id}\nstatus: ${u.status}${u.reason ? "\n" + u.reason : ""}\n${S.metric} = ${fmt(v)}`);
        r.style.cursor = "pointer";
        r.onclick = ev => ev.shiftKey ? toggleBrush(u.run) : select(u.id);
      });
    })));
  }
  const sum = document.getElementById("status-summary");
  const bad = famUnits().filter(u => u.status !== "ok" && u.epoch === null);
  sum.innerHTML = "";
  sum.setAttribute("data-coloured", counts.coloured);
  el("div", {}, sum, `${counts.shown} runs shown, ${counts.coloured} coloured squares, ` +
     `${counts.failed} failed or diverged, ${counts.missing} missing`);
  const unreadable = D.units.filter(u => !u.family);  // run folders whose run.json could not be read
  for (const u of [...unreadable, ...bad].slice(0, 20)) el("div", { class: "bad" }, sum, `${u.id}: ${u.status} — ${u.reason ?? ""}`);
  if (bad.length + unreadable.length > 20) el("div", { class: "bad" }, sum, `… and ${bad.length + unreadable.length - 20} more`);
}

// ---------------------------------------------------------------- scatter with brushing
function drawScatter() {
  const box = document.getElementById("scatter"); box.innerHTML = "";
  const pts = finals().map(u => ({ u, x: u.metrics[S.sx] ?? null, y: u.metrics[S.sy] ?? null }))
    .filter(p => p.x !== null && p.y !== null);
  const f = frame(box, 360, 280, extent([pts.map(p => p.x)]), extent([pts.map(p => p.y)]), S.sx, S.sy, false);
  f.svg.setAttribute("id", "scatter-svg");
  const scale = colourScale();
  for (const p of pts) {
    const on = S.brushed.has(p.u.run), sel = p.u.id === S.selected;
    const c = el("svg:circle", { cx: f.X(p.x), cy: f.Y(p.y), r: sel ? 6 : on ? 5 : 3.5,
      fill: scale(metricOf(p.u)) === null ? FAILED : viridis(scale(metricOf(p.u))),
      stroke: sel ? SELECT : on ? BRUSH : "none", "stroke-width": 2, "data-unit": p.u.id,
      class: on ? "brushed" : "" }, f.svg);
    el("svg:title", {}, c, `${p.u.id}\n${S.sx} = ${fmt(p.x)}\n${S.sy} = ${fmt(p.y)}`);
    c.onclick = ev => { ev.stopPropagation(); select(p.u.id); };
  }
  let start = null, rect = null;
  f.svg.onmousedown = ev => {
    const b = f.svg.getBoundingClientRect(); start = [ev.clientX - b.left, ev.clientY - b.top];
    rect = el("svg:rect", { fill: BRUSH, "fill-opacity": 0.15, stroke: BRUSH, class: "brush" }, f.svg);
  };
  f.svg.onmousemove = ev => {
    if (!start) return;
    const b = f.svg.getBoundingClientRect(), x = ev.clientX - b.left, y = ev.clientY - b.top;
    rect.setAttribute("x", Math.min(x, start[0])); rect.setAttribute("y", Math.min(y, start[1]));
    rect.setAttribute("width", Math.abs(x - start[0])); rect.setAttribute("height", Math.abs(y - start[1]));
  };
  f.svg.onmouseup = ev => {
    if (!start) return;
    const b = f.svg.getBoundingClientRect(), x = ev.clientX - b.left, y = ev.clientY - b.top;
    const [xa, xb] = [Math.min(x, start[0]), Math.max(x, start[0])], [ya, yb] = [Math.min(y, start[1]), Math.max(y, start[1])];
    start = null;
    if (xb - xa < 3 && yb - ya < 3) { drawScatter(); return; }
    S.brushed = new Set(pts.filter(p => f.X(p.x) >= xa && f.X(p.x) <= xb && f.Y(p.y) >= ya && f.Y(p.y) <= yb)
      .map(p => p.u.run));
    drawMap(); drawScatter();
  };
}

// ---------------------------------------------------------------- mode connectivity
function drawConnectivity() {
  const box = document.getElementById("connectivity"); box.innerHTML = "";
  const u = UNITS.get(S.selected);
  box.setAttribute("data-unit", u ? u.id : "");
  if (!u) { el("div", { class: "note" }, box, "select a run"); return; }
  const setting = u.run.split("/").slice(0, -1).join("/");
  const pairs = D.connectivity.filter(p => p.setting === setting);
  el("div", {}, box, `setting ${setting}: ${pairs.length} seed pair(s)`);
  if (!pairs.length) { el("div", { class: "note" }, box, "no pairs (one seed, or connectivity not computed)"); return; }
  const ok = pairs.filter(p => p.status === "ok");
  if (ok.length) {
    const f = frame(box, 330, 220, [0, 1], extent(ok.map(p => p.loss)), "t (0 = seed A, 1 = seed B)", "loss", false);
    ok.forEach((p, i) => {
      const line = polyline(f, p.t, p.loss, { stroke: viridis(ok.length > 1 ? i / (ok.length - 1) : 0.3) });
      el("svg:title", {}, line, `seeds ${p.seed_a}–${p.seed_b}: barrier ${fmt(p.barrier)}`);
    });
  }
  const tab = el("table", { class: "metrics" }, box);
  for (const p of pairs) {
    const tr = el("tr", {}, tab);
    el("td", {}, tr, `seeds ${p.seed_a ?? "?"}–${p.seed_b ?? "?"}`);
    el("td", {}, tr, p.status === "ok" ? `barrier ${fmt(p.barrier)}` : `${p.status}: ${p.reason ?? ""}`);
  }
}

// ---------------------------------------------------------------- per-unit views
function view(parent, title, name, unitId) {
  const v = el("div", { class: "view", "data-view": name, "data-unit": unitId }, parent);
  el("h4", {}, v, title); return v;
}
function note(v, text) { el("div", { class: "note" }, v, text); }
function drawSlices(v, s) {
  if (!s) { note(v, "no landscape"); return; }
  if (s.skipped) { note(v, "landscape skipped: " + s.skipped); return; }
  if (s.kind === "line") {
    const y = Array.from(unpack(s.line)), x = Array.from(unpack(s.axes)).slice(0, y.length);
    const f = frame(v, 300, 200, extent([x]), extent([y]), "a", "loss", false); polyline(f, x, y, { stroke: "#333" });
    return;
  }
  if (s.kind === "scattered") {
    const p = unpack(s.points), val = Array.from(unpack(s.values)), n = val.length;
    const xs = [], ys = []; for (let i = 0; i < n; i++) { xs.push(p[2 * i]); ys.push(p[2 * i + 1]); }
    const f = frame(v, 300, 260, extent([xs]), extent([ys]), "a1", "a2", false), sc = scaleOf(val, false);
    for (let i = 0; i < n; i++) if (sc(val[i]) !== null) el("svg:circle", { cx: f.X(xs[i]), cy: f.Y(ys[i]), r: 2, fill: viridis(sc(val[i])) }, f.svg);
    note(v, `${n} scattered samples in ${s.dim}-D (first two coordinates)`); return;
  }
  const planes = unpack(s.planes), [n, r0, r1] = planes.shape, axes = unpack(s.axes);
  const r = axes.shape[1];
  const all = scaleOf(Array.from(planes), false);
  const c = el("canvas", { width: r1, height: r0, style: "width:240px;height:240px;image-rendering:pixelated" }, v);
  const ctrl = el("div", {}, v), label = el("div", {}, v);
  const paint = k => {
    const ctx = c.getContext("2d"), img = ctx.createImageData(r1, r0);
    for (let i = 0; i < r0; i++) for (let j = 0; j < r1; j++) {
      const val = planes[k * r0 * r1 + i * r1 + j], t = all(val), o = ((r0 - 1 - j) * r1 + i) * 4;  // a1 right, a2 up
      const rgb = t === null ? [255, 255, 255] : viridis(t).slice(4, -1).split(",").map(Number);
      img.data.set([...rgb, 255], o);
    }
    ctx.putImageData(img, 0, 0);
    const [ax, idx] = s.slider[k];
    label.textContent = ax < 0 ? `central slice (a1, a2), ${s.dim}-D landscape` :
      `plane (a1, a2) at a${ax + 1} = ${fmt(axes[ax * r + idx])}`;
    v.setAttribute("data-plane", k);
  };
  if (n > 1) {
    const sl = el("input", { type: "range", min: 0, max: n - 1, value: 0, class: "slice-slider" }, ctrl);
    sl.oninput = () => paint(+sl.value);
    el("span", {}, ctrl, " other axes");
  }
  paint(0);
}
function drawProfile(v, p, svgPath) {
  if (!p || !p.valleys) { note(v, "no profile (no finite landscape)"); }
  else {
    const lv = unpack(p.outline.levels), sd = unpack(p.outline.sides), m = lv.length, log = p.scale === "log";
    const o = new Float32Array(3 * m); o.set(lv, 0); o.set(sd, m);
    const f = frame(v, 320, 240, [0, Math.max(p.width, 1)], [p.loss_min, p.loss_max], "samples", "loss", log);
    const sc = scaleOf(p.mean, log);
    for (let k = 0; k < p.valleys; k++) {
      let d = "";
      for (let i = p.offsets[k]; i < p.offsets[k + 1]; i++) d += (d ? "L" : "M") + f.X(o[m + i]).toFixed(1) + "," + f.Y(o[i]).toFixed(1);
      for (let i = p.offsets[k + 1] - 1; i >= p.offsets[k]; i--) d += "L" + f.X(o[2 * m + i]).toFixed(1) + "," + f.Y(o[i]).toFixed(1);
      const t = sc(p.mean[k]);
      el("svg:path", { d: d + "Z", fill: t === null ? FAILED : viridis(t), stroke: "#222", "stroke-width": 0.4,
                       class: "valley" }, f.svg);
    }
    note(v, `${p.valleys} of ${p.n_basins} basins drawn (persistence >= 1% of the loss range)`);
  }
  if (svgPath) el("a", { href: svgPath, target: "_blank" }, v, "profile.svg (full resolution)");
}
function drawDiagram(v, d) {
  if (!d) { note(v, "no topology"); return; }
  const p = unpack(d.pairs), n = p.length / 2, b = [], de = [];
  for (let i = 0; i < n; i++) { b.push(p[2 * i]); de.push(p[2 * i + 1]); }
  const lim = extent([b, de.filter(Number.isFinite)]), hi = lim[1] + (lim[1] - lim[0]) * 0.05 || lim[1] + 1;
  const f = frame(v, 260, 240, [lim[0], hi], [lim[0], hi], "birth", "death", false);
  el("svg:line", { x1: f.X(lim[0]), y1: f.Y(lim[0]), x2: f.X(hi), y2: f.Y(hi), stroke: "#aaa" }, f.svg);
  for (let i = 0; i < n; i++) {
    const inf = !Number.isFinite(de[i]);
    const c = el("svg:circle", { cx: f.X(b[i]), cy: f.Y(inf ? hi : de[i]), r: 3, fill: inf ? "#c33" : "#3b528b",
                                 class: "pair" }, f.svg);
    el("svg:title", {}, c, `birth ${fmt(b[i])}, death ${inf ? "∞ (essential)" : fmt(de[i])}`);
  }
  note(v, `${d.n_pairs} pairs${d.n_pairs > n ? `, ${n} most persistent shown` : ""}; red: essential (death ∞)`);
}
function drawTree(v, t) {
  if (!t || !t.branches) { note(v, "no merge tree"); return; }
  const birth = unpack(t.birth), death = unpack(t.death), n = birth.length;
  const [lo, hiv] = extent([birth, death]), top = hiv + 0.05 * ((hiv - lo) || 1);  // essential branches end at top
  const f = frame(v, 300, 240, [-0.5, n - 0.5], [lo, top], "branch (elder rule)", "loss", false);
  for (let i = 0; i < n; i++) {
    const d = Number.isFinite(death[i]) ? death[i] : top;
    el("svg:line", { x1: f.X(i), x2: f.X(i), y1: f.Y(birth[i]), y2: f.Y(d), stroke: "#3b528b", class: "branch" }, f.svg);
    if (t.parent[i] >= 0) el("svg:line", { x1: f.X(i), x2: f.X(t.parent[i]), y1: f.Y(d), y2: f.Y(d), stroke: "#3b528b" }, f.svg);
    el("svg:circle", { cx: f.X(i), cy: f.Y(birth[i]), r: 2, fill: "#222" }, f.svg);
  }
  note(v, `${t.n_pairs} branches${t.n_pairs > n ? `, ${n} most persistent shown` : ""}`);
}
const SIGNS = [["positive", "λ > 0", "#21908d"], ["negative", "λ < 0", "#c33"]];  // key in the data, label, colour
function drawDensity(v, d) {  // as losstopo.curvature.spectral_density draws it: density per decade of |λ|, by sign
  if (!d) { note(v, "no Hessian density (Hessian disabled or not computed)"); return; }
  if (!d.n_nodes) { note(v, "no Hessian density: density.npz holds no quadrature nodes (density off, or the loss " +
                            "was not finite)"); return; }
  const curves = SIGNS.filter(([k]) => d[k]).map(([k, , colour]) =>
    ({ k, colour, x: Array.from(unpack(d[k].abs_eigenvalue)), y: Array.from(unpack(d[k].density)) }));
  const near = `near zero (|λ| ≤ ${d.zero_tol_rel} × max |λ| = ${fmt(d.threshold)}, not drawn): ${fmt(d.near_zero)}`;
  if (!curves.length) { note(v, `every quadrature node is near zero: mass ${near}`); return; }
  const [lo, hi] = extent(curves.map(c => c.x));
  const f = frame(v, 300, 200, [lo, hi], [0, extent(curves.map(c => c.y))[1]], "|eigenvalue|", "density per decade",
                  false, true);
  for (const c of curves) polyline(f, c.x, c.y, { stroke: c.colour, class: "density-" + c.k });
  for (const e of d.eigenvalues.filter(e => e !== null && Math.abs(e) >= lo && Math.abs(e) <= hi))
    el("svg:line", { x1: f.X(Math.abs(e)), x2: f.X(Math.abs(e)), y1: f.m.t, y2: f.h - f.m.b, "stroke-dasharray": "3,2",
                     stroke: SIGNS[e > 0 ? 0 : 1][2], class: "top-eigenvalue" }, f.svg);
  const key = el("div", { class: "density-legend" }, v);
  for (const [k, label, colour] of SIGNS) el("span", { style: `color:${colour};margin-right:10px` }, key,
                                             `━ ${label}${d[k] ? "" : " (none)"}`);
  note(v, `mass λ > 0: ${fmt(d.mass_positive)}, λ < 0: ${fmt(d.mass_negative)}, ${near}; dashed: top eigenvalues`);
}
function drawHistory(v, h) {
  if (!h || !h.columns.length) { note(v, "no training history"); return; }
  const vals = unpack(h.values), [nc, nr] = vals.shape, col = i => Array.from(vals.slice(i * nr, (i + 1) * nr));
  const xi = h.columns.indexOf("epoch") >= 0 ? h.columns.indexOf("epoch") : h.columns.indexOf("step");
  const x = xi >= 0 ? col(xi) : col(0).map((_, i) => i);
  const cands = h.columns.filter((c, i) => i !== xi);
  const pick = el("select", {}, v);
  options(pick, cands, cands.find(c => /loss/.test(c)) ?? cands[0]);
  const area = el("div", {}, v);
  const paint = () => {
    area.innerHTML = "";
    const y = col(h.columns.indexOf(pick.value)), pos = y.every(q => !Number.isFinite(q) || q > 0);
    const f = frame(area, 300, 200, extent([x]), extent([y]), xi >= 0 ? h.columns[xi] : "row", pick.value, pos);
    polyline(f, x, y, { stroke: "#333" });
  };
  pick.onchange = paint; paint();
}
function drawTrack(v, u) {
  const units = famUnits().filter(w => w.run === u.run).sort((a, b) => (a.epoch ?? 1e12) - (b.epoch ?? 1e12));
  if (units.length < 2) { note(v, "no checkpoints along training"); return; }
  const tr = el("div", { class: "track" }, v);
  for (const w of units) {
    const b = el("button", { class: w.id === u.id ? "on" : "" }, tr,
                 `${w.epoch === null ? "final" : "epoch " + w.epoch}: ${fmt(metricOf(w))}`);
    b.onclick = () => select(w.id);
  }
  const pts = units.filter(w => w.epoch !== null);
  if (pts.length) {
    const f = frame(v, 300, 140, extent([pts.map(w => w.epoch)]), extent([units.map(metricOf)]), "epoch", S.metric, false);
    polyline(f, pts.map(w => w.epoch), pts.map(metricOf), { stroke: "#3b528b" });
    const fin = units.find(w => w.epoch === null);
    if (fin && metricOf(fin) !== null) el("svg:line", { x1: f.m.l, x2: f.w - f.m.r, y1: f.Y(metricOf(fin)),
      y2: f.Y(metricOf(fin)), stroke: "#c33", "stroke-dasharray": "3,2" }, f.svg);
  }
}
function drawUnit(parent, id, pinned) {
  const u = UNITS.get(id), det = D.details[id] || {};
  const box = el("div", { class: "unit" + (pinned ? " pinned" : ""), "data-role": pinned ? "pinned" : "selected",
                          "data-unit": id }, parent);
  if (!u) { note(box, "nothing selected"); return; }
  el("h3", {}, box, `${pinned ? "pinned: " : ""}${u.id}`);
  el("div", { class: u.status === "ok" ? "" : "bad" }, box,
     `status ${u.status}${u.stage ? " (stage " + u.stage + ")" : ""}${u.reason ? ": " + u.reason : ""}`);
  const tab = el("table", { class: "metrics" }, box), tr = el("tr", {}, tab);
  for (const [k, val] of Object.entries(u.swept)) el("td", {}, tr, `${k} = ${val}`);
  el("td", {}, tr, `seed = ${u.seed}`);
  el("td", {}, tr, `${S.metric} = ${fmt(metricOf(u))}`);
  const views = el("div", { class: "views" }, box);
  drawTrack(view(views, "checkpoints (track)", "track", id), u);
  drawProfile(view(views, "topological landscape profile", "profile", id), det.profile, det.profile_svg);
  drawSlices(view(views, "loss slice", "slice", id), det.slices);
  drawDiagram(view(views, "persistence diagram", "diagram", id), det.diagram);
  drawTree(view(views, "merge tree", "tree", id), det.tree);
  drawDensity(view(views, "Hessian spectral density", "density", id), det.density);
  drawHistory(view(views, "training history", "history", id), det.history);
}
function drawDetails() {
  const box = document.getElementById("details"); box.innerHTML = "";
  drawUnit(box, S.selected, false);
  if (S.pinned && S.pinned !== S.selected) drawUnit(box, S.pinned, true);
}
function drawAll() { drawMap(); drawScatter(); drawConnectivity(); drawDetails(); }

// ---------------------------------------------------------------- start
S.family = Object.keys(D.families)[0] ?? null;
bind();
if (S.family) { initFamily(); controls(); drawAll(); }
else document.getElementById("map").textContent = "no runs in this results folder";
document.body.setAttribute("data-ready", "1");
