"""Injectable monotonic time, so code that waits can be tested without sleeping.

Everything in lbctl that measures or waits for time takes a `Clock` in its
constructor. Production passes `RealClock`; tests pass `FakeClock` and move
time forward by hand with `step`.

Guarantees:

* `now()` is monotonic seconds: it never goes backwards. Only differences
  between two readings of the same clock mean anything.
* `wait_until(cond, deadline)` is the one way a component blocks until a point
  in its clock's time. The caller holds `cond`; the call releases it while
  blocked, like `threading.Condition.wait`, and returns when `cond` is notified,
  when the clock reaches `deadline` (never, if `deadline` is None), or
  spuriously. Callers re-check their own state in a loop.
* `FakeClock` never moves by itself. `step(seconds)` advances it and wakes
  every thread blocked in its `wait_until`, so due work is released at once.
  `FakeClock.sleep(seconds)` does not block: it advances the fake time by
  `seconds` (exactly like `step`) and returns. A test therefore cannot hang on
  a fake sleep; code that sleeps in a loop simply moves its own time forward.
* `FakeClock.waiters()` counts the threads blocked on the clock whose
  deadline still lies ahead; `wait_for_waiters(n)` blocks (in real time) until
  there are `n`. A test steps the clock, then waits for the loop it released
  to block again: the loop has then finished the round the step allowed.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic time and waiting on it."""

    def now(self) -> float:
        """Monotonic seconds; only differences between readings mean anything."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let `seconds` of this clock's time pass."""
        ...

    def wait_until(self, cond: threading.Condition, deadline: float | None) -> None:
        """Block on `cond` (held by the caller) until notified or `now() >= deadline`.

        May return early; callers re-check what they wait for.
        """
        ...


class RealClock:
    """The process's monotonic clock (`time.monotonic`)."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def wait_until(self, cond: threading.Condition, deadline: float | None) -> None:
        if deadline is None:
            cond.wait()
            return
        remaining = deadline - time.monotonic()
        if remaining > 0:
            cond.wait(remaining)


class FakeClock:
    """A clock that moves only when told to; safe to use from several threads.

    `sleep` advances the time instead of blocking (see the module docstring).
    """

    def __init__(self, start: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._now = start
        # Conditions of threads currently blocked in wait_until (one entry per
        # blocked thread, so the same condition may appear more than once).
        self._waiting: list[threading.Condition] = []
        # The deadline of each blocked thread, and a condition on our lock
        # notified whenever a thread starts waiting (for wait_for_waiters).
        self._deadlines: list[float | None] = []
        self._registered = threading.Condition(self._lock)

    def now(self) -> float:
        with self._lock:
            return self._now

    def step(self, seconds: float) -> None:
        """Advance the time by `seconds` and wake every thread in `wait_until`."""
        if seconds < 0:
            raise ValueError(f"a monotonic clock cannot step backwards ({seconds})")
        with self._lock:
            self._now += seconds
            waiting = list(dict.fromkeys(self._waiting))
        # Notify outside our own lock: a waiter holds its condition while it
        # reads now(), so taking the condition under our lock could deadlock.
        for cond in waiting:
            with cond:
                cond.notify_all()

    def sleep(self, seconds: float) -> None:
        """Advance the time by `seconds` and return at once; never blocks."""
        if seconds < 0:
            raise ValueError(f"sleep length must be non-negative ({seconds})")
        self.step(seconds)

    def wait_until(self, cond: threading.Condition, deadline: float | None) -> None:
        # Registration and the time check happen under one lock, and `step`
        # updates the time and snapshots the waiters under the same lock: so
        # either this call sees the new time, or `step` notifies `cond`. The
        # notification cannot be lost because `step` needs `cond`, which the
        # caller holds until `cond.wait()` releases it.
        with self._lock:
            if deadline is not None and self._now >= deadline:
                return
            self._waiting.append(cond)
            self._deadlines.append(deadline)
            self._registered.notify_all()
        try:
            cond.wait()
        finally:
            with self._lock:
                self._waiting.remove(cond)
                self._deadlines.remove(deadline)

    def waiters(self) -> int:
        """Threads blocked in wait_until whose deadline lies ahead (or that have none).

        A thread whose deadline a `step` has passed no longer counts, even before
        it wakes up.
        """
        with self._lock:
            return self._pending()

    def _pending(self) -> int:
        return sum(1 for d in self._deadlines if d is None or d > self._now)

    def wait_for_waiters(self, count: int, *, timeout: float = 10.0) -> bool:
        """Block, in real time, until `waiters()` reaches `count`; False on timeout."""
        give_up = time.monotonic() + timeout
        with self._registered:
            while self._pending() < count:
                remaining = give_up - time.monotonic()
                if remaining <= 0:
                    return False
                self._registered.wait(remaining)
            return True


class StopSignal:
    """A stop flag whose waits run on a Clock: the loop primitive of every thread.

    `wait(seconds)` blocks for `seconds` of the clock's time or until `set()`,
    and returns whether the signal is set: `while not stop.wait(period): ...`.
    With a FakeClock, `step` releases the waiters that are due, so a test
    drives a loop tick by tick without sleeping.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._set = False

    def set(self) -> None:
        with self._cond:
            self._set = True
            self._cond.notify_all()

    def is_set(self) -> bool:
        with self._cond:
            return self._set

    def wait(self, seconds: float) -> bool:
        deadline = self._clock.now() + seconds
        with self._cond:
            while not self._set and self._clock.now() < deadline:
                self._clock.wait_until(self._cond, deadline)
            return self._set


class Wakeup(StopSignal):
    """A StopSignal that can be cleared: a loop's "something changed" flag.

    `wait(seconds)` returns True as soon as the flag is set, False after
    `seconds` of the clock's time; `clear()` re-arms it. Setting it between a
    wake-up and the `clear` that follows is not lost if the loop reads its
    inputs after clearing.
    """

    def clear(self) -> None:
        with self._cond:
            self._set = False
