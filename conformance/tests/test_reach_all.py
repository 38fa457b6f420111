"""reach_all: requests until every backend answered, with time for propagation."""

from __future__ import annotations

import pytest

from conformance.probes import reach_all

pytestmark = pytest.mark.unit


def test_reach_all_keeps_trying_for_a_while_after_its_requests_ran_out() -> None:
    """A backend programmed a moment late (propagation) is still found."""
    calls = []

    def send(count: int) -> list[str | None]:
        calls.append(count)
        return ["b" if len(calls) > 3 else "a"] * count

    seen = reach_all(send, {"a", "b"}, tries=2, batch=1, within=5.0)
    assert set(seen) == {"a", "b"} and len(calls) == 4


def test_reach_all_gives_up_after_its_requests_and_its_time() -> None:
    seen = reach_all(lambda n: ["a"] * n, {"a", "b"}, tries=2, batch=1, within=0.0)
    assert seen == {"a": 2}
