"""The error taxonomy of lbctl and nodeproxy: what failed, and what to do next.

Providers and the Kubernetes boundary translate library errors into these,
chaining the original, so that no caller ever matches on message text.

- InvalidServiceError: the Service asks for what we cannot build. Warning
  event, retry with the queue's per-key backoff, nothing touched at the
  provider (CapacityError, a subclass for a full pool, is re-queued as soon
  as capacity frees).
- TemporaryError (ThrottledError): a retry may succeed (5xx, timeouts, 429).
  Retry with backoff, or after the Retry-After the API gave.
- PermanentError (ForbiddenError for 403, ProviderError): the same request
  will fail again (400, 403, 422). Warning event, then give up until the
  Service changes or the periodic resync comes round: no hot retry.
- ServiceGoneError: the Service itself no longer exists; its deletion follows.
- ResourceMissingError: a provider resource we expected is absent (a cloud
  404). Never taken for a deleted Service; the provider re-reads and creates.
- ConflictError: a concurrent writer changed it (409); retry.
"""

from __future__ import annotations

import datetime
import email.utils
from collections.abc import Sequence
from dataclasses import dataclass


class LbctlError(Exception):
    """Base of every error lbctl raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a Service, named by its field."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


@dataclass(frozen=True)
class StatusCondition:
    """A condition the controller sets on the Service's status (True while it holds)."""

    type: str
    reason: str
    message: str


class InvalidServiceError(LbctlError):
    """The Service asks for something we cannot or will not build.

    Permanent until the user edits the Service: reported as a Warning event,
    retried with the queue's per-key backoff, and no provider resource is
    touched.
    Some have a status condition upstream also sets (LoadBalancerPortsError).
    """

    #: set on the Service's status while the problem lasts
    condition: StatusCondition | None = None

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class TemporaryError(LbctlError):
    """Worth retrying: a transient provider or API failure."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ThrottledError(TemporaryError):
    """The provider asked us to slow down."""


class PermanentError(LbctlError):
    """Retrying the same request will not fix it: reported, then left until something changes."""


class ForbiddenError(PermanentError):
    """We lack a permission (RBAC, IAM): the message names the verb and resource."""


class ProviderError(PermanentError):
    """A provider failure that retrying the same request will not fix."""


class ServiceGoneError(LbctlError):
    """The Service no longer exists in the apiserver; its deletion event follows."""


class ResourceMissingError(LbctlError):
    """A provider (cloud) resource that should exist does not."""


class ConflictError(LbctlError):
    """A resource exists that we did not expect, or changed under us."""


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (a number or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())
