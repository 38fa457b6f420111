"""Node sync on a FakeClock: bursts settle into one batched update; stop is prompt."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from lbcommon.model import NodeInfo
from lbctl.controller.events import EventRecorder
from lbctl.controller.nodesync import NodeSyncer
from tests.unit.controller.fakes import World, spec

pytestmark = pytest.mark.unit

PATIENCE = 5.0
BRIEFLY = 0.1
SETTLE = 1.0


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def syncer(world: World) -> Iterator[NodeSyncer]:
    reconciler = world.reconciler()
    for name in ("web", "api"):
        reconciler.reconcile(world.add(spec(name)))
    made = NodeSyncer(
        list_nodes=world.list_nodes,
        reconciler=reconciler,
        provider=world.provider,
        recorder=EventRecorder(world.cluster),
        requeue=world.requeued.append,
        metrics=world.metrics,
        clock=world.clock,
        settle=SETTLE,
    ).start()
    yield made
    made.stop()


def _updates(world: World) -> list[list[str]]:
    with world.provider.lock:
        return [sorted(lb.key for lb in batch) for batch in world.provider.backend_updates]


def _wait(condition: Callable[[], object]) -> None:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError("timed out")


def test_a_burst_settles_into_one_batch_on_the_clock(world: World, syncer: NodeSyncer) -> None:
    for index in range(2, 6):
        world.nodes.append(NodeInfo(name=f"n{index}", internal_ip=f"198.18.0.{10 + index}"))
        syncer.trigger()
    time.sleep(BRIEFLY)
    assert _updates(world) == []  # the settle delay has not passed on the clock
    world.clock.step(SETTLE)
    _wait(lambda: _updates(world))
    assert _updates(world) == [["ns/api", "ns/web"]]
    batch = world.provider.backend_updates[0]
    assert all(len(lb.backends) == 5 for lb in batch)
    assert ("Normal", "UpdatedLoadBalancer", "Updated load balancer with new hosts") in (
        world.cluster.events
    )


def test_a_change_that_keeps_the_backends_updates_nothing(world: World, syncer: NodeSyncer) -> None:
    assert syncer.sync_once() == 0
    assert _updates(world) == []


def test_stop_interrupts_the_settle_delay(world: World, syncer: NodeSyncer) -> None:
    syncer.trigger()
    time.sleep(BRIEFLY)
    stopped = threading.Thread(target=syncer.stop)
    stopped.start()
    stopped.join(PATIENCE)
    assert not stopped.is_alive()
    assert _updates(world) == []
