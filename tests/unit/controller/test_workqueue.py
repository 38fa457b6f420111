"""Tests for lbctl.controller.workqueue: the client-go contract, backoff and metrics hooks."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from lbcommon.clock import FakeClock
from lbctl.controller.workqueue import ExponentialBackoff, WorkQueue

pytestmark = pytest.mark.unit

# Real seconds a test waits for something that should happen (generous, never
# reached when the code works) or for something that should not (short).
PATIENCE = 5.0
BRIEFLY = 0.05


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queue(clock: FakeClock) -> Iterator[WorkQueue[str]]:
    q: WorkQueue[str] = WorkQueue(clock=clock)
    yield q
    q.shutdown()


def drain(queue: WorkQueue[str]) -> list[str]:
    """Get and finish every key that is waiting now, in order."""
    keys = []
    while (key := queue.get(timeout=0)) is not None:
        queue.done(key)
        keys.append(key)
    return keys


@pytest.mark.parametrize(
    ("adds", "expected"),
    [
        pytest.param([], [], id="empty"),
        pytest.param(["a", "a", "a"], ["a"], id="same-key-queued-once"),
        pytest.param(["a", "b", "a", "b", "a"], ["a", "b"], id="dedup-keeps-first-place"),
        pytest.param(["c", "a", "b"], ["c", "a", "b"], id="fifo"),
        pytest.param(["ns/x", "ns/y", "ns/x", "ns/z"], ["ns/x", "ns/y", "ns/z"], id="ns-keys"),
    ],
)
def test_add_deduplicates_and_is_fifo(
    queue: WorkQueue[str], adds: list[str], expected: list[str]
) -> None:
    for key in adds:
        queue.add(key)
    assert len(queue) == len(expected)
    assert drain(queue) == expected


def test_key_added_while_processing_is_requeued_on_done(queue: WorkQueue[str]) -> None:
    queue.add("a")
    queue.add("b")
    assert queue.get(timeout=0) == "a"
    queue.add("a")
    queue.add("a")
    assert len(queue) == 1  # only "b": "a" waits for done
    assert queue.get(timeout=0) == "b"
    assert queue.get(timeout=0) is None  # "a" is not handed to a second worker
    queue.done("a")
    assert queue.get(timeout=0) == "a"
    queue.done("a")
    queue.done("b")
    assert queue.get(timeout=0) is None


def test_idle_means_nothing_queued_and_nothing_in_flight(
    queue: WorkQueue[str], clock: FakeClock
) -> None:
    assert queue.idle
    queue.add("a")
    assert not queue.idle
    key = queue.get(timeout=0)
    assert key == "a"
    assert len(queue) == 0
    assert not queue.idle  # in flight: an empty queue is not an idle one
    queue.add("a")  # changed while processing
    queue.done("a")
    assert not queue.idle  # re-queued by done
    assert drain(queue) == ["a"]
    assert queue.idle
    queue.add_after("b", 5.0)
    assert queue.idle  # a delay not yet due does not count
    clock.step(5.0)
    assert queue.get(timeout=PATIENCE) == "b"  # released by the delay thread
    assert not queue.idle
    queue.done("b")
    assert queue.idle


def test_done_without_get_is_an_error(queue: WorkQueue[str]) -> None:
    queue.add("a")
    with pytest.raises(ValueError, match="'a'"):
        queue.done("a")


def test_processing_finishes_the_key_even_on_error(queue: WorkQueue[str]) -> None:
    queue.add("a")
    with pytest.raises(RuntimeError), queue.processing(timeout=0) as key:
        assert key == "a"
        queue.add("a")
        raise RuntimeError("reconcile failed")
    with queue.processing(timeout=0) as key:
        assert key == "a"
    with queue.processing(timeout=0) as key:
        assert key is None


def test_get_times_out_on_empty_queue(queue: WorkQueue[str]) -> None:
    start = time.monotonic()
    assert queue.get(timeout=BRIEFLY) is None
    assert time.monotonic() - start >= BRIEFLY


@dataclass
class Tally:
    """What the concurrent workers saw, guarded by one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    active: set[str] = field(default_factory=set)
    overlaps: list[str] = field(default_factory=list)
    added: dict[str, int] = field(default_factory=dict)  # key -> last version added
    seen: dict[str, int] = field(default_factory=dict)  # key -> last version processed


