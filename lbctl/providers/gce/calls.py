"""The one door to the Compute API: every call counted, retried when worth it, mapped.

Guarantees:
- every HTTP request (each page of a list, each attempt of a retry, each
  operation poll) increments `lbctl_provider_calls{provider="gce", method,
  result}` once, `method` named as GCE's discovery document names it
  (`targetPools.addInstance`, `regionOperations.wait`); the client library's
  own retries are switched off (`retry=None`) so the count is exact;
- throttling, 5xx, transport failures and `resourceNotReady` are retried with
  exponential backoff and jitter, bounded by the `RetryPolicy` the provider
  was built with; a mutation keeps its `requestId` across retries, so GCE
  applies it at most once even when a response was lost;
- a mutation returns only once its operation is DONE: operations are waited
  on with our own operations clients (built with the same endpoint, never
  `ExtendedOperation.result()`, whose poller ignores the endpoint), for at
  most `RetryPolicy.operation_timeout` seconds; an operation that ends in
  error raises as the HTTP error of the same status would;
- whatever escapes is an lbctl error chaining the library's exception.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import requests
import tenacity
from google.api_core import exceptions as gexc
from google.cloud import compute_v1

from lbcommon.errors import TemporaryError
from lbctl.metrics import Metrics
from lbctl.providers.gce import errors

log = logging.getLogger(__name__)

T = TypeVar("T")
DONE = compute_v1.Operation.Status.DONE


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying; pass a small one in tests, not a global."""

    attempts: int = 6
    initial: float = 0.5
    maximum: float = 16.0
    jitter: float = 1.0
    #: seconds one HTTP request may take
    request_timeout: float = 60.0
    #: seconds a long-running operation may take before the reconcile gives up
    operation_timeout: float = 600.0
    #: pause between operation polls when the server answers before DONE
    operation_poll: float = 1.0


class Caller:
    """Runs API calls for one provider: counting, retrying, waiting, mapping."""

    def __init__(
        self,
        *,
        metrics: Metrics,
        policy: RetryPolicy,
        project: str,
        region_operations: compute_v1.RegionOperationsClient,
        global_operations: compute_v1.GlobalOperationsClient,
    ) -> None:
        self._metrics = metrics
        self.policy = policy
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
            value = call(self.policy.request_timeout)
        except gexc.GoogleAPICallError as error:
            self._count(method, str(error.code or "error"))
            raise
        except requests.exceptions.RequestException:
            self._count(method, "transport")
            raise
        self._count(method, "ok")
        return value

    def _retrying(self, method: str, attempt: Callable[[], T]) -> T:
        policy = self.policy
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(policy.attempts),
            wait=tenacity.wait_exponential_jitter(
                multiplier=policy.initial, max=policy.maximum, jitter=policy.jitter
            ),
            retry=tenacity.retry_if_exception(errors.retryable),
            before_sleep=lambda state: log.info(
                "retrying %s after %s", method, state.outcome and state.outcome.exception()
            ),
            reraise=True,
        )
        try:
            return retrying(attempt)
        except (gexc.GoogleAPICallError, requests.exceptions.RequestException) as err:
            raise errors.translate(err, method=method, retry_after=policy.maximum) from err

    def _wait(self, method: str, operation: compute_v1.Operation) -> gexc.GoogleAPICallError | None:
        """Poll until DONE; the operation's own error (if any) is returned, not raised."""
        deadline = time.monotonic() + self.policy.operation_timeout
        while operation.status != DONE:
            if time.monotonic() > deadline:
                raise TemporaryError(
                    f"{method}: operation {operation.name} not done after "
                    f"{self.policy.operation_timeout:.0f}s"
                )
            operation = self._poll(operation)
            if operation.status != DONE and self.policy.operation_poll:
                time.sleep(self.policy.operation_poll)
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
