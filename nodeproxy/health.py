"""HTTP health checks of backend nodes, on a few threads of our own.

Guarantees:
- Every target is probed every `interval` seconds (GET path, HTTP/1.0; only
  status 200 passes; each probe is bounded by `timeout`).
- A target's first result decides its state at once; after that it turns
  unhealthy after `fall` consecutive failures and healthy again after `rise`
  consecutive passes. With the defaults (1 s, 0.5 s, fall 2) a node that
  stops answering is marked down within 2.5 s of its last good answer.
- `on_change` is called (from a checker thread, without our lock held)
  whenever some target's state changes; it must only hand work off.
- `stop` stops and joins every thread it started.
- The probe interval runs on the injected Clock; a probe's own timeout is a
  socket timeout, in real time.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from lbcommon.clock import Clock, RealClock, StopSignal
from nodeproxy import netns
from nodeproxy.config import HealthTarget

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HealthSettings:
    interval: float = 1.0
    timeout: float = 0.5
    fall: int = 2
    rise: int = 2
    workers: int = 4


def probe(target: HealthTarget, *, timeout: float, namespace: str | None = None) -> bool:
    """One check: does GET http://target answer 200 within `timeout`?"""
    deadline = time.monotonic() + timeout
    sock = netns.make_socket(namespace, socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((str(target.address), target.port))
        request = (
            f"GET {target.path} HTTP/1.0\r\nHost: {target.address}:{target.port}\r\n"
            "User-Agent: nodeproxy\r\n\r\n"
        )
        sock.sendall(request.encode())
        data = b""
        while b"\r\n" not in data and len(data) < 1024:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(1024)
            if not chunk:
                break
            data += chunk
        parts = data.split(b"\r\n", 1)[0].split()
        return len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1] == b"200"
    except OSError:
        return False
    finally:
        sock.close()


@dataclass
class _Record:
    healthy: bool | None = None
    streak: int = 0
    in_flight: bool = False


class HealthChecker:
    """Probes a changing set of targets; see the module docstring."""

    def __init__(
        self,
        settings: HealthSettings,
        *,
        on_change: Callable[[], None],
        namespace: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._settings = settings
        self._on_change = on_change
        self._ns = namespace
        self._lock = threading.Lock()
        self._records: dict[HealthTarget, _Record] = {}
        self._queue: queue.Queue[HealthTarget | None] = queue.Queue()
        self._stopping = StopSignal(clock or RealClock())
        self._threads: list[threading.Thread] = []

    def set_targets(self, targets: frozenset[HealthTarget]) -> None:
        with self._lock:
            for gone in set(self._records) - targets:
                del self._records[gone]
            for target in targets - set(self._records):
                self._records[target] = _Record()
                self._enqueue(target)

    def snapshot(self) -> dict[HealthTarget, bool]:
        """Targets with a verdict -> healthy (targets not yet probed are absent)."""
        with self._lock:
            return {t: r.healthy for t, r in self._records.items() if r.healthy is not None}

    def start(self) -> HealthChecker:
        self._threads.append(threading.Thread(target=self._schedule, name="health-scheduler"))
        for i in range(self._settings.workers):
            self._threads.append(threading.Thread(target=self._work, name=f"health-{i}"))
        for thread in self._threads:
            thread.start()
        return self

    @property
    def alive(self) -> bool:
        """Whether every thread we started still runs."""
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def stop(self) -> None:
        self._stopping.set()
        for _ in range(self._settings.workers):
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=5 + self._settings.timeout)
        self._threads.clear()

    def _enqueue(self, target: HealthTarget) -> None:
        record = self._records[target]
        if not record.in_flight:
            record.in_flight = True
            self._queue.put(target)

    def _schedule(self) -> None:
        while not self._stopping.wait(self._settings.interval):
            with self._lock:
                for target in list(self._records):
                    self._enqueue(target)

    def _work(self) -> None:
        while True:
            target = self._queue.get()
            if target is None or self._stopping.is_set():
                return
            ok = probe(target, timeout=self._settings.timeout, namespace=self._ns)
            if self._record(target, ok):
                log.info("backend %s is %s", target, "healthy" if ok else "unhealthy")
                self._on_change()

    def _record(self, target: HealthTarget, ok: bool) -> bool:
        """Store one result; True if the target's state changed."""
        with self._lock:
            record = self._records.get(target)
            if record is None:
                return False
            record.in_flight = False
            if record.healthy is None:
                record.healthy = ok
                return True
            if ok == record.healthy:
                record.streak = 0
                return False
            record.streak += 1
            needed = self._settings.rise if ok else self._settings.fall
            if record.streak < needed:
                return False
            record.healthy, record.streak = ok, 0
            return True