def test_no_key_is_processed_by_two_workers_at_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    tally = Tally()

    def work() -> None:
        while not queue.shutting_down:
            with queue.processing(timeout=BRIEFLY) as key:
                if key is None:
                    continue
                with tally.lock:
                    if key in tally.active:
                        tally.overlaps.append(key)
                    tally.active.add(key)
                    version = tally.added[key]
                time.sleep(0.0001)  # hold the key while other workers and adds run
                with tally.lock:
                    tally.active.discard(key)
                    tally.seen[key] = max(tally.seen.get(key, 0), version)

    workers = [threading.Thread(target=work, name=f"test-worker-{i}") for i in range(4)]
    for worker in workers:
        worker.start()
    try:
        for i in range(1000):
            key = f"ns/svc-{i % 10}"
            with tally.lock:
                tally.added[key] = i
            queue.add(key)
            if i % 10 == 9:
                time.sleep(0.0001)  # let workers take keys, so adds meet keys in process
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            with tally.lock:
                settled = tally.seen == tally.added and not tally.active
            if settled and len(queue) == 0:
                break
            time.sleep(0.001)
    finally:
        queue.shutdown()
        for worker in workers:
            worker.join(PATIENCE)
    assert tally.overlaps == []
    # No lost update: every key's newest change was processed after it was added.
    assert tally.seen == tally.added


@pytest.mark.parametrize(
    ("delays", "steps"),
    [
        pytest.param(
            [("b", 20.0), ("a", 10.0)],
            [(9.9, []), (0.1, ["a"]), (10.0, ["b"])],
            id="released-when-due",
        ),
        pytest.param(
            [("b", 20.0), ("a", 10.0), ("c", 10.0)],
            [(25.0, ["a", "c", "b"])],
            id="due-together-in-time-order-then-add-order",
        ),
        pytest.param(
            [("a", 30.0), ("a", 10.0)],
            [(10.0, ["a"]), (20.0, [])],
            id="earlier-delay-wins",
        ),
        pytest.param(
            [("a", 10.0), ("a", 30.0)],
            [(10.0, ["a"]), (20.0, [])],
            id="later-delay-ignored",
        ),
        pytest.param([("a", 0.0), ("b", -1.0)], [(0.0, ["a", "b"])], id="non-positive-is-now"),
    ],
)
def test_add_after_with_fake_clock(
    queue: WorkQueue[str],
    clock: FakeClock,
    delays: list[tuple[str, float]],
    steps: list[tuple[float, list[str]]],
) -> None:
    for key, delay in delays:
        queue.add_after(key, delay)
    for seconds, expected in steps:
        clock.step(seconds)
        got = []
        for _ in expected:
            released = queue.get(timeout=PATIENCE)
            assert released is not None
            queue.done(released)
            got.append(released)
        assert queue.get(timeout=BRIEFLY) is None
        assert got == expected


def test_delayed_key_already_queued_is_not_duplicated(
    queue: WorkQueue[str], clock: FakeClock
) -> None:
    queue.add("a")
    queue.add_after("a", 5.0)
    queue.add_after("b", 5.0)
    clock.step(5.0)
    # The delay thread releases "a" and then "b" in one pass: once "b" is
    # queued, "a" has been offered again while it was still waiting.
    deadline = time.monotonic() + PATIENCE
    while len(queue) < 2 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert drain(queue) == ["a", "b"]


