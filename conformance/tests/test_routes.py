"""Which way a probe from outside goes, and the per-test record of the ways taken."""

from __future__ import annotations

import pytest

from conformance.routes import RUNNER, NoProbeHostError, ProbeLog, Route, choose_route

pytestmark = pytest.mark.unit

NODES = {"10.0.0.1": "cp", "10.0.0.2": "a", "10.0.0.3": "b"}
HOSTS = ("a", "b", "cp")


@pytest.mark.parametrize(
    ("address", "reaches", "hosts", "expected"),
    [
        pytest.param("10.0.0.2", True, HOSTS, RUNNER, id="runner-reaches-nodes"),
        pytest.param("203.0.113.9", False, HOSTS, RUNNER, id="ingress-always-from-runner"),
        pytest.param("10.0.0.2", False, HOSTS, Route("b"), id="node-a-from-next-host"),
        pytest.param("10.0.0.3", False, HOSTS, Route("a"), id="node-b-from-first-host"),
        pytest.param("10.0.0.1", False, HOSTS, Route("a"), id="control-plane-from-a-worker"),
        pytest.param("10.0.0.2", False, ("a", "cp"), Route("cp"), id="only-other-is-control-plane"),
        pytest.param("10.0.0.2", False, ("a",), Route("a"), id="one-node-probes-itself"),
    ],
)
def test_choose_route(address: str, reaches: bool, hosts: tuple[str, ...], expected: Route) -> None:
    got = choose_route(address, node_by_ip=NODES, hosts=hosts, runner_reaches_nodes=reaches)
    assert got == expected


def test_the_same_question_gets_the_same_answer() -> None:
    """A test's source address and its probes must agree on the pod."""
    answers = {
        choose_route("10.0.0.2", node_by_ip=NODES, hosts=HOSTS, runner_reaches_nodes=False)
        for _ in range(5)
    }
    assert answers == {Route("b")}


def test_no_host_for_a_pod_route_is_an_error_naming_the_node() -> None:
    with pytest.raises(NoProbeHostError, match=r"node a \(10\.0\.0\.2\)"):
        choose_route("10.0.0.2", node_by_ip=NODES, hosts=(), runner_reaches_nodes=False)


def test_labels() -> None:
    assert RUNNER.label == "runner"
    assert not RUNNER.via_pod
    assert Route("node-1").label == "pod:node-1"
    assert Route("node-1").via_pod


def test_probe_log_takes_what_one_test_did_in_first_seen_order() -> None:
    log = ProbeLog()
    log.route(Route("b"))
    log.route(RUNNER)
    log.route(Route("b"))
    log.ip_modes(("", "Proxy"))
    log.ip_modes(("VIP",))
    assert log.take() == (("pod:b", "runner"), ("VIP", "Proxy"))
    assert log.take() == ((), ())
