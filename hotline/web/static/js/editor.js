// A YAML textarea with line numbers; problems are marked in the gutter and
// behind their line, and the cursor can be moved to any line.

export class LineEditor {
  constructor({ textarea, gutter, marks, cursorLabel, onChange = () => {} }) {
    this.textarea = textarea;
    this.gutter = gutter;
    this.marks = marks;
    this.cursorLabel = cursorLabel;
    this.problems = new Map(); // line -> [messages]
    this.lineCount = 0;
    textarea.addEventListener("input", () => {
      this.renderGutter();
      onChange();
    });
    textarea.addEventListener("scroll", () => this.syncScroll());
    for (const ev of ["keyup", "click", "select", "focus"]) textarea.addEventListener(ev, () => this.showCursor());
    textarea.addEventListener("keydown", (event) => {
      // Tab inserts two spaces: YAML forbids tab indentation.
      if (event.key === "Tab" && !event.ctrlKey && !event.metaKey && !event.altKey) {
        event.preventDefault();
        document.execCommand("insertText", false, "  ");
      }
    });
  }

  get value() {
    return this.textarea.value;
  }

  set value(text) {
    this.textarea.value = text;
    this.textarea.scrollTop = 0;
    this.renderGutter();
  }

  lineHeight() {
    return parseFloat(getComputedStyle(this.textarea).lineHeight) || 18;
  }

  paddingTop() {
    return parseFloat(getComputedStyle(this.textarea).paddingTop) || 0;
  }

  /** problems: [{line, col, message}]; lines are 1-based. */
  setProblems(problems) {
    this.problems = new Map();
    for (const p of problems) {
      if (!p.line) continue;
      const list = this.problems.get(p.line) || [];
      list.push(p.col ? `${p.col}: ${p.message}` : p.message);
      this.problems.set(p.line, list);
    }
    this.renderGutter(true);
  }

  renderGutter(force = false) {
    const count = this.textarea.value.split("\n").length;
    if (count === this.lineCount && !force) return;
    this.lineCount = count;
    const frag = document.createDocumentFragment();
    for (let n = 1; n <= count; n++) {
      const div = document.createElement("div");
      div.className = "ln";
      div.dataset.line = n;
      div.textContent = n;
      const problems = this.problems.get(n);
      if (problems) {
        div.classList.add("has-error");
        div.title = problems.join("\n");
      }
      frag.append(div);
    }
    this.gutter.replaceChildren(frag);
    this.renderMarks();
    this.syncScroll();
  }

  renderMarks() {
    const lh = this.lineHeight();
    const top = this.paddingTop();
    const frag = document.createDocumentFragment();
    for (const line of this.problems.keys()) {
      if (line > this.lineCount) continue;
      const bar = document.createElement("div");
      bar.className = "mark-line";
      bar.dataset.line = line;
      bar.style.top = `${top + (line - 1) * lh}px`;
      bar.style.height = `${lh}px`;
      frag.append(bar);
    }
    this.marks.replaceChildren(frag);
  }

  syncScroll() {
    this.gutter.scrollTop = this.textarea.scrollTop;
    this.marks.style.transform = `translate(${-this.textarea.scrollLeft}px, ${-this.textarea.scrollTop}px)`;
  }

  /** The 1-based line and column of the cursor. */
  cursor() {
    const before = this.textarea.value.slice(0, this.textarea.selectionStart);
    const lines = before.split("\n");
    return { line: lines.length, col: lines[lines.length - 1].length + 1 };
  }

  showCursor() {
    if (!this.cursorLabel) return;
    const { line, col } = this.cursor();
    this.cursorLabel.textContent = `行 Ln ${line}, 列 Col ${col}`;
    this.cursorLabel.dataset.line = line;
  }

  /** Put the cursor at line:col (1-based) and scroll the line into view. */
  goTo(line, col = 1) {
    const lines = this.textarea.value.split("\n");
    const target = Math.max(1, Math.min(line, lines.length));
    let offset = 0;
    for (let i = 0; i < target - 1; i++) offset += lines[i].length + 1;
    offset += Math.max(0, Math.min(col - 1, lines[target - 1].length));
    this.textarea.focus();
    this.textarea.setSelectionRange(offset, offset);
    const lh = this.lineHeight();
    const visible = this.textarea.clientHeight;
    const y = (target - 1) * lh;
    if (y < this.textarea.scrollTop || y > this.textarea.scrollTop + visible - 2 * lh) {
      this.textarea.scrollTop = Math.max(0, y - visible / 3);
    }
    this.syncScroll();
    this.showCursor();
    const ln = this.gutter.querySelector(`[data-line="${target}"]`);
    if (ln) {
      ln.classList.add("flash");
      setTimeout(() => ln.classList.remove("flash"), 1200);
    }
  }
}
