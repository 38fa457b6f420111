"""The one retry policy of the cloud providers: bounded backoff that honours Retry-After.

Guarantees:
- a call is attempted at most `RetryPolicy.attempts` times, and only while
  the provider's `retryable` says the same request may succeed (throttling,
  5xx, transport failures); anything else is raised at once, unchanged;
- between attempts the wait is exponential with jitter (`initial`, doubling,
  at most `maximum`), but never shorter than the Retry-After the server sent
  with the failure;
- a Retry-After longer than `maximum` ends the retries at once: blocking a
  worker that long helps no one, so the caller hands the wait to the work
  queue instead (`after_giving_up` says how long: the server's Retry-After,
  else `maximum`);
- every wait goes through the injected `Clock`, so tests step a FakeClock
  and never sleep. (A Retry-After given as an HTTP date is compared with the
  wall clock: the one reading of real time here, as the date is wall time.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from lbcommon.clock import Clock
from lbctl.providers.common.failures import Failures

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How long one call keeps trying; pass a small one in tests, not a global."""

    attempts: int = 6
    #: first backoff, in seconds; doubles after each attempt
    initial: float = 0.5
    #: longest backoff, and the longest Retry-After waited for in place
    maximum: float = 16.0
    #: up to this many seconds of random jitter added to each backoff
    jitter: float = 1.0


class Retrier:
    """Runs calls under one RetryPolicy, for one provider."""

    def __init__(self, policy: RetryPolicy | None, *, clock: Clock, failures: Failures) -> None:
        """`policy` (default `RetryPolicy()`) bounds the tries; `failures` (the
        provider's errors module) says which failures to retry, and after how long."""
        self.policy = policy or RetryPolicy()
        self._clock = clock
        self._retryable = failures.retryable
        self._retry_after = failures.retry_after

    def call(self, method: str, attempt: Callable[[], T]) -> T:
        """`attempt()` until it returns, raises what is not retryable, or retries run out."""
        policy = self.policy
        backoff = tenacity.wait_exponential_jitter(
            multiplier=policy.initial, max=policy.maximum, jitter=policy.jitter
        )

        def wait(state: tenacity.RetryCallState) -> float:
            asked = self.asked_for(state)
            return max(backoff(state), asked or 0.0)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.info("retrying %s after %s", method, error, extra={"method": method})

        retrying = tenacity.Retrying(
            sleep=self._clock.sleep,
            stop=tenacity.stop_any(
                tenacity.stop_after_attempt(policy.attempts), _AskedToWaitLonger(self)
            ),
            wait=wait,
            retry=tenacity.retry_if_exception(self._retryable),
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(attempt)

    def after_giving_up(self, error: BaseException) -> float:
        """How long to wait before the next try once retries ended with `error`."""
        asked = self._retry_after(error)
        return self.policy.maximum if asked is None else asked

    def asked_for(self, state: tenacity.RetryCallState) -> float | None:
        """The Retry-After of the failure that ended the attempt `state` describes."""
        error = state.outcome.exception() if state.outcome else None
        return self._retry_after(error) if error is not None else None


class _AskedToWaitLonger(tenacity.stop.stop_base):
    """Stop when the server's Retry-After is longer than the policy's longest wait."""

    def __init__(self, retrier: Retrier) -> None:
        self._retrier = retrier

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        asked = self._retrier.asked_for(retry_state)
        return asked is not None and asked > self._retrier.policy.maximum
