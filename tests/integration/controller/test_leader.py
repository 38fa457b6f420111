"""Leader election and the Lease module on a real apiserver, with time on a fake clock.

The candidates talk to a real kube-apiserver, but every wait and every age
runs on one FakeClock that the test steps: after each step it waits until
every running candidate is blocked on the clock again, so the figures below
are exact clock time with the production settings (10 s lease, 7 s renew
deadline, 2 s retry), whatever the machine's load.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from lbcommon.clock import FakeClock
from lbcommon.errors import (
    ConflictError,
    ForbiddenError,
    PermanentError,
)
from lbcommon.kube.leader import LeaderElector, LeaseSettings
from lbcommon.kube.leases import Leases
from localcluster.controlplane import ControlPlane

pytestmark = pytest.mark.integration

STEP = 0.5  # fake seconds per step: a quarter of the retry period
PATIENCE = 30.0  # real seconds to wait for a candidate's round trip; never reached
EPS = 1e-6


class Candidate:
    def __init__(
        self, api: client.ApiClient, namespace: str, lease: str, identity: str, clock: FakeClock
    ) -> None:
        self.identity = identity
        self.started = threading.Event()
        self.stopped = threading.Event()
        #: set to make on_started_leading block until released (a slow start)
        self.release_start: threading.Event | None = None
        self.settings = LeaseSettings(namespace=namespace, name=lease, identity=identity)
        self.elector = LeaderElector(
            api,
            self.settings,
            on_started_leading=self._started,
            on_stopped_leading=self.stopped.set,
            clock=clock,
        )
        self.running = False

    def _started(self) -> None:
        self.started.set()
        if self.release_start is not None:
            self.release_start.wait()

    def start(self) -> None:
        self.elector.start()
        self.running = True

    def stop(self) -> None:
        self.elector.stop()
        self.running = False

    @property
    def waits_on_the_clock(self) -> bool:
        """Its thread runs (until on_stopped_leading) and blocks on the clock between rounds."""
        return self.running and not self.stopped.is_set()


class Election:
    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.clock = FakeClock()
        lease = f"lease-{uuid.uuid4().hex[:6]}"
        self.candidates = [
            Candidate(api, namespace, lease, f"replica-{i}", self.clock) for i in range(2)
        ]
        self.leases = Leases(api, namespace)
        self.name = lease

    def settle(self) -> None:
        """Wait until every running candidate has finished its round and waits on the clock."""
        for _ in range(int(PATIENCE / 0.05)):
            running = sum(c.waits_on_the_clock for c in self.candidates)
            if self.clock.wait_for_waiters(running, timeout=0.05):
                return
        raise AssertionError("a candidate did not come back to its clock")

    def drive(self, done: Callable[[], bool], *, limit: float) -> float:
        """Step the clock until `done()`; return the clock time that took."""
        started = self.clock.now()
        self.settle()
        while not done():
            assert self.clock.now() - started < limit + EPS, "not done in time"
            self.clock.step(STEP)
            self.settle()
        return self.clock.now() - started

    def run_for(self, seconds: float) -> None:
        end = self.clock.now() + seconds
        self.drive(lambda: self.clock.now() >= end - EPS, limit=seconds)

    def holder(self) -> str:
        record = self.leases.get(self.name)
        assert record is not None
        return record.holder


@pytest.fixture
def election(kube: client.ApiClient, namespace: str) -> Iterator[Election]:
    made = Election(kube, namespace)
    try:
        yield made
    finally:
        for candidate in made.candidates:
            candidate.stop()


def test_exactly_one_leader(election: Election) -> None:
    first, second = election.candidates
    first.start()
    second.start()
    election.drive(lambda: first.started.is_set() or second.started.is_set(), limit=2.0)
    # Three lease durations: the leader renews, so the other must keep waiting.
    election.run_for(3 * first.settings.lease_duration)
    leaders = [c for c in election.candidates if c.started.is_set()]
    assert len(leaders) == 1
    assert election.holder() == leaders[0].identity
    record = election.leases.get(election.name)
    assert record is not None and record.transitions == 0


def test_leader_keeps_renewing_while_it_starts(election: Election) -> None:
    """What leads may take long to start (lbctl's informers sync first): the Lease
    is renewed meanwhile, so no standby takes over a leader that is only starting."""
    first, second = election.candidates
    first.release_start = threading.Event()
    first.start()
    election.drive(first.started.is_set, limit=2.0)
    second.start()
    try:
        election.run_for(3 * first.settings.lease_duration)
        assert not second.started.is_set()
        assert election.holder() == first.identity
    finally:
        first.release_start.set()


def test_standby_takes_over_within_15s_when_the_leader_dies(election: Election) -> None:
    leader, standby = election.candidates
    leader.start()
    election.drive(leader.started.is_set, limit=1.0)
    standby.start()
    election.run_for(5.0)
    assert not standby.started.is_set()
    # Death: the leader stops renewing without releasing the Lease.
    leader.elector._release = lambda: None  # type: ignore[method-assign]
    leader.stop()
    took = election.drive(standby.started.is_set, limit=20.0)
    s = standby.settings
    print(f"standby took over {took:.1f}s (clock) after the leader died")
    # It must wait out the Lease it last saw renewed, and no longer.
    assert s.lease_duration - s.retry_period < took < 15.0
    assert election.holder() == standby.identity
    record = election.leases.get(election.name)
    assert record is not None and record.transitions == 1


def test_a_clean_stop_hands_over_at_once(election: Election) -> None:
    leader, standby = election.candidates
    leader.start()
    election.drive(leader.started.is_set, limit=1.0)
    standby.start()
    election.run_for(5.0)
    leader.stop()
    assert leader.stopped.is_set()
    record = election.leases.get(election.name)
    assert record is not None and record.holder == ""
    took = election.drive(standby.started.is_set, limit=5.0)
    assert took <= standby.settings.retry_period + EPS
    assert election.holder() == standby.identity


def test_a_leader_that_cannot_renew_steps_down(election: Election) -> None:
    leader, _ = election.candidates
    leader.start()
    election.drive(leader.started.is_set, limit=1.0)
    # Someone else takes the Lease by force: every renewal now loses.
    current = election.leases.get(election.name)
    assert current is not None
    election.leases.hold(current, holder="intruder", duration=3600)
    took = election.drive(leader.stopped.is_set, limit=15.0)
    s = leader.settings
    assert s.renew_deadline < took <= s.renew_deadline + s.retry_period + EPS
    assert not leader.elector.leading.is_set()
    assert election.holder() == "intruder"


# -- the Lease module on its own -------------------------------------------------


def test_leases_absent_create_hold_release_delete(kube: client.ApiClient, namespace: str) -> None:
    leases = Leases(kube, namespace)
    assert leases.get("nobody") is None
    assert leases.delete("nobody") is False
    created = leases.create("one", holder="a", duration=10)
    assert (created.holder, created.duration, created.transitions) == ("a", 10, 0)
    with pytest.raises(ConflictError):
        leases.create("one", holder="b", duration=10)
    renewed = leases.hold(created, holder="a", duration=10)
    assert renewed.renew_time != created.renew_time and renewed.transitions == 0
    with pytest.raises(ConflictError):  # written at an old version: the race is lost
        leases.hold(created, holder="b", duration=10)
    taken = leases.hold(renewed, holder="b", duration=10)
    assert (taken.holder, taken.transitions) == ("b", 1)
    leases.release(taken)
    released = leases.get("one")
    assert released is not None and (released.holder, released.duration) == ("", 1)
    assert leases.delete("one") is True
    assert leases.get("one") is None


def test_heartbeat_creates_then_renews_and_the_lister_sees_it(
    kube: client.ApiClient, namespace: str
) -> None:
    leases = Leases(kube, namespace)
    labels = {"lbctl.io/test": "true"}
    leases.heartbeat("beat", holder="a", duration=3, labels=labels)
    first = leases.get("beat")
    leases.heartbeat("beat", holder="a", duration=3, labels=labels)
    second = leases.get("beat")
    assert first is not None and second is not None
    assert (second.holder, second.duration) == ("a", 3)
    assert second.renew_time != first.renew_time
    listed = leases.lister(label_selector="lbctl.io/test")()
    assert [item.metadata.name for item in listed.items] == ["beat"]


def test_invalid_lease_is_permanent(kube: client.ApiClient, namespace: str) -> None:
    with pytest.raises(PermanentError) as caught:
        Leases(kube, namespace).create("Not_A_Valid_Name", holder="a", duration=10)
    assert not isinstance(caught.value, ForbiddenError)
    assert isinstance(caught.value.__cause__, ApiException)
    assert caught.value.__cause__.status == 422


@pytest.fixture
def nobody(control_plane: ControlPlane) -> Iterator[client.ApiClient]:
    """A client impersonating a user no RBAC rule mentions."""
    api = config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    api.set_default_header("Impersonate-User", "lbctl-test-nobody")
    try:
        yield api
    finally:
        api.close()


@pytest.mark.parametrize(
    ("verb", "call"),
    [
        pytest.param("get", lambda leases: leases.get("x"), id="get"),
        pytest.param(
            "create", lambda leases: leases.create("x", holder="a", duration=1), id="create"
        ),
        pytest.param("delete", lambda leases: leases.delete("x"), id="delete"),
    ],
)
def test_forbidden_names_the_verb_and_resource(
    nobody: client.ApiClient, namespace: str, verb: str, call: Callable[[Leases], object]
) -> None:
    with pytest.raises(ForbiddenError) as caught:
        call(Leases(nobody, namespace))
    message = str(caught.value)
    assert message.startswith(f"{verb} leases.coordination.k8s.io {namespace}/x: forbidden")
    assert "lbctl-test-nobody" in message  # the apiserver's own words: who was refused


def test_a_candidate_refused_the_lease_says_so(
    nobody: client.ApiClient, kube: client.ApiClient, namespace: str
) -> None:
    """A 403 cannot be fixed by retrying: the elector reports it (lbctl turns not ready),
    and forgets it once the Lease can be worked again."""
    clock = FakeClock()
    refused = Candidate(nobody, namespace, "refused", "replica-0", clock)
    refused.start()
    try:
        assert clock.wait_for_waiters(1, timeout=PATIENCE)  # its first round is done
        assert refused.elector.blocked is not None
        assert "forbidden" in refused.elector.blocked
    finally:
        refused.stop()
    allowed = Candidate(kube, namespace, "allowed", "replica-1", clock)
    allowed.start()
    try:
        assert allowed.started.wait(PATIENCE)
        assert allowed.elector.blocked is None
    finally:
        allowed.stop()
