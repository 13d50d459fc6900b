"""The dialplan subset the product ships (deploy/asterisk/extensions.conf).

The .conf file itself is parsed (contexts, ``exten =>``/``same =>`` lines,
``n`` priorities and ``n(label)`` labels, ``include =>``, ``[globals]``);
extensions match exactly or as ``_`` patterns (X Z N, ``[...]``, ``.``, ``!``,
letters x z n being wildcards too, as in Asterisk). Values go through
``${...}`` substitution (variables, ``${EXTEN:5}`` substrings, CALLERID(),
CHANNEL, UNIQUEID, IF(), LEN()) and ``$[...]`` expressions (= != < > <= >= & |).
The applications themselves run in :mod:`pbxsim.apps`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from .channels import Channel


@dataclass(slots=True)
class Step:
    priority: int
    app: str
    data: str
    label: str | None = None


@dataclass(slots=True)
class Extension:
    pattern: str
    steps: dict[int, Step] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    regex: re.Pattern[str] | None = None
    specificity: tuple[int, int] = (0, 0)


@dataclass
class Context:
    name: str
    exact: dict[str, Extension] = field(default_factory=dict)
    patterns: list[Extension] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)


def _pattern_regex(pattern: str) -> tuple[re.Pattern[str], tuple[int, int]]:
    """Compile an Asterisk ``_`` pattern (without the underscore) to a regex."""
    out: list[str] = []
    i = 0
    literal = 0
    wild = 0
    while i < len(pattern):
        c = pattern[i]
        if c in "Xx":
            out.append("[0-9]")
            wild += 10
        elif c in "Zz":
            out.append("[1-9]")
            wild += 9
        elif c in "Nn":
            out.append("[2-9]")
            wild += 8
        elif c == "[":
            j = pattern.index("]", i)
            body = pattern[i + 1 : j]
            out.append("[" + re.sub(r"([\\\]^])", r"\\\1", body) + "]")
            wild += max(1, len(body))
            i = j
        elif c == ".":
            out.append(".+")
            wild += 1000
        elif c == "!":
            out.append(".*")
            wild += 1000
        else:
            out.append(re.escape(c))
            literal += 1
        i += 1
    return re.compile("^" + "".join(out) + "$"), (wild, -literal)


def split_args(data: str, sep: str = ",") -> list[str]:
    """Split application arguments at top-level separators (not inside ${}, $[], () or quotes)."""
    parts: list[str] = []
    depth = 0
    quote = False
    cur: list[str] = []
    i = 0
    while i < len(data):
        c = data[i]
        if c == "\\" and i + 1 < len(data):
            cur.append(data[i + 1])
            i += 2
            continue
        if c == '"':
            quote = not quote
        elif not quote:
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth = max(0, depth - 1)
            elif c == sep and depth == 0:
                parts.append("".join(cur))
                cur = []
                i += 1
                continue
        cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def _strip_comment(line: str) -> str:
    out = []
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if c == ";":
            break
        out.append(c)
        i += 1
    return "".join(out).strip()


def _split_app(text: str) -> tuple[str, str]:
    text = text.strip()
    p = text.find("(")
    if p < 0:
        return text, ""
    name = text[:p].strip()
    rest = text[p + 1 :]
    if rest.endswith(")"):
        rest = rest[:-1]
    return name, rest


@dataclass
class Dialplan:
    contexts: dict[str, Context] = field(default_factory=dict)
    globals: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> "Dialplan":
        return cls.parse(Path(path).read_text(encoding="utf-8"))

    @classmethod
    def parse(cls, text: str) -> "Dialplan":
        dp = cls()
        section: str | None = None
        ctx: Context | None = None
        last: Extension | None = None
        last_prio = 0
        for raw in text.splitlines():
            line = _strip_comment(raw)
            if not line:
                continue
            if line.startswith("[") and "]" in line:
                section = line[1 : line.index("]")].strip()
                ctx = None
                last = None
                if section not in ("general", "globals"):
                    ctx = dp.contexts.setdefault(section, Context(section))
                continue
            if section == "globals":
                k, sep, v = line.partition("=")
                if sep:
                    dp.globals[k.strip()] = v.strip()
                continue
            if ctx is None:
                continue
            key, sep, value = line.partition("=>")
            if not sep:
                continue
            key = key.strip().lower()
            value = value.strip()
            if key == "include":
                ctx.includes.append(value)
                continue
            if key == "exten":
                pattern, _, rest = value.partition(",")
                pattern = pattern.strip()
                ext = ctx.exact.get(pattern) if not pattern.startswith("_") else next(
                    (e for e in ctx.patterns if e.pattern == pattern), None
                )
                if ext is None:
                    ext = Extension(pattern)
                    if pattern.startswith("_"):
                        ext.regex, ext.specificity = _pattern_regex(pattern[1:])
                        ctx.patterns.append(ext)
                    else:
                        ctx.exact[pattern] = ext
                last = ext
                prio_text, _, app_text = rest.partition(",")
            elif key == "same":
                if last is None:
                    continue
                ext = last
                prio_text, _, app_text = value.partition(",")
            else:
                continue
            prio_text = prio_text.strip()
            label = None
            m = re.match(r"^([^()]+)\((.+)\)$", prio_text)
            if m:
                prio_text, label = m.group(1), m.group(2)
            if prio_text == "n":
                prio = last_prio + 1
            elif prio_text == "hint":
                continue
            else:
                prio = int(prio_text)
            last_prio = prio
            name, data = _split_app(app_text)
            ext.steps[prio] = Step(prio, name, data, label)
            if label:
                ext.labels[label] = prio
        for c in dp.contexts.values():
            c.patterns.sort(key=lambda e: e.specificity)
        return dp

    # -- lookup -----------------------------------------------------------
    def find(self, context: str, exten: str, _seen: set[str] | None = None) -> Extension | None:
        ctx = self.contexts.get(context)
        if ctx is None:
            return None
        ext = ctx.exact.get(exten)
        if ext is not None:
            return ext
        for e in ctx.patterns:
            if e.regex is not None and e.regex.match(exten):
                return e
        seen = _seen or {context}
        for inc in ctx.includes:
            if inc in seen:
                continue
            seen.add(inc)
            found = self.find(inc, exten, seen)
            if found is not None:
                return found
        return None

    def step(self, context: str, exten: str, priority: int) -> Step | None:
        ext = self.find(context, exten)
        if ext is None:
            return None
        return ext.steps.get(priority)

    def exists(self, context: str, exten: str, priority: int = 1) -> bool:
        return self.step(context, exten, priority) is not None

    def resolve_label(self, context: str, exten: str, label: str) -> int | None:
        ext = self.find(context, exten)
        if ext is None:
            return None
        if label.isdigit():
            return int(label)
        return ext.labels.get(label)


# -- substitution ----------------------------------------------------------

FuncTable = Mapping[str, Callable[[Channel | None, str], str]]


def _find_close(s: str, start: int, open_c: str, close_c: str) -> int:
    depth = 1
    i = start
    while i < len(s):
        c = s[i]
        if c == open_c:
            depth += 1
        elif c == close_c:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


@dataclass
class Substituter:
    """``${...}`` and ``$[...]`` evaluation against a channel and the globals."""

    globals: dict[str, str]

    def value_of(self, chan: Channel | None, expr: str) -> str:
        name = expr
        offset: int | None = None
        length: int | None = None
        m = re.match(r"^(.*?[^:]?)(?::(-?\d+)(?::(-?\d+))?)$", expr) if ":" in expr and "(" not in expr else None
        if m:
            name = m.group(1)
            offset = int(m.group(2))
            length = int(m.group(3)) if m.group(3) is not None else None
        val = self._lookup(chan, name)
        if offset is not None:
            val = val[offset:] if length is None else (val[offset : offset + length] if length >= 0 else val[offset:length])
        return val

    def _lookup(self, chan: Channel | None, name: str) -> str:
        p = name.find("(")
        if p > 0 and name.endswith(")"):
            return self.function(chan, name[:p].upper(), name[p + 1 : -1])
        if chan is not None:
            special = {
                "EXTEN": chan.exten,
                "CONTEXT": chan.context,
                "PRIORITY": str(chan.priority),
                "CHANNEL": chan.name,
                "UNIQUEID": chan.uniqueid,
                "CALLERIDNUM": chan.caller_num,
                "CALLERIDNAME": chan.caller_name,
            }.get(name)
            if special is not None:
                return special
            v = chan.variables.get(name)
            if v is not None:
                return v
        return self.globals.get(name, "")

    def function(self, chan: Channel | None, fname: str, arg: str) -> str:
        if fname == "CALLERID" and chan is not None:
            a = arg.lower()
            if a == "num":
                return chan.caller_num
            if a == "name":
                return chan.caller_name
            if a == "all":
                return f'"{chan.caller_name}" <{chan.caller_num}>'
            return ""
        if fname == "CONNECTEDLINE" and chan is not None:
            return chan.connected_num if arg.lower() == "num" else chan.connected_name
        if fname == "IF":
            cond, _, rest = arg.partition("?")
            a, _, b = rest.partition(":")
            return a if _truthy(cond.strip()) else b
        if fname == "LEN":
            return str(len(arg))
        if fname == "UUID":
            return str(uuid.uuid4())
        if fname == "GLOBAL":
            return self.globals.get(arg, "")
        if fname == "STRFTIME":
            return _strftime(arg)
        if fname == "CHANNEL" and chan is not None:
            if arg == "name":
                return chan.name
            if arg == "linkedid":
                return chan.linkedid
            if arg == "uniqueid":
                return chan.uniqueid
            if arg == "state":
                return chan.state and {6: "Up", 5: "Ringing", 4: "Ring"}.get(chan.state, "Down") or "Down"
            return ""
        return ""

    def substitute(self, text: str, chan: Channel | None) -> str:
        if "$" not in text:
            return text
        out: list[str] = []
        i = 0
        n = len(text)
        while i < n:
            c = text[i]
            if c == "$" and i + 1 < n and text[i + 1] in "{[":
                open_c = text[i + 1]
                close_c = "}" if open_c == "{" else "]"
                end = _find_close(text, i + 2, open_c, close_c)
                if end < 0:
                    out.append(text[i:])
                    break
                inner = self.substitute(text[i + 2 : end], chan)
                if open_c == "{":
                    out.append(self.value_of(chan, inner))
                else:
                    out.append(evaluate(inner))
                i = end + 1
                continue
            out.append(c)
            i += 1
        return "".join(out)


def _strftime(arg: str) -> str:
    """STRFTIME([epoch][,timezone][,format]) (UTC and the local zone; other zone names are read as UTC)."""
    import time as _time

    parts = (arg.split(",", 2) + ["", "", ""])[:3]
    epoch_txt, tz, fmt = parts[0].strip(), parts[1].strip(), parts[2]
    try:
        epoch = float(epoch_txt) if epoch_txt else _time.time()
    except ValueError:
        epoch = _time.time()
    fmt = fmt or "%a %b %d %H:%M:%S %Z %Y"
    t = _time.localtime(epoch) if not tz else _time.gmtime(epoch)
    return _time.strftime(fmt, t)


def _truthy(v: str) -> bool:
    v = v.strip().strip('"')
    return v not in ("", "0")


_TOKEN = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|(!=|<=|>=|=~|==|[=<>&|+\-*/%()!])|([^\s=<>&|!()"+*/%-]+))')


def evaluate(expr: str) -> str:
    """Minimal $[...] evaluator: comparisons, & |, + - on integers; strings may be quoted."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            break
        pos = m.end()
        if m.group(1) is not None:
            tokens.append(("s", m.group(1)))
        elif m.group(2) is not None:
            tokens.append(("op", m.group(2)))
        elif m.group(3) is not None:
            tokens.append(("s", m.group(3)))
    if not tokens:
        return ""
    val, _ = _parse_or(tokens, 0)
    return val


