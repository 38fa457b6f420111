"""The suite's options: pytest flags with environment-variable fallbacks.

Guarantees: every flag is `--conformance-*` (the plugin is loaded into every
pytest run of an environment it is installed in, so it must not take a name
another plugin or project may use); every flag is read once into a frozen
`SuiteSettings`; a flag beats its variable, which beats the default; a bad
value is a `pytest.UsageError` naming the flag.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest

ENV_CLUSTER = "LBCTL_CONFORMANCE_CLUSTER"
ENV_REPORT_DIR = "LBCTL_CONFORMANCE_REPORT_DIR"
ENV_LB_TIMEOUT = "LBCTL_CONFORMANCE_LB_TIMEOUT"
ENV_LB_CLASS = "LBCTL_CONFORMANCE_LB_CLASS"
ENV_ALLOW = "LBCTL_CONFORMANCE_ALLOW"
ENV_LB_IP = "LBCTL_CONFORMANCE_LB_IP"
ENV_REACHES_NODES = "LBCTL_CONFORMANCE_RUNNER_REACHES_NODES"
ENV_KUBECONFIG = "KUBECONFIG"


class ClusterMode(StrEnum):
    """How the suite gets a cluster."""

    KUBECONFIG = "kubeconfig"
    KIND = "kind"
    LOCAL = "local"


class Reachability(StrEnum):
    """Whether the runner can open connections to node InternalIPs."""

    #: find out: the cluster adapter knows, else the kubelet port is tried once
    AUTO = "auto"
    #: the runner sends node-level probes itself
    YES = "yes"
    #: node-level probes go through host-network pods (a runner without a route
    #: to the nodes, e.g. private GKE nodes; on a cluster it could reach, the
    #: flag simulates one)
    NO = "no"


@dataclass(frozen=True)
class SuiteSettings:
    """Everything the conformance fixtures need to know about the run."""

    mode: ClusterMode
    kubeconfig: Path | None
    report_dir: Path
    lb_timeout: float
    lb_class: str | None
    allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    runner_reaches_nodes: Reachability = Reachability.AUTO
    #: an address the provider may use for spec.loadBalancerIP (LB-2), e.g. a
    #: reserved static address on a cloud; the local cluster finds its own
    lb_ip: str | None = None


def add_options(parser: pytest.Parser) -> None:
    """Register the suite's flags."""
    group = parser.getgroup("lbctl-conformance", "Service conformance suite")
    group.addoption(
        "--conformance-cluster",
        choices=[m.value for m in ClusterMode],
        default=None,
        help=f"where the conformance suite runs (env {ENV_CLUSTER}; default: kubeconfig "
        f"when --conformance-kubeconfig or {ENV_KUBECONFIG} is given, else local)",
    )
    group.addoption(
        "--conformance-kubeconfig",
        default=None,
        help=f"kubeconfig of an existing cluster (env {ENV_KUBECONFIG}; default ~/.kube/config)",
    )
    group.addoption(
        "--conformance-report-dir",
        default=None,
        help=f"where the report is written: conformance.md (what the suite discovered and "
        f"the matrix), conformance.xml (the matrix as JUnit XML), conformance.log (one line "
        f"per check) and, when this flag or {ENV_REPORT_DIR} names it, junit.xml "
        f"(pytest's own, one testcase per test) (default: reports)",
    )
    group.addoption(
        "--conformance-lb-timeout",
        default=None,
        help=f"seconds a LoadBalancer may take to get an ingress (env {ENV_LB_TIMEOUT}; "
        "default 120); past them a LoadBalancer check fails where a provider is known to "
        "be present (the local cluster, or --conformance-lb-class), and skips elsewhere",
    )
    group.addoption(
        "--conformance-lb-class",
        default=None,
        help=f"spec.loadBalancerClass for the suite's load balancers; naming one says its "
        f"controller runs, so a missing ingress fails (env {ENV_LB_CLASS})",
    )
    group.addoption(
        "--conformance-lb-ip",
        default=None,
        help="an address the provider may use as spec.loadBalancerIP, for LB-2 on a "
        "cluster the suite does not run (a reserved static address on a cloud; "
        f"env {ENV_LB_IP}); it is admitted to the runner's guard",
    )
    group.addoption(
        "--conformance-allow",
        default=None,
        help=f"comma-separated CIDRs the runner may send probes to on a kubeconfig or kind "
        f"cluster, beyond node and ingress addresses (env {ENV_ALLOW})",
    )
    group.addoption(
        "--conformance-runner-reaches-nodes",
        choices=[r.value for r in Reachability],
        default=None,
        help=f"whether the runner can reach node InternalIPs (env {ENV_REACHES_NODES}; "
        "default auto: find out); `no` sends node-port and external-IP probes from a "
        "host-network pod on another node, as on a cluster whose nodes the runner "
        "cannot route to",
    )


