"""``GET /``: one self-contained page (no CDN, no build step) to watch a running graph.

The live picture of a stage (``/stream/<stage>.mjpg``, a selector over the stages), the per-stage
table polled from ``/api/metrics`` twice a second (fps over the last interval, latency p50/p95,
end-to-end latency of sinks, queue fill, drops, reconnects), the graph drawn as stages and edges
(SVG, one column per depth, from ``/api/graph``) and a Stop button (``POST /api/stop``). A
``?token=`` in the page's address is passed on to every request it makes.
"""

from __future__ import annotations

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>streamer</title>
<style>
body{font:14px system-ui,sans-serif;margin:0;background:#111;color:#ddd}
header{display:flex;gap:1em;align-items:center;padding:.5em 1em;background:#222}
header h1{font-size:16px;margin:0}
main{display:grid;grid-template-columns:minmax(320px,1fr) auto;gap:1em;padding:1em;align-items:start}
#view img{max-width:100%;background:#000;display:block;min-height:120px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:2px 5px;text-align:right;border-bottom:1px solid #333;white-space:nowrap}
th:first-child,td:first-child,td:nth-child(2){text-align:left}
tr.sel{background:#263040}
svg text{fill:#ddd;font:12px system-ui,sans-serif}
svg rect{fill:#263040;stroke:#6a8;cursor:pointer}
svg rect.sel{fill:#3a5070}
svg line{stroke:#888;stroke-width:1.5}
#state{color:#8c8} #state.stopped{color:#c88}
button{background:#633;color:#fff;border:0;padding:4px 10px;cursor:pointer}
</style></head>
<body>
<header><h1 id="title">streamer</h1><span id="state">connecting</span>
<label>stage <select id="stage"></select></label>
<span id="updated"></span><button id="stop">Stop</button></header>
<main>
<section id="view"><img id="picture" alt="live picture"></section>
<section><svg id="graph" width="100%" height="80"></svg>
<table id="metrics"><thead><tr><th>stage</th><th>type</th><th>fps</th><th>in</th><th>out</th>
<th>p50 ms</th><th>p95 ms</th><th>e2e p50</th><th>e2e p95</th><th>queue</th><th>drops</th>
<th>reconnects</th></tr></thead><tbody></tbody></table></section>
</main>
<script>
const token = new URLSearchParams(location.search).get("token");
const q = (path, extra) => {
  const p = new URLSearchParams(extra || {});
  if (token) p.set("token", token);
  const s = p.toString();
  return s ? path + "?" + s : path;
};
const sel = document.getElementById("stage"), img = document.getElementById("picture");
let graph = null, last = {}, lastT = 0, updates = 0;
function show(name) {
  sel.value = name;
  img.src = q("/stream/" + encodeURIComponent(name) + ".mjpg", {width: 640});
  const mark = r => r.classList.toggle("sel", r.dataset.stage === name);
  document.querySelectorAll("svg rect").forEach(mark);
  document.querySelectorAll("#metrics tbody tr").forEach(mark);
}
function draw(g) {
  const depth = {}, col = {};
  for (const s of g.stages) depth[s.name] = s.input == null ? 0 : depth[s.input] + 1;
  const rows = {}, W = 140, H = 26, GX = 24, GY = 12, pos = {};
  for (const s of g.stages) {
    const d = depth[s.name]; rows[d] = (rows[d] || 0) + 1;
    pos[s.name] = {x: 4 + d * (W + GX), y: 4 + (rows[d] - 1) * (H + GY)};
  }
  const svg = document.getElementById("graph"), NS = "http://www.w3.org/2000/svg";
  const maxRows = Math.max(...Object.values(rows));
  svg.setAttribute("height", 8 + maxRows * (H + GY));
  const width = 8 + (Math.max(...Object.values(depth)) + 1) * (W + GX);
  svg.setAttribute("viewBox", `0 0 ${width} ${8 + maxRows * (H + GY)}`);
  svg.innerHTML = "";
  for (const [a, b] of g.edges) {
    const l = document.createElementNS(NS, "line");
    l.setAttribute("x1", pos[a].x + W); l.setAttribute("y1", pos[a].y + H / 2);
    l.setAttribute("x2", pos[b].x); l.setAttribute("y2", pos[b].y + H / 2);
    svg.appendChild(l);
  }
  for (const s of g.stages) {
    const r = document.createElementNS(NS, "rect"), t = document.createElementNS(NS, "text");
    r.setAttribute("x", pos[s.name].x); r.setAttribute("y", pos[s.name].y);
    r.setAttribute("width", W); r.setAttribute("height", H); r.setAttribute("rx", 4);
    r.dataset.stage = s.name; r.onclick = () => show(s.name);
    t.setAttribute("x", pos[s.name].x + 6); t.setAttribute("y", pos[s.name].y + 17);
    t.textContent = s.name + " (" + s.type + ")"; t.style.pointerEvents = "none";
    svg.appendChild(r); svg.appendChild(t);
  }
}
const fmt = v => v == null ? "-" : (typeof v === "number" && !Number.isInteger(v) ? v.toFixed(1) : String(v));
async function poll() {
  try {
    const r = await fetch(q("/api/metrics"), {cache: "no-store"});
    if (!r.ok) throw new Error(r.status);
    const m = await r.json(), now = performance.now(), dt = (now - lastT) / 1000;
    const tbody = document.querySelector("#metrics tbody");
    tbody.innerHTML = "";
    for (const s of m.stages) {
      const n = Math.max(s.frames_in, s.frames_out), prev = last[s.stage];
      const fps = prev != null && dt > 0 ? (n - prev) / dt : s.fps;
      last[s.stage] = n;
      const tr = document.createElement("tr");
      tr.dataset.stage = s.stage; tr.classList.toggle("sel", s.stage === sel.value);
      const queue = s.queue == null ? "-" : s.queue + "/" + s.queue_size;
      for (const v of [s.stage, s.type, fps, s.frames_in, s.frames_out, s.latency_p50_ms, s.latency_p95_ms,
                       s.e2e_p50_ms, s.e2e_p95_ms, queue, s.drops, s.reconnects]) {
        const td = document.createElement("td"); td.textContent = fmt(v); tr.appendChild(td);
      }
      tbody.appendChild(tr);
    }
    lastT = now; updates += 1;
    const st = document.getElementById("state");
    const running = m.stopping ? "stopping" : "running " + fmt(m.uptime_s) + " s";
    st.textContent = m.running ? running : (m.stopped || "done");
    st.className = m.running ? "" : "stopped";
    document.getElementById("updated").textContent = "update " + updates;
    document.body.dataset.updates = updates;
  } catch (e) {
    document.getElementById("state").textContent = "disconnected";
  }
}
async function start() {
  const r = await fetch(q("/api/graph"));
  graph = await r.json();
  document.getElementById("title").textContent = graph.name + " (" + graph.mode + ")";
  for (const s of graph.stages) {
    const o = document.createElement("option"); o.value = o.textContent = s.name; sel.appendChild(o);
  }
  draw(graph);
  const preview = graph.stages.find(s => s.type === "preview" || s.type === "display");
  show((preview || graph.stages[graph.stages.length - 1]).name);
  sel.onchange = () => show(sel.value);
  document.getElementById("stop").onclick = () => fetch(q("/api/stop"), {method: "POST"});
  poll(); setInterval(poll, 500);
}
start();
</script></body></html>
"""
