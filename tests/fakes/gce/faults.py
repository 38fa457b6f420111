"""Fault injection: make chosen calls fail, slow down, throttle, or end their operation in error.

Rules are installed from Python (`fake.faults.fail(...)`) and are thread-safe.
A rule matches calls by method name or fnmatch pattern (`"targetPools.addInstance"`,
`"targetPools.*"`, `"*"`) or by a predicate over the `Call`. Counting starts
when the rule is installed: `nth=1` is the next matching call. A rule fires on
its `nth` matching call and on the `times - 1` matching calls after it
(`times=None`: for ever), then stays inert. Every matching rule sees every call,
so counts are independent; several delays add up; the first error wins.

Kinds of rule:
- `fail`: the HTTP response is a GCE error (`status` with GCE's usual reason
  for it: 403/429 rateLimitExceeded, 5xx backendError, 412 conditionNotMet...);
- `throttle`: shorthand for failing the next `calls` calls with 429 (or 403)
  rateLimitExceeded; `fail_when` and `throttle` may add a Retry-After header;
- `delay`: sleep before serving (cut short when the fake stops);
- `fail_operation`: the mutation is accepted (an Operation is returned) but is
  not applied, and the operation ends DONE with `error` (e.g. QUOTA_EXCEEDED)
  after the configured number of polls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.fakes.gce.calls import Call
from tests.fakes.gce.errors import ApiError
from tests.fakes.gce.operations import OperationError

Predicate = Callable[[Call], bool]


@dataclass
class Rule:
    """One installed fault; `fired` tells a test whether it was used."""

    match: Predicate
    label: str
    nth: int = 1
    times: int | None = 1
    error: ApiError | None = None
    delay: float = 0.0
    operation_error: OperationError | None = None
    operation_polls: int | None = None
    seen: int = 0
    fired: int = 0

    def observe(self, call: Call) -> bool:
        """Count `call` if it matches; True if the rule fires for it."""
        if not self.match(call):
            return False
        self.seen += 1
        if self.seen < self.nth:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        self.fired += 1
        return True


@dataclass
class Decision:
    """What the server must do with one call."""

    delay: float = 0.0
    error: ApiError | None = None
    operation_error: OperationError | None = None
    operation_polls: int | None = None
    labels: list[str] = field(default_factory=list)


def _by_method(pattern: str) -> Predicate:
    return lambda call: call.matches(pattern)


class Faults:
    """The fault rules of one fake."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []

    def fail(
        self,
        method: str,
        *,
        nth: int = 1,
        status: int = 503,
        reason: str | None = None,
        message: str = "",
        times: int | None = 1,
    ) -> Rule:
        """Fail the `nth` (and `times - 1` following) calls of `method` with `status`."""
        error = ApiError.of_status(status, reason=reason, message=message)
        return self._add(Rule(_by_method(method), f"fail {method} {status}", nth, times, error))

    def fail_when(
        self,
        predicate: Predicate,
        *,
        status: int = 503,
        reason: str | None = None,
        message: str = "",
        times: int | None = None,
        retry_after: int | None = None,
    ) -> Rule:
        """Fail every call for which `predicate(call)` holds (up to `times`), the
        response carrying `Retry-After: retry_after` if given."""
        error = ApiError.of_status(status, reason=reason, message=message, retry_after=retry_after)
        return self._add(Rule(predicate, f"fail_when {status}", 1, times, error))

    def throttle(
        self, calls: int, *, method: str = "*", status: int = 429, retry_after: int | None = None
    ) -> Rule:
        """The next `calls` matching calls get 429 (or 403) rateLimitExceeded, with
        `Retry-After: retry_after` if given."""
        if status not in (403, 429):
            raise ValueError("GCE throttles with 403 or 429")
        error = ApiError.of_status(status, reason="rateLimitExceeded", retry_after=retry_after)
        return self._add(Rule(_by_method(method), f"throttle {status}", 1, calls, error))

    def delay(self, method: str, seconds: float, *, nth: int = 1, times: int | None = None) -> Rule:
        """Sleep `seconds` before serving matching calls."""
        return self._add(Rule(_by_method(method), f"delay {seconds}s", nth, times, delay=seconds))

    def fail_operation(
        self,
        method: str,
        *,
        nth: int = 1,
        code: str = "QUOTA_EXCEEDED",
        message: str = "Injected operation failure",
        http_status: int = 403,
        polls: int | None = None,
        times: int | None = 1,
    ) -> Rule:
        """Accept the `nth` call of mutating `method` but end its operation in error."""
        rule = Rule(
            _by_method(method),
            f"fail_operation {method} {code}",
            nth,
            times,
            operation_error=OperationError(code, message, http_status),
            operation_polls=polls,
        )
        return self._add(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    def decide(self, call: Call) -> Decision:
        """Apply every rule to `call` (used by the server, once per request)."""
        decision = Decision()
        with self._lock:
            for rule in self._rules:
                if rule.operation_error is not None and not call.mutating:
                    continue
                if not rule.observe(call):
                    continue
                decision.labels.append(rule.label)
                decision.delay += rule.delay
                if rule.error is not None and decision.error is None:
                    decision.error = rule.error
                if rule.operation_error is not None and decision.operation_error is None:
                    decision.operation_error = rule.operation_error
                    decision.operation_polls = rule.operation_polls
        return decision

    def _add(self, rule: Rule) -> Rule:
        if rule.nth < 1:
            raise ValueError("nth counts from 1")
        with self._lock:
            self._rules.append(rule)
        return rule
