"""The pure diff: (NlbSpec, what exists) -> ordered Steps, for ensure, plan and delete.

No I/O and no clock: the same inputs give the same steps, so `plan` shows
exactly what `ensure` would do. Where a step creates a resource, the diff
goes on as if it existed as created (empty rules, no listeners, no targets),
so one plan lists every step in order.

Ordering guarantees (each step is safe to repeat after a crash, because the
next reconcile re-reads and diffs again):
- the cluster's backend group (attached to every NLB, admitted by the node
  groups on the node-port range) exists before any NLB (`plan_backend`); it
  is shared, so a Service's delete never touches it or the node groups;
- the Service's security group exists, with its rules, before the NLB that
  uses it (an NLB created without security groups can never get one);
- target groups exist with their targets before a listener forwards to
  them; listeners go before the target groups they used; a target group is
  deleted only when no listener of ours uses it;
- rules are authorized before others are revoked, so a change of source
  ranges never opens more than the union of old and new.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lbctl.providers.aws import names
from lbctl.providers.aws.spec import NlbSpec, NodeRule, PortSpec, Target
from lbctl.providers.aws.state import Health, Nlb, Resources, SecurityGroup, TargetGroup
from lbctl.providers.aws.steps import (
    CreateGroup,
    CreateListener,
    CreateLoadBalancer,
    CreateTargetGroup,
    DeleteGroup,
    DeleteListener,
    DeleteLoadBalancer,
    DeleteTargetGroup,
    GroupRole,
    ModifyListener,
    SetCidrs,
    SetCrossZone,
    SetHealth,
    SetNodeRules,
    SetSecurityGroups,
    SetSticky,
    SetTargets,
    Step,
)


@dataclass(frozen=True)
class Placement:
    """Where a new NLB goes: one subnet per zone, or one subnet with an Elastic IP."""

    subnets: tuple[str, ...]
    allocation: str | None = None


@dataclass(frozen=True)
class Backend:
    """The cluster's backend group: its name, and the group itself once it exists."""

    name: str
    group: SecurityGroup | None = None


def needs_new_lb(lb: Nlb | None, allocation: str | None) -> bool:
    """Whether ensure creates an NLB (so it needs a placement first)."""
    return lb is None or _must_replace(lb, allocation)


def _must_replace(lb: Nlb, allocation: str | None) -> bool:
    """An NLB's Elastic IPs, type and scheme are fixed at creation."""
    return lb.eip_allocation != allocation or lb.type != "network" or lb.scheme != "internet-facing"


def plan_backend(
    backend: Backend,
    node_groups: tuple[SecurityGroup, ...],
    *,
    tags: Mapping[str, str],
    vpc_id: str,
    rules: frozenset[NodeRule],
) -> list[Step]:
    """The backend group, and in every node group exactly `rules` admitting it."""
    steps: list[Step] = []
    group = backend.group
    if group is None:
        description = "lbctl: every NLB of the cluster"
        steps.append(CreateGroup(backend.name, GroupRole.BACKEND, description, vpc_id, tags))
    source_id = group.id if group is not None else None
    for node_group in node_groups:
        have = node_group.admitting(source_id) if source_id is not None else frozenset()
        if rules - have:
            steps.append(SetNodeRules(node_group.id, backend.name, source_id, rules - have, True))
        if have - rules:
            steps.append(SetNodeRules(node_group.id, backend.name, source_id, have - rules, False))
    return steps


