"""A de-duplicating, fair work queue with delayed and rate-limited adds (client-go shape).

Informer handlers only `add` keys ("namespace/name"); workers `get` a key,
reconcile it, and call `done`. The queue guarantees:

* De-duplication: a key waiting in the queue is held once, however many times
  it is added before a worker takes it.
* Exclusivity: a key handed to a worker is not handed to any other worker until
  that worker calls `done(key)`.
* No lost updates: a key added while it is being processed is not handed out
  at once; `done(key)` puts it back at the tail, so the change is reconciled.
* Fairness: keys are handed out first in, first out (by when they became
  waiting); a re-added key keeps its place.
* `get(timeout=None)` blocks until a key is available, the timeout (real
  seconds, on threading primitives) passes, or the queue shuts down; it returns
  None on timeout and always after `shutdown()`, even if keys are still waiting.
* `add_after(key, delay)` adds the key once `delay` seconds of the injected
  clock have passed. One daemon thread per queue (started at the first delayed
  add) holds a heap and waits on the clock, so stepping a `FakeClock` releases
  due keys at once. If a key is delayed twice, the earlier time wins.
* `add_rate_limited(key)` is `add_after(key, limiter.when(key))`; `forget(key)`
  resets the key's backoff (call it when a reconcile succeeds).
* `idle` is True when no key is waiting and none is being processed: every
  key added so far has been handed out and finished. Delayed keys that are not
  due yet do not count.
* `shutdown()` is idempotent: it wakes every blocked `get`, drops delayed keys,
  ignores later adds, and joins the delay thread.
* `processing()` is a context manager around one `get`/`done` pair, so
  finishing a key is one `with` block and cannot be forgotten on an exception.

Metrics go to a `QueueObserver` (no-op by default). Its methods run while the
queue's lock is held: they must be quick and must not call back into the queue.
"""

from __future__ import annotations

import heapq
import threading
from collections import deque
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import Generic, Protocol, TypeVar

from lbcommon.clock import Clock, RealClock

K = TypeVar("K", bound=Hashable)

# 2**62 times any sane base is far above any sane cap: stop doubling there, so
# a key that failed thousands of times cannot overflow the float arithmetic.
_MAX_DOUBLINGS = 62


class RateLimiter(Protocol):
    """Decides how long a failing key waits before it is retried."""

    def when(self, key: Hashable) -> float:
        """Record one more failure of `key` and return its delay in seconds."""
        ...

    def forget(self, key: Hashable) -> None:
        """Reset `key`'s failure count (it succeeded, or was deleted)."""
        ...

    def retries(self, key: Hashable) -> int:
        """How many failures of `key` are recorded since the last `forget`."""
        ...


class ExponentialBackoff:
    """Per-key delays base, 2*base, 4*base, ... capped at `cap` (upstream: 5 s to 300 s)."""

    def __init__(self, *, base: float = 5.0, cap: float = 300.0) -> None:
        if base <= 0 or cap < base:
            raise ValueError(f"need 0 < base <= cap, got base={base} cap={cap}")
        self._base = base
        self._cap = cap
        self._lock = threading.Lock()
        self._failures: dict[Hashable, int] = {}

    def when(self, key: Hashable) -> float:
        with self._lock:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
        return min(self._base * 2.0 ** min(failures, _MAX_DOUBLINGS), self._cap)

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def retries(self, key: Hashable) -> int:
        with self._lock:
            return self._failures.get(key, 0)


class QueueObserver(Protocol):
    """Receives queue metrics; a Prometheus adapter implements this elsewhere."""

    def on_depth(self, depth: int) -> None:
        """The number of keys waiting to be handed out changed to `depth`."""
        ...

    def on_latency(self, seconds: float) -> None:
        """A key was handed out after waiting `seconds` in the queue."""
        ...

    def on_work_duration(self, seconds: float) -> None:
        """A worker finished a key `seconds` after getting it."""
        ...

    def on_retry(self) -> None:
        """A key was re-added through the rate limiter."""
        ...


class NoopObserver:
    """The default observer: ignores everything."""

    def on_depth(self, depth: int) -> None:
        pass

    def on_latency(self, seconds: float) -> None:
        pass

    def on_work_duration(self, seconds: float) -> None:
        pass

    def on_retry(self) -> None:
        pass


