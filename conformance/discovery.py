"""Reading the report header's facts from the cluster (`facts` renders them).

Guarantees:
- `discover` reads once per pytest process (the session fixture calls it)
  and never fails a test: a fact it cannot read is "unknown" with the reason;
- kube-proxy's mode comes from the first of: the `kube-system/kube-proxy`
  ConfigMap, a kube-proxy pod's `--proxy-mode`, `/proxyMode` on a node's
  metrics port (its guarded InternalIP, from the runner or a host-network pod
  as `Outside` routes it), `/proxyMode` on the node's loopback from a
  host-network pod on it (kube-proxy's metrics listen on 127.0.0.1 by default);
- lbctl is found by its flags ConfigMap (deploy/base/lbctl: part-of lbctl,
  LBCTL_PROVIDER, LBCTL_LOAD_BALANCER_CLASS) and its Deployments' readiness.
"""

from __future__ import annotations

from collections.abc import Callable

from conformance.facts import (
    UNKNOWN,
    ClusterFacts,
    LbctlInstall,
    describe_mode,
    describe_provider,
    lbctl_install,
    mode_from_args,
    mode_from_config,
)
from conformance.hostprobes import HostPods
from conformance.kube import Kube
from conformance.outside import Outside
from conformance.settings import SuiteSettings
from conformance.topology import Topology

KUBE_PROXY_METRICS_PORT = 10249
#: kubeadm's and kind's DaemonSet, GKE's static pods
KUBE_PROXY_SELECTORS = ("k8s-app=kube-proxy", "component=kube-proxy")
#: deploy/base/lbctl: every object is part-of lbctl, its flags live in a ConfigMap
LBCTL_PART_OF = "app.kubernetes.io/part-of=lbctl"
LBCTL_NAME = "app.kubernetes.io/name=lbctl"


def lbctl_installs(kube: Kube) -> list[LbctlInstall]:
    """Every lbctl install whose flags ConfigMap the suite may read."""
    found: list[LbctlInstall] = []
    for namespace, data in kube.config_maps(LBCTL_PART_OF):
        install = lbctl_install(namespace, data, kube.deployment_replicas(namespace, LBCTL_NAME))
        if install is not None:
            found.append(install)
    return found


def kube_proxy_mode(kube: Kube, topology: Topology, outside: Outside, pods: HostPods) -> str:
    """kube-proxy's mode and where it was read (see the module's guarantees)."""
    config = kube.config_map_data("kube-system", "kube-proxy") or {}
    for text in config.values():
        mode = mode_from_config(text)
        if mode is not None:
            return describe_mode(mode, "ConfigMap kube-system/kube-proxy")
    for selector in KUBE_PROXY_SELECTORS:
        for argv in kube.pod_commands("kube-system", selector):
            mode = mode_from_args(argv)
            if mode is not None:
                return describe_mode(mode, f"--proxy-mode of a kube-system pod {selector}")
    tried: list[str] = []
    for node in topology.nodes[:1]:
        assert node.internal_ip
        route = outside.route_to(node.internal_ip).label
        body = outside.http(node.internal_ip, KUBE_PROXY_METRICS_PORT, "/proxyMode")
        if body:
            return f"{body} (/proxyMode on {node.name}:{KUBE_PROXY_METRICS_PORT} via {route})"
        tried.append(f"{node.name}:{KUBE_PROXY_METRICS_PORT} via {route}")
    for host in topology.probe_hosts[:1]:
        body = pods.on(host).node_local_http(KUBE_PROXY_METRICS_PORT, "/proxyMode")
        if body:
            return f"{body} (/proxyMode on {host}'s loopback, from a host-network pod)"
        tried.append(f"{host}'s loopback")
    return (
        f"{UNKNOWN} (no kube-proxy ConfigMap or --proxy-mode; /proxyMode did not answer on "
        f"{', '.join(tried) or 'any node'}: no kube-proxy, or a replacement such as Cilium)"
    )


def _guarded(what: str, read: Callable[[], str]) -> str:
    try:
        return read()
    except Exception as err:  # a header fact never fails a test
        return f"{UNKNOWN} ({what} failed: {type(err).__name__}: {err})"


def discover(
    *,
    kube: Kube,
    topology: Topology,
    settings: SuiteSettings,
    outside: Outside,
    pods: HostPods,
    lbctl_by_suite: bool,
    cluster: str,
) -> ClusterFacts:
    """Read the header's facts from the cluster."""
    try:
        installs = lbctl_installs(kube)
    except Exception:  # the header says what it could not see, nothing fails
        installs = []
    provider, missing = describe_provider(
        settings.lb_class, installs, lbctl_by_suite=lbctl_by_suite
    )
    reaches, how = topology.reachability
    reach = (
        f"yes ({how})"
        if reaches
        else f"no ({how}): node-port and external-IP probes go from host-network pods"
    )
    return ClusterFacts(
        cluster=cluster,
        nodes=len(topology.nodes),
        schedulable=len(topology.workers),
        kube_proxy=_guarded(
            "reading kube-proxy's mode", lambda: kube_proxy_mode(kube, topology, outside, pods)
        ),
        provider=provider,
        missing_ingress=missing,
        runner_reaches_nodes=reach,
    )