def _num(v: str) -> float | None:
    try:
        return float(v)
    except ValueError:
        return None


def _parse_or(t: list[tuple[str, str]], i: int) -> tuple[str, int]:
    left, i = _parse_and(t, i)
    while i < len(t) and t[i] == ("op", "|"):
        right, i = _parse_and(t, i + 1)
        left = left if _truthy(left) else (right if _truthy(right) else "0")
    return left, i


def _parse_and(t: list[tuple[str, str]], i: int) -> tuple[str, int]:
    left, i = _parse_cmp(t, i)
    while i < len(t) and t[i] == ("op", "&"):
        right, i = _parse_cmp(t, i + 1)
        left = left if (_truthy(left) and _truthy(right)) else "0"
    return left, i


def _parse_cmp(t: list[tuple[str, str]], i: int) -> tuple[str, int]:
    left, i = _parse_add(t, i)
    while i < len(t) and t[i][0] == "op" and t[i][1] in ("=", "==", "!=", "<", ">", "<=", ">="):
        op = t[i][1]
        right, i = _parse_add(t, i + 1)
        a, b = _num(left), _num(right)
        if a is not None and b is not None:
            x, y = a, b
        else:
            x, y = left, right  # type: ignore[assignment]
        res = {
            "=": x == y,
            "==": x == y,
            "!=": x != y,
            "<": x < y,  # type: ignore[operator]
            ">": x > y,  # type: ignore[operator]
            "<=": x <= y,  # type: ignore[operator]
            ">=": x >= y,  # type: ignore[operator]
        }[op]
        left = "1" if res else "0"
    return left, i