def plan_ensure(
    spec: NlbSpec,
    res: Resources,
    *,
    backend: Backend,
    allocation: str | None,
    placement: Placement | None,
    vpc_id: str,
) -> list[Step]:
    """Everything that makes `res` match `spec`, given the backend group and, when
    `needs_new_lb`, where the new NLB goes."""
    steps = _security_group(spec, res.sg, vpc_id=vpc_id)
    lb_steps, lb = _load_balancer(spec, res, backend=backend, allocation=allocation)
    if lb is None:
        if placement is None:
            raise ValueError("a new load balancer needs a placement")
        tags = dict(spec.tags)
        if allocation:
            tags[names.EIP_TAG] = allocation
        groups = (spec.sg_name, backend.name)
        lb_steps.append(CreateLoadBalancer(spec.name, placement.subnets, allocation, tags, groups))
        if allocation:
            # A single-zone NLB (one Elastic IP) must still reach nodes in every zone.
            lb_steps.append(SetCrossZone(spec.name))
    steps += lb_steps
    created: set[str] = set()
    for port in spec.ports:
        tg = res.target_groups.get(port.tg_name)
        if tg is None:
            created.add(port.tg_name)
        steps += _target_group(spec, port, tg)
    existing = (lb.listeners or ()) if lb is not None else ()
    current = {listener.port: listener for listener in existing}
    for port in spec.ports:
        listener = current.pop(port.port, None)
        if listener is not None and listener.protocol != port.protocol.value:
            # The protocol decides the target group; replace the listener.
            steps.append(DeleteListener(listener.arn, listener.port, listener.protocol))
            listener = None
        if listener is None:
            steps.append(CreateListener(spec.name, port))
            continue
        tg = res.target_groups.get(port.tg_name)
        if port.tg_name in created or tg is None or listener.target_group_arn != tg.arn:
            steps.append(ModifyListener(listener.arn, listener.port, port.tg_name))
    for _, stale in sorted(current.items()):
        steps.append(DeleteListener(stale.arn, stale.port, stale.protocol))
    wanted = {p.tg_name for p in spec.ports}
    steps += [DeleteTargetGroup(name) for name in sorted(set(res.target_groups) - wanted)]
    return steps


def plan_delete(res: Resources) -> list[Step]:
    """Delete everything in `res`, dependents first."""
    steps: list[Step] = []
    if res.lb is not None:
        steps.append(DeleteLoadBalancer(res.lb.name))
    steps += [DeleteTargetGroup(name) for name in sorted(res.target_groups)]
    if res.sg is not None:
        steps.append(DeleteGroup(res.sg.name, res.sg.id))
    return steps


def _security_group(spec: NlbSpec, sg: SecurityGroup | None, *, vpc_id: str) -> list[Step]:
    steps: list[Step] = []
    have = sg.cidr_rules if sg is not None else frozenset()
    if sg is None:
        description = f"lbctl load balancer for {spec.key}"
        steps.append(
            CreateGroup(spec.sg_name, GroupRole.SERVICE, description, vpc_id, dict(spec.tags))
        )
    if spec.cidr_rules - have:
        steps.append(SetCidrs(spec.sg_name, spec.cidr_rules - have, allow=True))
    if have - spec.cidr_rules:
        steps.append(SetCidrs(spec.sg_name, have - spec.cidr_rules, allow=False))
    return steps


def _load_balancer(
    spec: NlbSpec, res: Resources, *, backend: Backend, allocation: str | None
) -> tuple[list[Step], Nlb | None]:
    """Steps for an existing NLB, and that NLB (None when one must be created)."""
    lb = res.lb
    if lb is None:
        return [], None
    if _must_replace(lb, allocation):
        return [DeleteLoadBalancer(lb.name)], None
    steps: list[Step] = []
    own = res.sg.id if res.sg is not None else None
    shared = backend.group.id if backend.group is not None else None
    if own is None or shared is None or set(lb.security_groups) != {own, shared}:
        groups = ((spec.sg_name, own), (backend.name, shared))
        steps.append(SetSecurityGroups(lb.name, groups))
    if allocation and lb.cross_zone is not True:
        steps.append(SetCrossZone(lb.name))
    return steps, lb


def health_of(spec: NlbSpec) -> Health:
    return Health("HTTP", str(spec.health.port), spec.health.path)


def _target_group(spec: NlbSpec, port: PortSpec, tg: TargetGroup | None) -> list[Step]:
    name = port.tg_name
    steps: list[Step] = []
    health = health_of(spec)
    if tg is None:
        steps.append(CreateTargetGroup(name, port, health, dict(spec.tags)))
        have_sticky: bool | None = False
        have: frozenset[Target] = frozenset()
    else:
        if tg.health != health:
            steps.append(SetHealth(name, health))
        have_sticky = tg.sticky
        have = tg.targets or frozenset()
    if have_sticky is not spec.sticky:
        steps.append(SetSticky(name, spec.sticky))
    steps += target_steps(spec, port, have=have)
    return steps


def target_steps(spec: NlbSpec, port: PortSpec, *, have: frozenset[Target]) -> list[Step]:
    """Deregister the extra targets and register the missing, one call each.

    Deregistering first matters only when a node port changes (same instance,
    new port): moto keys targets by instance id alone, and in AWS the new
    target starts unhealthy either way until its first health checks pass.
    """
    want = spec.targets(port)
    steps: list[Step] = []
    if have - want:
        steps.append(SetTargets(port.tg_name, have - want, add=False))
    if want - have:
        steps.append(SetTargets(port.tg_name, want - have, add=True))
    return steps