def choose_mode(
    option: str | None, env: Mapping[str, str], kubeconfig_option: str | None
) -> ClusterMode:
    """--conformance-cluster, else $LBCTL_CONFORMANCE_CLUSTER, else kubeconfig if one
    is given (--conformance-kubeconfig or $KUBECONFIG), else local."""
    value = option or env.get(ENV_CLUSTER, "").strip()
    if value:
        try:
            return ClusterMode(value)
        except ValueError:
            choices = ", ".join(m.value for m in ClusterMode)
            raise pytest.UsageError(f"{ENV_CLUSTER}={value!r} is not one of: {choices}") from None
    if kubeconfig_option or env.get(ENV_KUBECONFIG):
        return ClusterMode.KUBECONFIG
    return ClusterMode.LOCAL


def _float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise pytest.UsageError(f"{name}: {raw!r} is not a number of seconds") from None
    if value <= 0:
        raise pytest.UsageError(f"{name}: must be positive, got {raw!r}")
    return value


def _networks(raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(p.strip()) for p in raw.split(",") if p.strip())
    except ValueError as err:
        raise pytest.UsageError(f"--conformance-allow: {err}") from None


def _reachability(raw: str) -> Reachability:
    try:
        return Reachability(raw.strip().lower())
    except ValueError:
        choices = ", ".join(r.value for r in Reachability)
        raise pytest.UsageError(
            f"--conformance-runner-reaches-nodes ({ENV_REACHES_NODES}): {raw!r} is not one "
            f"of: {choices}"
        ) from None


def named_report_dir(options: Mapping[str, Any], env: Mapping[str, str]) -> Path | None:
    """--conformance-report-dir, else its variable, else None (no other flag is read,
    so a bad value elsewhere cannot fail a run that only asks this)."""
    named = options.get("conformance_report_dir") or env.get(ENV_REPORT_DIR) or None
    return Path(named) if named else None


def settings_from(options: Mapping[str, Any], env: Mapping[str, str]) -> SuiteSettings:
    """Build the settings from option values (by dest name) and the environment."""
    kubeconfig_option = options.get("conformance_kubeconfig")
    mode = choose_mode(options.get("conformance_cluster"), env, kubeconfig_option)
    kubeconfig = kubeconfig_option or env.get(ENV_KUBECONFIG) or None
    timeout = options.get("conformance_lb_timeout") or env.get(ENV_LB_TIMEOUT) or "120"
    report_dir = named_report_dir(options, env)
    reaches = options.get("conformance_runner_reaches_nodes") or env.get(ENV_REACHES_NODES)
    return SuiteSettings(
        mode=mode,
        kubeconfig=Path(kubeconfig).expanduser() if kubeconfig else None,
        report_dir=report_dir or Path("reports"),
        lb_timeout=_float("--conformance-lb-timeout", str(timeout)),
        lb_class=options.get("conformance_lb_class") or env.get(ENV_LB_CLASS) or None,
        allow=_networks(options.get("conformance_allow") or env.get(ENV_ALLOW) or ""),
        runner_reaches_nodes=_reachability(reaches or Reachability.AUTO.value),
        lb_ip=_address(
            "--conformance-lb-ip", options.get("conformance_lb_ip") or env.get(ENV_LB_IP)
        ),
    )


def _address(flag: str, value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise pytest.UsageError(f"{flag}: {value!r} is not an IP address") from None


_DESTS = (
    "conformance_cluster",
    "conformance_kubeconfig",
    "conformance_report_dir",
    "conformance_lb_timeout",
    "conformance_lb_class",
    "conformance_allow",
    "conformance_runner_reaches_nodes",
    "conformance_lb_ip",
)


def _options(config: pytest.Config) -> dict[str, Any]:
    return {dest: config.getoption(dest, default=None) for dest in _DESTS}


def settings_of(config: pytest.Config) -> SuiteSettings:
    """The settings of this pytest run."""
    return settings_from(_options(config), os.environ)


def report_dir_of(config: pytest.Config) -> Path | None:
    """The report directory this pytest run names, if it names one."""
    return named_report_dir(_options(config), os.environ)
