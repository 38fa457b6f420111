"""Leader election on a real Lease: one leader, and a fast, clean hand-over."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client

from lbcommon.kube.leader import LeaderElector, LeaseSettings
from tests.kubehelpers import wait_for

pytestmark = pytest.mark.integration


class Candidate:
    def __init__(self, api: client.ApiClient, namespace: str, lease: str, identity: str) -> None:
        self.identity = identity
        self.started = threading.Event()
        self.stopped = threading.Event()
        self.elector = LeaderElector(
            api,
            LeaseSettings(namespace=namespace, name=lease, identity=identity, retry_period=0.5),
            on_started_leading=self.started.set,
            on_stopped_leading=self.stopped.set,
        )


@pytest.fixture
def candidates(kube: client.ApiClient, namespace: str) -> Iterator[list[Candidate]]:
    lease = f"lease-{uuid.uuid4().hex[:6]}"
    made = [Candidate(kube, namespace, lease, f"replica-{i}") for i in range(2)]
    try:
        yield made
    finally:
        for candidate in made:
            candidate.elector.stop()


def _lease_holder(api: client.ApiClient, namespace: str, name: str) -> str | None:
    lease = client.CoordinationV1Api(api).read_namespaced_lease(name, namespace)
    return str(lease.spec.holder_identity) if lease.spec.holder_identity else None


def test_exactly_one_leader(
    candidates: list[Candidate], kube: client.ApiClient, namespace: str
) -> None:
    for candidate in candidates:
        candidate.elector.start()
    wait_for("a leader", lambda: any(c.started.is_set() for c in candidates))
    time.sleep(2)  # several retry periods: the other must still be waiting
    leaders = [c for c in candidates if c.started.is_set()]
    assert len(leaders) == 1
    name = candidates[0].elector.settings.name
    assert _lease_holder(kube, namespace, name) == leaders[0].identity


def test_standby_takes_over_within_15s_when_the_leader_dies(
    candidates: list[Candidate],
) -> None:
    leader, standby = candidates
    leader.elector.start()
    wait_for("first leader", leader.started.is_set)
    standby.elector.start()
    # Death: the leader stops renewing without releasing the Lease.
    leader.elector._release = lambda: None  # type: ignore[method-assign]
    died = time.monotonic()
    leader.elector.stop()
    wait_for("standby leads", standby.started.is_set, timeout=20)
    assert time.monotonic() - died < 15


def test_a_clean_stop_hands_over_at_once(candidates: list[Candidate]) -> None:
    leader, standby = candidates
    leader.elector.start()
    wait_for("first leader", leader.started.is_set)
    standby.elector.start()
    stopped = time.monotonic()
    leader.elector.stop()
    assert leader.stopped.is_set()
    wait_for("standby leads", standby.started.is_set, timeout=10)
    assert time.monotonic() - stopped < 5
