// The flow as a diagram: a layered layout (start node on top, each node on
// the layer of its shortest distance from the start), ordered within layers
// by the barycentre of its neighbours, drawn as SVG.

const SVG = "http://www.w3.org/2000/svg";
const NODE_H = 46;
const LAYER_GAP = 64;
const NODE_GAP = 36;
const MARGIN = 24;

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Rough text width: CJK characters are about twice as wide as Latin ones. */
function textWidth(text, px = 7) {
  let w = 0;
  for (const ch of String(text)) w += ch.charCodeAt(0) > 0x2e80 ? px * 1.9 : px;
  return w;
}

/** Merge parallel edges (same from and to) into one edge with all labels. */
function mergeEdges(edges) {
  const byPair = new Map();
  for (const e of edges) {
    const key = `${e.from}\u0000${e.to}`;
    const seen = byPair.get(key);
    if (seen) {
      if (e.label && !seen.labels.includes(e.label)) seen.labels.push(e.label);
    } else byPair.set(key, { from: e.from, to: e.to, labels: e.label ? [e.label] : [], kind: e.kind });
  }
  return [...byPair.values()];
}

/**
 * Positions for nodes ({id, ...}) and edges ({from, to, label}); returns
 * {nodes: Map id -> {x, y, w, h, layer, node}, layers, width, height}.
 */
export function layout(nodes, edges, start) {
  const ids = nodes.map((n) => n.id);
  const known = new Set(ids);
  const out = new Map(ids.map((id) => [id, []]));
  const inc = new Map(ids.map((id) => [id, []]));
  for (const e of edges) {
    if (!known.has(e.from) || !known.has(e.to)) continue;
    out.get(e.from).push(e.to);
    inc.get(e.to).push(e.from);
  }
  const layerOf = new Map();
  const bfs = (seed, base) => {
    const queue = [seed];
    layerOf.set(seed, base);
    while (queue.length) {
      const id = queue.shift();
      for (const next of out.get(id)) {
        if (!layerOf.has(next)) {
          layerOf.set(next, layerOf.get(id) + 1);
          queue.push(next);
        }
      }
    }
  };
  if (start && known.has(start)) bfs(start, 0);
  // Nodes the start cannot reach are drawn below the reachable ones.
  for (const id of ids) {
    if (layerOf.has(id)) continue;
    const base = layerOf.size ? Math.max(...layerOf.values()) + 1 : 0;
    bfs(id, base);
  }
  const depth = Math.max(0, ...layerOf.values()) + 1;
  const layers = Array.from({ length: depth }, () => []);
  for (const id of ids) layers[layerOf.get(id)].push(id);

  // Barycentre ordering: a few sweeps down (by parents) and up (by children).
  const position = new Map();
  const renumber = () => layers.forEach((layer) => layer.forEach((id, i) => position.set(id, i)));
  renumber();
  const sweep = (order, neighbours) => {
    for (const l of order) {
      const layer = layers[l];
      const key = new Map(
        layer.map((id) => {
          const ns = neighbours.get(id).filter((n) => layerOf.get(n) !== l);
          const bc = ns.length ? ns.reduce((s, n) => s + position.get(n), 0) / ns.length : position.get(id);
          return [id, bc];
        }),
      );
      layer.sort((a, b) => key.get(a) - key.get(b) || position.get(a) - position.get(b));
      layer.forEach((id, i) => position.set(id, i));
    }
  };
  const down = [...layers.keys()].slice(1);
  const up = [...layers.keys()].reverse().slice(1);
  for (let k = 0; k < 4; k++) {
    sweep(down, inc);
    sweep(up, out);
  }

  const byId = new Map(nodes.map((n) => [n.id, n]));
  const boxes = new Map();
  const widths = layers.map((layer) =>
    layer.reduce((sum, id) => {
      const n = byId.get(id);
      const w = Math.max(96, textWidth(n.id, 7.4) + 24, textWidth(n.label || n.type || "", 6.2) + 24);
      boxes.set(id, { w, h: NODE_H, node: n, layer: layerOf.get(id) });
      return sum + w;
    }, 0) + NODE_GAP * Math.max(0, layer.length - 1),
  );
  const inner = Math.max(0, ...widths);
  layers.forEach((layer, l) => {
    let x = MARGIN + (inner - widths[l]) / 2;
    const y = MARGIN + l * (NODE_H + LAYER_GAP);
    for (const id of layer) {
      const box = boxes.get(id);
      box.x = x;
      box.y = y;
      x += box.w + NODE_GAP;
    }
  });
  return { nodes: boxes, layers, width: inner + 2 * MARGIN, height: MARGIN * 2 + depth * NODE_H + (depth - 1) * LAYER_GAP };
}

/**
 * Draw into `container`. graph: {nodes: [{id, type, label, line}], edges:
 * [{from, to, label}], start}. onNode(node) is called when a node is clicked.
 */
