"""Observed resources + NlbSpec -> the mutations that make them match, in order.

The same code serves `ensure` and `plan`: each phase diffs the working copy
of a Service's resources against the spec and asks a `Sink` for what
differs. `ApiSink` performs it against AWS; `PlanSink` only records a
`Change` and returns a placeholder, so a plan can never mutate anything.

Ordering guarantees (each step is safe to repeat after a crash, because the
next reconcile re-reads and diffs again):
- the security group exists, with its rules, before the NLB that uses it
  (an NLB created without security groups can never get one);
- target groups exist with their targets before a listener forwards to
  them; listeners go before the target groups they used; a target group is
  deleted only when no listener of ours uses it;
- the cluster's backend group (attached to every NLB, admitted by the node
  groups on the node-port range) exists before any NLB; it is shared, so a
  Service's delete never touches it or the node groups;
- rules are authorized before others are revoked, so a change of source
  ranges never opens more than the union of old and new.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from lbctl.providers.aws.inventory import Shared
from lbctl.providers.aws.spec import CidrRule, NlbSpec, NodeRule, PortSpec, Target
from lbctl.providers.aws.state import (
    Health,
    Listener,
    Nlb,
    Resources,
    SecurityGroup,
    TargetGroup,
)


@dataclass(frozen=True)
class Placement:
    """Where a new NLB goes: one subnet per zone, or one subnet with an Elastic IP."""

    subnets: tuple[str, ...]
    allocation: str | None = None


class Sink(Protocol):
    def create_security_group(
        self, name: str, *, description: str, vpc_id: str, tags: Mapping[str, str]
    ) -> SecurityGroup: ...
    def authorize_cidrs(self, sg: SecurityGroup, rules: frozenset[CidrRule]) -> None: ...
    def revoke_cidrs(self, sg: SecurityGroup, rules: frozenset[CidrRule]) -> None: ...
    def authorize_node_rules(self, group: str, source: str, rules: frozenset[NodeRule]) -> None: ...
    def revoke_node_rules(self, group: str, source: str, rules: frozenset[NodeRule]) -> None: ...
    def delete_security_group(self, sg: SecurityGroup) -> None: ...
    def create_load_balancer(
        self, spec: NlbSpec, groups: tuple[str, ...], placement: Placement
    ) -> Nlb: ...
    def set_security_groups(self, lb: Nlb, groups: tuple[str, ...]) -> None: ...
    def set_cross_zone(self, lb: Nlb) -> None: ...
    def delete_load_balancer(self, lb: Nlb) -> None: ...
    def create_target_group(self, spec: NlbSpec, port: PortSpec, vpc_id: str) -> TargetGroup: ...
    def set_health(self, tg: TargetGroup, health: Health) -> None: ...
    def set_sticky(self, tg: TargetGroup, sticky: bool) -> None: ...
    def register(self, tg: TargetGroup, targets: frozenset[Target]) -> None: ...
    def deregister(self, tg: TargetGroup, targets: frozenset[Target]) -> None: ...
    def delete_target_group(self, tg: TargetGroup) -> None: ...
    def create_listener(self, lb: Nlb, port: PortSpec, tg: TargetGroup) -> Listener: ...
    def modify_listener(self, listener: Listener, tg: TargetGroup) -> None: ...
    def delete_listener(self, listener: Listener) -> None: ...


@dataclass(frozen=True)
class Environment:
    """What a reconcile needs beyond the Service's own resources."""

    shared: Shared
    #: the Elastic IP allocation to use, already checked
    allocation: str | None
    #: discovers the VPC and its subnets lazily: only a create needs them
    placement: Callable[[str | None], Placement]
    vpc_id: Callable[[], str]
    #: makes sure the cluster's backend group and node rules exist; returns its id
    backend: Callable[[Sink], str]


def converge(spec: NlbSpec, res: Resources, *, sink: Sink, env: Environment) -> None:
    """Make `res` match `spec`, updating `res` to what now exists."""
    # Where a new NLB would go is settled first: no subnet must mean nothing created.
    placement = env.placement(env.allocation) if _needs_new(res.lb, env.allocation) else None
    backend = env.backend(sink)
    sg = _security_group(spec, res, sink=sink, env=env)
    groups = (sg.id, backend)
    lb = _load_balancer(spec, res, sink=sink, env=env, groups=groups, placement=placement)
    for port in spec.ports:
        res.target_groups[port.tg_name] = _target_group(
            spec, port, tg=res.target_groups.get(port.tg_name), sink=sink, vpc_id=lb.vpc_id
        )
    res.lb = _listeners(spec, res, sink=sink, lb=lb)
    for name in sorted(set(res.target_groups) - {p.tg_name for p in spec.ports}):
        sink.delete_target_group(res.target_groups.pop(name))


def teardown(res: Resources, sink: Sink) -> None:
    """Delete everything in `res`, dependents first."""
    if res.lb is not None:
        sink.delete_load_balancer(res.lb)
        res.lb = None
    for name in sorted(res.target_groups):
        sink.delete_target_group(res.target_groups.pop(name))
    if res.sg is not None:
        sink.delete_security_group(res.sg)
        res.sg = None


