"""The health checker on a fake clock against a loopback HTTP server: verdicts, fall, rise.

Probes are real HTTP requests to 127.0.0.1 (each bounded by its own socket
timeout); only the interval between them runs on the FakeClock, so each
test decides exactly how many probe rounds happen.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from typing import Any

import pytest

from lbcommon.clock import FakeClock
from nodeproxy.config import HealthTarget
from nodeproxy.health import HealthChecker, HealthSettings, probe

pytestmark = pytest.mark.unit

PATIENCE = 10.0  # real seconds a test waits for a probe; never reached


class Backend:
    """A /healthz that answers 200 while `healthy`, 503 otherwise, and counts requests."""

    def __init__(self) -> None:
        self.healthy = True
        self.hits = 0
        self.answered = threading.Condition()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status = 200 if backend.healthy and self.path == "/healthz" else 503
                with backend.answered:  # counted before the answer leaves
                    backend.hits += 1
                    backend.answered.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.02,), name="test-backend"
        )
        self.thread.start()
        self.target = HealthTarget(IPv4Address("127.0.0.1"), int(self.server.server_address[1]))

    def wait_hits(self, count: int, timeout: float = PATIENCE) -> bool:
        with self.answered:
            return self.answered.wait_for(lambda: self.hits >= count, timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(PATIENCE)


class Checker:
    def __init__(self, backend: Backend, settings: HealthSettings) -> None:
        self.clock = FakeClock()
        self.backend = backend
        self.changes: list[int] = []  # the backend's hit count at each change
        self.changed = threading.Condition()
        self.checker = HealthChecker(settings, on_change=self._changed, clock=self.clock)
        self.interval = settings.interval

    def _changed(self) -> None:
        with self.changed:
            self.changes.append(self.backend.hits)
            self.changed.notify_all()

    def wait_changes(self, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.changes) >= count, PATIENCE)

    def round(self) -> None:
        """Step the clock by intervals until one more probe has been answered.

        A step that comes while the last probe is still being recorded enqueues
        nothing (a target is never probed twice at once), hence the loop.
        """
        hits = self.backend.hits
        for _ in range(100):
            assert self.clock.wait_for_waiters(1, timeout=PATIENCE)
            self.clock.step(self.interval)
            if self.backend.wait_hits(hits + 1, timeout=0.1):
                return
        raise AssertionError("no probe after 100 intervals")

    def verdict(self) -> bool | None:
        return self.checker.snapshot().get(self.backend.target)


@pytest.fixture
def backend() -> Iterator[Backend]:
    made = Backend()
    yield made
    made.close()


@pytest.fixture
def checker(backend: Backend) -> Iterator[Checker]:
    made = Checker(backend, HealthSettings(fall=2, rise=2, workers=1))
    made.checker.start()
    yield made
    made.checker.stop()
    assert not made.checker.alive


def test_the_first_result_decides_at_once(checker: Checker, backend: Backend) -> None:
    assert checker.checker.alive
    checker.checker.set_targets(frozenset({backend.target}))
    checker.wait_changes(1)
    assert checker.verdict() is True and backend.hits == 1


def test_down_after_fall_failures_and_up_after_rise_passes(
    checker: Checker, backend: Backend
) -> None:
    checker.checker.set_targets(frozenset({backend.target}))
    checker.wait_changes(1)
    backend.healthy = False
    checker.round()
    checker.round()
    checker.wait_changes(2)
    assert checker.verdict() is False
    assert checker.changes == [1, 3], "down after exactly `fall` failed probes"
    backend.healthy = True
    checker.round()
    checker.round()
    checker.wait_changes(3)
    assert checker.verdict() is True
    assert checker.changes == [1, 3, 5], "up after exactly `rise` passing probes"


def test_a_removed_target_has_no_verdict(checker: Checker, backend: Backend) -> None:
    checker.checker.set_targets(frozenset({backend.target}))
    checker.wait_changes(1)
    checker.checker.set_targets(frozenset())
    assert checker.checker.snapshot() == {}


@pytest.mark.parametrize(
    ("healthy", "path", "expected"),
    [
        pytest.param(True, "/healthz", True, id="200"),
        pytest.param(False, "/healthz", False, id="503"),
        pytest.param(True, "/other", False, id="wrong-path-503"),
    ],
)
def test_probe(backend: Backend, healthy: bool, path: str, expected: bool) -> None:
    backend.healthy = healthy
    target = HealthTarget(backend.target.address, backend.target.port, path)
    assert probe(target, timeout=PATIENCE) is expected


def test_probe_of_a_closed_port_fails() -> None:
    target = HealthTarget(IPv4Address("127.0.0.1"), 9)  # discard: nothing listens here
    assert probe(target, timeout=1.0) is False
