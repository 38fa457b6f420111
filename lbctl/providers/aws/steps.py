"""aws's steps: one AWS mutation each, frozen values the shared executor applies.

Guarantees:
- each step names the resource it changes by its deterministic name (the
  load balancer, a target group, a security group) or, for what has no name
  of ours (a node group, a listener), by its id or port; ids a step needs
  but the diff cannot know yet (a group or target group created earlier in
  the same plan) are looked up when the step runs, in the working copy the
  earlier steps filled in (lbctl.providers.aws.apply);
- `change()` renders the step as one line of `lbctl plan`; an id not known
  yet shows as the resource's name in parentheses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from lbcommon.model import Action, Change
from lbctl.providers.aws.spec import CidrRule, NodeRule, PortSpec, Target
from lbctl.providers.aws.state import Health


class Kind(StrEnum):
    SECURITY_GROUP = "security-group"
    NODE_SECURITY_GROUP = "node-security-group"
    LOAD_BALANCER = "load-balancer"
    TARGET_GROUP = "target-group"
    LISTENER = "listener"


class GroupRole(StrEnum):
    """Which security group a step means: a Service's own, or the cluster's backend."""

    SERVICE = "service"
    BACKEND = "backend"


@dataclass(frozen=True)
class CreateGroup:
    name: str
    role: GroupRole
    description: str
    vpc_id: str
    tags: Mapping[str, str] = field(default_factory=dict)
    kind: Kind = Kind.SECURITY_GROUP

    def change(self) -> Change:
        return Change(Action.CREATE, self.kind, self.name, f"in {self.vpc_id}")


@dataclass(frozen=True)
class SetCidrs:
    """Authorize (`allow`) or revoke ingress from client ranges to a Service's group."""

    name: str
    rules: frozenset[CidrRule]
    allow: bool
    kind: Kind = Kind.SECURITY_GROUP

    def change(self) -> Change:
        verb = "allow " if self.allow else "revoke "
        return Change(Action.UPDATE, self.kind, self.name, verb + _cidrs(self.rules))


@dataclass(frozen=True)
class SetNodeRules:
    """Authorize or revoke, in a node group, the rules admitting the backend group."""

    name: str  # the node group's id
    source: str  # the backend group's name
    source_id: str | None
    rules: frozenset[NodeRule]
    allow: bool
    kind: Kind = Kind.NODE_SECURITY_GROUP

    def change(self) -> Change:
        verb = "allow" if self.allow else "revoke"
        detail = f"{verb} {_ports(self.rules)} from {self.source_id or f'({self.source})'}"
        return Change(Action.UPDATE, self.kind, self.name, detail)


@dataclass(frozen=True)
class DeleteGroup:
    name: str
    id: str
    kind: Kind = Kind.SECURITY_GROUP

    def change(self) -> Change:
        return Change(Action.DELETE, self.kind, self.name, self.id)


@dataclass(frozen=True)
class CreateLoadBalancer:
    name: str
    subnets: tuple[str, ...]
    allocation: str | None
    tags: Mapping[str, str]
    #: the Service's group and the backend group, by name (ids resolved when run)
    groups: tuple[str, str]
    kind: Kind = Kind.LOAD_BALANCER

    def change(self) -> Change:
        eip = f" with Elastic IP {self.allocation}" if self.allocation else ""
        detail = f"network, in {', '.join(self.subnets)}{eip}"
        return Change(Action.CREATE, self.kind, self.name, detail)


@dataclass(frozen=True)
class SetSecurityGroups:
    name: str
    #: (name, id if known) of the Service's group and of the backend group
    groups: tuple[tuple[str, str | None], tuple[str, str | None]]
    kind: Kind = Kind.LOAD_BALANCER

    def change(self) -> Change:
        shown = ", ".join(ident or f"({name})" for name, ident in self.groups)
        return Change(Action.UPDATE, self.kind, self.name, "security groups -> " + shown)