export function drawFlow(container, graph, { onNode, highlight = [] } = {}) {
  const nodes = graph.nodes || [];
  if (!nodes.length) {
    container.replaceChildren(Object.assign(document.createElement("p"), { className: "muted", textContent: "没有节点 · No nodes" }));
    return null;
  }
  const edges = mergeEdges((graph.edges || []).filter((e) => e.from && e.to));
  const lay = layout(nodes, edges, graph.start);
  const visited = new Set(highlight);
  const steps = new Set(highlight.slice(1).map((id, i) => `${highlight[i]}\u0000${id}`));

  // Back edges and same-layer edges go round the right-hand side.
  const backEdges = edges.filter((e) => {
    const a = lay.nodes.get(e.from);
    const b = lay.nodes.get(e.to);
    return a && b && b.layer <= a.layer;
  });
  const rightRoom = backEdges.length ? 40 + 14 * Math.min(backEdges.length, 12) : 0;
  const width = lay.width + rightRoom;
  const root = svg("svg", {
    class: "flow-diagram",
    viewBox: `0 0 ${width} ${lay.height}`,
    width,
    height: lay.height,
    role: "img",
    "aria-label": `flow ${graph.name || ""}`,
  });
  const defs = svg("defs");
  for (const [id, cls] of [["arrow", "arrow"], ["arrow-hot", "arrow hot"]]) {
    const marker = svg("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    marker.append(svg("path", { d: "M0,0 L10,5 L0,10 z", class: cls }));
    defs.append(marker);
  }
  root.append(defs);

  const edgeLayer = svg("g", { class: "edges" });
  const labelLayer = svg("g", { class: "edge-labels" });
  // Spread the exits of a node along its bottom edge.
  const exits = new Map();
  for (const e of edges) {
    if (!exits.has(e.from)) exits.set(e.from, []);
    exits.get(e.from).push(e);
  }
  for (const list of exits.values()) {
    list.sort((p, q) => (lay.nodes.get(p.to)?.x ?? 0) - (lay.nodes.get(q.to)?.x ?? 0));
    list.forEach((e, i) => (e.slot = (i + 1) / (list.length + 1)));
  }
  let backIndex = 0;
  for (const e of edges) {
    const a = lay.nodes.get(e.from);
    const b = lay.nodes.get(e.to);
    if (!a || !b) continue;
    let d;
    let lx;
    let ly;
    if (b.layer > a.layer) {
      const x1 = a.x + a.w * e.slot;
      const y1 = a.y + a.h;
      const x2 = b.x + b.w / 2;
      const y2 = b.y;
      const dy = Math.max(30, (y2 - y1) / 2);
      d = `M${x1},${y1} C${x1},${y1 + dy} ${x2},${y2 - dy} ${x2},${y2}`;
      lx = (x1 + x2) / 2;
      ly = y1 + Math.min(LAYER_GAP / 2, (y2 - y1) / 2);
      if (b.layer - a.layer > 1) {
        lx = x1 + (x2 - x1) * 0.15;
        ly = y1 + 16;
      }
    } else {
      const lane = lay.width + 20 + 14 * (backIndex++ % 12);
      const x1 = a.x + a.w;
      const y1 = a.y + a.h / 2;
      const x2 = b.x + b.w;
      const y2 = b.y + b.h / 2;
      d = `M${x1},${y1} C${lane},${y1} ${lane},${y2} ${x2},${y2}`;
      lx = lane - 10;
      ly = (y1 + y2) / 2;
    }
    const hot = steps.has(`${e.from}\u0000${e.to}`);
    edgeLayer.append(
      svg("path", {
        d,
        class: `edge${hot ? " hot" : ""}${e.kind ? " kind-" + e.kind : ""}`,
        "marker-end": hot ? "url(#arrow-hot)" : "url(#arrow)",
        "data-from": e.from,
        "data-to": e.to,
      }),
    );
    if (e.labels.length) {
      const text = e.labels.join(" / ");
      labelLayer.append(
        svg("text", { x: lx, y: ly, class: "edge-label", "text-anchor": "middle", "data-from": e.from, "data-to": e.to }, text.length > 28 ? text.slice(0, 27) + "…" : text),
      );
    }
  }

  const nodeLayer = svg("g", { class: "nodes" });
  for (const [id, box] of lay.nodes) {
    const n = box.node;
    const g = svg("g", {
      class: `node type-${n.type || "unknown"}${id === graph.start ? " start" : ""}${visited.has(id) ? " visited" : ""}`,
      "data-node": id,
      transform: `translate(${box.x},${box.y})`,
      tabindex: 0,
    });
    const title = svg("title", {}, [id, n.type, n.label, n.line ? `line ${n.line}` : ""].filter(Boolean).join(" · "));
    g.append(
      title,
      svg("rect", { width: box.w, height: box.h, rx: n.type === "hangup" || n.type === "goto" ? 22 : 6 }),
      svg("text", { x: box.w / 2, y: 19, class: "node-id", "text-anchor": "middle" }, id),
      svg("text", { x: box.w / 2, y: 36, class: "node-type", "text-anchor": "middle" }, n.label ? `${n.type} · ${n.label}` : n.type || ""),
    );
    if (onNode) {
      g.addEventListener("click", () => onNode(n));
      g.addEventListener("keydown", (ev) => ev.key === "Enter" && onNode(n));
    }
    nodeLayer.append(g);
  }
  root.append(edgeLayer, nodeLayer, labelLayer);
  container.replaceChildren(root);
  return root;
}
