"""The one door to the Compute API: every call counted, retried when worth it, mapped.

Guarantees:
- every HTTP request (each page of a list, each attempt of a retry, each
  operation poll) increments `lbctl_provider_calls{provider="gce", method,
  result}` once, `method` named as GCE's discovery document names it
  (`targetPools.addInstance`, `regionOperations.wait`); the client library's
  own retries are switched off (`retry=None`) so the count is exact;
- throttling, 5xx, transport failures and `resourceNotReady` are retried by
  the providers' one `Retrier` (lbctl.providers.common.retry: bounded
  backoff honouring Retry-After); a mutation keeps its `requestId` across
  retries, so GCE applies it at most once even when a response was lost;
- a mutation returns only once its operation is DONE: operations are waited
  on with our own operations clients (built with the same endpoint, never
  `ExtendedOperation.result()`, whose poller ignores the endpoint), for at
  most `Timeouts.operation` seconds of the injected clock, polling every
  `Timeouts.poll` seconds; an operation that ends in error raises as the
  HTTP error of the same status would;
- whatever escapes is an lbctl error chaining the library's exception.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import requests
from google.api_core import exceptions as gexc
from google.cloud import compute_v1

from lbcommon.clock import Clock
from lbcommon.errors import TemporaryError
from lbctl.metrics import Metrics
from lbctl.providers.common.retry import Retrier
from lbctl.providers.gce import errors

T = TypeVar("T")
DONE = compute_v1.Operation.Status.DONE


@dataclass(frozen=True)
class Timeouts:
    """How long one request and one long-running operation may take."""

    #: seconds one HTTP request may take
    request: float = 60.0
    #: seconds a long-running operation may take before the reconcile gives up
    operation: float = 600.0
    #: pause between operation polls when the server answers before DONE
    poll: float = 1.0


class Caller:
    """Runs API calls for one provider: counting, retrying, waiting, mapping."""

    def __init__(
        self,
        *,
        metrics: Metrics,
        retrier: Retrier,
        timeouts: Timeouts,
        clock: Clock,
        project: str,
        region_operations: compute_v1.RegionOperationsClient,
        global_operations: compute_v1.GlobalOperationsClient,
    ) -> None:
        self._metrics = metrics
        self._retrier = retrier
        self.timeouts = timeouts
        self._clock = clock
        self._project = project
        self._region_ops = region_operations
        self._global_ops = global_operations

    # -- reads ----------------------------------------------------------------

    def read(self, method: str, call: Callable[[float], T]) -> T:
        """`call(timeout)` with retries; lbctl errors out (ResourceMissingError for 404)."""
        return self._retrying(method, lambda: self._once(method, call))

    def pages(self, method: str, fetch: Callable[[str, float], tuple[list[T], str]]) -> list[T]:
        """Every item of a paged list; `fetch(page_token, timeout) -> (items, next)`."""
        items: list[T] = []
        token = ""
        while True:
            page, token = self.read(method, functools.partial(_page, fetch, token))
            items += page
            if not token:
                return items

    # -- mutations ------------------------------------------------------------

    def mutate(self, method: str, call: Callable[[str, float], compute_v1.Operation]) -> None:
        """`call(request_id, timeout)` -> Operation; returns when the operation is DONE."""
        request_id = str(uuid.uuid4())

        def attempt() -> None:
            nonlocal request_id
            operation = self._once(method, lambda timeout: call(request_id, timeout))
            failure = self._wait(method, operation)
            if failure is not None:
                request_id = str(uuid.uuid4())  # GCE would replay the failed operation
                raise failure

        self._retrying(method, attempt)

    # -- internals ------------------------------------------------------------

    def _count(self, method: str, result: str) -> None:
        self._metrics.provider_calls.labels(provider="gce", method=method, result=result).inc()

    def _once(self, method: str, call: Callable[[float], T]) -> T:
        try:
            value = call(self.timeouts.request)
        except gexc.GoogleAPICallError as error:
            self._count(method, str(error.code or "error"))
            raise
        except requests.exceptions.RequestException:
            self._count(method, "transport")
            raise
        self._count(method, "ok")
        return value

    def _retrying(self, method: str, attempt: Callable[[], T]) -> T:
        try:
            return self._retrier.call(method, attempt)
        except (gexc.GoogleAPICallError, requests.exceptions.RequestException) as err:
            after = self._retrier.after_giving_up(err)
            raise errors.translate(err, method=method, retry_after=after) from err

    def _wait(self, method: str, operation: compute_v1.Operation) -> gexc.GoogleAPICallError | None:
        """Poll until DONE; the operation's own error (if any) is returned, not raised."""
        deadline = self._clock.now() + self.timeouts.operation
        while operation.status != DONE:
            if self._clock.now() > deadline:
                raise TemporaryError(
                    f"{method}: operation {operation.name} not done after "
                    f"{self.timeouts.operation:.0f}s"
                )
            operation = self._poll(operation)
            if operation.status != DONE and self.timeouts.poll:
                self._clock.sleep(self.timeouts.poll)
        if operation.error and operation.error.errors:
            first = operation.error.errors[0]
            return errors.operation_failure(
                operation.http_error_status_code, first.code, first.message
            )
        return None

    def _poll(self, operation: compute_v1.Operation) -> compute_v1.Operation:
        name = operation.name
        if operation.region:
            region = operation.region.rsplit("/", 1)[-1]
            return self.read(
                "regionOperations.wait",
                lambda t: self._region_ops.wait(
                    project=self._project, region=region, operation=name, retry=None, timeout=t
                ),
            )
        return self.read(
            "globalOperations.wait",
            lambda t: self._global_ops.wait(
                project=self._project, operation=name, retry=None, timeout=t
            ),
        )


def _page(
    fetch: Callable[[str, float], tuple[list[T], str]], token: str, timeout: float
) -> tuple[list[T], str]:
    return fetch(token, timeout)
