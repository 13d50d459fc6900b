// Line diff of two texts (longest common subsequence), rendered as a unified view.

export function diffLines(a, b) {
  const x = a.split("\n");
  const y = b.split("\n");
  // Trim the common head and tail so the table stays small.
  let head = 0;
  while (head < x.length && head < y.length && x[head] === y[head]) head++;
  let tail = 0;
  while (tail < x.length - head && tail < y.length - head && x[x.length - 1 - tail] === y[y.length - 1 - tail]) tail++;
  const xs = x.slice(head, x.length - tail);
  const ys = y.slice(head, y.length - tail);
  const n = xs.length;
  const m = ys.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lcs[i][j] = xs[i] === ys[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const out = [];
  for (let k = 0; k < head; k++) out.push({ op: " ", text: x[k], a: k + 1, b: k + 1 });
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && xs[i] === ys[j]) {
      out.push({ op: " ", text: xs[i], a: head + i + 1, b: head + j + 1 });
      i++;
      j++;
    } else if (j < m && (i === n || lcs[i][j + 1] >= lcs[i + 1][j])) {
      out.push({ op: "+", text: ys[j], b: head + j + 1 });
      j++;
    } else {
      out.push({ op: "-", text: xs[i], a: head + i + 1 });
      i++;
    }
  }
  for (let k = tail; k > 0; k--) out.push({ op: " ", text: x[x.length - k], a: x.length - k + 1, b: y.length - k + 1 });
  return out;
}

/** Parse a unified diff (as `difflib.unified_diff` writes it) into rows. */
export function parseUnified(text) {
  const rows = [];
  let a = 0;
  let b = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("---") || line.startsWith("+++")) continue;
    const hunk = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(line);
    if (hunk) {
      a = +hunk[1];
      b = +hunk[2];
      rows.push({ op: "@", text: line });
    } else if (line.startsWith("+")) rows.push({ op: "+", text: line.slice(1), b: b++ });
    else if (line.startsWith("-")) rows.push({ op: "-", text: line.slice(1), a: a++ });
    else if (line.startsWith(" ")) rows.push({ op: " ", text: line.slice(1), a: a++, b: b++ });
  }
  return rows;
}

/** Keep `context` unchanged lines around each change; the rest become "…" rows. */
export function fold(rows, context = 3) {
  const keep = new Array(rows.length).fill(false);
  rows.forEach((r, idx) => {
    if (r.op !== " ") for (let k = Math.max(0, idx - context); k <= Math.min(rows.length - 1, idx + context); k++) keep[k] = true;
  });
  const out = [];
  let skipped = 0;
  rows.forEach((r, idx) => {
    if (keep[idx]) {
      if (skipped) out.push({ op: "…", text: `${skipped} 行未变 · unchanged lines` });
      skipped = 0;
      out.push(r);
    } else skipped++;
  });
  if (skipped) out.push({ op: "…", text: `${skipped} 行未变 · unchanged lines` });
  return out;
}

export function renderDiff(container, rows) {
  const table = document.createElement("table");
  table.className = "diff-table";
  const changes = rows.filter((r) => r.op === "+" || r.op === "-").length;
  for (const r of rows) {
    const tr = table.insertRow();
    tr.className = { "+": "add", "-": "del", "@": "hunk", "…": "skip", " ": "same" }[r.op];
    tr.insertCell().textContent = r.a ?? "";
    tr.insertCell().textContent = r.b ?? "";
    tr.insertCell().textContent = r.op === " " ? "" : r.op === "@" || r.op === "…" ? "" : r.op;
    const code = tr.insertCell();
    code.textContent = r.text;
    code.className = "code";
  }
  const summary = document.createElement("p");
  summary.className = "muted diff-summary";
  summary.textContent = changes ? `${changes} 行有变化 · changed lines` : "两个版本相同 · The versions are identical";
  container.replaceChildren(summary, table);
}
