"""The AWS call wrapper: counting, retrying and translating, with a plain fake client."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.parsers import ResponseParserError

from lbcommon.errors import ProviderError, TemporaryError, ThrottledError
from lbctl.metrics import Metrics
from lbctl.providers.aws.api import AwsApi, RetryPolicy, is_mutating

pytestmark = pytest.mark.unit

FAST = RetryPolicy(attempts=3, initial=0.0001, maximum=0.001, jitter=0.0001, busy_retry_after=7)


def client_error(code: str, status: int = 400) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": code},
        "ResponseMetadata": {"HTTPStatusCode": status},
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
        ([client_error("LoadBalancerNotFound")], TemporaryError, 1),
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
    ],
)
def test_call_retries_and_translates(script: list[Any], outcome: Any, calls: int) -> None:
    fake = FakeElb(*script)
    metrics = Metrics()
    api = AwsApi(elbv2=fake, ec2=None, metrics=metrics, retry=FAST)
    if isinstance(outcome, dict):
        assert api.call("elbv2", "DescribeLoadBalancers") == outcome
        assert count(metrics, "ok") == 1
    else:
        with pytest.raises(outcome) as caught:
            api.call("elbv2", "DescribeLoadBalancers")
        assert caught.value.__cause__ is not None  # the original is chained
    assert fake.calls == calls


def test_busy_errors_ask_for_a_later_retry_and_throttling_for_the_longest() -> None:
    api = AwsApi(
        elbv2=FakeElb(client_error("ResourceInUse")), ec2=None, metrics=Metrics(), retry=FAST
    )
    with pytest.raises(TemporaryError) as caught:
        api.call("elbv2", "DescribeLoadBalancers")
    assert caught.value.retry_after == 7
    api = AwsApi(
        elbv2=FakeElb(*[client_error("Throttling")] * 3), ec2=None, metrics=Metrics(), retry=FAST
    )
    with pytest.raises(ThrottledError) as throttled:
        api.call("elbv2", "DescribeLoadBalancers")
    assert throttled.value.retry_after == FAST.maximum


def test_declared_harmless_codes_return_empty() -> None:
    api = AwsApi(elbv2=FakeElb(client_error("LoadBalancerNotFound")), ec2=None, metrics=Metrics())
    assert (
        api.call("elbv2", "DescribeLoadBalancers", ok_codes=frozenset({"LoadBalancerNotFound"}))
        == {}
    )


def test_pages_follow_the_marker() -> None:
    fake = FakeElb({"LoadBalancers": [1], "NextMarker": "m"}, {"LoadBalancers": [2]})
    api = AwsApi(elbv2=fake, ec2=None, metrics=Metrics())
    pages = list(api.pages("elbv2", "DescribeLoadBalancers", token=("Marker", "NextMarker")))
    assert [p["LoadBalancers"] for p in pages] == [[1], [2]]


@pytest.mark.parametrize(
    ("operation", "mutating"),
    [
        ("DescribeTags", False),
        ("GetResources", False),
        ("CreateListener", True),
        ("RegisterTargets", True),
    ],
)
def test_mutating_operations(operation: str, mutating: bool) -> None:
    assert is_mutating(operation) is mutating
