"""Deliberately broken providers: one flipped thing each, for the suite to catch.

A fault is a bug a provider could plausibly ship, made by wrapping the
provider's pure spec function (Service -> what to build) in the lbctl process
the box starts (`python -m tests.cloudbox.faults FAULT run ...`), so the API
calls, the fake cloud and its data plane are all the real ones: only what the
provider asks for is wrong. tests/cloudbox/test_columns.py runs the matching
conformance id against each and requires it to fail with a message that names
what broke. Production code has no hook for this.

- gce `first-range-only`: the firewall admits only the first of the Service's
  loadBalancerSourceRanges: LB-3 (whose runner is in the second) must fail,
  naming the ranges. (A gce firewall that admits too much is invisible to
  traffic: GCE delivers packets to the ingress IP unchanged, and kube-proxy
  filters traffic to a VIP-mode ingress by the same ranges on every node.)
- aws `open-firewall`: the security group admits 0.0.0.0/0 whatever
  loadBalancerSourceRanges say: LB-3 must fail, naming the ranges (an NLB
  with instance targets delivers to node ports, which kube-proxy does not
  filter by the ranges, so here the security group is the only guard);
- `node-health-port`: a Local Service's health check asks kube-proxy's node
  port (10256, healthy whenever kube-proxy is) instead of the Service's
  healthCheckNodePort: LB-4 must fail, naming healthCheckNodePort.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from lbcommon.model import KUBE_PROXY_HEALTH_PORT

OPEN = "0.0.0.0/0"


@dataclass(frozen=True)
class Fault:
    cloud: str
    name: str
    #: the conformance id that must fail, the pytest -k selecting its test, and
    #: what its failure message must name
    conformance_id: str
    test: str
    named: str
    #: installs the fault in this process (before lbctl starts)
    install: Callable[[], None]

    @property
    def id(self) -> str:
        return f"{self.cloud}-{self.name}"


def _wrap(module: Any, function: str, change: Callable[[Any], Any]) -> None:
    """Make `module.function` return `change(what it returned)`."""
    original = getattr(module, function)
    setattr(module, function, lambda *args, **kwargs: change(original(*args, **kwargs)))


def _gce_first_range_only() -> None:
    from lbctl.providers.gce import provider

    _wrap(
        provider,
        "load_balancer_spec",
        lambda spec: replace(spec, source_ranges=spec.source_ranges[:1]),
    )


def _gce_node_health_port() -> None:
    from lbctl.providers.gce import provider

    def change(spec: Any) -> Any:
        check = spec.health_check
        if check.shared:
            return spec
        return replace(spec, health_check=replace(check, port=KUBE_PROXY_HEALTH_PORT))

    _wrap(provider, "load_balancer_spec", change)


def _aws_open_firewall() -> None:
    from lbctl.providers.aws import provider

    def change(spec: Any) -> Any:
        rules = frozenset(replace(rule, cidr=OPEN) for rule in spec.cidr_rules)
        return replace(spec, cidr_rules=rules)

    _wrap(provider, "nlb_spec", change)


def _aws_node_health_port() -> None:
    from lbctl.providers.aws import provider

    def change(spec: Any) -> Any:
        if not spec.health.per_service:
            return spec
        return replace(spec, health=replace(spec.health, port=KUBE_PROXY_HEALTH_PORT))

    _wrap(provider, "nlb_spec", change)


_SOURCE_RANGES = ("LB-3", "test_source_ranges", "loadBalancerSourceRanges")
_LOCAL_POLICY = ("LB-4", "test_local_policy_through_load_balancer", "healthCheckNodePort")

FAULTS = {
    fault.id: fault
    for fault in (
        Fault("gce", "first-range-only", *_SOURCE_RANGES, _gce_first_range_only),
        Fault("gce", "node-health-port", *_LOCAL_POLICY, _gce_node_health_port),
        Fault("aws", "open-firewall", *_SOURCE_RANGES, _aws_open_firewall),
        Fault("aws", "node-health-port", *_LOCAL_POLICY, _aws_node_health_port),
    )
}


def main(argv: list[str]) -> int:
    """`python -m tests.cloudbox.faults FAULT LBCTL-ARGS...`: lbctl with FAULT in it."""
    if not argv or argv[0] not in FAULTS:
        print(f"usage: python -m tests.cloudbox.faults {{{','.join(FAULTS)}}} LBCTL-ARGS...")
        return 2
    FAULTS[argv[0]].install()
    from lbctl.cli import main as lbctl

    return lbctl(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
