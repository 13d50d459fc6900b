"""YAML loading that keeps the line and column of every key and value.

ruamel.yaml's round-trip loader records positions on each mapping and
sequence; :class:`Located` maps a pydantic error location (a tuple of keys and
indexes) back to ``file:line:col`` so every error points at the text the
author wrote. Lines and columns are 1-based, as editors show them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Sequence, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, order=True)
class FlowError:
    """One problem in a file, printed as ``file:line:col: message``."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "col": self.col, "message": self.message}


class Located:
    """A parsed YAML document with positions (``root`` is the ruamel tree)."""

    def __init__(self, file: str, root: Any) -> None:
        self.file = file
        self.root = root

    def pos(self, loc: Sequence[Any], key: bool = False) -> tuple[int, int]:
        """1-based (line, col) of the value at ``loc`` (or of its key with ``key=True``).

        Walks as far as the document goes; an element that is not in the
        document (a missing field, a union tag pydantic adds) is skipped or
        ends the walk at the deepest position found.
        """
        node = self.root
        line, col = 0, 0
        if isinstance(node, (CommentedMap, CommentedSeq)):
            line, col = node.lc.line, node.lc.col
        for i, part in enumerate(loc):
            last = i == len(loc) - 1
            if isinstance(node, CommentedMap):
                k = _find_key(node, part)
                if k is _MISSING:
                    # union tags (node type, rule kind) appear in pydantic locations
                    if part in (node.get("type"), node.get("kind")):
                        continue
                    break
                if key and last:
                    line, col = node.lc.key(k)
                else:
                    line, col = node.lc.value(k)
                node = node[k]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line, col = node.lc.item(part)
                node = node[part]
            else:
                break
        return line + 1, col + 1

    def error(self, loc: Sequence[Any], message: str, key: bool = False) -> FlowError:
        line, col = self.pos(loc, key=key)
        return FlowError(self.file, line, col, message)


_MISSING = object()
_RULE_TAGS = {"phone", "mobile", "landline", "id_card", "range", "length"}


def _find_key(m: CommentedMap, part: Any) -> Any:
    if part in m:
        return part
    # YAML may have typed the key (1: ...) where pydantic reports a string
    for k in m:
        if str(k) == str(part):
            return k
    return _MISSING


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.allow_duplicate_keys = False
    return y


def parse_yaml(text: str, file: str) -> tuple[Located | None, list[FlowError]]:
    """Parse YAML text; a syntax error (or duplicate key) becomes one FlowError."""
    try:
        root = _yaml().load(io.StringIO(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        if "duplicate key" in problem:
            problem = problem.replace('found duplicate key "', "duplicate key '").replace('" with value', "' with value")
            problem = problem.split(" with value")[0]
        return None, [FlowError(file, line, col, f"YAML error: {problem}")]
    except Exception as exc:  # ruamel raises a few non-marked errors on odd input
        return None, [FlowError(file, 1, 1, f"YAML error: {exc}")]
    if root is None:
        return None, [FlowError(file, 1, 1, "the file is empty")]
    return Located(file, root), []


def to_plain(node: Any) -> Any:
    """ruamel containers and scalar types to plain dict/list/str/int/float/bool."""
    if isinstance(node, dict):
        return {(str(k) if isinstance(k, int) and not isinstance(k, bool) else k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _friendly(err: dict[str, Any]) -> str:
    t = err["type"]
    loc = err["loc"]
    field = str(loc[-1]) if loc else ""
    if t == "missing":
        return f"missing required field '{field}'"
    if t == "extra_forbidden":
        return f"unknown field '{field}'"
    if t == "union_tag_invalid":
        ctx = err.get("ctx", {})
        disc = str(ctx.get("discriminator", "")).strip("'")
        what = "node type" if disc == "type" else f"{disc}"
        return f"unknown {what} '{ctx.get('tag')}' (expected one of: {str(ctx.get('expected_tags', '')).replace(chr(39), '')})"
    if t == "union_tag_not_found":
        disc = str(err.get("ctx", {}).get("discriminator", "")).strip("'")
        return f"missing required field '{disc}'"
    msg = str(err["msg"]).removeprefix("Value error, ")
    return msg


def _describe_loc(loc: Sequence[Any], located: Located) -> str:
    """``node 'x': field.sub`` prefix for an error inside a node, else the dotted field."""
    parts = [p for p in loc]
    if len(parts) >= 2 and parts[0] == "nodes":
        name = parts[1]
        rest = parts[2:]
        # drop the union tag pydantic inserts after the node name
        node = located.root.get("nodes", {}).get(name) if isinstance(located.root, dict) else None
        if rest and isinstance(node, dict) and rest[0] == node.get("type"):
            rest = rest[1:]
        rest = [p for j, p in enumerate(rest) if not (j > 0 and rest[j - 1] == "validate" and p in _RULE_TAGS)]
        inner = ".".join(str(p) for p in rest)
        return f"node '{name}'" + (f": {inner}" if inner else "")
    return ".".join(str(p) for p in parts)


def _drop_tags(loc: tuple[Any, ...], root: Any) -> tuple[Any, ...]:
    """Remove the union tags pydantic inserts (node type, rule kind) from a location."""
    out: list[Any] = []
    node = root
    for part in loc:
        if isinstance(node, dict):
            k = _find_key(node, part) if isinstance(node, CommentedMap) else (part if part in node else _MISSING)
            if k is _MISSING:
                if part in (node.get("type"), node.get("kind")):
                    continue
                out.append(part)
                node = None
                continue
            out.append(part)
            node = node[k]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        else:
            out.append(part)
            node = None
    return tuple(out)


def validation_errors(exc: ValidationError, located: Located) -> list[FlowError]:
    out = []
    for err in exc.errors():
        loc = _drop_tags(tuple(err["loc"]), located.root)
        if err["type"] == "union_tag_invalid":
            loc = tuple(err["loc"])
        t = err["type"]
        msg = _friendly(err)
        # name the containing object, not the field, for missing/unknown fields
        where_loc = loc[:-1] if t in ("missing", "extra_forbidden") else loc
        prefix = _describe_loc(where_loc, located)
        if t in ("union_tag_invalid",):
            prefix = _describe_loc(loc, located)
            loc = loc + ("type",) if len(loc) == 2 and loc[0] == "nodes" else loc + ("kind",)
        text = f"{prefix}: {msg}" if prefix else msg
        if t == "extra_forbidden":
            e = located.error(loc, text, key=True)
        elif t == "missing":
            e = located.error(where_loc, text, key=True)
        elif t == "union_tag_not_found":
            e = located.error(loc, text, key=True)
        else:
            e = located.error(loc, text)
        out.append(e)
    return sorted(set(out))


def load_model(model: type[M], text: str, file: str) -> tuple[M | None, Located | None, list[FlowError]]:
    """Parse and validate one YAML document as ``model``; errors carry positions."""
    located, errors = parse_yaml(text, file)
    if located is None:
        return None, None, errors
    if not isinstance(located.root, dict):
        return None, located, [FlowError(file, 1, 1, "the top level must be a mapping")]
    try:
        obj = model.model_validate(to_plain(located.root))
    except ValidationError as exc:
        return None, located, validation_errors(exc, located)
    return obj, located, []
