"""The names every cloud provider derives the same way."""

from __future__ import annotations

import pytest

from lbctl.providers.common.names import lb_name, uid_hex

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("uid", "expected"),
    [
        ("0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0", "a0b1c2d3e4f5061728394a5b6c7d8e9f"),
        ("1234", "a1234"),
        ("", "a"),
    ],
    ids=["uuid-cut-to-32", "short", "empty"],
)
def test_lb_name_is_upstreams(uid: str, expected: str) -> None:
    assert lb_name(uid) == expected
    assert len(lb_name(uid)) <= 32


def test_uid_hex_drops_dashes_and_case() -> None:
    assert uid_hex("0B1C-2D3E") == "0b1c2d3e"
