"""The providers' in-process locks (one leader runs at a time, so in-process is enough).

- `KeyedLocks`: one lock per key (a load balancer's name or its Service's
  UID), so ensure, node sync and delete of the same load balancer never
  interleave their read-diff-apply cycles: two writers would both see a
  backend missing and both add it;
- `SharedLock`: a readers-writer lock for a resource several load balancers
  share (gce's node health check, aws's backend security group). Using it
  is a read, many at once; creating it from scratch or releasing it is the
  write, so it can never be deleted between another load balancer's "it
  exists" and "attach it" (the race upstream closes with its
  sharedResourceLock). A waiting writer is not starved by new readers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class KeyedLocks:
    """A lock per key, created on first use."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            yield


class SharedLock:
    """Many readers or one writer; a waiting writer is not starved by new readers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            while self._writing or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            while self._writing or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()
