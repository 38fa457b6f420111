"""Which live nodeproxy instance owns which load-balancer IP.

Design: every instance keeps one heartbeat Lease of its own
(`nodeproxy-<node>`, label `lbctl.io/nodeproxy`) renewed every second with
a single PATCH, and watches the others. An instance is live while we have
seen its renewTime change within `lease_duration` seconds of *our* clock
(so clock skew cannot keep a dead instance alive). IPs are spread over the
live instances by rendezvous hashing, which every instance computes alike.
Cost: one write per instance per second however many IPs there are, and no
write at all when an IP moves.

Guarantees:
- Each IP has exactly one owner in any converged view; when an instance
  dies, its IPs move after `lease_duration` plus at most one tick, so within
  5 s with the defaults (1 s renew, 3 s lease). A clean stop deletes the
  Lease, and the others take over at once.
- Handover between two live instances (one joined, say) is
  release-before-claim: the old owner lets go as soon as it sees the change,
  the new one claims only `settle` seconds later, so two instances announce
  the same IP only if the watch is slower than `settle`.
- An instance that cannot renew its own Lease for `lease_duration` owns
  nothing (the others have taken over by then).
- `on_owned` is called from our thread whenever the owned set changes.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from lbcommon.kube.informer import Informer, Obj

log = logging.getLogger(__name__)

LEASE_LABEL = "lbctl.io/nodeproxy"


@dataclass(frozen=True)
class MembershipSettings:
    namespace: str
    identity: str
    renew_interval: float = 1.0
    lease_duration: float = 3.0
    settle: float = 1.0
    tick: float = 0.2


def lease_name(identity: str) -> str:
    return f"nodeproxy-{identity}"[:253]


def owners(ips: Iterable[IPv4Address], live: Collection[str]) -> dict[IPv4Address, str]:
    """Rendezvous hashing: each IP goes to the live instance with the highest score."""
    if not live:
        return {}
    return {ip: max(sorted(live), key=lambda who: _score(ip, who)) for ip in ips}


def _score(ip: IPv4Address, who: str) -> bytes:
    return hashlib.blake2b(f"{ip}/{who}".encode(), digest_size=8).digest()


class _Leases:
    """Informer handler: when did we last see each instance's renewTime change?"""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[str, float]] = {}

    def _observe(self, obj: Obj) -> None:
        spec = obj.get("spec") or {}
        holder, renewed = spec.get("holderIdentity"), str(spec.get("renewTime"))
        if not holder:
            return
        with self._lock:
            if self._seen.get(holder, ("", 0.0))[0] != renewed:
                self._seen[holder] = (renewed, time.monotonic())

    def on_add(self, obj: Obj) -> None:
        self._observe(obj)

    def on_update(self, old: Obj, new: Obj) -> None:
        self._observe(new)

    def on_delete(self, obj: Obj) -> None:
        holder = str((obj.get("spec") or {}).get("holderIdentity"))
        with self._lock:
            self._seen.pop(holder, None)

    def live(self, within: float) -> set[str]:
        now = time.monotonic()
        with self._lock:
            return {who for who, (_, at) in self._seen.items() if now - at <= within}


class Announcer:
    """Runs the membership protocol on a thread; reports the IPs we own."""

    def __init__(
        self,
        api: client.ApiClient,
        settings: MembershipSettings,
        *,
        wanted: Callable[[], frozenset[IPv4Address]],
        on_owned: Callable[[frozenset[IPv4Address]], None],
    ) -> None:
        self.settings = settings
        self._coord = client.CoordinationV1Api(api)
        self._wanted = wanted
        self._on_owned = on_owned
        self._leases = _Leases()
        self._informer = Informer(
            "leases",
            functools.partial(
                self._coord.list_namespaced_lease, settings.namespace, label_selector=LEASE_LABEL
            ),
            self._leases,
            resync_period=60.0,
        )
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._renewed_at = float("-inf")
        self._started_at = 0.0
        self._last_owner: dict[IPv4Address, str] = {}
        self._pending: dict[IPv4Address, float] = {}
        self.owned: frozenset[IPv4Address] = frozenset()
        self.renew_failures = 0

    def start(self) -> Announcer:
        self._started_at = time.monotonic()
        self._informer.start()
        self._thread = threading.Thread(target=self._run, name="nodeproxy-announcer")
        self._thread.start()
        return self

    def stop(self, *, release: bool = True) -> None:
        """Stop; with `release`, delete our Lease so others take over at once."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._informer.stop()
        if release:
            try:
                self._coord.delete_namespaced_lease(
                    lease_name(self.settings.identity), self.settings.namespace
                )
            except ApiException as err:
                if err.status != 404:
                    log.warning("deleting our lease failed: HTTP %s", err.status)
            except Exception as err:
                log.warning("deleting our lease failed: %s", err)
        self._set_owned(frozenset())

    def live(self) -> set[str]:
        """Instances we consider alive, ourselves included while our Lease is fresh."""
        s = self.settings
        live = self._leases.live(s.lease_duration) - {s.identity}
        if time.monotonic() - self._renewed_at <= s.lease_duration:
            live.add(s.identity)
        return live

    def _run(self) -> None:
        s = self.settings
        next_renew = 0.0
        while not self._stopping.is_set():
            if time.monotonic() >= next_renew:
                next_renew = time.monotonic() + s.renew_interval
                self._renew()
            self._set_owned(self._decide())
            self._stopping.wait(s.tick)

    def _decide(self) -> frozenset[IPv4Address]:
        s = self.settings
        now = time.monotonic()
        live = self.live()
        if s.identity not in live or not self._informer.has_synced:
            self._pending.clear()
            return frozenset()
        result: set[IPv4Address] = set()
        current = owners(self._wanted(), live)
        for ip, owner in current.items():
            if owner != s.identity:
                self._pending.pop(ip, None)
                continue
            previous = self._last_owner.get(ip)
            handover = ip not in self.owned and (
                (previous not in (None, s.identity) and previous in live)
                or now - self._started_at < s.settle
            )
            if ip in self.owned or not handover:
                result.add(ip)
                self._pending.pop(ip, None)
                continue
            since = self._pending.setdefault(ip, now)
            if now - since >= s.settle:
                result.add(ip)
                self._pending.pop(ip, None)
        # Remember who owned what, except while a handover waits on it.
        self._last_owner = {
            ip: (self._last_owner.get(ip, owner) if ip in self._pending else owner)
            for ip, owner in current.items()
        }
        return frozenset(result)

    def _set_owned(self, owned: frozenset[IPv4Address]) -> None:
        if owned != self.owned:
            log.info(
                "owned addresses changed",
                extra={"owned": ",".join(map(str, sorted(owned))), "live": len(self.live())},
            )
            self.owned = owned
            self._on_owned(owned)

    def _renew(self) -> None:
        s = self.settings
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body: dict[str, Any] = {
            "metadata": {"labels": {LEASE_LABEL: "true"}},
            "spec": {
                "holderIdentity": s.identity,
                "leaseDurationSeconds": max(1, round(s.lease_duration)),
                "renewTime": now,
            },
        }
        name = lease_name(s.identity)
        try:
            try:
                self._coord.patch_namespaced_lease(
                    name, s.namespace, body, _content_type="application/merge-patch+json"
                )
            except ApiException as err:
                if err.status != 404:
                    raise
                body["metadata"]["name"] = name
                body["spec"]["acquireTime"] = now
                self._coord.create_namespaced_lease(s.namespace, body)
            self._renewed_at = time.monotonic()
        except Exception as err:
            self.renew_failures += 1
            log.warning("renewing our lease failed: %s", err)
