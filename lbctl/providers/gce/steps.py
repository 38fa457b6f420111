"""Steps: one API mutation each, the unit shared by ensure, delete and plan.

Guarantees:
- a `Step` is a frozen value naming the resource, the verb and the exact
  payload to send, so the executor has no decisions left to make and `plan`
  can print what `ensure` would do without doing it;
- `Step.change()` renders it as the provider-neutral `Change` of `lbctl plan`;
- `batched` cuts instance lists to GCE's limits (create with at most 200
  instances, add or remove at most 1000 per call), in a stable order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from lbcommon.model import Action, Change
from lbctl.providers.gce.names import Ref
from lbctl.providers.gce.resources import Address, Firewall, HealthCheck, Kind, Pool, Rule

#: instances given to targetPools.insert; the rest are added in batches
CREATE_BATCH = 200
#: instances per addInstance / removeInstance call (GCE's per-request limit)
UPDATE_BATCH = 1000


class Verb(StrEnum):
    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"
    ADD_INSTANCES = "addInstance"
    REMOVE_INSTANCES = "removeInstance"
    ADD_HEALTH_CHECK = "addHealthCheck"
    REMOVE_HEALTH_CHECK = "removeHealthCheck"
    SET_TARGET = "setTarget"
    #: delete the shared node health check and its firewall if no pool uses it
    RELEASE = "release"


_ACTIONS = {Verb.INSERT: Action.CREATE, Verb.DELETE: Action.DELETE, Verb.RELEASE: Action.DELETE}

Payload = Address | Firewall | HealthCheck | Pool | Rule | tuple[Ref, ...] | str | None


@dataclass(frozen=True)
class Step:
    """One mutation: kind, name, verb and what to send."""

    kind: Kind
    verb: Verb
    name: str
    payload: Payload = None
    #: the step creates, attaches or releases the shared node health check
    shared: bool = False

    def change(self) -> Change:
        return Change(
            _ACTIONS.get(self.verb, Action.UPDATE), self.kind.value, self.name, self.detail
        )

    @property
    def detail(self) -> str:
        payload = self.payload
        if isinstance(payload, tuple):
            listed = ", ".join(ref.name for ref in payload[:5])
            more = f" and {len(payload) - 5} more" if len(payload) > 5 else ""
            return f"{self.verb.value} {len(payload)}: {listed}{more}"
        if self.verb is Verb.RELEASE:
            return "shared node health check and its firewall, if no target pool uses them"
        if self.verb in (Verb.ADD_HEALTH_CHECK, Verb.REMOVE_HEALTH_CHECK, Verb.SET_TARGET):
            return f"{self.verb.value} {payload}"
        if self.verb is Verb.DELETE or payload is None:
            return ""
        return _describe(payload)


def _describe(payload: Address | Firewall | HealthCheck | Pool | Rule | str) -> str:
    match payload:
        case Address(ip=ip, tier=tier):
            return f"{ip or 'any IP'} ({tier})"
        case Firewall():
            tags = ",".join(payload.target_tags) or "all instances"
            destinations = ",".join(payload.destination_ranges) or "*"
            return (
                f"allow {payload.protocol}:{','.join(payload.ports)} from "
                f"{','.join(payload.source_ranges)} to {destinations} on {tags}"
            )
        case HealthCheck():
            return f"HTTP :{payload.port}{payload.path} every {payload.interval}s"
        case Pool():
            checks = ",".join(payload.health_checks) or "none"
            return (
                f"{len(payload.instances)} instances, health check {checks}, "
                f"affinity {payload.affinity}"
            )
        case Rule():
            return (
                f"{payload.ip} {payload.protocol} {payload.port_range} -> {payload.pool} "
                f"({payload.tier})"
            )
    return str(payload)


def batched(refs: Iterable[Ref], size: int) -> Iterator[tuple[Ref, ...]]:
    ordered = sorted(refs)
    for start in range(0, len(ordered), size):
        yield tuple(ordered[start : start + size])


def membership_steps(pool: str, add: Iterable[Ref], remove: Iterable[Ref]) -> list[Step]:
    """addInstance then removeInstance, each in batches of UPDATE_BATCH."""
    steps = [
        Step(Kind.POOL, Verb.ADD_INSTANCES, pool, batch) for batch in batched(add, UPDATE_BATCH)
    ]
    steps += [
        Step(Kind.POOL, Verb.REMOVE_INSTANCES, pool, batch)
        for batch in batched(remove, UPDATE_BATCH)
    ]
    return steps
