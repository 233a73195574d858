// The stepper: every frame of a view is in the page, and the browser switches them (a slider, Play, the keys ← → and
// space); the server hears the step once, when the user lets go or Play stops. Panels: images, a heatmap with the
// step's column marked, lines with the step marked, bars of the step's values. Canvas panels download as PNG.
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
const RED = "#d62728";

function viridis(v) {
  const x = Math.max(0, Math.min(1, v)) * (VIRIDIS.length - 1), i = Math.min(Math.floor(x), VIRIDIS.length - 2);
  const f = x - i, a = VIRIDIS[i], b = VIRIDIS[i + 1];
  return `rgb(${a[0] + f * (b[0] - a[0]) | 0},${a[1] + f * (b[1] - a[1]) | 0},${a[2] + f * (b[2] - a[2]) | 0})`;
}

function el(tag, cls, parent, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function canvasFor(box, width, height) {
  const c = el("canvas", "", box), dpr = window.devicePixelRatio || 1;
  c.width = width * dpr; c.height = height * dpr; c.style.width = width + "px"; c.style.height = height + "px";
  const g = c.getContext("2d"); g.scale(dpr, dpr);
  return [c, g];
}

function ink(root) { return getComputedStyle(root).color || "#31333f"; }

const SCALES = { linear: "one scale", row: "each row its own", log: "log" };
const NARROW = 640;  // px: below it, the panels stack in one column

function heatmap(box, p, st) {
  // Rows in groups (p.groups: a name per row, a group's rows together), each group under its name. The colour
  // scale switches here, in the browser: one linear scale for all, each row on its own maximum, or log (a faint
  // unit and a strong one both visible). A click on a row reports its unit (p.units) to the server.
  const rows = p.rows.length, cols = p.z.length ? p.z[0].length : 0, groups = p.groups || null;
  const rowH = rows > 150 ? Math.max(3, Math.floor(1800 / rows)) : 12, top = 8;
  const left = rowH >= 9 ? Math.min(150, Math.max(40, (box.clientWidth || 500) / 4)) : 40;  // names: a quarter at most
  const strip = groups ? 14 : 0;
  const ctl = el("div", "hmctl", box);
  el("span", "", ctl, "Colour: ");
  const pick = el("select", "", ctl);
  Object.entries(SCALES).forEach(([k, v]) => { const o = el("option", "", pick, v); o.value = k; });
  pick.value = st.scale || p.scale || "linear";
  const width = Math.max(200, box.clientWidth || 500), height = top + rows * rowH + 34;
  const [c, g] = canvasFor(box, width, height), x0 = left + strip, cellW = (width - x0 - 10) / Math.max(cols, 1);
  const color = ink(box), tip = el("div", "tip", box);
  tip.style.display = "none";
  const rowMax = p.z.map((r) => Math.max(0, ...r));
  const positive = p.z.flat().filter((v) => v > 0), floor = positive.length ? Math.max(Math.min(...positive),
    (p.vmax || 1) * 1e-4) : 1e-4;
  function level(r, s) {
    const v = p.z[r][s], mode = pick.value;
    if (mode === "row") return rowMax[r] > 0 ? v / rowMax[r] : 0;
    if (mode === "log") return v > 0 ? (Math.log10(Math.max(v, floor)) - Math.log10(floor)) /
      ((Math.log10(p.vmax) - Math.log10(floor)) || 1) : 0;
    return (v - p.vmin) / ((p.vmax - p.vmin) || 1);
  }
  function draw(t) {
    g.clearRect(0, 0, width, height);
    for (let r = 0; r < rows; r++)
      for (let s = 0; s < cols; s++) {
        g.fillStyle = viridis(level(r, s));
        g.fillRect(x0 + s * cellW, top + r * rowH, Math.ceil(cellW), rowH);
      }
    g.fillStyle = color; g.font = "11px sans-serif"; g.textAlign = "right"; g.textBaseline = "middle";
    if (rowH >= 9) p.rows.forEach((name, r) => g.fillText(name, left - 4, top + r * rowH + rowH / 2));
    if (groups) {  // each group's span on the left, named, and a line between groups
      let start = 0;
      for (let r = 1; r <= rows; r++) {
        if (r < rows && groups[r] === groups[start]) continue;
        const y0 = top + start * rowH, y1 = top + r * rowH;
        g.strokeStyle = color; g.lineWidth = 1;
        g.beginPath(); g.moveTo(left + 4, y0 + 1); g.lineTo(left + 4, y1 - 1); g.stroke();
        if (start > 0) { g.beginPath(); g.moveTo(left, y0); g.lineTo(width - 10, y0); g.stroke(); }
        g.save(); g.translate(left + 11, (y0 + y1) / 2); g.rotate(-Math.PI / 2); g.textAlign = "center";
        if (y1 - y0 > 8 * groups[start].length) g.fillText(groups[start], 0, 0);
        g.restore();
        start = r;
      }
    }
    g.textAlign = "center"; g.textBaseline = "top";
    const every = Math.ceil(cols / 12);
    for (let s = 0; s < cols; s += every) g.fillText(String(s + 1), x0 + (s + 0.5) * cellW, top + rows * rowH + 4);
    g.fillText(p.xtitle || "step t", x0 + (width - x0) / 2, top + rows * rowH + 18);
    const s = Math.min(t, cols) - 1;
    g.strokeStyle = RED; g.lineWidth = 2;
    g.strokeRect(x0 + s * cellW + 1, top, cellW - 2, rows * rowH);
  }
  function at(e) {
    const b = c.getBoundingClientRect();
    return [Math.floor((e.clientX - b.left - x0) / cellW), Math.floor((e.clientY - b.top - top) / rowH), b];
  }
  c.addEventListener("mousemove", (e) => {
    const [s, r, b] = at(e);
    if (s < 0 || s >= cols || r < 0 || r >= rows) { tip.style.display = "none"; return; }
    tip.textContent = `unit ${p.rows[r]}, step ${s + 1}: z = ${p.z[r][s].toFixed(4)}` + (p.units ? " · click: open it" : "");
    tip.style.display = "block"; tip.style.left = (e.clientX - b.left + 12) + "px"; tip.style.top = (e.clientY - b.top + 12) + "px";
  });
  c.addEventListener("mouseleave", () => { tip.style.display = "none"; });
  if (p.units) {
    c.style.cursor = "pointer";
    c.addEventListener("click", (e) => {
      const [, r] = at(e);
      if (r >= 0 && r < rows && st.setTriggerValue) st.setTriggerValue("unit", p.units[r]);
    });
  }
  pick.addEventListener("change", () => { st.scale = pick.value; draw(st.t); });
  return { canvas: c, draw };
}

function niceStep(span) {  // 1, 2 or 5 times a power of ten, about four ticks
  const raw = span / 4, p = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

function axes(g, p, width, height, lo, hi, color, m) {
  g.strokeStyle = "rgba(128,128,128,0.3)"; g.lineWidth = 1; g.fillStyle = color; g.font = "11px sans-serif";
  g.textAlign = "right"; g.textBaseline = "middle";
  const step = niceStep(hi - lo || 1);
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-12; v += step) {
    const y = m.t + (height - m.t - m.b) * (1 - (v - lo) / (hi - lo || 1));
    g.beginPath(); g.moveTo(m.l, y); g.lineTo(width - m.r, y); g.stroke();
    g.fillText(+v.toPrecision(3) + "", m.l - 4, y);
  }
  g.save(); g.translate(12, m.t + (height - m.t - m.b) / 2); g.rotate(-Math.PI / 2); g.textAlign = "center";
  g.fillText(p.ytitle || "", 0, 0); g.restore();
}

function lines(box, p, st) {
  const width = Math.max(200, box.clientWidth || 400), height = 230, m = { l: 52, r: 10, t: 8, b: 56 };
  const [c, g] = canvasFor(box, width, height), color = ink(box), n = p.x.length;
  const hi = Math.max(1e-9, ...p.series.map((s) => Math.max(...s.y))), lo = Math.min(0, ...p.series.map((s) => Math.min(...s.y)));
  const X = (i) => m.l + (width - m.l - m.r) * (n > 1 ? i / (n - 1) : 0.5), Y = (v) => m.t + (height - m.t - m.b) * (1 - (v - lo) / (hi - lo));
  function draw(t) {
    g.clearRect(0, 0, width, height);
    axes(g, p, width, height, lo, hi, color, m);
    g.textAlign = "center"; g.textBaseline = "top"; g.fillStyle = color;
    const every = Math.ceil(n / 10);
    for (let i = 0; i < n; i += every) g.fillText(String(p.x[i]), X(i), height - m.b + 4);
    p.series.forEach((s) => {
      g.strokeStyle = s.color; g.lineWidth = 2; g.beginPath();
      s.y.forEach((v, i) => (i ? g.lineTo(X(i), Y(v)) : g.moveTo(X(i), Y(v)))); g.stroke();
    });
    const i = Math.min(t, n) - 1;  // the step: dashed in the text's colour (red is a kind's colour here)
    g.strokeStyle = color; g.lineWidth = 1.5; g.setLineDash([4, 3]);
    g.beginPath(); g.moveTo(X(i), m.t); g.lineTo(X(i), height - m.b); g.stroke(); g.setLineDash([]);
    let x = m.l; g.textAlign = "left"; g.textBaseline = "middle";
    p.series.forEach((s) => {
      g.fillStyle = s.color; g.fillRect(x, height - 16, 14, 3); g.fillStyle = color;
      const label = `${s.name} ${s.y[i].toPrecision(3)}`; g.fillText(label, x + 18, height - 15); x += g.measureText(label).width + 32;
    });
  }
  return { canvas: c, draw };
}

function bars(box, p, st) {
  const width = Math.max(200, box.clientWidth || 400), height = 220, m = { l: 52, r: 10, t: 8, b: 34 };
  const [c, g] = canvasFor(box, width, height), color = ink(box), k = p.labels.length;
  const hi = p.vmax || Math.max(1e-9, ...p.values.flat()), bw = (width - m.l - m.r) / k;
  function draw(t) {
    const v = p.values[Math.min(t, p.values.length) - 1], best = v.indexOf(Math.max(...v));
    g.clearRect(0, 0, width, height);
    axes(g, p, width, height, 0, hi, color, m);
    v.forEach((y, j) => {
      g.fillStyle = j === best ? RED : "#4c78a8";
      const h = (height - m.t - m.b) * y / hi;
      g.fillRect(m.l + j * bw + bw * 0.15, height - m.b - h, bw * 0.7, h);
      g.fillStyle = color; g.textAlign = "center"; g.textBaseline = "top";
      g.fillText(p.labels[j], m.l + (j + 0.5) * bw, height - m.b + 4);
    });
    g.fillText(p.xtitle || "", m.l + (width - m.l) / 2, height - 14);
  }
  return { canvas: c, draw };
}

function images(box, p, st) {
  const row = el("div", "imgs", box), figs = p.frames[0].map(() => {
    const f = el("figure", "", row), img = el("img", "", f), cap = el("figcaption", "", f);
    img.onload = () => { img.style.width = img.naturalWidth * (p.scale || 1) + "px"; };
    return [img, cap];
  });
  function draw(t) {
    const i = Math.min(t, p.frames.length) - 1;
    figs.forEach(([img, cap], j) => {
      if (img.getAttribute("src") !== p.frames[i][j]) img.setAttribute("src", p.frames[i][j]);
      cap.textContent = p.captions[i][j];
    });
  }
  return { canvas: null, draw };
}

const KINDS = { heatmap, lines, bars, images };

function build(root, st, data) {
  root.textContent = "";
  const bar = el("div", "controls", root);
  st.play = el("button", "play", bar, "▶ Play");
  st.play.type = "button";
  el("span", "name", bar, data.label);
  st.range = el("input", "", bar);
  Object.assign(st.range, { type: "range", min: 1, max: data.steps, step: 1 });
  st.range.setAttribute("aria-label", data.label);
  st.label = el("span", "label", bar);
  el("span", "keys", bar, "← → step · space plays (another control that has the keys keeps them: click the page)");
  const grid = el("div", "grid", root);
  // a narrow screen (a phone, a 400 px window): one column, the panels one under another, none cut off
  const narrow = (root.clientWidth || window.innerWidth) < NARROW && data.widths.length > 1;
  grid.style.gridTemplateColumns = narrow ? "minmax(0, 1fr)" : data.widths.map((w) => `minmax(0, ${w}fr)`).join(" ");
  const cols = (narrow ? [1] : data.widths).map(() => el("div", "col", grid));
  st.panels = data.panels.map((p) => {
    const box = el("div", "panel", cols[narrow ? 0 : p.col]);
    if (p.heading) el("div", "heading", box, p.heading);
    const title = p.title || p.titles ? el("div", "title", box, p.title) : null;
    const body = el("div", "body", box), made = KINDS[p.kind](body, p, st);
    if (p.titles) {
      const drawFrame = made.draw;
      made.draw = (t) => { title.textContent = p.titles[Math.min(t, p.titles.length) - 1]; drawFrame(t); };
    }
    if (made.canvas) {
      const save = el("button", "save", box, "⤓ PNG");
      save.type = "button"; save.title = "Download this chart at the current step";
      save.onclick = () => {
        const a = document.createElement("a");
        a.href = made.canvas.toDataURL("image/png"); a.download = `${data.name}-${p.name}-step${st.t}.png`; a.click();
      };
    }
    if (p.caption) el("div", "caption", box, p.caption);
    return made;
  });
  st.range.addEventListener("input", () => { stopPlay(st, false); show(st, +st.range.value); });
  st.range.addEventListener("change", () => report(st));
  st.play.addEventListener("click", () => (st.timer ? stopPlay(st, true) : startPlay(st)));
}

function show(st, t) {
  st.t = Math.max(1, Math.min(st.steps, t));
  st.range.value = st.t;
  st.label.textContent = st.named ? st.named[st.t - 1] : `step ${st.t} of ${st.steps}`;
  st.panels.forEach((p) => p.draw(st.t));
  st.shown = (st.shown || 0) + 1;
  st.root.dataset.step = st.t;  // tests and the keyboard read it
  st.root.dataset.shown = st.shown;
}

function report(st) {
  if (st.reported !== st.t) { st.reported = st.t; st.setStateValue("step", st.t); }
}

function startPlay(st) {
  if (st.t >= st.steps) show(st, 1);
  st.play.textContent = "⏸ Pause";
  st.timer = setInterval(() => {
    if (st.t >= st.steps) { stopPlay(st, true); return; }
    show(st, st.t + 1);
  }, st.interval);
}

function stopPlay(st, tell) {
  if (st.timer) { clearInterval(st.timer); st.timer = null; st.play.textContent = "▶ Play"; if (tell) report(st); }
}

function typing(e, root) {
  // the keys belong to a field being typed in, and to another widget that has them (a slider elsewhere on the
  // page): the frames step only when the focus is on the page or on this view
  const t = e.composedPath()[0];
  if (!t || root.contains(t)) return false;
  return t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName) ||
    (t.getAttribute && ["slider", "spinbutton", "combobox", "textbox", "listbox"].includes(t.getAttribute("role")));
}

