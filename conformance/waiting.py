"""Bounded waits: every wait in the suite names what it waits for and how long.

Guarantees: `wait_until` returns the probe's first truthy value or raises
`WaitTimeoutError` (an AssertionError, so a test fails with the message)
naming what was awaited and the last value seen; it polls at `interval`
and never sleeps past the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeoutError(AssertionError):
    """A bounded wait ran out."""


def wait_until(
    what: str,
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.5,
) -> T:
    """Poll `probe` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = probe()
    while last is None or not last:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeoutError(
                f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})"
            )
        time.sleep(min(interval, remaining))
        last = probe()
    return last


def holds_for(
    what: str, probe: Callable[[], bool], *, seconds: float, interval: float = 0.5
) -> None:
    """Assert `probe` stays true for `seconds` (checked every `interval`)."""
    deadline = time.monotonic() + seconds
    while True:
        if not probe():
            raise AssertionError(f"{what} stopped holding")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        time.sleep(min(interval, remaining))
