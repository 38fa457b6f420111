"""The pure diff: (LbSpec, Observed) -> ordered Steps, for ensure, plan and delete.

Guarantees:
- no I/O and no clock: the same inputs give the same steps, so `plan` shows
  exactly what `ensure` would do, and the table-driven tests need no fake;
- ensure order is address, firewall, health-check firewall, health check,
  target pool, forwarding rule, then clean-up; delete order is the reverse;
  a resource is never deleted while another still refers to it;
- changes are made in place whenever the Compute API allows: firewalls and
  health checks are updated; a traffic-policy change swaps the pool's health
  check (removeHealthCheck/addHealthCheck); an affinity change builds the
  second pool (`<name>-alt`, or back), points the rule at it with setTarget
  and only then deletes the old one; backends are added before they are
  removed. The forwarding rule is recreated only for what GCE cannot change
  (IP, protocol, port range, tier), and the address is reserved first so the
  IP survives the recreation;
- the IP is settled first (`plan_address`): a user's static address named in
  loadBalancerIP is used and never released; otherwise the address named
  after the load balancer is reserved (promoting the rule's ephemeral IP
  when there is one) and released on delete.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lbcommon.errors import InvalidServiceError, Problem
from lbcommon.model import ServiceKey
from lbctl.providers.gce import names
from lbctl.providers.gce.names import Scope
from lbctl.providers.gce.resources import (
    Address,
    Firewall,
    HealthCheck,
    Kind,
    Observed,
    Pool,
    Rule,
    canonical_ranges,
)
from lbctl.providers.gce.spec import HEALTH_CHECK_RANGES, NETWORK_TIER_ANNOTATION, LbSpec
from lbctl.providers.gce.steps import CREATE_BATCH, Step, Verb, batched, membership_steps

#: stands for the IP of an address not reserved yet (plan output only)
PENDING_IP = "<new static IP>"


@dataclass(frozen=True)
class AddressPlan:
    """How the load balancer gets its IP."""

    steps: tuple[Step, ...]
    #: the IP to use; None until the address in `steps` is reserved
    ip: str | None
    #: release our address once the rule no longer uses it
    release: bool = False


def _owner_description(spec: LbSpec, scope: Scope, *, ip: str | None = None) -> str:
    return names.describe(cluster_id=scope.cluster_id, service=spec.key, uid=spec.uid, ip=ip)


def plan_address(spec: LbSpec, obs: Observed, scope: Scope) -> AddressPlan:
    """Settle the IP; InvalidServiceError when loadBalancerIP cannot be used."""
    ours, rule = obs.address, obs.rule

    def reserve(ip: str | None) -> Step:
        wanted = Address(spec.name, ip, spec.tier.value, _owner_description(spec, scope))
        return Step(Kind.ADDRESS, Verb.INSERT, spec.name, wanted)

    def replace_ours(ip: str | None) -> tuple[Step, ...]:
        # Same name, new IP or tier: the rule using it and the old address go first.
        first = []
        if ours is not None and rule is not None and rule.ip == ours.ip:
            first.append(Step(Kind.RULE, Verb.DELETE, spec.name))
        first.append(Step(Kind.ADDRESS, Verb.DELETE, spec.name))
        return (*first, reserve(ip))

    requested = spec.requested_ip
    if requested:
        holder = obs.ip_holders.get(requested)
        if holder is not None and holder.name != spec.name:
            _check_user_address(spec, holder)
            return AddressPlan((), requested, release=ours is not None)
        if ours is not None and (ours.ip, ours.tier) == (requested, spec.tier.value):
            return AddressPlan((), requested)
        steps = replace_ours(requested) if ours is not None else (reserve(requested),)
        return AddressPlan(steps, requested)
    if ours is not None:
        if ours.tier == spec.tier.value:
            return AddressPlan((), ours.ip)
        return AddressPlan(replace_ours(None), None)
    if rule is not None:
        holder = obs.ip_holders.get(rule.ip)
        if holder is not None and holder.tier == spec.tier.value:
            return AddressPlan((), rule.ip)  # a user's address the rule already uses: keep it
        if holder is None and rule.tier == spec.tier.value:
            return AddressPlan((reserve(rule.ip),), rule.ip)  # promote the ephemeral IP
    return AddressPlan((reserve(None),), None)


def _check_user_address(spec: LbSpec, holder: Address) -> None:
    problems = []
    if holder.tier != spec.tier.value:
        problems.append(
            Problem(
                f"metadata.annotations[{NETWORK_TIER_ANNOTATION}]",
                f"the static address {holder.name} ({holder.ip}) is in the {holder.tier} tier, "
                f"the Service asks for {spec.tier.value}",
            )
        )
    others = [u for u in holder.users if u.collection == Kind.RULE and u.name != spec.name]
    if others:
        problems.append(
            Problem(
                "spec.loadBalancerIP",
                f"{spec.requested_ip} is already used by forwarding rule {others[0].name}",
            )
        )
    if problems:
        raise InvalidServiceError(problems)


def plan_resources(spec: LbSpec, obs: Observed, scope: Scope, *, ip: str) -> list[Step]:
    """Everything after the address, given the IP it settled on."""
    steps = _firewall_steps(spec, obs, scope, ip=ip)
    steps += _health_check_steps(spec, obs, scope)
    pool, pool_steps, dropped = _pool_steps(spec, obs, scope)
    steps += pool_steps
    steps += _rule_steps(spec, obs, scope, ip=ip, pool=pool)
    steps += _cleanup_steps(spec, obs, scope, keep=pool, dropped=dropped)
    return steps


def plan_ensure(spec: LbSpec, obs: Observed, scope: Scope) -> list[Step]:
    """All steps at once (for `plan`): the IP of a new address shows as PENDING_IP."""
    address = plan_address(spec, obs, scope)
    rule_dropped = any(s.kind is Kind.RULE and s.verb is Verb.DELETE for s in address.steps)
    after = replace(obs, rule=None) if rule_dropped else obs
    steps = list(address.steps) + plan_resources(spec, after, scope, ip=address.ip or PENDING_IP)
    if address.release:
        steps.append(Step(Kind.ADDRESS, Verb.DELETE, spec.name))
    return steps


def _firewall(
    name: str, *, description: str, scope: Scope, protocol: str, ports: tuple[str, ...],
    sources: tuple[str, ...], destinations: tuple[str, ...], tags: tuple[str, ...],
) -> Firewall:  # fmt: skip
    return Firewall(
        name=name,
        description=description,
        network=scope.network,
        protocol=protocol,
        ports=ports,
        source_ranges=canonical_ranges(sources),
        destination_ranges=canonical_ranges(destinations),
        target_tags=tuple(sorted(set(tags))),
    )


def _converge(
    kind: Kind, have: object, want: Firewall | HealthCheck, *, shared: bool
) -> list[Step]:
    if have is None:
        return [Step(kind, Verb.INSERT, want.name, want, shared=shared)]
    if have != want:
        return [Step(kind, Verb.UPDATE, want.name, want, shared=shared)]
    return []


def _tags(spec: LbSpec, obs: Observed, existing: Firewall | None) -> tuple[str, ...]:
    # With no instance to read tags from, keep what the firewall has: never
    # churn it, and never widen it to every instance of the network.
    if not spec.instances and existing is not None:
        return existing.target_tags
    return obs.tags


def _firewall_steps(spec: LbSpec, obs: Observed, scope: Scope, *, ip: str) -> list[Step]:
    name = names.firewall_name(spec.name)
    have = obs.firewalls.get(name)
    want = _firewall(
        name,
        description=_owner_description(spec, scope, ip=ip),
        scope=scope,
        protocol=spec.protocol.value.lower(),
        ports=spec.firewall_ports,
        sources=spec.source_ranges,
        destinations=(ip,),
        tags=_tags(spec, obs, have),
    )
    return _converge(Kind.FIREWALL, have, want, shared=False)


def _health_check_steps(spec: LbSpec, obs: Observed, scope: Scope) -> list[Step]:
    check = spec.health_check
    if check.shared:
        description = names.describe(cluster_id=scope.cluster_id)
    else:
        description = _owner_description(spec, scope)
    have_fw = obs.firewalls.get(check.firewall)
    want_fw = _firewall(
        check.firewall,
        description=description,
        scope=scope,
        protocol="tcp",
        ports=(str(check.port),),
        sources=HEALTH_CHECK_RANGES,
        destinations=(),
        tags=_tags(spec, obs, have_fw),
    )
    steps = _converge(Kind.FIREWALL, have_fw, want_fw, shared=check.shared)
    want = HealthCheck(
        name=check.name,
        description=description,
        port=check.port,
        path=check.path,
        interval=check.interval,
        timeout=check.timeout,
        healthy=check.healthy,
        unhealthy=check.unhealthy,
    )
    have = obs.health_checks.get(check.name)
    if have is None:
        steps.append(Step(Kind.HEALTH_CHECK, Verb.INSERT, want.name, want, shared=check.shared))
    elif not have.covers(want):
        merged = have.merged(want)
        steps.append(Step(Kind.HEALTH_CHECK, Verb.UPDATE, want.name, merged, shared=check.shared))
    return steps


def choose_pool(spec: LbSpec, obs: Observed) -> tuple[str, bool, str | None]:
    """(pool to use, whether to create it, pool to delete first so its name is free)."""
    primary, alt = spec.pools
    existing = {name: obs.pools[name] for name in spec.pools if name in obs.pools}
    target = obs.rule.pool if obs.rule is not None and obs.rule.pool in existing else None
    for name in dict.fromkeys(n for n in (target, primary, alt) if n is not None):
        if name in existing and existing[name].affinity == spec.affinity:
            return name, False, None
    for name in (primary, alt):
        if name not in existing:
            return name, True, None
    victim = alt if target == primary else primary
    return victim, True, victim


def _pool_steps(spec: LbSpec, obs: Observed, scope: Scope) -> tuple[str, list[Step], str | None]:
    name, create, victim = choose_pool(spec, obs)
    check = spec.health_check
    members = set(spec.instances)
    if obs.existing is not None:
        members &= obs.existing
    steps: list[Step] = []
    if victim is not None:
        steps.append(Step(Kind.POOL, Verb.DELETE, victim))
    if create:
        first, *rest = list(batched(members, CREATE_BATCH)) or [()]
        pool = Pool(
            name=name,
            description=_owner_description(spec, scope),
            instances=frozenset(first),
            health_checks=(check.name,),
            affinity=spec.affinity,
        )
        steps.append(Step(Kind.POOL, Verb.INSERT, name, pool, shared=check.shared))
        steps += membership_steps(name, [ref for batch in rest for ref in batch], ())
        return name, steps, victim
    have = obs.pools[name]
    steps += membership_steps(name, members - have.instances, have.instances - members)
    for stale in have.health_checks:
        if stale != check.name:
            steps.append(Step(Kind.POOL, Verb.REMOVE_HEALTH_CHECK, name, stale))
    if check.name not in have.health_checks:
        steps.append(Step(Kind.POOL, Verb.ADD_HEALTH_CHECK, name, check.name, shared=check.shared))
    return name, steps, victim


def _rule_steps(spec: LbSpec, obs: Observed, scope: Scope, *, ip: str, pool: str) -> list[Step]:
    want = Rule(
        name=spec.name,
        description=_owner_description(spec, scope),
        ip=ip,
        protocol=spec.protocol.value,
        port_range=spec.port_range,
        pool=pool,
        tier=spec.tier.value,
    )
    have = obs.rule
    if have is None:
        return [Step(Kind.RULE, Verb.INSERT, spec.name, want)]
    fixed = ("ip", "protocol", "port_range", "tier")
    if any(getattr(have, f) != getattr(want, f) for f in fixed):
        # Immutable in GCE: recreate. The address is already reserved, so the IP stays.
        return [
            Step(Kind.RULE, Verb.DELETE, spec.name),
            Step(Kind.RULE, Verb.INSERT, spec.name, want),
        ]
    if have.pool != pool:
        return [Step(Kind.RULE, Verb.SET_TARGET, spec.name, pool)]
    return []


def _cleanup_steps(
    spec: LbSpec, obs: Observed, scope: Scope, *, keep: str, dropped: str | None
) -> list[Step]:
    steps = [
        Step(Kind.POOL, Verb.DELETE, name)
        for name in spec.pools
        if name in obs.pools and name not in (keep, dropped)
    ]
    if spec.health_check.shared:
        own_fw = names.health_check_firewall_name(spec.name, shared=False)
        if spec.name in obs.health_checks:
            steps.append(Step(Kind.HEALTH_CHECK, Verb.DELETE, spec.name))
        if own_fw in obs.firewalls:
            steps.append(Step(Kind.FIREWALL, Verb.DELETE, own_fw))
    else:
        steps += _release_shared(obs, scope)
    return steps


def _release_shared(obs: Observed, scope: Scope) -> list[Step]:
    shared = names.shared_health_check_name(scope.cluster_id)
    shared_fw = names.health_check_firewall_name(shared, shared=True)
    if obs.shared_in_use or (shared not in obs.health_checks and shared_fw not in obs.firewalls):
        return []
    return [Step(Kind.HEALTH_CHECK, Verb.RELEASE, shared, shared=True)]


def plan_delete(name: str, key: ServiceKey, obs: Observed, scope: Scope) -> list[Step]:
    """Steps that remove every resource of load balancer `name`; user addresses stay."""
    steps: list[Step] = []
    if obs.rule is not None:
        steps.append(Step(Kind.RULE, Verb.DELETE, name))
    steps += [
        Step(Kind.POOL, Verb.DELETE, pool) for pool in names.pool_names(name) if pool in obs.pools
    ]
    if name in obs.health_checks:
        steps.append(Step(Kind.HEALTH_CHECK, Verb.DELETE, name))
    own_fw = names.health_check_firewall_name(name, shared=False)
    if own_fw in obs.firewalls:
        steps.append(Step(Kind.FIREWALL, Verb.DELETE, own_fw))
    steps += _release_shared(obs, scope)
    if names.firewall_name(name) in obs.firewalls:
        steps.append(Step(Kind.FIREWALL, Verb.DELETE, names.firewall_name(name)))
    if obs.address is not None and owned_by(obs.address.description, key, scope):
        steps.append(Step(Kind.ADDRESS, Verb.DELETE, name))
    return steps


def owned_by(description: str, key: ServiceKey, scope: Scope) -> bool:
    """Ours, or upstream's for the same Service (so a migrated cluster cleans up)."""
    owner = names.parse_owner(description)
    if owner.cluster_id is not None:
        return owner.cluster_id == scope.cluster_id
    return owner.service == key