@dataclass(frozen=True)
class SetCrossZone:
    name: str
    kind: Kind = Kind.LOAD_BALANCER

    def change(self) -> Change:
        return Change(Action.UPDATE, self.kind, self.name, "enable cross-zone load balancing")


@dataclass(frozen=True)
class DeleteLoadBalancer:
    name: str
    kind: Kind = Kind.LOAD_BALANCER

    def change(self) -> Change:
        return Change(Action.DELETE, self.kind, self.name)


@dataclass(frozen=True)
class CreateTargetGroup:
    name: str
    port: PortSpec
    health: Health
    tags: Mapping[str, str]
    kind: Kind = Kind.TARGET_GROUP

    def change(self) -> Change:
        detail = f"{self.port.protocol} node port {self.port.node_port}"
        return Change(Action.CREATE, self.kind, self.name, detail)


@dataclass(frozen=True)
class SetHealth:
    name: str
    health: Health
    kind: Kind = Kind.TARGET_GROUP

    def change(self) -> Change:
        h = self.health
        detail = f"health check {h.protocol}:{h.port}{h.path}"
        return Change(Action.UPDATE, self.kind, self.name, detail)


@dataclass(frozen=True)
class SetSticky:
    name: str
    sticky: bool
    kind: Kind = Kind.TARGET_GROUP

    def change(self) -> Change:
        detail = "stickiness source_ip" if self.sticky else "no stickiness"
        return Change(Action.UPDATE, self.kind, self.name, detail)


@dataclass(frozen=True)
class SetTargets:
    """Register (`add`) or deregister targets of a target group."""

    name: str
    targets: frozenset[Target]
    add: bool
    kind: Kind = Kind.TARGET_GROUP

    def change(self) -> Change:
        verb = "register " if self.add else "deregister "
        listed = ", ".join(f"{t.instance_id}:{t.port}" for t in sorted(self.targets))
        return Change(Action.UPDATE, self.kind, self.name, verb + listed)


@dataclass(frozen=True)
class DeleteTargetGroup:
    name: str
    kind: Kind = Kind.TARGET_GROUP

    def change(self) -> Change:
        return Change(Action.DELETE, self.kind, self.name)


@dataclass(frozen=True)
class CreateListener:
    lb: str
    port: PortSpec
    kind: Kind = Kind.LISTENER

    @property
    def name(self) -> str:
        return f"{self.lb}:{self.port.port}"

    def change(self) -> Change:
        detail = f"{self.port.protocol} -> {self.port.tg_name}"
        return Change(Action.CREATE, self.kind, self.name, detail)


@dataclass(frozen=True)
class ModifyListener:
    arn: str
    port: int
    target_group: str
    kind: Kind = Kind.LISTENER

    @property
    def name(self) -> str:
        return str(self.port)

    def change(self) -> Change:
        return Change(Action.UPDATE, self.kind, self.name, f"forward to {self.target_group}")


@dataclass(frozen=True)
class DeleteListener:
    arn: str
    port: int
    protocol: str
    kind: Kind = Kind.LISTENER

    @property
    def name(self) -> str:
        return str(self.port)

    def change(self) -> Change:
        return Change(Action.DELETE, self.kind, self.name, self.protocol)


Step = (
    CreateGroup
    | SetCidrs
    | SetNodeRules
    | DeleteGroup
    | CreateLoadBalancer
    | SetSecurityGroups
    | SetCrossZone
    | DeleteLoadBalancer
    | CreateTargetGroup
    | SetHealth
    | SetSticky
    | SetTargets
    | DeleteTargetGroup
    | CreateListener
    | ModifyListener
    | DeleteListener
)


def _cidrs(rules: frozenset[CidrRule]) -> str:
    return ", ".join(f"{r.ip_protocol}/{r.port} from {r.cidr}" for r in sorted(rules))


def _ports(rules: frozenset[NodeRule]) -> str:
    return ", ".join(
        f"{r.ip_protocol}/{r.low}" + (f"-{r.high}" if r.high != r.low else "")
        for r in sorted(rules)
    )
