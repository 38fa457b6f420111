"""ServiceController.start and stop from two threads: leader election starts the
controller on a thread of its own while the process may already be stopping."""

from __future__ import annotations

import threading
from typing import Any, NoReturn

import pytest

from lbcommon.desired import ClassPolicy
from lbcommon.informer import Obj
from lbcommon.kube.convert import node_from_api, service_from_api
from lbcommon.model import NodeInfo, ServiceSpec
from lbctl.controller.service_controller import ControllerSettings, ServiceController
from tests.unit.controller.fakes import CLASS, FakeCluster, FakeProvider

pytestmark = pytest.mark.unit


class Unreachable(FakeCluster):
    """An apiserver that never answers a list: the informers never sync."""

    def list_services(self, **kwargs: Any) -> NoReturn:
        raise ConnectionRefusedError(111, "connection refused")

    def list_nodes(self, **kwargs: Any) -> NoReturn:
        raise ConnectionRefusedError(111, "connection refused")

    def service_from_api(self, obj: Obj) -> ServiceSpec:
        return service_from_api(obj)

    def node_from_api(self, obj: Obj) -> NodeInfo:
        return node_from_api(obj)


class CountingProvider(FakeProvider):
    restores = 0

    def restore(self, published: Any) -> list[Any]:
        self.restores += 1
        return []


def test_stop_during_the_sync_ends_the_start_and_starts_nothing() -> None:
    provider = CountingProvider()
    controller = ServiceController(
        Unreachable(), provider, ControllerSettings(policy=ClassPolicy(CLASS))
    )
    starting = threading.Thread(target=controller.start, kwargs={"sync_timeout": 60.0})
    starting.start()
    stopped = threading.Timer(0.3, controller.stop)
    stopped.start()
    starting.join(timeout=5)
    stopped.join()
    assert not starting.is_alive(), "start() kept waiting for a sync after stop()"
    assert not controller.healthy
    assert provider.restores == 0
    assert not [t for t in threading.enumerate() if t.name.startswith(("worker-", "node-sync"))]
