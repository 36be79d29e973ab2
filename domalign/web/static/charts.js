// Two small SVG charts, drawn by hand so the console ships no charting library.

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function fmt(value) {
  return Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 1 ? value.toFixed(2) : value.toFixed(3);
}

/** A line per series ({name, color, points: [[x, y], ...]}) on shared axes. */
export function lineChart(series, { width = 640, height = 220, xLabel = "", yLabel = "" } = {}) {
  const pad = { left: 48, right: 12, top: 12, bottom: 32 };
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": yLabel });
  const all = series.flatMap((s) => s.points);
  if (!all.length) {
    root.append(svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, "no data yet"));
    return root;
  }
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs, Math.min(...xs) + 1)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y1 - y0 < 1e-9) { y0 -= 0.5; y1 += 0.5; }
  const sx = (x) => pad.left + ((x - x0) / (x1 - x0)) * (width - pad.left - pad.right);
  const sy = (y) => height - pad.bottom - ((y - y0) / (y1 - y0)) * (height - pad.top - pad.bottom);
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    root.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: sy(y), y2: sy(y), stroke: "#eaecf0" }));
    root.append(svg("text", { x: pad.left - 6, y: sy(y) + 4, "text-anchor": "end" }, fmt(y)));
  }
  root.append(svg("text", { x: pad.left, y: height - 8 }, `${xLabel} ${x0}`));
  root.append(svg("text", { x: width - pad.right, y: height - 8, "text-anchor": "end" }, `${x1}`));
  for (const s of series) {
    if (!s.points.length) continue;
    const d = s.points.map(([x, y], i) => `${i ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join("");
    root.append(svg("path", { d, fill: "none", stroke: s.color, "stroke-width": 2, class: `series-${s.name}` }));
    if (s.points.length <= 20) { // few points (a validation check or two) would not show as a line
      for (const [x, y] of s.points) root.append(svg("circle", { cx: sx(x), cy: sy(y), r: 3.5, fill: s.color }));
    }
  }
  series.forEach((s, i) => {
    root.append(svg("rect", { x: width - 150, y: pad.top + i * 16, width: 10, height: 10, fill: s.color }));
    root.append(svg("text", { x: width - 135, y: pad.top + 9 + i * 16 }, s.name));
  });
  return root;
}

/** Before/after bars for one metric; `better` says which direction is good ("higher" or "lower"). */
export function beforeAfter(title, before, after, { better = "higher", percent = false } = {}) {
  const width = 240, height = 150, base = 120;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  const top = Math.max(before ?? 0, after ?? 0, percent ? 1 : 1e-9);
  const show = (v) => (v == null ? "–" : percent ? `${(v * 100).toFixed(1)}%` : fmt(v));
  const improved = before != null && after != null && (better === "higher" ? after > before : after < before);
  [["before", before, "#98a2b3", 50], ["after", after, improved ? "#1a7f37" : "#c4320a", 140]].forEach(
    ([label, value, color, x]) => {
      const h = value == null ? 0 : (value / top) * (base - 24);
      root.append(svg("rect", { x, y: base - h, width: 50, height: h, fill: color, class: `bar-${label}` }));
      root.append(svg("text", { x: x + 25, y: base - h - 5, "text-anchor": "middle" }, show(value)));
      root.append(svg("text", { x: x + 25, y: base + 16, "text-anchor": "middle" }, label));
    });
  root.append(svg("line", { x1: 30, x2: 210, y1: base, y2: base, stroke: "#98a2b3" }));
  root.append(svg("text", { x: width / 2, y: height - 4, "text-anchor": "middle" }, title));
  return root;
}
