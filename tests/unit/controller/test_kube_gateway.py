"""lbctl.kube.gateway: each apiserver failure becomes its lbcommon.errors type.

(lbctl.kube is the controller's Kubernetes adapter; its tests live beside the
controller's.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import NoReturn

import pytest
from kubernetes.client.rest import ApiException
from urllib3.exceptions import ProtocolError

from lbcommon.errors import (
    ConflictError,
    ForbiddenError,
    LbctlError,
    PermanentError,
    ServiceGoneError,
    TemporaryError,
    ThrottledError,
)
from lbctl.kube.gateway import call

pytestmark = pytest.mark.unit


class _Response:
    """The part of a urllib3 response ApiException reads."""

    def __init__(self, status: int, headers: dict[str, str], message: str) -> None:
        self.status = status
        self.reason = "Reason"
        self.data = json.dumps({"kind": "Status", "message": message}).encode()
        self._headers = headers

    def getheaders(self) -> dict[str, str]:
        return self._headers


def _failing(status: int, headers: dict[str, str] | None = None) -> Callable[[], NoReturn]:
    def func() -> NoReturn:
        raise ApiException(http_resp=_Response(status, headers or {}, f"apiserver says {status}"))

    return func


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        pytest.param(400, PermanentError, id="400-bad-request-permanent"),
        pytest.param(401, TemporaryError, id="401-credentials-may-rotate"),
        pytest.param(403, ForbiddenError, id="403-forbidden"),
        pytest.param(404, ServiceGoneError, id="404-service-gone"),
        pytest.param(409, ConflictError, id="409-conflict"),
        pytest.param(422, PermanentError, id="422-invalid-permanent"),
        pytest.param(429, ThrottledError, id="429-throttled"),
        pytest.param(500, TemporaryError, id="500-temporary"),
        pytest.param(503, TemporaryError, id="503-temporary"),
    ],
)
def test_status_maps_to_error_type(status: int, expected: type[LbctlError]) -> None:
    with pytest.raises(expected) as raised:
        call("patch", "services/status", "ns/web", _failing(status))
    assert type(raised.value) is expected
    assert isinstance(raised.value.__cause__, ApiException)  # the original is chained
    if status != 404:
        assert f"apiserver says {status}" in str(raised.value)


def test_permanent_is_never_temporary() -> None:
    for status in (400, 403, 422):
        with pytest.raises(LbctlError) as raised:
            call("patch", "services", "ns/web", _failing(status))
        assert not isinstance(raised.value, TemporaryError)


def test_forbidden_names_the_verb_and_resource() -> None:
    with pytest.raises(ForbiddenError, match=r"^patch services/status ns/web: forbidden: "):
        call("patch", "services/status", "ns/web", _failing(403))


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [
        pytest.param({"Retry-After": "7"}, 7.0, id="seconds"),
        pytest.param({"Retry-After": "0.5"}, 0.5, id="fraction"),
        pytest.param({"Retry-After": "Mon, 01 Jan 2001 00:00:00 GMT"}, 0.0, id="date-in-the-past"),
        pytest.param({"Retry-After": "soon"}, None, id="unreadable"),
        pytest.param({}, None, id="absent"),
    ],
)
def test_throttled_honours_retry_after(headers: dict[str, str], retry_after: float | None) -> None:
    with pytest.raises(ThrottledError) as raised:
        call("patch", "services", "ns/web", _failing(429, headers))
    assert raised.value.retry_after == retry_after


def test_connection_errors_are_temporary() -> None:
    def dropped() -> NoReturn:
        raise ProtocolError("connection reset")

    with pytest.raises(TemporaryError, match="connection reset"):
        call("patch", "services", "ns/web", dropped)


def test_a_missing_event_is_not_a_deleted_service() -> None:
    """Only a Service's own 404 means the Service is gone; an expired Event's does not."""
    with pytest.raises(LbctlError) as raised:
        call("patch", "events", "ns/web.1", _failing(404))
    assert not isinstance(raised.value, ServiceGoneError)
    with pytest.raises(ServiceGoneError):
        call("patch", "services/status", "ns/web", _failing(404))
