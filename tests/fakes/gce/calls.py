"""The call log: every request the fake served, in completion order.

Each `Call` names the API method as GCE's discovery document does
(`forwardingRules.insert`, `regionOperations.get`), so tests and benchmarks can
count what a provider did: `log.count(mutating=True)` is the number of calls
that change state, `log.count("regionOperations.*")` the operation polls.
Faulted calls are logged too, with `fault` saying what was injected.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Methods that never change state, although some are POSTs (getHealth, wait).
READ_ONLY_VERBS = frozenset({"get", "list", "aggregatedList", "getHealth", "wait"})


@dataclass(frozen=True)
class Call:
    """One request: method name, HTTP verb, path (no query), query, JSON body, outcome,
    and when it arrived (`time.monotonic()`)."""

    method: str
    verb: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    status: int = 0
    fault: str | None = None
    at: float = field(default_factory=time.monotonic)

    @property
    def mutating(self) -> bool:
        """True for calls that change state (insert, delete, addInstance, setLabels...)."""
        return self.method != "unknown" and self.method.rsplit(".", 1)[-1] not in READ_ONLY_VERBS

    @property
    def is_operation_poll(self) -> bool:
        return self.method.split(".", 1)[0].endswith("Operations")

    def matches(self, pattern: str) -> bool:
        """`pattern` is a method name or an fnmatch pattern: `targetPools.*`, `*.insert`."""
        return fnmatch.fnmatchcase(self.method, pattern)


class CallLog:
    """Thread-safe, append-only (until `reset`) record of calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] = []

    def record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    def all(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()

    def count(self, pattern: str = "*", *, mutating: bool | None = None) -> int:
        """Calls whose method matches `pattern` (and, if given, whose `mutating` equals it)."""
        return sum(
            1
            for call in self.all()
            if call.matches(pattern) and (mutating is None or call.mutating == mutating)
        )

    def counts(self) -> Counter[str]:
        """Calls per method name."""
        return Counter(call.method for call in self.all())
