"""Compute API failures -> lbctl errors and the retry decision: table-driven."""

from __future__ import annotations

import pytest
import requests
from google.api_core import exceptions as gexc

from lbcommon.errors import (
    ForbiddenError,
    PermanentError,
    ProviderError,
    ResourceMissingError,
    TemporaryError,
    ThrottledError,
)
from lbctl.providers.gce import errors

pytestmark = pytest.mark.unit


def api_error(status: int, reason: str = "") -> gexc.GoogleAPICallError:
    found: gexc.GoogleAPICallError = gexc.from_http_status(  # type: ignore[no-untyped-call]
        status, "boom", errors=[{"reason": reason}] if reason else []
    )
    return found


@pytest.mark.parametrize(
    ("error", "expected", "retry"),
    [
        (api_error(429, "rateLimitExceeded"), ThrottledError, True),
        (api_error(403, "rateLimitExceeded"), ThrottledError, True),
        (api_error(403, "quotaExceeded"), errors.QuotaError, False),
        (api_error(403, "forbidden"), ForbiddenError, False),
        (api_error(404, "notFound"), ResourceMissingError, False),
        (api_error(409, "alreadyExists"), errors.AlreadyExistsError, False),
        (api_error(412, "conditionNotMet"), errors.PreconditionError, False),
        (api_error(400, "resourceInUseByAnotherResource"), errors.InUseError, False),
        (api_error(400, "resourceNotReady"), TemporaryError, True),
        (api_error(400, "invalid"), ProviderError, False),
        (api_error(500, "backendError"), TemporaryError, True),
        (api_error(503), TemporaryError, True),
        (errors.operation_failure(403, "QUOTA_EXCEEDED", "no"), errors.QuotaError, False),
        (errors.operation_failure(0, "INTERNAL_ERROR", "?"), TemporaryError, True),
        (requests.exceptions.ConnectionError("reset"), TemporaryError, True),
        (ValueError("bug"), ProviderError, False),
    ],
    ids=[
        "429",
        "403-rate",
        "403-quota",
        "403-forbidden",
        "404",
        "409",
        "412",
        "in-use",
        "not-ready",
        "400",
        "500",
        "503",
        "op-quota",
        "op-unknown",
        "transport",
        "other",
    ],
)
def test_translate_and_retryable(error: Exception, expected: type[Exception], retry: bool) -> None:
    translated = errors.translate(error, method="targetPools.insert", retry_after=2.0)
    assert type(translated) is expected
    assert "targetPools.insert" in str(translated)
    assert errors.retryable(error) is retry
    if isinstance(translated, ThrottledError):
        assert translated.retry_after == 2.0
    if not retry and not isinstance(translated, ResourceMissingError | errors.ConflictError):
        assert isinstance(translated, PermanentError)


class _Response:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"Retry-After": "7"}, 7.0), ({}, None), ({"Retry-After": "soon"}, None)],
    ids=["seconds", "absent", "unreadable"],
)
def test_retry_after_comes_from_the_response(
    headers: dict[str, str], expected: float | None
) -> None:
    error = gexc.from_http_status(  # type: ignore[no-untyped-call]
        429, "slow down", errors=[{"reason": "rateLimitExceeded"}], response=_Response(headers)
    )
    assert errors.retry_after(error) == expected
