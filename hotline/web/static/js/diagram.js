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

/** Cut `text` with an ellipsis so it fits in `width` pixels. */
function fit(text, width, px) {
  if (textWidth(text, px) <= width) return text;
  let out = "";
  for (const ch of text) {
    if (textWidth(out + ch + "…", px) > width) break;
    out += ch;
  }
  return out + "…";
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
 * Layered layout (after Sugiyama): cycles are broken by a depth-first search
 * from the start node, each node goes on the layer of its longest path from
 * the start, edges spanning several layers get invisible waypoints so they can
 * be routed between nodes, and layers are ordered by barycentre sweeps.
 * Returns {nodes: Map id -> box, edges: [{from, to, labels, back, points}], width, height}.
 */
export function layout(nodes, edges, start) {
  const ids = nodes.map((n) => n.id);
  const known = new Set(ids);
  const out = new Map(ids.map((id) => [id, []]));
  for (const e of edges) if (known.has(e.from) && known.has(e.to)) out.get(e.from).push(e);

  // 1. back edges: those closing a cycle in a depth-first search (start node first)
  const mark = new Map(); // 1 = on the stack, 2 = done
  const back = new Set();
  const dfs = (root) => {
    const stack = [[root, 0]];
    mark.set(root, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const list = out.get(top[0]);
      if (top[1] >= list.length) {
        mark.set(top[0], 2);
        stack.pop();
        continue;
      }
      const e = list[top[1]++];
      const m = mark.get(e.to);
      if (m === 1) back.add(e);
      else if (!m) {
        mark.set(e.to, 1);
        stack.push([e.to, 0]);
      }
    }
  };
  if (start && known.has(start)) dfs(start);
  for (const id of ids) if (!mark.has(id)) dfs(id);
  const forward = edges.filter((e) => known.has(e.from) && known.has(e.to) && !back.has(e) && e.from !== e.to);

  // 2. longest-path layers over the forward edges (Kahn's order)
  const indeg = new Map(ids.map((id) => [id, 0]));
  for (const e of forward) indeg.set(e.to, indeg.get(e.to) + 1);
  const layerOf = new Map(ids.map((id) => [id, 0]));
  const ready = ids.filter((id) => indeg.get(id) === 0);
  if (start && known.has(start)) ready.sort((x, y) => (x === start ? -1 : y === start ? 1 : 0));
  while (ready.length) {
    const id = ready.shift();
    for (const e of forward) {
      if (e.from !== id) continue;
      layerOf.set(e.to, Math.max(layerOf.get(e.to), layerOf.get(id) + 1));
      indeg.set(e.to, indeg.get(e.to) - 1);
      if (indeg.get(e.to) === 0) ready.push(e.to);
    }
  }
  // nodes nothing leads to (other than the start) sit one layer above their first successor
  for (const id of ids) {
    if (id === start || forward.some((e) => e.to === id)) continue;
    const next = forward.filter((e) => e.from === id).map((e) => layerOf.get(e.to));
    if (next.length) layerOf.set(id, Math.max(0, Math.min(...next) - 1));
  }

  // 3. waypoints for long edges
  const depth = Math.max(0, ...layerOf.values()) + 1;
  const layers = Array.from({ length: depth }, () => []);
  for (const id of ids) layers[layerOf.get(id)].push(id);
  const up = new Map([...layerOf.keys()].map((id) => [id, []])); // neighbours on the layer above
  const down = new Map([...layerOf.keys()].map((id) => [id, []]));
  const chains = new Map(); // edge -> [ids from source to target, waypoints between]
  let dummies = 0;
  for (const e of forward) {
    const chain = [e.from];
    for (let l = layerOf.get(e.from) + 1; l < layerOf.get(e.to); l++) {
      const d = `\u0000${dummies++}`;
      layerOf.set(d, l);
      layers[l].push(d);
      up.set(d, []);
      down.set(d, []);
      chain.push(d);
    }
    chain.push(e.to);
    for (let i = 1; i < chain.length; i++) {
      down.get(chain[i - 1]).push(chain[i]);
      up.get(chain[i]).push(chain[i - 1]);
    }
    chains.set(e, chain);
  }

  // 4. order within layers: barycentre sweeps down and up
  const position = new Map();
  layers.forEach((layer) => layer.forEach((id, i) => position.set(id, i)));
  const sweep = (order, neighbours) => {
    for (const l of order) {
      const layer = layers[l];
      const key = new Map(
        layer.map((id) => {
          const ns = neighbours.get(id);
          return [id, ns.length ? ns.reduce((sum, n) => sum + position.get(n), 0) / ns.length : position.get(id)];
        }),
      );
      layer.sort((x, y) => key.get(x) - key.get(y) || position.get(x) - position.get(y));
      layer.forEach((id, i) => position.set(id, i));
    }
  };
  const downOrder = [...layers.keys()].slice(1);
  const upOrder = [...layers.keys()].reverse().slice(1);
  for (let k = 0; k < 6; k++) {
    sweep(downOrder, up);
    sweep(upOrder, down);
  }
  sweep(downOrder, up);

  // 5. coordinates: each layer packed and centred
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const boxes = new Map();
  const widths = layers.map((layer) =>
    layer.reduce((sum, id) => {
      const n = byId.get(id);
      const w = n ? Math.max(96, textWidth(n.id, 7.4) + 24, Math.min(textWidth(n.label ? `${n.type} · ${n.label}` : n.type || "", 6.2), 220) + 24) : 14;
      boxes.set(id, { w, h: n ? NODE_H : 0, node: n, layer: layerOf.get(id), dummy: !n });
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
      box.y = box.dummy ? y + NODE_H / 2 : y;
      x += box.w + NODE_GAP;
    }
  });
  const routed = edges
    .filter((e) => known.has(e.from) && known.has(e.to))
    .map((e) => ({ ...e, back: !chains.has(e), chain: chains.get(e) }));
  for (const id of [...boxes.keys()]) if (boxes.get(id).dummy) boxes.get(id).h = 0;
  return { nodes: boxes, edges: routed, layers, width: inner + 2 * MARGIN, height: MARGIN * 2 + depth * NODE_H + (depth - 1) * LAYER_GAP };
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
  const lay = layout(nodes, mergeEdges((graph.edges || []).filter((e) => e.from && e.to)), graph.start);
  const edges = lay.edges;
  const visited = new Set(highlight);
  const steps = new Set(highlight.slice(1).map((id, i) => `${highlight[i]}\u0000${id}`));

  // Back edges (closing a loop) go round the right-hand side of the diagram.
  const backEdges = edges.filter((e) => e.back);
  const rightRoom = backEdges.length ? 30 + 12 * Math.min(backEdges.length, 16) : 0;
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
  // Spread the exits of a node along its bottom edge, in the order of their first waypoint.
  const exits = new Map();
  for (const e of edges.filter((x) => !x.back)) {
    if (!exits.has(e.from)) exits.set(e.from, []);
    exits.get(e.from).push(e);
  }
  for (const list of exits.values()) {
    list.sort((p, q) => lay.nodes.get(p.chain[1]).x - lay.nodes.get(q.chain[1]).x);
    list.forEach((e, i) => (e.slot = (i + 1) / (list.length + 1)));
  }
  let backIndex = 0;
  for (const e of edges) {
    const a = lay.nodes.get(e.from);
    const b = lay.nodes.get(e.to);
    let d;
    let lx;
    let ly;
    if (!e.back) {
      // through the waypoints, vertical at every layer
      const pts = e.chain.map((id, i) => {
        const box = lay.nodes.get(id);
        if (i === 0) return [box.x + box.w * e.slot, box.y + box.h];
        if (i === e.chain.length - 1) return [box.x + box.w / 2, box.y];
        return [box.x + box.w / 2, box.y];
      });
      d = `M${pts[0][0]},${pts[0][1]}`;
      for (let i = 1; i < pts.length; i++) {
        const [x0, y0] = pts[i - 1];
        const [x1, y1] = pts[i];
        const dy = (y1 - y0) / 2;
        d += ` C${x0},${y0 + dy} ${x1},${y1 - dy} ${x1},${y1}`;
      }
      lx = pts[0][0] + (pts[1][0] - pts[0][0]) * 0.3;
      ly = pts[0][1] + 16;
    } else {
      const lane = lay.width + 12 + 12 * (backIndex++ % 16);
      const x1 = a.x + a.w;
      const y1 = a.y + a.h / 2;
      const x2 = b.x + b.w;
      const y2 = b.y + b.h / 2;
      d = `M${x1},${y1} C${lane},${y1} ${lane},${y2} ${x2},${y2}`;
      lx = (x1 + lane) / 2 + 10;
      ly = y1 - 4;
    }
    const hot = steps.has(`${e.from}\u0000${e.to}`);
    edgeLayer.append(
      svg("path", {
        d,
        class: `edge${hot ? " hot" : ""}${e.back ? " back" : ""}`,
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
    if (box.dummy) continue;
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
      svg("text", { x: box.w / 2, y: 36, class: "node-type", "text-anchor": "middle" }, fit(n.label ? `${n.type} · ${n.label}` : n.type || "", box.w - 14, 6.2)),
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
