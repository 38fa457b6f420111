"""Errors in the shape the Compute Engine v1 REST API returns them.

Every failure the fake reports is an `ApiError`; `ApiError.body()` renders it
exactly as GCE does on the wire:

    {"error": {"code": 404, "message": "...",
               "errors": [{"message": "...", "domain": "global", "reason": "notFound"}]}}

so `google.api_core.exceptions.from_http_response` turns it into the same
exception class (NotFound, Conflict, PreconditionFailed, Forbidden, ...) with
the same `.errors[0]["reason"]` a provider would see against the real API.
The factories below fix the status/reason pairs in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]

# Reasons that GCE returns for a given status when the caller of
# `ApiError.of_status` does not name one (used by fault injection).
DEFAULT_REASONS: dict[int, str] = {
    400: "invalid",
    403: "rateLimitExceeded",
    404: "notFound",
    409: "alreadyExists",
    412: "conditionNotMet",
    429: "rateLimitExceeded",
    500: "backendError",
    502: "backendError",
    503: "backendError",
    504: "backendError",
}

_DEFAULT_MESSAGES: dict[int, str] = {
    403: "Rate Limit Exceeded",
    429: "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' "
    "of service 'compute.googleapis.com'.",
    500: "Internal error. Please try again or contact Google Support.",
    502: "Bad Gateway",
    503: "Backend Error",
    504: "Deadline exceeded",
}


@dataclass(eq=False)
class ApiError(Exception):
    """A GCE API error: HTTP status, `errors[0].reason`, message and domain.

    Not frozen: Python assigns `__traceback__` on raise, and frozen exceptions break
    `contextlib`.

    `operation_code` is set for errors that real GCE may report through a
    finished Operation instead of the HTTP response (quota errors); see
    `Store.quota_errors_in_operation`.
    """

    status: int
    reason: str
    message: str
    domain: str = "global"
    operation_code: str | None = None
    error_info_reason: str | None = None
    #: seconds, sent as the response's Retry-After header (fault injection)
    retry_after: int | None = None

    def __str__(self) -> str:
        return f"{self.status} {self.reason}: {self.message}"

    def body(self) -> JSON:
        error: JSON = {
            "code": self.status,
            "message": self.message,
            "errors": [{"message": self.message, "domain": self.domain, "reason": self.reason}],
        }
        if self.status == 429:
            error["status"] = "RESOURCE_EXHAUSTED"
        if self.error_info_reason:
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": self.error_info_reason,
                    "domain": "compute.googleapis.com",
                    "metadata": {},
                }
            ]
        return {"error": error}

    def headers(self) -> dict[str, str]:
        """The response headers the error adds."""
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}

    @classmethod
    def of_status(
        cls,
        status: int,
        *,
        reason: str | None = None,
        message: str = "",
        retry_after: int | None = None,
    ) -> ApiError:
        """An error with GCE's usual reason and message for `status` (fault injection)."""
        chosen = reason or DEFAULT_REASONS.get(status, "backendError")
        text = message or _DEFAULT_MESSAGES.get(status, f"Injected error {status} {chosen}")
        domain = "usageLimits" if chosen in ("rateLimitExceeded", "quotaExceeded") else "global"
        info = "RATE_LIMIT_EXCEEDED" if status == 429 else None
        return cls(
            status, chosen, text, domain=domain, error_info_reason=info, retry_after=retry_after
        )


def not_found(resource_path: str) -> ApiError:
    """404 for `projects/p/regions/r/targetPools/x`-style paths."""
    return ApiError(404, "notFound", f"The resource '{resource_path}' was not found")


def already_exists(resource_path: str) -> ApiError:
    return ApiError(409, "alreadyExists", f"The resource '{resource_path}' already exists")


def invalid(field: str, value: object, why: str) -> ApiError:
    return ApiError(400, "invalid", f"Invalid value for field '{field}': '{value}'. {why}")


def required(field: str) -> ApiError:
    return ApiError(400, "required", f"Required field '{field}' not specified")


def bad_request(message: str, reason: str = "invalid") -> ApiError:
    return ApiError(400, reason, message)


def unknown_field(name: str) -> ApiError:
    return ApiError(
        400,
        "invalid",
        f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.',
    )


def unsupported(what: str) -> ApiError:
    """The request is valid GCE but the fake does not model it: fail loudly, never ignore."""
    return ApiError(400, "invalid", f"GCE fake: {what} is not supported by the fake")


def in_use(resource_path: str, user_path: str) -> ApiError:
    return ApiError(
        400,
        "resourceInUseByAnotherResource",
        f"The {_kind_word(resource_path)} resource '{resource_path}' "
        f"is already being used by '{user_path}'",
    )


def not_ready(resource_path: str) -> ApiError:
    return ApiError(400, "resourceNotReady", f"The resource '{resource_path}' is not ready")


def condition_not_met(message: str) -> ApiError:
    return ApiError(412, "conditionNotMet", message)


def quota_exceeded(metric: str, limit: int, scope: str) -> ApiError:
    where = "globally" if scope == "global" else f"in region {scope.split('/', 1)[1]}"
    return ApiError(
        403,
        "quotaExceeded",
        f"Quota '{metric}' exceeded.  Limit: {float(limit)} {where}.",
        domain="usageLimits",
        operation_code="QUOTA_EXCEEDED",
    )


def not_implemented(verb: str, path: str) -> ApiError:
    return ApiError(501, "notImplemented", f"GCE fake: {verb} {path} is not implemented")


def _kind_word(resource_path: str) -> str:
    parts = resource_path.split("/")
    collection = parts[-2] if len(parts) >= 2 else "resource"
    return {
        "addresses": "address",
        "targetPools": "target pool",
        "httpHealthChecks": "httpHealthCheck",
        "forwardingRules": "forwarding rule",
    }.get(collection, collection)
