"""The report header's facts: parsing kube-proxy's mode, naming the provider,
the JSON that travels between pytest processes, the header's lines."""

from __future__ import annotations

import pytest

from conformance.facts import (
    ClusterFacts,
    LbctlInstall,
    describe_mode,
    describe_provider,
    header_lines,
    lbctl_install,
    mode_from_args,
    mode_from_config,
)

pytestmark = pytest.mark.unit

KUBEADM_CONFIG = """\
apiVersion: kubeproxy.config.k8s.io/v1alpha1
bindAddress: 0.0.0.0
clientConnection:
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
ipvs:
  scheduler: ""
kind: KubeProxyConfiguration
metricsBindAddress: ""
mode: ipvs
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(KUBEADM_CONFIG, "ipvs", id="kubeadm-yaml"),
        pytest.param('mode: "nftables"\n', "nftables", id="quoted"),
        pytest.param('mode: ""\n', "", id="empty-is-the-default"),
        pytest.param(
            '{\n  "kind": "KubeProxyConfiguration",\n  "mode": "iptables",\n}',
            "iptables",
            id="json",
        ),
        pytest.param("kind: KubeProxyConfiguration\n", None, id="absent"),
        pytest.param("ipvs:\n  mode: nested\n", None, id="nested-yaml-key-is-not-it"),
    ],
)
def test_mode_from_config(text: str, expected: str | None) -> None:
    assert mode_from_config(text) == expected


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["kube-proxy", "--proxy-mode=ipvs"], "ipvs", id="equals"),
        pytest.param(["kube-proxy", "--v=2", "--proxy-mode", "iptables"], "iptables", id="split"),
        pytest.param(["kube-proxy", "--config=/c"], None, id="none"),
        pytest.param(["kube-proxy", "--proxy-mode"], None, id="dangling"),
        pytest.param(
            ["/bin/sh", "-c", "exec kube-proxy --v=2 --proxy-mode=iptables 1>>/var/log/kp.log"],
            "iptables",
            id="inside-sh-c",
        ),
    ],
)
def test_mode_from_args(argv: list[str], expected: str | None) -> None:
    assert mode_from_args(argv) == expected


def test_an_empty_mode_is_described_as_the_default() -> None:
    assert describe_mode("", "ConfigMap x").startswith("iptables (mode empty: the default)")
    assert describe_mode("nftables", "ConfigMap x") == "nftables (ConfigMap x)"


def test_lbctl_install_from_its_config_map() -> None:
    data = {"LBCTL_PROVIDER": "gce", "LBCTL_LOAD_BALANCER_CLASS": "example.com/lb"}
    assert lbctl_install("lbctl-system", data, [(1, 2), (0, 0)]) == LbctlInstall(
        "lbctl-system", "gce", "example.com/lb", 1, 2
    )
    assert lbctl_install("x", {"LBCTL_PROVIDER": "local"}, []) == LbctlInstall(
        "x", "local", "lbctl.io/lbctl", 0, 0
    )
    assert lbctl_install("x", {"POOL": "198.18.0.200-198.18.0.250"}, []) is None


GCE = LbctlInstall("lbctl-system", "gce", "lbctl.io/lbctl", 2, 2)
STOPPED = LbctlInstall("lbctl-system", "local", "lbctl.io/lbctl", 0, 0)


@pytest.mark.parametrize(
    ("lb_class", "installs", "by_suite", "provider", "missing"),
    [
        pytest.param(
            "lbctl.io/lbctl",
            [GCE, GCE],
            False,
            "lbctl, provider gce (loadBalancerClass lbctl.io/lbctl; lbctl-system/lbctl 2/2 ready)",
            "fails",
            id="named-lbctl-class",
        ),
        pytest.param(
            "lbctl.io/lbctl",
            [STOPPED],
            False,
            "lbctl, provider local (loadBalancerClass lbctl.io/lbctl; "
            "lbctl-system/lbctl 0/0 ready)",
            "fails",
            id="lbctl-stopped",
        ),
        pytest.param(
            "example.com/other",
            [GCE],
            False,
            "the controller of loadBalancerClass example.com/other (no lbctl install",
            "fails",
            id="another-controller",
        ),
        pytest.param(None, [STOPPED], True, "lbctl, provider local", "fails", id="local-cluster"),
        pytest.param(None, [], True, "lbctl, which the suite runs", "fails", id="local-unseen"),
        pytest.param(None, [GCE], False, "the cluster's default", "skips", id="foreign-no-class"),
    ],
)
def test_describe_provider(
    lb_class: str | None,
    installs: list[LbctlInstall],
    by_suite: bool,
    provider: str,
    missing: str,
) -> None:
    got_provider, got_missing = describe_provider(lb_class, installs, lbctl_by_suite=by_suite)
    assert got_provider.startswith(provider)
    assert got_missing.startswith(missing)


FACTS = ClusterFacts(
    cluster="kubeconfig /k",
    nodes=3,
    schedulable=2,
    kube_proxy="nftables (/proxyMode on cp's loopback, from a host-network pod)",
    provider="lbctl, provider local",
    missing_ingress="fails (--conformance-lb-class names the provider)",
    runner_reaches_nodes="no (--conformance-runner-reaches-nodes=no): ...",
)


def test_facts_survive_json() -> None:
    assert ClusterFacts.from_json(FACTS.to_json()) == FACTS
    assert ClusterFacts.from_json("not json") is None
    assert ClusterFacts.from_json('{"cluster": "x"}') is None


def test_header_lines() -> None:
    lines = header_lines(FACTS, ip_modes=("VIP",), routes=("runner", "pod:a"))
    assert lines == [
        "cluster: kubeconfig /k",
        "nodes: 3 ready (2 schedulable)",
        "kube-proxy mode: nftables (/proxyMode on cp's loopback, from a host-network pod)",
        "load-balancer provider: lbctl, provider local",
        "missing ingress: fails (--conformance-lb-class names the provider)",
        "ingress ipMode: VIP",
        "runner reaches node IPs: no (--conformance-runner-reaches-nodes=no): ...",
        "probes from outside went: runner, pod:a",
    ]


def test_header_without_facts_or_probes() -> None:
    assert header_lines(None, ip_modes=(), routes=()) == [
        "cluster: not reached (no test got as far as the cluster)"
    ]
    lines = header_lines(FACTS, ip_modes=(), routes=())
    assert "ingress ipMode: no ingress seen" in lines
    assert "probes from outside went: none sent" in lines