export default function (component) {
  const { data, parentElement, setStateValue, setTriggerValue } = component;
  let root = parentElement.querySelector(".stepper");
  if (!root) root = el("div", "stepper", parentElement);
  const st = root.__stepper || (root.__stepper = { root });
  st.setStateValue = setStateValue;
  st.setTriggerValue = setTriggerValue;
  if (st.sig !== data.sig) {  // new frames (another sample, model or T): rebuilt, at the server's step
    stopPlay(st, false);
    st.steps = data.steps; st.interval = data.interval; st.named = data.named;
    build(root, st, data);
    st.sig = data.sig; st.reported = data.step;
    show(st, data.step);
  }
  if (!st.keys) {
    st.keys = (e) => {
      if (typing(e, root) || e.ctrlKey || e.metaKey || e.altKey || !root.isConnected) return;
      if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
        e.preventDefault(); stopPlay(st, false); show(st, st.t + (e.key === "ArrowRight" ? 1 : -1));
        clearTimeout(st.settle); st.settle = setTimeout(() => report(st), 400);  // once the keys stop
      } else if (e.key === " ") {
        e.preventDefault(); st.timer ? stopPlay(st, true) : startPlay(st);
      }
    };
    document.addEventListener("keydown", st.keys);
  }
  return () => {
    document.removeEventListener("keydown", st.keys); st.keys = null;
    stopPlay(st, false);
  };
}
