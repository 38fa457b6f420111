"""The one retry policy: bounded attempts, backoff on a fake clock, Retry-After honoured."""

from __future__ import annotations

import pytest

from lbcommon.clock import FakeClock
from lbcommon.errors import parse_retry_after
from lbctl.providers.common.retry import Retrier, RetryPolicy

pytestmark = pytest.mark.unit

POLICY = RetryPolicy(attempts=4, initial=1.0, maximum=8.0, jitter=0.0)


class BusyError(Exception):
    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("busy")
        self.retry_after = retry_after


class BrokenError(Exception):
    pass


class Judge:
    """A provider's failures module, for the test: BusyError is worth retrying."""

    def retryable(self, error: BaseException) -> bool:
        return isinstance(error, BusyError)

    def retry_after(self, error: BaseException) -> float | None:
        return error.retry_after if isinstance(error, BusyError) else None


def retrier(clock: FakeClock) -> Retrier:
    return Retrier(POLICY, clock=clock, failures=Judge())


def script(*outcomes: object) -> tuple[list[int], object]:
    calls: list[int] = []
    left = list(outcomes)

    def attempt() -> object:
        calls.append(1)
        outcome = left.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return calls, attempt


@pytest.mark.parametrize(
    ("outcomes", "result", "calls", "waited"),
    [
        (["ok"], "ok", 1, 0.0),
        ([BusyError(), BusyError(), "ok"], "ok", 3, 1.0 + 2.0),
        ([BusyError(retry_after=5.0), "ok"], "ok", 2, 5.0),
        ([BusyError()] * 4, BusyError, 4, 1.0 + 2.0 + 4.0),
        ([BusyError(retry_after=60.0), "ok"], BusyError, 1, 0.0),
        ([BrokenError(), "ok"], BrokenError, 1, 0.0),
    ],
    ids=[
        "first-try",
        "backoff-doubles",
        "retry-after-honoured",
        "attempts-bounded",
        "long-retry-after-handed-back",
        "not-retryable",
    ],
)
def test_retries(outcomes: list[object], result: object, calls: int, waited: float) -> None:
    clock = FakeClock()
    made, attempt = script(*outcomes)
    if isinstance(result, type):
        with pytest.raises(result):
            retrier(clock).call("op", attempt)  # type: ignore[arg-type]
    else:
        assert retrier(clock).call("op", attempt) == result  # type: ignore[arg-type]
    assert len(made) == calls
    assert clock.now() == pytest.approx(waited)  # waited on the fake clock, never slept


def test_after_giving_up_prefers_the_servers_word() -> None:
    r = retrier(FakeClock())
    assert r.after_giving_up(BusyError(retry_after=60.0)) == 60.0
    assert r.after_giving_up(BusyError()) == POLICY.maximum


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7.0), ("-3", 0.0), (None, None), ("", None), ("soon", None)],
    ids=["seconds", "negative", "absent", "empty", "garbage"],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date_in_the_past_is_now() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
