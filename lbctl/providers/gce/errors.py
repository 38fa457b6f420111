"""Compute API failures -> lbctl's error taxonomy, and which of them to retry.

Guarantees:
- decisions use the HTTP status and GCE's structured `errors[].reason` (or an
  operation's error `code`), never message text;
- `retryable` holds for throttling (429, 403 rateLimitExceeded), 5xx,
  transport failures and `resourceNotReady`; everything else is final;
  `retry_after` is the Retry-After header the failed response carried;
- 404 is ResourceMissingError (a cloud resource, never the Service); a 403
  that is not about rates or quotas is ForbiddenError; other 4xx are
  ProviderError (permanent);
- `translate` returns an lbctl error; callers raise it `from` the original,
  so the library exception stays chained for logs.
"""

from __future__ import annotations

from typing import Any

import requests
from google.api_core import exceptions as gexc

from lbcommon.errors import (
    ConflictError,
    LbctlError,
    ProviderError,
    TemporaryError,
    parse_retry_after,
)
from lbctl.providers.common.failures import by_status

RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"})
QUOTA_REASONS = frozenset({"quotaExceeded", "QUOTA_EXCEEDED"})
IN_USE_REASONS = frozenset(
    {"resourceInUseByAnotherResource", "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE"}
)
NOT_READY_REASONS = frozenset({"resourceNotReady", "RESOURCE_NOT_READY"})


class AlreadyExistsError(ConflictError):
    """409: a resource of that name exists (read it and adopt it)."""


class PreconditionError(ConflictError):
    """412: the resource changed since it was read (re-read, retry once)."""


class InUseError(ConflictError):
    """400 resourceInUseByAnotherResource: another resource still refers to it."""


class QuotaError(ProviderError):
    """403 quotaExceeded: a project quota is exhausted; raise it or free resources."""


def reason_of(error: BaseException) -> str:
    """GCE's `errors[0].reason` (or an operation's error code); "" if none."""
    details: Any = getattr(error, "errors", None) or []
    first = details[0] if isinstance(details, list) and details else None
    if isinstance(first, dict):
        return str(first.get("reason") or first.get("code") or "")
    return str(getattr(error, "reason", "") or "")


def status_of(error: BaseException) -> int | None:
    code = getattr(error, "code", None)
    return int(code) if isinstance(code, int) else None


def retryable(error: BaseException) -> bool:
    """Whether the same request may succeed if sent again after a pause."""
    if isinstance(error, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return True
    if not isinstance(error, gexc.GoogleAPICallError):
        return False
    status, reason = status_of(error), reason_of(error)
    if status == 429 or (status == 403 and reason in RATE_REASONS):
        return True
    if status is not None and status >= 500:
        return True
    return status == 400 and reason in NOT_READY_REASONS


def retry_after(error: BaseException) -> float | None:
    """The Retry-After (seconds) of the HTTP response behind `error`, if it had one."""
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None or not hasattr(headers, "get"):
        return None
    return parse_retry_after(headers.get("Retry-After"))


def throttled(error: BaseException) -> bool:
    status = status_of(error)
    return status == 429 or (status == 403 and reason_of(error) in RATE_REASONS)


def translate(error: BaseException, *, method: str, retry_after: float) -> LbctlError:
    """The lbctl error for a failed call of `method` (e.g. `targetPools.insert`)."""
    text = f"{method}: {error}"
    if isinstance(error, requests.exceptions.RequestException):
        return TemporaryError(text)
    if not isinstance(error, gexc.GoogleAPICallError):
        return ProviderError(text)
    status, reason = status_of(error), reason_of(error)
    if status == 409:
        return AlreadyExistsError(text)
    if status == 412:
        return PreconditionError(text)
    if reason in IN_USE_REASONS:
        return InUseError(text)
    if reason in NOT_READY_REASONS:
        return TemporaryError(text)
    if reason in QUOTA_REASONS:
        return QuotaError(text)
    return by_status(status, text, throttled=throttled(error), retry_after=retry_after)


def operation_failure(status: int, code: str, message: str) -> gexc.GoogleAPICallError:
    """The exception an HTTP error of `status` would have raised, for a failed operation."""
    failure: gexc.GoogleAPICallError = gexc.from_http_status(  # type: ignore[no-untyped-call]
        status or 500, f"operation failed: {code}: {message}", errors=[{"reason": code}]
    )
    return failure