def converge_backend(
    shared: Shared,
    sink: Sink,
    *,
    name: str,
    tags: Mapping[str, str],
    vpc_id: Callable[[], str],
    rules: frozenset[NodeRule],
) -> tuple[SecurityGroup, tuple[SecurityGroup, ...]]:
    """The cluster's backend group, and in every node group exactly `rules` admitting it."""
    backend = shared.backend or sink.create_security_group(
        name, description="lbctl: every NLB of the cluster", vpc_id=vpc_id(), tags=tags
    )
    updated: list[SecurityGroup] = []
    for group in shared.node_groups:
        have = group.admitting(backend.id)
        if rules - have:
            sink.authorize_node_rules(group.id, backend.id, rules - have)
        if have - rules:
            sink.revoke_node_rules(group.id, backend.id, have - rules)
        updated.append(replace(group, group_rules={**group.group_rules, backend.id: rules}))
    return backend, tuple(updated)


def sync_targets(spec: NlbSpec, port: PortSpec, *, tg: TargetGroup, sink: Sink) -> TargetGroup:
    """Deregister the extra targets and register the missing, one call each.

    Deregistering first matters only when a node port changes (same instance,
    new port): moto keys targets by instance id alone, and in AWS the new
    target starts unhealthy either way until its first health checks pass.
    """
    want = spec.targets(port)
    have = tg.targets or frozenset()
    if have - want:
        sink.deregister(tg, have - want)
    if want - have:
        sink.register(tg, want - have)
    return replace(tg, targets=want)


def _security_group(
    spec: NlbSpec, res: Resources, *, sink: Sink, env: Environment
) -> SecurityGroup:
    sg = res.sg or sink.create_security_group(
        spec.sg_name,
        description=f"lbctl load balancer for {spec.key}",
        vpc_id=env.vpc_id(),
        tags=dict(spec.tags),
    )
    if spec.cidr_rules - sg.cidr_rules:
        sink.authorize_cidrs(sg, spec.cidr_rules - sg.cidr_rules)
    if sg.cidr_rules - spec.cidr_rules:
        sink.revoke_cidrs(sg, sg.cidr_rules - spec.cidr_rules)
    res.sg = replace(sg, cidr_rules=spec.cidr_rules)
    return res.sg


def _must_replace(lb: Nlb, allocation: str | None) -> bool:
    """An NLB's Elastic IPs, type and scheme are fixed at creation."""
    return lb.eip_allocation != allocation or lb.type != "network" or lb.scheme != "internet-facing"


def _needs_new(lb: Nlb | None, allocation: str | None) -> bool:
    return lb is None or _must_replace(lb, allocation)


def _load_balancer(
    spec: NlbSpec,
    res: Resources,
    *,
    sink: Sink,
    env: Environment,
    groups: tuple[str, str],
    placement: Placement | None,
) -> Nlb:
    lb = res.lb
    if lb is not None and _must_replace(lb, env.allocation):
        sink.delete_load_balancer(lb)
        res.lb = lb = None
    if lb is None:
        assert placement is not None
        lb = sink.create_load_balancer(spec, groups, placement)
        res.lb = lb
    if set(lb.security_groups) != set(groups):
        sink.set_security_groups(lb, groups)
        lb = replace(lb, security_groups=groups)
    if env.allocation and lb.cross_zone is not True:
        # A single-zone NLB (one Elastic IP) must still reach nodes in every zone.
        sink.set_cross_zone(lb)
        lb = replace(lb, cross_zone=True)
    res.lb = lb
    return lb


def _target_group(
    spec: NlbSpec, port: PortSpec, *, tg: TargetGroup | None, sink: Sink, vpc_id: str
) -> TargetGroup:
    if tg is None:
        tg = sink.create_target_group(spec, port, vpc_id)
    health = Health("HTTP", str(spec.health.port), spec.health.path)
    if tg.health != health:
        sink.set_health(tg, health)
        tg = replace(tg, health=health)
    if tg.sticky is not spec.sticky:
        sink.set_sticky(tg, spec.sticky)
        tg = replace(tg, sticky=spec.sticky)
    return sync_targets(spec, port, tg=tg, sink=sink)


def _listeners(spec: NlbSpec, res: Resources, *, sink: Sink, lb: Nlb) -> Nlb:
    current = {listener.port: listener for listener in lb.listeners or ()}
    result: list[Listener] = []
    for port in spec.ports:
        tg = res.target_groups[port.tg_name]
        listener = current.pop(port.port, None)
        if listener is not None and listener.protocol != port.protocol.value:
            # The protocol decides the target group; replace the listener.
            sink.delete_listener(listener)
            listener = None
        if listener is None:
            listener = sink.create_listener(lb, port, tg)
        elif listener.target_group_arn != tg.arn:
            sink.modify_listener(listener, tg)
            listener = replace(listener, target_group_arn=tg.arn)
        result.append(listener)
    for _, stale in sorted(current.items()):
        sink.delete_listener(stale)
    return replace(lb, listeners=tuple(result))
