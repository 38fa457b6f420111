"""What the suite found out about the cluster, for the report's header (the pure half;
`discovery` reads the cluster).

The header says what a reader needs to judge the matrix: how many nodes, how
kube-proxy forwards, who serves LoadBalancers (and whether a missing ingress
fails or skips), the ipMode the ingresses carried, whether the runner reached
node addresses itself or went through host-network pods, and which way the
probes from outside went.

Guarantees:
- pure functions and frozen values only: no API, no I/O, so the plugin (loaded
  into every pytest run) imports this without the Kubernetes client;
- `ClusterFacts` survives a round trip through JSON (pytest-xdist ships it
  from a worker to the controller inside a report's user_properties);
- `header_lines` prints every fact, the unknown ones with why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

LBCTL_DEFAULT_CLASS = "lbctl.io/lbctl"
UNKNOWN = "unknown"

#: `mode:` at the top level of the YAML, or `"mode":` anywhere in the JSON
_CONFIG_MODE = re.compile(
    r"""^(?:mode|\s*"mode")\s*:\s*"?([A-Za-z0-9_-]*)"?\s*,?\s*$""", re.MULTILINE
)


@dataclass(frozen=True)
class LbctlInstall:
    """One lbctl the suite can see: where, which provider, which class, how ready."""

    namespace: str
    provider: str
    lb_class: str
    ready: int
    replicas: int


@dataclass(frozen=True)
class ClusterFacts:
    """What one pytest process found out about the cluster (strings, as printed)."""

    cluster: str
    nodes: int
    schedulable: int
    kube_proxy: str
    provider: str
    missing_ingress: str
    runner_reaches_nodes: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ClusterFacts | None:
        """The facts in `text`, or None when it holds something else."""
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError):
            return None


def mode_from_config(text: str) -> str | None:
    """`mode` of a KubeProxyConfiguration (YAML or JSON); '' when set empty,
    None when the text has no `mode`."""
    found = _CONFIG_MODE.search(text)
    return found.group(1) if found else None


def mode_from_args(argv: Sequence[str]) -> str | None:
    """The value of `--proxy-mode` on a kube-proxy command line, if any (also
    inside a `sh -c` string, as GKE's static pods run it)."""
    words = [word for arg in argv for word in arg.split()]
    for index, arg in enumerate(words):
        if arg.startswith("--proxy-mode="):
            return arg.split("=", 1)[1]
        if arg == "--proxy-mode" and index + 1 < len(words):
            return words[index + 1]
    return None


def describe_mode(mode: str, source: str) -> str:
    """`mode (source)`; an empty mode is kube-proxy's default on Linux."""
    return f"{mode or 'iptables (mode empty: the default)'} ({source})"


def lbctl_install(
    namespace: str, data: dict[str, str], replicas: Sequence[tuple[int, int]]
) -> LbctlInstall | None:
    """An lbctl install from its flags ConfigMap and its Deployments' (ready, desired)."""
    provider = data.get("LBCTL_PROVIDER")
    if not provider:
        return None
    return LbctlInstall(
        namespace=namespace,
        provider=provider,
        lb_class=data.get("LBCTL_LOAD_BALANCER_CLASS") or LBCTL_DEFAULT_CLASS,
        ready=sum(r for r, _ in replicas),
        replicas=sum(d for _, d in replicas),
    )


def describe_provider(
    lb_class: str | None, installs: Iterable[LbctlInstall], *, lbctl_by_suite: bool
) -> tuple[str, str]:
    """(who serves the suite's load balancers, what a missing ingress does)."""
    seen = list(dict.fromkeys(installs))
    wanted = lb_class or (LBCTL_DEFAULT_CLASS if lbctl_by_suite else None)
    matching = [i for i in seen if i.lb_class == wanted] if wanted else []
    if matching:
        lbctl = "; ".join(
            f"lbctl, provider {i.provider} (loadBalancerClass {i.lb_class}; "
            f"{i.namespace}/lbctl {i.ready}/{i.replicas} ready)"
            for i in matching
        )
    else:
        lbctl = ""
    if lb_class:
        provider = lbctl or (
            f"the controller of loadBalancerClass {lb_class} (no lbctl install the suite "
            "can see serves that class)"
        )
        return provider, "fails (--conformance-lb-class names the provider)"
    if lbctl_by_suite:
        return lbctl or "lbctl, which the suite runs", "fails (the suite runs lbctl)"
    return (
        "the cluster's default LoadBalancer controller, if any (no --conformance-lb-class)",
        "skips (name the provider's class with --conformance-lb-class to make it fail)",
    )


def header_lines(
    facts: ClusterFacts | None, *, ip_modes: Sequence[str], routes: Sequence[str]
) -> list[str]:
    """The report's header: one `name: value` line per fact."""
    if facts is None:
        return ["cluster: not reached (no test got as far as the cluster)"]
    return [
        f"cluster: {facts.cluster}",
        f"nodes: {facts.nodes} ready ({facts.schedulable} schedulable)",
        f"kube-proxy mode: {facts.kube_proxy}",
        f"load-balancer provider: {facts.provider}",
        f"missing ingress: {facts.missing_ingress}",
        "ingress ipMode: " + (", ".join(ip_modes) if ip_modes else "no ingress seen"),
        f"runner reaches node IPs: {facts.runner_reaches_nodes}",
        "probes from outside went: " + (", ".join(routes) if routes else "none sent"),
    ]
