"""Leader election on a coordination.k8s.io Lease, so replicas never act at once.

The client-go algorithm, reduced: a candidate takes the Lease when it is free
or when its record has not changed for `lease_duration` seconds of *our own*
clock (observed time, so clock skew between machines cannot make two
leaders); the leader renews every `retry_period` and gives up leadership if
it cannot renew within `renew_deadline`. Writes are conditional on the Lease's
resourceVersion (lbcommon.kube.leases), so of two racing candidates exactly
one wins. On a clean stop the leader releases the Lease, letting a standby
take over at once.

Defaults (10 s lease, 7 s renew deadline, 2 s retry) make a standby take
over within 15 s of the leader's death: the Lease must look unchanged for
10 s, and the standby looks every 2 s.

All waiting runs on the injected Clock (a StopSignal), so a test drives the
loop with a FakeClock. Lease failures arrive as lbcommon.errors types: a
conflict means another candidate won the race; a temporary error is retried
on the next period; a permanent one (403: RBAC) is logged as an error and
also retried, since nothing else can make this replica lead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from lbcommon.clock import Clock, RealClock, StopSignal
from lbcommon.errors import ConflictError, PermanentError, TemporaryError
from lbcommon.kube.client import ApiClient
from lbcommon.kube.leases import Leases
from lbcommon.model import LeaseRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseSettings:
    namespace: str
    name: str
    identity: str
    lease_duration: float = 10.0
    renew_deadline: float = 7.0
    retry_period: float = 2.0


class LeaderElector:
    """Runs the election on a thread; calls back when leadership starts and ends."""

    def __init__(
        self,
        api: ApiClient,
        settings: LeaseSettings,
        *,
        on_started_leading: Callable[[], None],
        on_stopped_leading: Callable[[], None],
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self._leases = Leases(api, settings.namespace)
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._clock = clock or RealClock()
        self._stopping = StopSignal(self._clock)
        self._thread: threading.Thread | None = None
        self._starting: threading.Thread | None = None
        self._observed: tuple[str, str] | None = None  # (holder, renewTime) last seen
        self._observed_at = 0.0
        self._held: LeaseRecord | None = None  # the Lease as we last wrote it
        self.leading = threading.Event()
        #: why the last round could not work for a reason retrying cannot fix
        #: (a 403 on the Lease, say), or None: a replica stuck there is not ready
        self.blocked: str | None = None

    def start(self) -> LeaderElector:
        self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop campaigning; a leader releases the Lease and calls on_stopped_leading.

        Joins on_started_leading's thread too: the caller stops what it started
        first (lbctl stops its controller, which ends a start still syncing).
        """
        self._stopping.set()
        for thread in (self._thread, self._starting):
            if thread is not None:
                thread.join(timeout=self.settings.renew_deadline + 5)
        self._thread = self._starting = None

    def _run(self) -> None:
        s = self.settings
        while not self._stopping.is_set():
            if self._try_acquire_or_renew():
                break
            self._stopping.wait(s.retry_period)
        if self._stopping.is_set():
            self._release()
            return
        log.info("became leader", extra={"identity": s.identity, "lease": s.name})
        self.leading.set()
        # On a thread of its own, as client-go runs OnStartedLeading: starting
        # what leads (lbctl's informers sync first) must not hold up renewals,
        # or a standby would take the Lease while we still start.
        self._starting = threading.Thread(
            target=self._on_started, name="started-leading", daemon=True
        )
        self._starting.start()
        last_renewed = self._clock.now()
        while not self._stopping.wait(s.retry_period):
            if self._try_acquire_or_renew():
                last_renewed = self._clock.now()
            elif self._clock.now() - last_renewed > s.renew_deadline:
                log.error(
                    "lost leadership: lease not renewed in %.0fs",
                    s.renew_deadline,
                    extra={"identity": s.identity, "lease": s.name},
                )
                break
        self.leading.clear()
        if self._stopping.is_set():
            self._release()
        self._on_stopped()

    def _observe(self, record: LeaseRecord) -> None:
        seen = (record.holder, record.renew_time)
        if seen != self._observed:
            self._observed, self._observed_at = seen, self._clock.now()

    def _try_acquire_or_renew(self) -> bool:
        s = self.settings
        try:
            record = self._leases.get(s.name)
            if record is None:
                written = self._leases.create(s.name, holder=s.identity, duration=s.lease_duration)
            else:
                self._observe(record)
                duration = record.duration or s.lease_duration
                expired = self._clock.now() - self._observed_at > duration
                if record.holder and record.holder != s.identity and not expired:
                    self.blocked = None  # a standby that can read and wait
                    return False
                written = self._leases.hold(record, holder=s.identity, duration=s.lease_duration)
        except ConflictError as err:
            log.debug("lost a race for the lease: %s", err)
            return False
        except TemporaryError as err:
            log.warning("lease %s: %s", s.name, err, extra={"identity": s.identity})
            return False
        except PermanentError as err:
            log.error("lease %s: %s", s.name, err, extra={"identity": s.identity})
            self.blocked = str(err)
            return False
        self.blocked = None
        self._observe(written)
        self._held = written
        return True

    def _release(self) -> None:
        """Give the Lease up if we hold it (re-read once if it moved since our last write)."""
        s = self.settings
        held, self._held = self._held, None
        if held is None:
            return
        try:
            try:
                self._leases.release(held)
            except ConflictError:
                current = self._leases.get(s.name)
                if current is not None and current.holder == s.identity:
                    self._leases.release(current)
        except (ConflictError, TemporaryError, PermanentError) as err:
            log.warning("releasing the lease failed: %s", err, extra={"identity": s.identity})