class WorkQueue(Generic[K]):
    """The controller's work queue; the contract is in the module docstring."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        rate_limiter: RateLimiter | None = None,
        observer: QueueObserver | None = None,
        name: str = "workqueue",
    ) -> None:
        self._clock: Clock = clock if clock is not None else RealClock()
        self._limiter: RateLimiter = (
            rate_limiter if rate_limiter is not None else ExponentialBackoff()
        )
        self._observer: QueueObserver = observer if observer is not None else NoopObserver()
        self._name = name
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)  # wakes getters
        self._delays_changed = threading.Condition(self._lock)  # wakes the delay thread
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()  # waiting, or to be re-queued when done
        self._processing: set[K] = set()
        self._added_at: dict[K, float] = {}
        self._started_at: dict[K, float] = {}
        self._shutting_down = False
        # Delayed adds: a heap of (ready_at, sequence, key) plus each key's
        # earliest ready time; heap entries that disagree with it are stale.
        self._delayed: list[tuple[float, int, K]] = []
        self._ready_at: dict[K, float] = {}
        self._sequence = 0
        self._delay_thread: threading.Thread | None = None

    def __len__(self) -> int:
        """Keys waiting to be handed out (not delayed ones, not ones in process)."""
        with self._lock:
            return len(self._queue)

    @property
    def idle(self) -> bool:
        """No key waiting, none being processed (delayed keys not yet due aside)."""
        with self._lock:
            return not self._queue and not self._processing

    @property
    def shutting_down(self) -> bool:
        with self._lock:
            return self._shutting_down

    def add(self, key: K) -> None:
        """Queue `key` unless it is already waiting; ignored after shutdown."""
        with self._lock:
            self._add_locked(key)

    def get(self, timeout: float | None = None) -> K | None:
        """Hand out the oldest waiting key; None on timeout or shutdown."""
        with self._lock:
            available = self._ready.wait_for(
                lambda: bool(self._queue) or self._shutting_down, timeout
            )
            if not available or self._shutting_down:
                return None
            key = self._queue.popleft()
            self._dirty.discard(key)
            self._processing.add(key)
            now = self._clock.now()
            self._started_at[key] = now
            self._observer.on_depth(len(self._queue))
            self._observer.on_latency(now - self._added_at.pop(key, now))
            return key

    def done(self, key: K) -> None:
        """Finish `key`; if it was added meanwhile, queue it again at the tail."""
        with self._lock:
            if key not in self._processing:
                raise ValueError(f"done({key!r}) for a key that is not being processed")
            self._processing.remove(key)
            started = self._started_at.pop(key)
            self._observer.on_work_duration(self._clock.now() - started)
            if key in self._dirty and not self._shutting_down:
                self._enqueue_locked(key)

    @contextmanager
    def processing(self, timeout: float | None = None) -> Iterator[K | None]:
        """`get` a key for the block and `done` it on exit (also on exceptions).

        Yields None on timeout or shutdown; the block must check for it.
        """
        key = self.get(timeout)
        try:
            yield key
        finally:
            if key is not None:
                self.done(key)

    def add_after(self, key: K, delay: float) -> None:
        """Add `key` once `delay` clock seconds have passed (at once if delay <= 0)."""
        with self._lock:
            if self._shutting_down:
                return
            if delay <= 0:
                self._add_locked(key)
                return
            ready_at = self._clock.now() + delay
            current = self._ready_at.get(key)
            if current is not None and current <= ready_at:
                return
            self._ready_at[key] = ready_at
            self._sequence += 1
            heapq.heappush(self._delayed, (ready_at, self._sequence, key))
            if self._delay_thread is None:
                self._delay_thread = threading.Thread(
                    target=self._release_delayed, name=f"{self._name}-delay", daemon=True
                )
                self._delay_thread.start()
            self._delays_changed.notify()

    def add_rate_limited(self, key: K) -> None:
        """Re-add a failed `key` after the rate limiter's delay for it."""
        delay = self._limiter.when(key)
        with self._lock:
            self._observer.on_retry()
        self.add_after(key, delay)

    def forget(self, key: K) -> None:
        """Reset `key`'s backoff; it stays queued if it is."""
        self._limiter.forget(key)

    def retries(self, key: K) -> int:
        """Failures of `key` recorded by the rate limiter since the last `forget`."""
        return self._limiter.retries(key)

    def shutdown(self) -> None:
        """Stop: wake all getters, drop delayed keys, join the delay thread."""
        with self._lock:
            self._shutting_down = True
            self._delayed.clear()
            self._ready_at.clear()
            self._ready.notify_all()
            self._delays_changed.notify_all()
            thread = self._delay_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _add_locked(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        self._added_at[key] = self._clock.now()
        if key not in self._processing:  # otherwise done() queues it
            self._enqueue_locked(key)

    def _enqueue_locked(self, key: K) -> None:
        self._queue.append(key)
        self._observer.on_depth(len(self._queue))
        self._ready.notify()

    def _release_delayed(self) -> None:
        """The delay thread: move due keys into the queue, then wait on the clock."""
        with self._lock:
            while not self._shutting_down:
                now = self._clock.now()
                while self._delayed and self._delayed[0][0] <= now:
                    ready_at, _, key = heapq.heappop(self._delayed)
                    if self._ready_at.get(key) != ready_at:
                        continue  # superseded by an earlier delay for the same key
                    del self._ready_at[key]
                    self._add_locked(key)
                deadline = self._delayed[0][0] if self._delayed else None
                self._clock.wait_until(self._delays_changed, deadline)
