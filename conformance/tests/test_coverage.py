"""Every id of CONFORMANCE.md is carried by at least one test of the suite."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conformance.ids import SPEC_IDS, is_known

pytestmark = pytest.mark.unit

SUITE = Path(__file__).resolve().parents[1]


def marked_ids() -> dict[str, list[str]]:
    """id -> test functions carrying `@pytest.mark.conformance(id)`, from the source."""
    found: dict[str, list[str]] = {}
    for path in sorted(SUITE.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Call)
                    and isinstance(decorator.func, ast.Attribute)
                    and decorator.func.attr == "conformance"
                ):
                    for arg in decorator.args:
                        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                            found.setdefault(arg.value, []).append(f"{path.name}::{node.name}")
    return found


def test_every_spec_id_has_a_test() -> None:
    missing = [id_ for id_ in SPEC_IDS if id_ not in marked_ids()]
    assert not missing, f"ids without a test: {missing}"


def test_every_marked_id_is_in_the_spec() -> None:
    unknown = [id_ for id_ in marked_ids() if not is_known(id_)]
    assert not unknown, f"ids not in CONFORMANCE.md: {unknown}"
