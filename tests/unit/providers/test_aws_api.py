"""The AWS call wrapper: counting, retrying and translating, with a plain fake client."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.parsers import ResponseParserError

from lbcommon.clock import FakeClock
from lbcommon.errors import (
    ForbiddenError,
    ProviderError,
    ResourceMissingError,
    TemporaryError,
    ThrottledError,
)
from lbctl.metrics import Metrics
from lbctl.providers.aws import api as aws_api
from lbctl.providers.aws.api import BUSY_RETRY_AFTER, AwsApi
from lbctl.providers.common.retry import Retrier, RetryPolicy

pytestmark = pytest.mark.unit

FAST = RetryPolicy(attempts=3, initial=0.5, maximum=4.0, jitter=0.1)


def make_api(elbv2: Any, metrics: Metrics | None = None, clock: FakeClock | None = None) -> AwsApi:
    """An AwsApi on a FakeClock: its retry waits step the clock, never sleep."""
    retrier = Retrier(FAST, clock=clock or FakeClock(), failures=aws_api)
    return AwsApi(elbv2=elbv2, ec2=None, metrics=metrics or Metrics(), retrier=retrier)


def client_error(code: str, status: int = 400, retry_after: str | None = None) -> ClientError:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    response: Any = {
        "Error": {"Code": code, "Message": code},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers},
    }
    return ClientError(response, "Op")


class FakeElb:
    """Answers describe_load_balancers from a script of results or errors."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.calls = 0

    def describe_load_balancers(self, **params: Any) -> dict[str, Any]:
        self.calls += 1
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        assert isinstance(step, dict)
        return step


def count(metrics: Metrics, result: str) -> float:
    sample = metrics.provider_calls.labels(
        provider="aws", method="elbv2.DescribeLoadBalancers", result=result
    )
    return float(sample._value.get())


@pytest.mark.parametrize(
    ("script", "outcome", "calls"),
    [
        ([{"ok": 1}], {"ok": 1}, 1),
        ([client_error("Throttling"), {"ok": 1}], {"ok": 1}, 2),
        ([client_error("InternalFailure", 500), {"ok": 1}], {"ok": 1}, 2),
        ([EndpointConnectionError(endpoint_url="http://x"), {"ok": 1}], {"ok": 1}, 2),
        ([ResponseParserError("<html>500</html>"), {"ok": 1}], {"ok": 1}, 2),
        ([client_error("RequestLimitExceeded")] * 3, ThrottledError, 3),
        ([client_error("ServiceUnavailable", 503)] * 3, TemporaryError, 3),
        ([client_error("DependencyViolation")], TemporaryError, 1),
        ([client_error("ValidationError")], ProviderError, 1),
        ([client_error("LoadBalancerNotFound")], ResourceMissingError, 1),
        ([client_error("InvalidGroup.NotFound")], ResourceMissingError, 1),
        ([client_error("AccessDenied", 403)], ForbiddenError, 1),
        ([client_error("UnauthorizedOperation", 403)], ForbiddenError, 1),
    ],
    ids=[
        "ok",
        "throttled-once",
        "5xx-once",
        "connection-once",
        "unparseable-once",
        "throttled-always",
        "5xx-always",
        "busy",
        "invalid",
        "vanished",
        "group-vanished",
        "access-denied",
        "unauthorized",
    ],
)
def test_call_retries_and_translates(script: list[Any], outcome: Any, calls: int) -> None:
    fake = FakeElb(*script)
    metrics = Metrics()
    api = make_api(fake, metrics)
    if isinstance(outcome, dict):
        assert api.call("elbv2", "DescribeLoadBalancers") == outcome
        assert count(metrics, "ok") == 1
    else:
        with pytest.raises(outcome) as caught:
            api.call("elbv2", "DescribeLoadBalancers")
        assert caught.value.__cause__ is not None  # the original is chained
    assert fake.calls == calls


def test_busy_errors_ask_for_a_later_retry_and_throttling_for_the_longest() -> None:
    api = make_api(FakeElb(client_error("ResourceInUse")))
    with pytest.raises(TemporaryError) as caught:
        api.call("elbv2", "DescribeLoadBalancers")
    assert caught.value.retry_after == BUSY_RETRY_AFTER
    api = make_api(FakeElb(*[client_error("Throttling")] * 3))
    with pytest.raises(ThrottledError) as throttled:
        api.call("elbv2", "DescribeLoadBalancers")
    assert throttled.value.retry_after == FAST.maximum


def test_retry_after_is_waited_for_and_reported() -> None:
    clock = FakeClock()
    fake = FakeElb(client_error("Throttling", retry_after="3"), {"ok": 1})
    assert make_api(fake, clock=clock).call("elbv2", "DescribeLoadBalancers") == {"ok": 1}
    assert clock.now() >= 3.0  # waited at least what the server asked, on the fake clock
    # longer than the policy waits in place: no retry, the work queue waits instead
    fake = FakeElb(client_error("Throttling", retry_after="60"), {"ok": 1})
    with pytest.raises(ThrottledError) as throttled:
        make_api(fake).call("elbv2", "DescribeLoadBalancers")
    assert throttled.value.retry_after == 60.0
    assert fake.calls == 1


def test_declared_harmless_codes_return_empty() -> None:
    api = make_api(FakeElb(client_error("LoadBalancerNotFound")))
    assert (
        api.call("elbv2", "DescribeLoadBalancers", ok_codes=frozenset({"LoadBalancerNotFound"}))
        == {}
    )


def test_pages_follow_the_marker() -> None:
    fake = FakeElb({"LoadBalancers": [1], "NextMarker": "m"}, {"LoadBalancers": [2]})
    api = make_api(fake)
    pages = list(api.pages("elbv2", "DescribeLoadBalancers", token=("Marker", "NextMarker")))
    assert [p["LoadBalancers"] for p in pages] == [[1], [2]]
