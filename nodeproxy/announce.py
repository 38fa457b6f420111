"""Which live nodeproxy instance owns which load-balancer IP.

Design: every instance keeps one heartbeat Lease of its own
(`nodeproxy-<node>`, label `lbctl.io/nodeproxy`) renewed every second with
a single PATCH, and watches the others. An instance is live while we have
seen its renewTime change within `lease_duration` seconds of *our* clock
(so clock skew cannot keep a dead instance alive). IPs are spread by
rendezvous hashing, which every instance computes alike, over the live
instances on *candidate* nodes: the nodes the load balancer may use as
backends (lbcommon.model.NodeInfo.eligible). An instance on any other node
(labelled node.kubernetes.io/exclude-from-external-load-balancers, as
kubeadm and kind label control planes, or being deleted) announces nothing:
holding an IP there would deliver the traffic to kube-proxy on a node that
is no backend, which for externalTrafficPolicy Local black-holes every
Service whose endpoints are all on that node.
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

Wiring: `Membership` is the handler of an Informer over the labelled Leases
(translated into lbcommon.kube.leases.LeaseRecord); `Announcer` renews our
own Lease through `Heartbeats` (lbcommon.kube.leases.Leases in production)
and decides. Every wait and every age runs on the injected Clock.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Protocol

from lbcommon.clock import Clock, RealClock, StopSignal
from lbcommon.errors import LbctlError
from lbcommon.model import LeaseRecord

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


class Membership:
    """Informer handler over heartbeat Leases: when did each instance's renewTime last change?

    Ages are measured on our own clock from the moment we saw the change.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[str, float]] = {}

    def _observe(self, lease: LeaseRecord) -> None:
        if not lease.holder:
            return
        with self._lock:
            if self._seen.get(lease.holder, ("", 0.0))[0] != lease.renew_time:
                self._seen[lease.holder] = (lease.renew_time, self._clock.now())

    def on_add(self, obj: LeaseRecord) -> None:
        self._observe(obj)

    def on_update(self, old: LeaseRecord, new: LeaseRecord) -> None:
        self._observe(new)

    def on_delete(self, obj: LeaseRecord) -> None:
        with self._lock:
            self._seen.pop(obj.holder, None)

    def live(self, within: float) -> set[str]:
        now = self._clock.now()
        with self._lock:
            return {who for who, (_, at) in self._seen.items() if now - at <= within}


class Heartbeats(Protocol):
    """The Lease calls an announcer makes (lbcommon.kube.leases.Leases)."""

    def heartbeat(
        self, name: str, *, holder: str, duration: float, labels: Mapping[str, str]
    ) -> None: ...

    def delete(self, name: str) -> bool: ...


class Announcer:
    """Runs the membership protocol on a thread; reports the IPs we own."""

    def __init__(
        self,
        leases: Heartbeats,
        settings: MembershipSettings,
        *,
        membership: Membership,
        synced: Callable[[], bool],
        wanted: Callable[[], frozenset[IPv4Address]],
        candidates: Callable[[], Collection[str]],
        on_owned: Callable[[frozenset[IPv4Address]], None],
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self._leases = leases
        self._membership = membership
        self._synced = synced
        self._wanted = wanted
        self._candidates = candidates
        self._on_owned = on_owned
        self._clock = clock or RealClock()
        self._stopping = StopSignal(self._clock)
        self._thread: threading.Thread | None = None
        self._renewed_at = float("-inf")
        self._started_at = 0.0
        self._last_owner: dict[IPv4Address, str] = {}
        self._pending: dict[IPv4Address, float] = {}
        self.owned: frozenset[IPv4Address] = frozenset()

    def start(self) -> Announcer:
        self._started_at = self._clock.now()
        self._thread = threading.Thread(target=self._run, name="nodeproxy-announcer")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop, and delete our Lease so the others take over at once."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        try:
            self._leases.delete(lease_name(self.settings.identity))
        except LbctlError as err:
            log.warning("deleting our lease failed: %s", err)
        self._set_owned(frozenset())

    @property
    def alive(self) -> bool:
        """Whether the announcer's thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def live(self) -> set[str]:
        """Instances we consider alive, ourselves included while our Lease is fresh."""
        s = self.settings
        live = self._membership.live(s.lease_duration) - {s.identity}
        if self._clock.now() - self._renewed_at <= s.lease_duration:
            live.add(s.identity)
        return live

    def _run(self) -> None:
        s = self.settings
        next_renew = self._clock.now()
        while True:
            if self._clock.now() >= next_renew:
                next_renew = self._clock.now() + s.renew_interval
                self._renew()
            self._set_owned(self._decide())
            if self._stopping.wait(s.tick):
                return

    def _decide(self) -> frozenset[IPv4Address]:
        s = self.settings
        now = self._clock.now()
        alive = self.live()
        live = alive & set(self._candidates())
        if not self._synced():
            self._pending.clear()
            return frozenset()
        current = owners(self._wanted(), live)
        if s.identity not in live:
            # Keep track of who holds what meanwhile, so that coming back
            # waits for them (release-before-claim) like any other handover.
            self._pending.clear()
            self._last_owner = current
            return frozenset()
        result: set[IPv4Address] = set()
        for ip, owner in current.items():
            if owner != s.identity:
                self._pending.pop(ip, None)
                continue
            previous = self._last_owner.get(ip)
            handover = ip not in self.owned and (
                # An owner that just stopped being a candidate still holds the
                # IP until its next tick: wait for it as for any live owner.
                (previous not in (None, s.identity) and previous in alive)
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
        try:
            self._leases.heartbeat(
                lease_name(s.identity),
                holder=s.identity,
                duration=s.lease_duration,
                labels={LEASE_LABEL: "true"},
            )
        except LbctlError as err:
            log.warning("renewing our lease failed: %s", err, extra={"identity": s.identity})
            return
        self._renewed_at = self._clock.now()
