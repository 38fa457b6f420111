"""Tests for lbcommon.clock: the real clock's basics and the fake clock's stepping and waking."""

from __future__ import annotations

import threading

import pytest

from lbcommon.clock import Clock, FakeClock, RealClock, StopSignal, Wakeup

pytestmark = pytest.mark.unit

# How long a test is willing to wait for another thread; never reached when the code works.
PATIENCE = 5.0


def test_real_clock_is_monotonic() -> None:
    clock: Clock = RealClock()
    readings = [clock.now() for _ in range(100)]
    assert readings == sorted(readings)


def test_real_clock_sleep_lets_time_pass() -> None:
    clock = RealClock()
    before = clock.now()
    clock.sleep(0.01)
    assert clock.now() - before >= 0.01


@pytest.mark.parametrize(
    ("deadline_offset", "max_seconds"),
    [
        pytest.param(-1.0, 0.5, id="past-deadline-returns-at-once"),
        pytest.param(0.02, 2.0, id="near-deadline-returns-after-it"),
    ],
)
def test_real_clock_wait_until_deadline(deadline_offset: float, max_seconds: float) -> None:
    clock = RealClock()
    cond = threading.Condition()
    start = clock.now()
    with cond:
        clock.wait_until(cond, start + deadline_offset)
    assert clock.now() - start < max_seconds


@pytest.mark.parametrize(
    ("start", "steps", "expected"),
    [
        pytest.param(0.0, [], 0.0, id="starts-where-told"),
        pytest.param(100.0, [], 100.0, id="custom-start"),
        pytest.param(0.0, [1.5], 1.5, id="one-step"),
        pytest.param(10.0, [1.0, 0.0, 2.5], 13.5, id="steps-add-up"),
    ],
)
def test_fake_clock_steps(start: float, steps: list[float], expected: float) -> None:
    clock = FakeClock(start)
    for seconds in steps:
        clock.step(seconds)
    assert clock.now() == expected


def test_fake_clock_sleep_advances_instead_of_blocking() -> None:
    clock = FakeClock()
    clock.sleep(3600.0)
    assert clock.now() == 3600.0


@pytest.mark.parametrize("method", ["step", "sleep"])
def test_fake_clock_rejects_going_backwards(method: str) -> None:
    clock = FakeClock(5.0)
    with pytest.raises(ValueError, match="-1"):
        getattr(clock, method)(-1.0)
    assert clock.now() == 5.0


def test_fake_clock_wait_until_past_deadline_returns_at_once() -> None:
    clock = FakeClock(10.0)
    cond = threading.Condition()
    with cond:
        clock.wait_until(cond, 10.0)  # would block forever if it waited


def _wait_in_thread(
    clock: FakeClock, deadline: float | None
) -> tuple[threading.Thread, list[float]]:
    """Start a thread that blocks in `clock.wait_until` and records the time it woke."""
    cond = threading.Condition()
    woke: list[float] = []
    entered = threading.Event()

    def wait() -> None:
        with cond:
            entered.set()
            clock.wait_until(cond, deadline)
            woke.append(clock.now())

    thread = threading.Thread(target=wait, name="test-waiter")
    thread.start()
    assert entered.wait(PATIENCE)
    return thread, woke


@pytest.mark.parametrize(
    "deadline",
    [pytest.param(30.0, id="deadline-reached"), pytest.param(None, id="no-deadline")],
)
def test_fake_clock_step_wakes_waiters(deadline: float | None) -> None:
    clock = FakeClock()
    thread, woke = _wait_in_thread(clock, deadline)
    # Step until the waiter has woken: the thread may not be blocked in
    # wait_until yet when the first step happens, and then it sees the new
    # time instead of being notified; either way it must not stay blocked.
    for _ in range(1000):
        clock.step(30.0)
        thread.join(0.005)
        if not thread.is_alive():
            break
    thread.join(PATIENCE)
    assert not thread.is_alive()
    assert woke and woke[0] >= 30.0


def test_fake_clock_counts_waiters_until_a_step_passes_their_deadline() -> None:
    clock = FakeClock()
    assert clock.waiters() == 0
    assert not clock.wait_for_waiters(1, timeout=0.01)
    thread, woke = _wait_in_thread(clock, 5.0)
    assert clock.wait_for_waiters(1, timeout=PATIENCE)
    clock.step(1.0)  # not due: it wakes, re-checks and would wait again
    assert clock.waiters() == 1
    clock.step(4.0)  # due: it no longer counts, even before it has woken
    assert clock.waiters() == 0
    thread.join(PATIENCE)
    assert woke == [5.0]


def _loop(
    clock: FakeClock, period: float, stop: StopSignal
) -> tuple[threading.Thread, list[float]]:
    rounds: list[float] = []

    def run() -> None:
        while not stop.wait(period):
            rounds.append(clock.now())

    thread = threading.Thread(target=run, name="test-loop")
    thread.start()
    return thread, rounds


def test_stop_signal_drives_a_loop_tick_by_tick_and_stops_it() -> None:
    clock = FakeClock()
    stop = StopSignal(clock)
    thread, rounds = _loop(clock, 2.0, stop)
    for _ in range(6):
        assert clock.wait_for_waiters(1, timeout=PATIENCE)
        clock.step(1.0)
    assert clock.wait_for_waiters(1, timeout=PATIENCE)
    assert rounds == [2.0, 4.0, 6.0]
    stop.set()
    thread.join(PATIENCE)
    assert not thread.is_alive() and stop.is_set()
    assert stop.wait(100.0), "a set signal returns at once"


def test_wakeup_can_be_cleared_and_times_out_on_the_clock() -> None:
    clock = FakeClock()
    flag = Wakeup(clock)
    flag.set()
    assert flag.wait(10.0)
    flag.clear()
    assert not flag.is_set()
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(flag.wait(3.0)), name="test-wakeup")
    thread.start()
    assert clock.wait_for_waiters(1, timeout=PATIENCE)
    clock.step(3.0)
    thread.join(PATIENCE)
    assert result == [False]
