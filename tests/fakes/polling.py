"""What the clouds' data planes share: health checks from a namespace, and a
thread that re-reads the fake and re-programs the kernel every `poll` seconds."""

from __future__ import annotations

import logging
import threading

from nodeproxy.health import HealthChecker, HealthSettings

log = logging.getLogger(__name__)


class PollingNetwork:
    """Runs `sync` on a thread until stopped; subclasses say what it does and how
    their kernel state goes (`clear`)."""

    def __init__(self, *, namespace: str, poll: float, name: str) -> None:
        # The loop polls; a verdict change needs no wake-up of its own.
        self.health = HealthChecker(HealthSettings(), on_change=lambda: None, namespace=namespace)
        self._poll = poll
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name)

    def sync(self) -> object:
        raise NotImplementedError

    def clear(self) -> None:
        """Remove what `sync` put in the kernel."""
        raise NotImplementedError

    def start(self) -> PollingNetwork:
        self.health.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)
        self.health.stop()
        self.clear()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.sync()
            except Exception:  # keep the last rules on a bad round; the log says why
                log.exception("%s: sync failed", self._thread.name)
            self._stopping.wait(self._poll)
