"""The subset of the Compute Engine list `filter` language the fake understands.

Supported (anything else is 400 invalid, never silently ignored):

- comparisons `field = value`, `field != value` (exact string match),
  `field : value` (substring), `field:*` (field is set),
  `field eq regex`, `field ne regex` (RE2-style full match, as GCE documents);
- values bare (`name = my-lb`), double-quoted with backslash escapes
  (`description = "{\\"a\\": 1}"`) or single-quoted;
- dotted fields into nested objects (`labels.owner = lbctl`); on a list field a
  comparison holds if it holds for any element; booleans compare as
  `true`/`false` and numbers as their decimal text;
- parentheses, explicit `AND`/`OR` and implicit AND between adjacent terms;
  AND binds tighter than OR.

Not supported: `<`, `>`, `<=`, `>=`, `NOT`, and `*` wildcards inside `=` values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.fakes.gce import errors

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lparen>\() | (?P<rparen>\)) |
        (?P<dq>"(?:[^"\\]|\\.)*") | (?P<sq>'(?:[^'\\]|\\.)*') |
        (?P<op>!=|=|:) |
        (?P<word>[^\s()=!:"']+)
    )""",
    re.VERBOSE,
)


class _Tokens:
    def __init__(self, text: str) -> None:
        self.items: list[tuple[str, str]] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None or match.end() == pos:
                raise _bad(text)
            kind = match.lastgroup or ""
            raw = match.group(kind)
            if kind in ("dq", "sq"):
                raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
                kind = "value"
            self.items.append((kind, raw))
            pos = match.end()
        self.pos = 0
        self.text = text

    def peek(self) -> tuple[str, str] | None:
        return self.items[self.pos] if self.pos < len(self.items) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise _bad(self.text)
        self.pos += 1
        return token


def compile_filter(text: str) -> Predicate:
    """Compile `text`; an empty filter matches everything."""
    if not text.strip():
        return lambda _resource: True
    tokens = _Tokens(text)
    predicate = _parse_or(tokens)
    if tokens.peek() is not None:
        raise _bad(text)
    return predicate


def _parse_or(tokens: _Tokens) -> Predicate:
    parts = [_parse_and(tokens)]
    while (token := tokens.peek()) is not None and token == ("word", "OR"):
        tokens.take()
        parts.append(_parse_and(tokens))
    if len(parts) == 1:
        return parts[0]
    return lambda resource: any(p(resource) for p in parts)


def _parse_and(tokens: _Tokens) -> Predicate:
    parts = [_parse_term(tokens)]
    while (token := tokens.peek()) is not None and token[0] != "rparen" and token[1] != "OR":
        if token == ("word", "AND"):
            tokens.take()
        parts.append(_parse_term(tokens))
    if len(parts) == 1:
        return parts[0]
    return lambda resource: all(p(resource) for p in parts)


def _parse_term(tokens: _Tokens) -> Predicate:
    kind, raw = tokens.take()
    if kind == "lparen":
        inner = _parse_or(tokens)
        if tokens.take()[0] != "rparen":
            raise _bad(tokens.text)
        return inner
    if kind != "word":
        raise _bad(tokens.text)
    field = raw
    op_kind, op = tokens.take()
    if op_kind == "word" and op in ("eq", "ne"):
        pattern = re.compile(_value(tokens))
        want = op == "eq"
        return lambda r: _any_value(r, field, lambda v: bool(pattern.fullmatch(v))) is want
    if op_kind != "op":
        raise _bad(tokens.text)
    value = _value(tokens)
    if op == ":":
        if value == "*":
            return lambda r: _lookup(r, field) is not None
        return lambda r: _any_value(r, field, lambda v: value in v)
    if op == "=":
        return lambda r: _any_value(r, field, lambda v: v == value)
    return lambda r: not _any_value(r, field, lambda v: v == value)


def _value(tokens: _Tokens) -> str:
    kind, raw = tokens.take()
    if kind not in ("value", "word"):
        raise _bad(tokens.text)
    return raw


def _lookup(resource: dict[str, Any], field: str) -> Any:
    current: Any = resource
    for part in field.split("."):
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _any_value(resource: dict[str, Any], field: str, test: Callable[[str], bool]) -> bool:
    found = _lookup(resource, field)
    if found is None:
        return False
    values = found if isinstance(found, list) else [found]
    return any(test(_text(v)) for v in values)


def _bad(text: str) -> errors.ApiError:
    return errors.invalid(
        "filter", text, "Invalid list filter expression (see tests/fakes/gce/filters.py)."
    )
