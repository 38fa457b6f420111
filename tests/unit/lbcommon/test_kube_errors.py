"""lbcommon.kube.errors: the one mapping of apiserver failures into lbcommon.errors."""

from __future__ import annotations

import pytest
from kubernetes.client.rest import ApiException
from urllib3.exceptions import ProtocolError

from lbcommon.errors import (
    ConflictError,
    ForbiddenError,
    LbctlError,
    PermanentError,
    TemporaryError,
    ThrottledError,
)
from lbcommon.kube.errors import api_error, is_not_found

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("error", "kind", "retry_after"),
    [
        pytest.param(ApiException(status=409), ConflictError, None, id="409"),
        pytest.param(ApiException(status=403), ForbiddenError, None, id="403"),
        pytest.param(ApiException(status=429), ThrottledError, None, id="429"),
        pytest.param(ApiException(status=500), TemporaryError, None, id="500"),
        pytest.param(ApiException(status=503), TemporaryError, None, id="503"),
        pytest.param(ApiException(status=400), PermanentError, None, id="400"),
        pytest.param(ApiException(status=422), PermanentError, None, id="422"),
        pytest.param(ApiException(status=401), TemporaryError, None, id="401-token-rotates"),
        pytest.param(ProtocolError("connection reset"), TemporaryError, None, id="dropped"),
        pytest.param(ConnectionRefusedError(111, "refused"), TemporaryError, None, id="refused"),
    ],
)
def test_api_error_taxonomy(
    error: Exception, kind: type[LbctlError], retry_after: float | None
) -> None:
    mapped = api_error(error, verb="update", resource="leases.coordination.k8s.io ns/x")
    assert type(mapped) is kind
    assert str(mapped).startswith("update leases.coordination.k8s.io ns/x")
    if isinstance(mapped, TemporaryError):
        assert mapped.retry_after == retry_after


def test_api_error_keeps_retry_after() -> None:
    error = ApiException(status=429)
    error.headers = {"Retry-After": "7"}
    mapped = api_error(error, verb="get", resource="leases.coordination.k8s.io ns/x")
    assert isinstance(mapped, ThrottledError) and mapped.retry_after == 7.0


def test_not_found_is_left_to_the_caller() -> None:
    assert is_not_found(ApiException(status=404))
    assert not is_not_found(ApiException(status=403))
    assert not is_not_found(OSError("refused"))