@pytest.mark.parametrize(
    ("base", "cap", "expected"),
    [
        pytest.param(
            5.0, 300.0, [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0], id="upstream-5s-300s"
        ),
        pytest.param(1.0, 4.0, [1.0, 2.0, 4.0, 4.0], id="small"),
        pytest.param(2.0, 2.0, [2.0, 2.0], id="constant"),
    ],
)
def test_exponential_backoff(base: float, cap: float, expected: list[float]) -> None:
    limiter = ExponentialBackoff(base=base, cap=cap)
    assert [limiter.when("k") for _ in expected] == expected
    assert limiter.retries("k") == len(expected)
    assert limiter.retries("other") == 0
    assert limiter.when("other") == base  # keys back off independently
    limiter.forget("k")
    assert limiter.retries("k") == 0
    assert limiter.when("k") == base


def test_exponential_backoff_survives_many_failures() -> None:
    limiter = ExponentialBackoff()
    delays = [limiter.when("k") for _ in range(5000)]
    assert delays[-1] == 300.0


@pytest.mark.parametrize(
    ("base", "cap"),
    [pytest.param(0.0, 1.0, id="zero-base"), pytest.param(5.0, 1.0, id="cap-below-base")],
)
def test_exponential_backoff_rejects_bad_bounds(base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="base"):
        ExponentialBackoff(base=base, cap=cap)


def test_add_rate_limited_backs_off_and_forget_resets(
    queue: WorkQueue[str], clock: FakeClock
) -> None:
    for expected_delay in (5.0, 10.0, 20.0):
        queue.add_rate_limited("a")
        clock.step(expected_delay - 0.5)
        assert queue.get(timeout=BRIEFLY) is None
        clock.step(0.5)
        assert queue.get(timeout=PATIENCE) == "a"
        queue.done("a")
    assert queue.retries("a") == 3
    queue.forget("a")
    assert queue.retries("a") == 0
    queue.add_rate_limited("a")
    clock.step(5.0)
    assert queue.get(timeout=PATIENCE) == "a"
    queue.done("a")


def test_shutdown_unblocks_every_getter() -> None:
    queue: WorkQueue[str] = WorkQueue()
    results: list[str | None] = []
    lock = threading.Lock()

    def get() -> None:
        key = queue.get()
        with lock:
            results.append(key)

    getters = [threading.Thread(target=get, name=f"test-getter-{i}") for i in range(3)]
    for getter in getters:
        getter.start()
    queue.shutdown()
    for getter in getters:
        getter.join(PATIENCE)
    assert not any(getter.is_alive() for getter in getters)
    assert results == [None, None, None]


def test_after_shutdown_nothing_is_handed_out(queue: WorkQueue[str], clock: FakeClock) -> None:
    queue.add("a")
    queue.add_after("b", 1.0)  # starts the delay thread, which shutdown must join
    assert not queue.shutting_down
    queue.shutdown()
    queue.shutdown()  # idempotent
    assert queue.shutting_down
    queue.add("c")
    queue.add_after("d", 0.0)
    clock.step(1.0)
    assert queue.get() is None
    assert queue.get(timeout=0) is None
    assert not [t for t in threading.enumerate() if t.name.endswith("-delay")]


@dataclass
class RecordingObserver:
    depths: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    retries: int = 0

    def on_depth(self, depth: int) -> None:
        self.depths.append(depth)

    def on_latency(self, seconds: float) -> None:
        self.latencies.append(seconds)

    def on_work_duration(self, seconds: float) -> None:
        self.durations.append(seconds)

    def on_retry(self) -> None:
        self.retries += 1


def test_observer_sees_depth_latency_duration_and_retries(clock: FakeClock) -> None:
    observer = RecordingObserver()
    queue: WorkQueue[str] = WorkQueue(clock=clock, observer=observer)
    try:
        queue.add("a")
        queue.add("b")
        clock.step(3.0)
        assert queue.get(timeout=0) == "a"
        clock.step(2.0)
        queue.done("a")
        queue.add_rate_limited("a")
        queue.add_rate_limited("b")  # "b" is queued already: a retry, but no new entry
    finally:
        queue.shutdown()
    assert observer.depths == [1, 2, 1]
    assert observer.latencies == [3.0]
    assert observer.durations == [2.0]
    assert observer.retries == 2