def _parse_add(t: list[tuple[str, str]], i: int) -> tuple[str, int]:
    left, i = _parse_atom(t, i)
    while i < len(t) and t[i][0] == "op" and t[i][1] in ("+", "-"):
        op = t[i][1]
        right, i = _parse_atom(t, i + 1)
        a, b = _num(left), _num(right)
        if a is None or b is None:
            left = "0"
        else:
            r = a + b if op == "+" else a - b
            left = str(int(r)) if r == int(r) else str(r)
    return left, i


def _parse_atom(t: list[tuple[str, str]], i: int) -> tuple[str, int]:
    if i >= len(t):
        return "", i
    kind, v = t[i]
    if kind == "op" and v == "(":
        val, i = _parse_or(t, i + 1)
        if i < len(t) and t[i] == ("op", ")"):
            i += 1
        return val, i
    if kind == "op" and v == "!":
        val, i = _parse_atom(t, i + 1)
        return ("0" if _truthy(val) else "1"), i
    if kind == "op":
        return "", i + 1
    return v, i + 1


def parse_goto_target(target: str, chan: Channel) -> tuple[str, str, str]:
    """``[[context,]exten,]priority|label`` -> (context, exten, priority-or-label)."""
    parts = [p.strip() for p in target.split(",")]
    if len(parts) == 1:
        return chan.context, chan.exten, parts[0]
    if len(parts) == 2:
        return chan.context, parts[0], parts[1]
    return parts[0], parts[1], parts[2]
