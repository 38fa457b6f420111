"""What a failed cloud call means, in lbctl's error taxonomy: the part every cloud API shares.

Each provider first maps what only its API says (GCE's `errors[].reason`,
AWS's error codes: a busy resource, a quota, a name already taken) and then
hands the HTTP status to `by_status`, so the same status means the same
thing for every provider.

Guarantees of `by_status`:
- throttling (429, or what the provider recognised as throttling) is
  ThrottledError carrying how long to wait;
- 5xx is TemporaryError: a retry may succeed;
- 404 is ResourceMissingError: a cloud resource is absent, never a sign
  that the Service is gone (that is ServiceGoneError, the Kubernetes side's);
- 403 is ForbiddenError and any other status ProviderError: both permanent,
  the same request fails again, so the controller gives up until the
  Service changes.

`Failures` is what the shared Retrier asks of a provider's error module.
"""

from __future__ import annotations

from typing import Protocol

from lbcommon.errors import (
    ForbiddenError,
    LbctlError,
    ProviderError,
    ResourceMissingError,
    TemporaryError,
    ThrottledError,
)


class Failures(Protocol):
    """A provider's judgement of its API's failures (its errors module)."""

    def retryable(self, error: BaseException) -> bool:
        """Whether the same request may succeed if sent again after a pause."""
        ...

    def retry_after(self, error: BaseException) -> float | None:
        """The Retry-After (seconds) the failed response carried, if any."""
        ...


def by_status(status: int | None, text: str, *, throttled: bool, retry_after: float) -> LbctlError:
    """The lbctl error for an HTTP failure of `status` (None: no HTTP status)."""
    if throttled or status == 429:
        return ThrottledError(text, retry_after=retry_after)
    if status is not None and status >= 500:
        return TemporaryError(text)
    if status == 404:
        return ResourceMissingError(text)
    if status == 403:
        return ForbiddenError(text)
    return ProviderError(text)
