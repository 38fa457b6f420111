"""Leader election on a coordination.k8s.io Lease, so replicas never act at once.

The client-go algorithm, reduced: a candidate takes the Lease when it is free
or when its record has not changed for `lease_duration` seconds of *our own*
clock (observed time, so clock skew between machines cannot make two
leaders); the leader renews every `retry_period` and gives up leadership if
it cannot renew within `renew_deadline`. Writes use the Lease's
resourceVersion, so of two racing candidates exactly one wins. On a clean
stop the leader releases the Lease, letting a standby take over at once.

Defaults (10 s lease, 7 s renew deadline, 2 s retry) make a standby take
over within 15 s of the leader's death.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.rest import ApiException

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseSettings:
    namespace: str
    name: str
    identity: str
    lease_duration: float = 10.0
    renew_deadline: float = 7.0
    retry_period: float = 2.0


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class LeaderElector:
    """Runs the election on a thread; calls back when leadership starts and ends."""

    def __init__(
        self,
        api: client.ApiClient,
        settings: LeaseSettings,
        *,
        on_started_leading: Callable[[], None],
        on_stopped_leading: Callable[[], None],
    ) -> None:
        self._api = client.CoordinationV1Api(api)
        self.settings = settings
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._observed: tuple[str, str] | None = None  # (holder, renewTime) last seen
        self._observed_at = 0.0
        self.leading = threading.Event()

    def start(self) -> LeaderElector:
        self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop campaigning; a leader releases the Lease and calls on_stopped_leading."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.renew_deadline + 5)
            self._thread = None

    def _run(self) -> None:
        s = self.settings
        while not self._stopping.is_set():
            if self._try_acquire_or_renew():
                break
            self._stopping.wait(s.retry_period)
        if self._stopping.is_set():
            return
        log.info("became leader", extra={"identity": s.identity, "lease": s.name})
        self.leading.set()
        self._on_started()
        last_renewed = time.monotonic()
        while not self._stopping.wait(s.retry_period):
            if self._try_acquire_or_renew():
                last_renewed = time.monotonic()
            elif time.monotonic() - last_renewed > s.renew_deadline:
                log.error("lost leadership: lease not renewed in %.0fs", s.renew_deadline)
                break
        self.leading.clear()
        if self._stopping.is_set():
            self._release()
        self._on_stopped()

    def _try_acquire_or_renew(self) -> bool:
        s = self.settings
        now = _now()
        try:
            lease = self._api.read_namespaced_lease(s.name, s.namespace)
        except ApiException as err:
            if err.status != 404:
                log.warning("reading lease failed: HTTP %s", err.status)
                return False
            return self._create(now)
        except Exception as err:
            log.warning("reading lease failed: %s", err)
            return False
        spec = lease.spec or client.V1LeaseSpec()
        record = (spec.holder_identity or "", str(spec.renew_time))
        if record != self._observed:
            self._observed, self._observed_at = record, time.monotonic()
        holder = spec.holder_identity or ""
        duration = spec.lease_duration_seconds or s.lease_duration
        expired = time.monotonic() - self._observed_at > duration
        if holder and holder != s.identity and not expired:
            return False
        if holder != s.identity:
            spec.lease_transitions = (spec.lease_transitions or 0) + 1
            spec.acquire_time = now
        spec.holder_identity = s.identity
        spec.lease_duration_seconds = int(s.lease_duration)
        spec.renew_time = now
        lease.spec = spec
        try:
            self._api.replace_namespaced_lease(s.name, s.namespace, lease)
        except ApiException as err:
            if err.status != 409:
                log.warning("updating lease failed: HTTP %s", err.status)
            return False
        except Exception as err:
            log.warning("updating lease failed: %s", err)
            return False
        self._observed, self._observed_at = (s.identity, str(now)), time.monotonic()
        return True

    def _create(self, now: datetime.datetime) -> bool:
        s = self.settings
        lease = client.V1Lease(
            metadata=client.V1ObjectMeta(name=s.name, namespace=s.namespace),
            spec=client.V1LeaseSpec(
                holder_identity=s.identity,
                lease_duration_seconds=int(s.lease_duration),
                acquire_time=now,
                renew_time=now,
                lease_transitions=0,
            ),
        )
        try:
            self._api.create_namespaced_lease(s.namespace, lease)
        except Exception as err:
            log.debug("creating lease failed: %s", err)
            return False
        return True

    def _release(self) -> None:
        s = self.settings
        try:
            lease = self._api.read_namespaced_lease(s.name, s.namespace)
            if lease.spec.holder_identity != s.identity:
                return
            lease.spec.holder_identity = None
            lease.spec.lease_duration_seconds = 1
            lease.spec.renew_time = _now()
            self._api.replace_namespaced_lease(s.name, s.namespace, lease)
        except Exception as err:
            log.warning("releasing lease failed: %s", err)
