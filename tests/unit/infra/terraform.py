"""Terraform under terraform/ read with python-hcl2, for the structure tests.

`Module.load(path)` parses every `*.tf` file of one directory into plain
values: strings without their quotes, lists, numbers, and dicts for blocks
(a block that may repeat, such as `allow` or `node`, is a list of dicts).
`resources[type][name]` is one resource's body, `outputs`, `variables`, `locals`
the module's outputs, variables and locals, and `skips(type, name)` the
`#checkov:skip=` ids written in that resource's body with their reasons.
Nothing here runs a process or evaluates an expression: interpolations stay
as the text hcl2 gives (`${var.name}-node`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions

REPO = Path(__file__).resolve().parents[3]
TERRAFORM = REPO / "terraform"
_OPTIONS = SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True
)
_SKIP = re.compile(r"#\s*checkov:skip=(CKV2?_[A-Z0-9_]+)\s*:\s*(\S.*)")
_RESOURCE = re.compile(r'^resource\s+"([^"]+)"\s+"([^"]+)"', re.MULTILINE)

Body = dict[str, Any]


def unquote(key: str) -> str:
    """hcl2 keeps the quotes of block labels (`"google_compute_network"`)."""
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == '"' else key


def _labelled(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """`[{"label": body}, ...]` (hcl2's shape for labelled blocks) as one dict."""
    out: dict[str, Any] = {}
    for entry in entries:
        for label, body in entry.items():
            out[unquote(label)] = body
    return out


@dataclass(frozen=True)
class Module:
    """One Terraform directory, parsed."""

    path: Path
    resources: dict[str, dict[str, Body]] = field(default_factory=dict)
    data: dict[str, dict[str, Body]] = field(default_factory=dict)
    outputs: dict[str, Body] = field(default_factory=dict)
    variables: dict[str, Body] = field(default_factory=dict)
    locals: Body = field(default_factory=dict)
    settings: list[Body] = field(default_factory=list)  # `terraform {}` blocks
    #: (type, name) -> {check id: reason}, from `#checkov:skip=ID:reason` comments
    checkov_skips: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Module:
        module = cls(path)
        for tf in sorted(path.glob("*.tf")):
            text = tf.read_text()
            parsed = hcl2.loads(text, serialization_options=_OPTIONS)
            for kind, entries in _labelled_pairs(parsed, "resource"):
                module.resources.setdefault(kind, {}).update(entries)
            for kind, entries in _labelled_pairs(parsed, "data"):
                module.data.setdefault(kind, {}).update(entries)
            module.outputs.update(_labelled(parsed.get("output", [])))
            module.variables.update(_labelled(parsed.get("variable", [])))
            module.settings.extend(parsed.get("terraform", []))
            for block in parsed.get("locals", []):
                module.locals.update(block)
            module.checkov_skips.update(_skips(text))
        return module

    def resource(self, kind: str, name: str) -> Body:
        try:
            return self.resources[kind][name]
        except KeyError:
            have = sorted(f"{k}.{n}" for k, names in self.resources.items() for n in names)
            raise AssertionError(f"{self.path.name}: no {kind}.{name}; it has {have}") from None

    def providers(self) -> dict[str, Body]:
        out: dict[str, Body] = {}
        for block in self.settings:
            for required in block.get("required_providers", []):
                out.update({unquote(k): v for k, v in required.items()})
        return out


def _labelled_pairs(parsed: dict[str, Any], block: str) -> list[tuple[str, dict[str, Body]]]:
    """`resource "type" "name" {}` blocks as (type, {name: body})."""
    pairs = []
    for entry in parsed.get(block, []):
        for kind, named in entry.items():
            pairs.append((unquote(kind), {unquote(n): body for n, body in named.items()}))
    return pairs


def _skips(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """The checkov skip comments of each resource, by the resource they sit in."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    current: tuple[str, str] | None = None
    for line in text.splitlines():
        header = _RESOURCE.match(line)
        if header:
            current = (header.group(1), header.group(2))
        skip = _SKIP.search(line)
        if skip and current is not None:
            found.setdefault(current, {})[skip.group(1)] = skip.group(2).strip()
    return found
