"""Apiserver failures as lbcommon.errors types: one mapping for every caller.

lbctl's gateway (Services, Events) and the Lease loops (leader election,
nodeproxy's heartbeats) translate what the kubernetes client raises here,
and nowhere else. Messages start with what was attempted (`<verb>
<resource> [<target>]`) and carry the apiserver's own Status message.

| status                         | error            |
| ------------------------------ | ---------------- |
| 403                            | ForbiddenError   |
| 400, 422                       | PermanentError   |
| 409                            | ConflictError    |
| 429                            | ThrottledError   |
| 404, 5xx, other, no connection | TemporaryError   |

404 is left to the caller, who knows what absence means (the gateway: the
Service is gone; `Leases`: no Lease yet): `is_not_found` tells it.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client.rest import ApiException

from lbcommon.errors import (
    ConflictError,
    ForbiddenError,
    LbctlError,
    PermanentError,
    TemporaryError,
    ThrottledError,
    parse_retry_after,
)

NOT_FOUND = 404


def is_not_found(err: BaseException) -> bool:
    return isinstance(err, ApiException) and err.status == NOT_FOUND


def api_error(err: BaseException, *, verb: str, resource: str, target: str = "") -> LbctlError:
    """The lbcommon.errors type for a failed call: `raise api_error(...) from err`."""
    what = " ".join(part for part in (verb, resource, target) if part)
    if not isinstance(err, ApiException):
        return TemporaryError(f"{what}: {type(err).__name__}: {err}")
    status = int(err.status or 0)
    detail = message(err)
    if status == 403:
        return ForbiddenError(f"{what}: forbidden: {detail}")
    if status in (400, 422):
        return PermanentError(f"{what}: HTTP {status} {detail}")
    if status == 409:
        return ConflictError(f"{what}: conflict: {detail}")
    if status == 429:
        return ThrottledError(f"{what}: throttled: {detail}", retry_after=retry_after(err.headers))
    return TemporaryError(f"{what}: HTTP {status} {detail}", retry_after=retry_after(err.headers))


def message(err: ApiException) -> str:
    """The apiserver's Status message if the body carries one, else the HTTP reason."""
    try:
        body = json.loads(err.body or b"")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(err.reason or "")


def retry_after(headers: Any) -> float | None:
    """The Retry-After header's delay in seconds, None if absent or unreadable."""
    return parse_retry_after(headers.get("Retry-After") if hasattr(headers, "get") else None)
