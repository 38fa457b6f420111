"""A missing ingress fails where a provider is known to be present, and skips
only where nothing is known (a foreign kubeconfig with no class named).

The Namespace is a fake that reads Services from a dict: no cluster, no API.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import cast

import pytest

from conformance.cluster import ClusterHandle
from conformance.guard import DestinationGuard
from conformance.kube import Namespace, ServiceInfo
from conformance.loadbalancers import LoadBalancers, MissingIngressError, expected_provider
from conformance.routes import ProbeLog
from conformance.settings import settings_from

pytestmark = pytest.mark.unit

CLASS = "example.com/lb"
LOCAL, FOREIGN = "local", "foreign"


def cluster(kind: str) -> ClusterHandle:
    """A fresh handle (its guard is mutable): the local cluster, or a foreign one."""
    if kind == LOCAL:
        return ClusterHandle(
            name="local",
            kubeconfig=Path("/k"),
            guard=DestinationGuard.local(),
            runner_on_node_network=True,
            lb_provider_is_lbctl=True,
        )
    return ClusterHandle(
        name="kubeconfig /k",
        kubeconfig=Path("/k"),
        guard=DestinationGuard([], frozen=False),
        runner_on_node_network=None,
    )


class FakeNamespace:
    """The two members `LoadBalancers.ingress` reads."""

    def __init__(self, ingress: tuple[str, ...] = (), ip_modes: tuple[str, ...] = ()) -> None:
        self.name = "cf-lb-1-abc123"
        self._ingress = ingress
        self._ip_modes = ip_modes

    def service(self, name: str) -> ServiceInfo:
        return ServiceInfo(
            name=name,
            type="LoadBalancer",
            cluster_ip="10.0.0.1",
            ports=(),
            ingress=self._ingress,
            ip_modes=self._ip_modes,
            finalizers=(),
            health_check_node_port=None,
        )


def lbs(kind: str, lb_class: str | None, ingress: tuple[str, ...] = ()) -> LoadBalancers:
    options = {"conformance_lb_timeout": "0.05", "conformance_lb_class": lb_class}
    settings = settings_from(options, {})
    return LoadBalancers(cast(Namespace, FakeNamespace(ingress)), settings, cluster(kind))


def outcome(loadbalancers: LoadBalancers) -> BaseException:
    """What `ingress` raised: a failure or a skip (a skip must not pass as anything)."""
    try:
        loadbalancers.ingress("web")
    except (AssertionError, pytest.skip.Exception) as err:
        return err
    raise AssertionError("ingress returned without an address")


@pytest.mark.parametrize(
    ("kind", "lb_class", "expected"),
    [
        pytest.param(LOCAL, None, "lbctl, which the suite runs on the local cluster", id="local"),
        pytest.param(FOREIGN, CLASS, f"loadBalancerClass {CLASS}", id="foreign-with-class"),
        pytest.param(LOCAL, CLASS, f"loadBalancerClass {CLASS}", id="local-with-class"),
        pytest.param(FOREIGN, None, None, id="foreign-without-class"),
    ],
)
def test_expected_provider(kind: str, lb_class: str | None, expected: str | None) -> None:
    found = expected_provider(cluster(kind), lb_class)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert expected in found


@pytest.mark.parametrize(
    ("kind", "lb_class", "named_class"),
    [
        pytest.param(LOCAL, None, "none (the cluster's default provider)", id="local"),
        pytest.param(FOREIGN, CLASS, CLASS, id="foreign-with-class"),
    ],
)
def test_missing_ingress_fails_where_a_provider_is_known(
    kind: str, lb_class: str | None, named_class: str
) -> None:
    raised = outcome(lbs(kind, lb_class))
    assert isinstance(raised, MissingIngressError), f"not a failure: {raised!r}"
    message = str(raised)
    assert "missing ingress: Service cf-lb-1-abc123/web" in message
    assert f"(loadBalancerClass {named_class})" in message
    assert "within 0.05s" in message


def test_missing_ingress_skips_where_nothing_is_known() -> None:
    raised = outcome(lbs(FOREIGN, None))
    assert isinstance(raised, pytest.skip.Exception), f"not a skip: {raised!r}"
    assert "no LoadBalancer ingress within 0.05s" in str(raised)


def test_an_ingress_is_returned_and_admitted_to_the_guard() -> None:
    loadbalancers = lbs(FOREIGN, None, ingress=("203.0.113.7",))
    assert loadbalancers.ingress("web") == "203.0.113.7"
    assert loadbalancers.handle.guard.check("203.0.113.7") == "203.0.113.7"


def test_a_missing_ingress_is_a_failure_in_the_matrix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """End to end through the plugin: the LB row says fail, with the message."""
    module = tmp_path / "test_lb.py"
    module.write_text(
        textwrap.dedent(
            """
            import pytest
            from conformance.tests.test_loadbalancers import FOREIGN, lbs

            @pytest.mark.conformance("LB-1")
            def test_ingress():
                lbs(FOREIGN, "example.com/lb").ingress("web")
            """
        )
    )
    code = pytest.main(
        [
            str(module),
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            f"--rootdir={tmp_path}",
            f"--conformance-report-dir={tmp_path / 'out'}",
        ]
    )
    out = capsys.readouterr().out
    assert code == pytest.ExitCode.TESTS_FAILED
    [row] = [line for line in out.splitlines() if line.startswith("LB-1 ")]
    assert " fail " in row
    assert "missing ingress: Service cf-lb-1-abc123/web (loadBalancerClass example.com/lb)" in row


def test_the_ip_modes_of_an_ingress_go_to_the_probe_log() -> None:
    log = ProbeLog()
    settings = settings_from({"conformance_lb_timeout": "0.05"}, {})
    namespace = FakeNamespace(ingress=("203.0.113.7", "203.0.113.8"), ip_modes=("", "Proxy"))
    loadbalancers = LoadBalancers(cast(Namespace, namespace), settings, cluster(FOREIGN), log=log)
    loadbalancers.ingress("web")
    assert log.take() == ((), ("VIP", "Proxy"))


def test_no_ingress_names_the_service_for_checks_that_wait_on_more() -> None:
    error = lbs(FOREIGN, CLASS).no_ingress("web", 120)
    assert str(error).startswith(
        f"missing ingress: Service cf-lb-1-abc123/web (loadBalancerClass {CLASS}) "
        "got no status.loadBalancer.ingress within 120s"
    )
    with pytest.raises(pytest.skip.Exception, match="no LoadBalancer ingress within 120s"):
        lbs(FOREIGN, None).no_ingress("web", 120)
