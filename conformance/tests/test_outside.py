"""`Outside` sends a probe from the runner or through a host-network pod, as its
router says, and only ever to an address the guard passed.

The router and the pod are fakes that record what they were asked; the
runner's own probes go to a server on loopback.
"""

from __future__ import annotations

import http.server
import ipaddress
import threading
from collections.abc import Iterator

import pytest

from conformance.guard import DestinationGuard, DestinationRefusedError
from conformance.outside import Outside
from conformance.probes import Connect
from conformance.routes import RUNNER, ProbeLog, Route, choose_route

pytestmark = pytest.mark.unit

NODE_A, NODE_B = "198.18.0.11", "198.18.0.12"
NODES = {NODE_A: "a", NODE_B: "b"}
INGRESS = "198.18.0.200"


class FakePod:
    """A host-network pod on `node` that records each probe and answers them all."""

    def __init__(self, node: str, calls: list[tuple[str, ...]]) -> None:
        self.node = node
        self.ip = NODES_BY_NAME[node]
        self._calls = calls

    def http_status_many(
        self, address: str, port: int, path: str, *, count: int, timeout: float
    ) -> list[tuple[int, str] | None]:
        self._calls.append(("http", self.node, address, str(port), path, str(count)))
        status = 503 if path == "/healthz" else 200
        return [(status, f"from-{self.node}")] * count

    def tcp(self, address: str, port: int, *, timeout: float) -> Connect:
        self._calls.append(("tcp", self.node, address, str(port)))
        return Connect("REFUSED", 0.01)

    def udp(self, address: str, port: int, payload: str, *, timeout: float) -> str | None:
        self._calls.append(("udp", self.node, address, str(port), payload))
        return f"udp-from-{self.node}"


NODES_BY_NAME = {name: ip for ip, name in NODES.items()}


class FakeRouter:
    def __init__(self, *, reaches: bool) -> None:
        self.reaches = reaches
        self.calls: list[tuple[str, ...]] = []

    def route(self, address: str) -> Route:
        return choose_route(
            address, node_by_ip=NODES, hosts=("a", "b"), runner_reaches_nodes=self.reaches
        )

    def prober(self, route: Route) -> FakePod:
        assert route.node is not None
        return FakePod(route.node, self.calls)


def guard() -> DestinationGuard:
    return DestinationGuard(
        [ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("127.0.0.0/8")],
        frozen=True,
    )


def test_node_addresses_go_through_a_pod_on_another_node() -> None:
    router, log = FakeRouter(reaches=False), ProbeLog()
    outside = Outside(guard(), router=router, log=log)
    assert outside.http(NODE_A, 30080) == "from-b"
    assert outside.http_status(NODE_B, 31000, "/healthz") == (503, "from-a")
    assert outside.http_many(NODE_A, 30080, count=3) == ["from-b"] * 3
    assert outside.tcp(NODE_B, 18080).result == "REFUSED"
    assert outside.udp(NODE_A, 30053) == "udp-from-b"
    assert router.calls == [
        ("http", "b", NODE_A, "30080", "/hostname", "1"),
        ("http", "a", NODE_B, "31000", "/healthz", "1"),
        ("http", "b", NODE_A, "30080", "/hostname", "3"),
        ("tcp", "a", NODE_B, "18080"),
        ("udp", "b", NODE_A, "30053", "hostname"),
    ]
    assert log.take() == (("pod:b", "pod:a"), ())


def test_a_probe_the_guard_refuses_reaches_no_pod() -> None:
    router = FakeRouter(reaches=False)
    outside = Outside(guard(), router=router, log=ProbeLog())
    with pytest.raises(DestinationRefusedError):
        outside.http("192.0.2.1", 80)
    with pytest.raises(DestinationRefusedError):
        outside.tcp("192.0.2.1", 80)
    assert router.calls == []


def test_the_source_address_is_the_probe_pods_or_the_runners() -> None:
    outside = Outside(guard(), router=FakeRouter(reaches=False))
    assert outside.source_address(NODE_A) == NODE_B
    assert outside.route_to(NODE_A) == Route("b")
    assert outside.route_to(INGRESS) == RUNNER
    assert outside.source_address("127.0.0.1") == "127.0.0.1"


class _Hostname(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"runner-backend"
        self.send_response(200 if self.path == "/hostname" else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostname)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_the_runner_sends_what_the_router_keeps(loopback_server: int) -> None:
    """An address that is no node's (an ingress) goes from the runner, even when the
    runner cannot reach the nodes."""
    router, log = FakeRouter(reaches=False), ProbeLog()
    outside = Outside(guard(), router=router, log=log)
    assert outside.http("127.0.0.1", loopback_server) == "runner-backend"
    assert outside.http_status("127.0.0.1", loopback_server, "/healthz") == (
        503,
        "runner-backend",
    )
    assert outside.http_many("127.0.0.1", loopback_server, count=2) == ["runner-backend"] * 2
    assert outside.tcp("127.0.0.1", loopback_server).ok
    assert router.calls == []
    assert log.take() == (("runner",), ())


def test_without_a_router_everything_goes_from_the_runner(loopback_server: int) -> None:
    outside = Outside(guard())
    assert outside.route_to(NODE_A) == RUNNER
    assert outside.http("127.0.0.1", loopback_server) == "runner-backend"
