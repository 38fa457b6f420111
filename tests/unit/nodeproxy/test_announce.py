"""The announcer's membership protocol on a fake clock: claims, failover, handover, stop.

One real Announcer ("a") runs its thread on a FakeClock; its peers exist only
as heartbeat Leases fed to its Membership, as the Lease informer would. Each
test steps the clock a half tick at a time and waits for the announcer's loop
to block again, so every figure below is fake time, measured exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from ipaddress import IPv4Address

import pytest

from lbcommon.clock import FakeClock
from lbcommon.errors import TemporaryError
from lbcommon.model import LeaseRecord
from nodeproxy.announce import (
    LEASE_LABEL,
    Announcer,
    Membership,
    MembershipSettings,
    lease_name,
    owners,
)

pytestmark = pytest.mark.unit

IPS = frozenset(IPv4Address("198.18.0.200") + i for i in range(8))
SETTINGS = MembershipSettings(namespace="kube-system", identity="a")
STEP = SETTINGS.tick / 2
EPS = 1e-6  # fake time is a sum of float steps
PATIENCE = 10.0  # real seconds a test waits for the announcer's thread; never reached


class FakeLeases:
    """Our own Lease, as the announcer writes it."""

    def __init__(self) -> None:
        self.renewals = 0
        self.failing = False
        self.deleted: list[str] = []
        self.labels: Mapping[str, str] = {}

    def heartbeat(
        self, name: str, *, holder: str, duration: float, labels: Mapping[str, str]
    ) -> None:
        if self.failing:
            raise TemporaryError("apiserver unavailable")
        assert (name, holder, duration) == (lease_name("a"), "a", SETTINGS.lease_duration)
        self.labels = labels
        self.renewals += 1

    def delete(self, name: str) -> bool:
        self.deleted.append(name)
        return True


class Lab:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.leases = FakeLeases()
        self.membership = Membership(self.clock)
        self.changes: list[frozenset[IPv4Address]] = []
        self.peers: dict[str, float] = {}  # peer -> when it last renewed (fake time)
        #: instances whose node the load balancer may not use (e.g. the exclusion label)
        self.excluded: set[str] = set()
        self._beats = 0
        self.announcer = Announcer(
            self.leases,
            SETTINGS,
            membership=self.membership,
            synced=lambda: True,
            wanted=lambda: IPS,
            candidates=self.candidates,
            on_owned=self.changes.append,
            clock=self.clock,
        )

    def candidates(self) -> set[str]:
        return {"a", "b", "c"} - self.excluded

    @property
    def owned(self) -> frozenset[IPv4Address]:
        return self.announcer.owned

    def join(self, peer: str) -> None:
        """`peer` starts renewing its Lease every renew_interval."""
        self._beat(peer)

    def leave(self, peer: str) -> float:
        """`peer` stops renewing (it died); returns when it last renewed."""
        return self.peers.pop(peer)

    def _beat(self, peer: str) -> None:
        self._beats += 1
        self.membership.on_update(
            LeaseRecord(name=lease_name(peer)),
            LeaseRecord(name=lease_name(peer), holder=peer, renew_time=str(self._beats)),
        )
        self.peers[peer] = self.clock.now()

    def advance(self, seconds: float) -> None:
        for _ in range(round(seconds / STEP)):
            self.step()

    def step(self) -> None:
        for peer, last in list(self.peers.items()):
            if self.clock.now() - last >= SETTINGS.renew_interval - 1e-9:
                self._beat(peer)
        self.clock.step(STEP)
        assert self.clock.wait_for_waiters(1, timeout=PATIENCE), "the announcer did not loop"

    def until(self, wanted: frozenset[IPv4Address], *, limit: float) -> float:
        """Step until we own exactly `wanted`; return how long that took."""
        started = self.clock.now()
        while self.owned != wanted:
            assert self.clock.now() - started <= limit, f"owned {sorted(self.owned)}"
            self.step()
        return self.clock.now() - started


@pytest.fixture
def lab() -> Iterator[Lab]:
    made = Lab()
    yield made
    made.announcer.stop()


def start(lab: Lab) -> None:
    lab.announcer.start()
    assert lab.clock.wait_for_waiters(1, timeout=PATIENCE)


def mine(live: set[str]) -> frozenset[IPv4Address]:
    return frozenset(ip for ip, who in owners(IPS, live).items() if who == "a")


def test_the_ips_are_shared_between_a_and_b() -> None:
    """A precondition of the tests below: each of a and b owns some of IPS."""
    assert mine({"a", "b"}) and mine({"a", "b"}) != IPS


def test_alone_it_claims_every_ip_once_settled(lab: Lab) -> None:
    start(lab)
    assert lab.leases.renewals == 1 and lab.leases.labels == {LEASE_LABEL: "true"}
    lab.advance(SETTINGS.settle - SETTINGS.tick)
    assert lab.owned == frozenset(), "claimed before settle"
    took = lab.until(IPS, limit=2 * SETTINGS.tick)
    assert lab.clock.now() >= SETTINGS.settle - EPS
    assert took <= 2 * SETTINGS.tick + EPS
    assert lab.changes == [IPS]
    assert lab.announcer.live() == {"a"}


def test_a_dead_peer_s_ips_move_after_lease_duration_plus_a_tick(lab: Lab) -> None:
    lab.join("b")
    start(lab)
    lab.until(mine({"a", "b"}), limit=SETTINGS.settle + SETTINGS.tick)
    lab.advance(2.0)
    assert lab.owned == mine({"a", "b"}), "a steady pair must not move addresses"
    last_renewal = lab.leave("b")
    lab.until(IPS, limit=5.0)
    took = lab.clock.now() - last_renewal
    assert SETTINGS.lease_duration < took <= SETTINGS.lease_duration + SETTINGS.tick + STEP + EPS
    assert lab.announcer.live() == {"a"}


def test_a_joining_peer_gets_its_share_at_once(lab: Lab) -> None:
    start(lab)
    lab.until(IPS, limit=SETTINGS.settle + SETTINGS.tick)
    lab.join("b")
    # Release before claim: we let go at our next tick; b claims after its settle.
    took = lab.until(mine({"a", "b"}), limit=SETTINGS.tick)
    assert took <= SETTINGS.tick + EPS
    assert lab.changes == [IPS, mine({"a", "b"})]


def test_without_its_own_lease_it_owns_nothing_and_reclaims_only_after_settle(
    lab: Lab,
) -> None:
    lab.join("b")
    start(lab)
    lab.until(mine({"a", "b"}), limit=SETTINGS.settle + SETTINGS.tick)
    lab.leases.failing = True
    took = lab.until(frozenset(), limit=SETTINGS.lease_duration + SETTINGS.renew_interval + 1)
    assert took <= SETTINGS.lease_duration + SETTINGS.renew_interval + SETTINGS.tick + EPS
    assert lab.announcer.live() == {"b"}
    # Renewals work again: b held our share meanwhile and is live, so we wait `settle`.
    lab.leases.failing = False
    took = lab.until(mine({"a", "b"}), limit=SETTINGS.renew_interval + SETTINGS.settle + 1)
    assert took >= SETTINGS.settle - EPS


def test_an_unsynced_cache_claims_nothing(lab: Lab) -> None:
    synced = False
    lab.announcer = Announcer(
        lab.leases,
        SETTINGS,
        membership=lab.membership,
        synced=lambda: synced,
        wanted=lambda: IPS,
        candidates=lab.candidates,
        on_owned=lab.changes.append,
        clock=lab.clock,
    )
    start(lab)
    lab.advance(3 * SETTINGS.settle)
    assert lab.owned == frozenset()
    synced = True
    lab.until(IPS, limit=SETTINGS.settle + SETTINGS.tick)


def test_stop_deletes_our_lease_and_gives_everything_up(lab: Lab) -> None:
    start(lab)
    lab.until(IPS, limit=SETTINGS.settle + SETTINGS.tick)
    assert lab.announcer.alive
    lab.announcer.stop()
    assert not lab.announcer.alive
    assert lab.leases.deleted == [lease_name("a")]
    assert lab.owned == frozenset() and lab.changes[-1] == frozenset()


@pytest.mark.parametrize(
    ("age", "live"),
    [
        pytest.param(0.0, {"b"}, id="just-renewed"),
        pytest.param(SETTINGS.lease_duration, {"b"}, id="at-the-limit"),
        pytest.param(SETTINGS.lease_duration + 0.01, set(), id="stale"),
    ],
)
def test_membership_ages_on_its_own_clock(age: float, live: set[str]) -> None:
    clock = FakeClock()
    membership = Membership(clock)
    membership.on_add(LeaseRecord(name=lease_name("b"), holder="b", renew_time="t1"))
    clock.step(age)
    assert membership.live(SETTINGS.lease_duration) == live


def test_membership_needs_a_new_renew_time_and_forgets_deleted_leases() -> None:
    clock = FakeClock()
    membership = Membership(clock)
    first = LeaseRecord(name=lease_name("b"), holder="b", renew_time="t1")
    membership.on_add(first)
    clock.step(2.0)
    membership.on_update(first, first)  # a resync: nothing renewed
    clock.step(2.0)
    assert membership.live(3.0) == set()
    renewed = LeaseRecord(name=lease_name("b"), holder="b", renew_time="t2")
    membership.on_update(first, renewed)
    assert membership.live(3.0) == {"b"}
    membership.on_delete(renewed)
    assert membership.live(3.0) == set()
    membership.on_add(LeaseRecord(name=lease_name("c")))  # no holder: not an instance
    assert membership.live(3.0) == set()


def test_an_instance_on_a_node_the_load_balancer_may_not_use_announces_nothing(lab: Lab) -> None:
    """Its IPs would reach kube-proxy on a node that is no backend (issue 11)."""
    lab.excluded = {"a"}
    lab.join("b")
    start(lab)
    lab.advance(3 * SETTINGS.settle)
    assert lab.owned == frozenset()
    assert lab.changes == []


def test_excluding_our_node_releases_at_once_and_readmitting_waits_for_the_holder(
    lab: Lab,
) -> None:
    lab.join("b")
    start(lab)
    lab.until(mine({"a", "b"}), limit=SETTINGS.settle + SETTINGS.tick)
    lab.excluded = {"a"}
    assert lab.until(frozenset(), limit=SETTINGS.tick) <= SETTINGS.tick + EPS
    lab.advance(1.0)  # b holds every IP now
    lab.excluded = set()
    took = lab.until(mine({"a", "b"}), limit=SETTINGS.settle + SETTINGS.tick)
    assert took >= SETTINGS.settle - EPS, "claimed before the live holder could let go"


def test_a_peer_s_ips_come_to_us_only_after_settle_when_its_node_is_excluded(lab: Lab) -> None:
    lab.join("b")
    start(lab)
    lab.until(mine({"a", "b"}), limit=SETTINGS.settle + SETTINGS.tick)
    lab.excluded = {"b"}
    took = lab.until(IPS, limit=SETTINGS.settle + SETTINGS.tick)
    assert took >= SETTINGS.settle - EPS, "b may still hold its IPs until its next tick"
