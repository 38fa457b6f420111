"""The `aws` provider: one internet-facing Network Load Balancer per Service.

What each Service gets (names in lbctl.providers.aws.names):
- a security group `k8s-elb-<lb>` admitting `loadBalancerSourceRanges`
  (default 0.0.0.0/0) on the Service ports, attached to the NLB;
- an NLB `"a" + uid` in one eligible subnet per zone (see `choose_subnets`),
  or, when `loadBalancerIP` names a usable Elastic IP, in one subnet with
  that EIP and cross-zone load balancing on;
- per port number a target group (TCP, UDP or TCP_UDP; instance targets on
  the node port; HTTP health check on healthCheckNodePort for Local, on
  kube-proxy's 10256 for Cluster; stickiness source_ip for ClientIP) and a
  listener forwarding to it;
- shared by all Services: one backend security group per cluster, attached
  to every NLB, and in each node security group (tagged with the cluster
  tag, not ours) three rules admitting it: TCP and UDP on the node-port
  range, TCP 10256. Per-Service rules would exhaust the 60-rule quota of a
  node group at about 30 Services.
Status is `Ingress(hostname=<DNS name>)`; ipMode stays unset, as the API
allows ipMode only with an IP.

Guarantees: validation and Elastic-IP checks happen before any mutation;
every operation is read -> pure diff (diff.py) -> ordered steps (steps.py)
-> the shared executor (apply.py, lbctl.providers.common), the same pattern
as the gce provider, so it is idempotent and `plan` prints exactly the steps
`ensure` would apply; calls for one Service are serialised by a per-UID
lock, the cluster's backend group by the shared lock; reads are batched
across Services (inventory.py); an Elastic IP is never allocated or
released by us, so a user's EIP survives any delete.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lbcommon.clock import Clock, RealClock
from lbcommon.errors import InvalidServiceError, ProviderError
from lbcommon.model import Change, Ingress, LoadBalancer, OwnedResource, ServiceKey
from lbctl.metrics import Metrics
from lbctl.providers.aws import api, diff, names, state
from lbctl.providers.aws.api import AwsApi
from lbctl.providers.aws.apply import Applier, Working
from lbctl.providers.aws.diff import Backend, Placement
from lbctl.providers.aws.inventory import Inventory, Shared
from lbctl.providers.aws.placement import choose_subnets, elastic_ip
from lbctl.providers.aws.spec import NODE_PORT_RANGE, NlbSpec, nlb_spec, node_rules
from lbctl.providers.aws.state import Resources, SecurityGroup, Subnet
from lbctl.providers.aws.steps import Step
from lbctl.providers.common.executor import converge
from lbctl.providers.common.locks import KeyedLocks, SharedLock
from lbctl.providers.common.retry import Retrier, RetryPolicy
from lbctl.providers.common.steps import changes

log = logging.getLogger(__name__)

KIND_LB = "load-balancer"
KIND_TG = "target-group"
KIND_SG = "security-group"


class AwsProvider:
    """Network Load Balancers through elbv2 and ec2 clients given by the caller."""

    name = "aws"

    def __init__(
        self,
        *,
        elbv2: Any,
        ec2: Any,
        metrics: Metrics,
        cluster_id: str,
        vpc_id: str | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        workers: int = 16,
    ) -> None:
        """`clock` (default the real one) times retries and the snapshot's ages;
        tests pass a FakeClock so nothing sleeps. `workers`: Services whose
        targets `update_backends` changes at once."""
        clock = clock or RealClock()
        retrier = Retrier(retry, clock=clock, failures=api)
        self._api = AwsApi(elbv2=elbv2, ec2=ec2, metrics=metrics, retrier=retrier)
        self._cluster_id = cluster_id
        self._vpc_id = vpc_id
        self._workers = workers
        self._inventory = Inventory(
            self._api,
            cluster_id=cluster_id,
            vpc_id=vpc_id,
            workers=workers,
            clock=clock,
        )
        self._node_rules = node_rules(NODE_PORT_RANGE)
        self._locks = KeyedLocks()
        self._backend_lock = SharedLock()
        self._applier = Applier(
            self._api,
            cluster_id=cluster_id,
            begin=self._inventory.begin,
            read_tg_details=self._inventory.read_tg_details,
        )

    # -- the Provider protocol ----------------------------------------------

    def restore(self, published: Mapping[ServiceKey, tuple[Ingress, ...]]) -> list[ServiceKey]:
        """Nothing to adopt: AWS itself is the record of what exists."""
        return []

    def ensure(self, lb: LoadBalancer) -> tuple[Ingress, ...]:
        spec = nlb_spec(lb, cluster_id=self._cluster_id)
        with self._locks.hold(spec.uid):
            res, shared = self._inventory.service(spec.uid)
            allocation, shared = self._allocation(spec, res, shared)
            placements: dict[bool, Placement | None] = {}

            def placement(working: Working) -> Placement | None:
                # Settled before anything is created: no subnet means nothing made.
                new = diff.needs_new_lb(working.res.lb, allocation)
                if new not in placements:
                    placements[new] = self._placement(allocation) if new else None
                return placements[new]

            placement(Working(res))
            backend = self._ensure_backend(spec)
            working = Working(res, backend=backend)

            def plan() -> list[Step]:
                return diff.plan_ensure(
                    spec,
                    working.res,
                    backend=Backend(names.backend_sg_name(self._cluster_id), working.backend),
                    allocation=allocation,
                    placement=placement(working),
                    vpc_id=self._vpc_for(working.res.sg),
                )

            self._apply_until_converged(spec.key, working, plan)
        assert working.res.lb is not None
        return (Ingress(hostname=working.res.lb.dns_name),)

    def update_backends(self, lbs: Sequence[LoadBalancer]) -> Mapping[ServiceKey, Exception]:
        """Re-point every target group at its backends: one call per changed group,
        Services in parallel."""
        failures: dict[ServiceKey, Exception] = {}
        specs: list[NlbSpec] = []
        for lb in lbs:
            try:
                specs.append(nlb_spec(lb, cluster_id=self._cluster_id))
            except InvalidServiceError as err:
                failures[lb.key] = err
        if not specs:
            return failures
        with ThreadPoolExecutor(max_workers=min(self._workers, len(specs))) as pool:
            futures = [(spec.key, pool.submit(self._sync_backends, spec)) for spec in specs]
            for key, future in futures:
                error = future.exception()
                if isinstance(error, Exception):
                    failures[key] = error
                elif error is not None:
                    raise error
        return failures

    def delete(self, key: ServiceKey, uid: str) -> None:
        with self._locks.hold(uid):
            res, _ = self._inventory.service(uid)
            if res.empty:
                return
            working = Working(res)
            self._apply_until_converged(key, working, lambda: diff.plan_delete(working.res))
        log.info("deleted load balancer", extra={"service": key, "provider": self.name})

    def plan(self, lb: LoadBalancer) -> list[Change]:
        spec = nlb_spec(lb, cluster_id=self._cluster_id)
        res, shared = self._inventory.service(spec.uid)
        allocation, shared = self._allocation(spec, res, shared)
        new = diff.needs_new_lb(res.lb, allocation)
        backend = Backend(names.backend_sg_name(self._cluster_id), shared.backend)
        steps = self._plan_backend(backend, shared.node_groups)
        steps += diff.plan_ensure(
            spec,
            res,
            backend=backend,
            allocation=allocation,
            placement=self._placement_for_plan(allocation) if new else None,
            vpc_id=self._vpc_for(res.sg),
        )
        return changes(steps)

    def plan_delete(self, key: ServiceKey, uid: str) -> list[Change]:
        res, _ = self._inventory.service(uid)
        return changes(diff.plan_delete(res))

    def list_owned(self) -> list[OwnedResource]:
        """Everything with our tags, load balancers first (the order gc deletes in)."""
        services, _ = self._inventory.everything(max_age=0.0)
        found: list[OwnedResource] = []
        for kind, pick in ((KIND_LB, _lbs), (KIND_TG, _tgs), (KIND_SG, _sgs)):
            for res in sorted(services.values(), key=lambda r: r.uid):
                found += [
                    OwnedResource(kind, ident, _key(tags), res.uid) for ident, tags in pick(res)
                ]
        return found

    def delete_owned(self, resource: OwnedResource) -> None:
        if resource.uid is None:
            return
        with self._locks.hold(resource.uid):
            res, _ = self._inventory.service(resource.uid)
            part = Working(_take(res, resource))
            service = resource.service or resource.uid
            self._applier.run(diff.plan_delete(part.res), part, service=service)
            self._inventory.commit(res)

    # -- helpers --------------------------------------------------------------

    def _apply_until_converged(
        self, key: ServiceKey, working: Working, plan: Callable[[], list[Step]]
    ) -> None:
        """Diff the working copy and apply, until nothing differs; commit what exists.

        Steps keep `working` up to date, so a round after a clean run diffs to
        nothing without a call; a round after a Replan (something vanished
        under us) first reads the Service's resources afresh.
        """
        stale = False

        def round_() -> bool:
            nonlocal stale
            if stale:
                working.res, _ = self._inventory.service(working.res.uid)
            steps: list[Step] = plan()
            if not steps:
                return True
            stale = True
            self._applier.run(steps, working, service=key)
            stale = False
            return False

        try:
            converge(round_, service=key, provider=self.name)
        finally:
            if not stale:
                self._inventory.commit(working.res)

    def _ensure_backend(self, spec: NlbSpec) -> SecurityGroup:
        """The cluster's backend group id, created with its node rules if missing.

        Serialised across Services (one cluster-level resource, the write side
        of the shared lock); what it did is stored in the inventory.
        """
        name = names.backend_sg_name(self._cluster_id)
        with self._backend_lock.writing():
            shared = self._inventory.shared()
            working = Working(
                Resources(uid=spec.uid),
                backend=shared.backend,
                node_groups=list(shared.node_groups),
            )

            def round_() -> bool:
                steps = self._plan_backend(Backend(name, working.backend), working.node_groups)
                if not steps:
                    return True
                self._applier.run(steps, working, service=spec.key)
                return False

            converge(round_, service=spec.key, provider=self.name)
            assert working.backend is not None
            self._inventory.set_backend(working.backend, tuple(working.node_groups))
            return working.backend

    def _plan_backend(self, backend: Backend, node_groups: Iterable[SecurityGroup]) -> list[Step]:
        return diff.plan_backend(
            backend,
            tuple(node_groups),
            tags=names.backend_tags(self._cluster_id),
            vpc_id=self._vpc_for(backend.group),
            rules=self._node_rules,
        )

    def _sync_backends(self, spec: NlbSpec) -> None:
        with self._locks.hold(spec.uid):
            res, _ = self._inventory.service(spec.uid)
            working = Working(res)

            def plan() -> list[Step]:
                steps: list[Step] = []
                for port in spec.ports:
                    tg = working.res.target_groups.get(port.tg_name)
                    if tg is None:
                        continue  # not built yet: the Service's next ensure builds it
                    if tg.targets is None:
                        tg = self._inventory.read_tg_details(tg)
                        working.res.target_groups[port.tg_name] = tg
                    steps += diff.target_steps(spec, port, have=tg.targets or frozenset())
                return steps

            self._apply_until_converged(spec.key, working, plan)

    def _allocation(
        self, spec: NlbSpec, res: Resources, shared: Shared
    ) -> tuple[str | None, Shared]:
        """The Elastic IP to use, checked, before anything is mutated."""
        if res.lb is None and spec.name in shared.foreign_lbs:
            raise ProviderError(
                f"load balancer {spec.name} exists without lbctl's ownership tags "
                "(another controller's?); refusing to touch it"
            )
        try:
            return elastic_ip(spec, shared), shared
        except InvalidServiceError:
            # The snapshot may predate the user's allocation: look once more.
            shared = self._inventory.refresh_addresses()
            return elastic_ip(spec, shared), shared

    def _vpc_for(self, group: SecurityGroup | None) -> str:
        """The VPC a group to create goes in (looked up only when one must be created)."""
        return group.vpc_id if group is not None else self._vpc()

    def _subnets(self) -> list[Subnet]:
        if self._vpc_id:
            filters = [{"Name": "vpc-id", "Values": [self._vpc_id]}]
        else:
            filters = [{"Name": "tag-key", "Values": [names.cluster_tag(self._cluster_id)]}]
        reply = self._api.call("ec2", "DescribeSubnets", Filters=filters)
        return choose_subnets(
            (state.subnet_from_api(s) for s in reply.get("Subnets", [])), self._cluster_id
        )

    def _vpc(self) -> str:
        if self._vpc_id:
            return self._vpc_id
        vpcs = {s.vpc_id for s in self._subnets()}
        if len(vpcs) != 1:
            raise ProviderError(
                f"subnets tagged {names.cluster_tag(self._cluster_id)} are in "
                f"{len(vpcs)} VPCs; set --aws-vpc-id"
            )
        return vpcs.pop()

    def _placement(self, allocation: str | None) -> Placement:
        subnets = self._subnets()
        if not subnets:
            raise ProviderError(
                "no subnet for the load balancer: tag subnets "
                f"{names.cluster_tag(self._cluster_id)}=owned|shared or {names.ELB_ROLE_TAG}"
                + (f" in {self._vpc_id}" if self._vpc_id else "")
            )
        if allocation:
            return Placement((subnets[0].id,), allocation)
        return Placement(tuple(s.id for s in subnets))

    def _placement_for_plan(self, allocation: str | None) -> Placement:
        try:
            return self._placement(allocation)
        except ProviderError as err:
            return Placement((f"(blocked: {err})",), allocation)


def _lbs(res: Resources) -> list[tuple[str, Mapping[str, str]]]:
    return [(res.lb.arn, res.lb.tags)] if res.lb else []


def _tgs(res: Resources) -> list[tuple[str, Mapping[str, str]]]:
    return [(tg.arn, tg.tags) for _, tg in sorted(res.target_groups.items())]


def _sgs(res: Resources) -> list[tuple[str, Mapping[str, str]]]:
    return [(res.sg.id, res.sg.tags)] if res.sg else []


def _key(tags: Mapping[str, str]) -> ServiceKey | None:
    name = tags.get(names.SERVICE_NAME_TAG)
    return ServiceKey(name) if name else None


def _take(res: Resources, resource: OwnedResource) -> Resources:
    """Move the one resource `resource` names out of `res` into a new Resources."""
    part = Resources(uid=res.uid)
    if resource.kind == KIND_LB and res.lb is not None and res.lb.arn == resource.name:
        part.lb, res.lb = res.lb, None
    elif resource.kind == KIND_TG:
        for name, tg in list(res.target_groups.items()):
            if tg.arn == resource.name:
                part.target_groups[name] = res.target_groups.pop(name)
    elif resource.kind == KIND_SG and res.sg is not None and res.sg.id == resource.name:
        part.sg, res.sg = res.sg, None
    return part
