"""What lbctl owns in one region, read in bulk and kept write-through.

Reads are batched across Services instead of issued per resource per
Service: one refresh lists every load balancer and target group (400 per
page), every security group carrying the cluster tag (1000 per page) and the
Elastic IPs, and reads tags only for ARNs it has not seen (20 per call; tags
are written at creation and never change). A refresh is shared by every
`service()` call made within `MAX_AGE` seconds, so a resync of N Services
costs a handful of pages, not N times the resources.

Guarantees:
- a Service is served from the snapshot only when nothing of ours touched it
  since the snapshot was taken: `begin(uid)` before a mutation marks it
  dirty, `commit(resources)` after success stores what the mutations
  returned; a Service left dirty (a failure, or an exception killing the
  reconcile) is re-read before it is used again;
- per-resource details (listeners, stickiness, registered targets,
  cross-zone) are read once, kept write-through, and re-read after
  `verify_period` seconds, so drift made by hand is corrected within it;
- ownership is decided by tags only; load balancers with our naming pattern
  but without our tags are reported as foreign and never touched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from lbcommon.clock import Clock
from lbctl.providers.aws import names, state
from lbctl.providers.aws.api import EC2_TOKEN, ELB_MARKER, AwsApi
from lbctl.providers.aws.state import Address, Nlb, Resources, SecurityGroup, TargetGroup

TAG_BATCH = 20
PAGE = 400
#: seconds one bulk snapshot serves every Service's reconcile
MAX_AGE = 30.0
#: seconds per-resource details are trusted before they are read again
VERIFY_PERIOD = 900.0


@dataclass(frozen=True)
class Shared:
    """What one Service's reconcile needs to know about the others."""

    addresses: tuple[Address, ...] = ()
    #: the cluster's backend group, attached to every NLB of ours
    backend: SecurityGroup | None = None
    #: security groups of the cluster's nodes (tagged for the cluster, not ours)
    node_groups: tuple[SecurityGroup, ...] = ()
    #: Elastic IP allocation -> (uid, "namespace/name") of the Service whose NLB uses it
    eip_holders: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    #: load balancers named like ours but without our tags
    foreign_lbs: frozenset[str] = frozenset()


@dataclass
class _Snapshot:
    taken_at: float
    services: dict[str, Resources]
    shared: Shared


class Inventory:
    """The provider's view of AWS: bulk snapshot, write-through, per-Service dirty marks."""

    def __init__(
        self,
        api: AwsApi,
        *,
        cluster_id: str,
        vpc_id: str | None,
        workers: int,
        clock: Clock,
    ) -> None:
        """Ages (MAX_AGE, VERIFY_PERIOD) are seconds of `clock`."""
        self._api = api
        self._cluster_id = cluster_id
        self._vpc_id = vpc_id
        self._max_age = MAX_AGE
        self._verify_period = VERIFY_PERIOD
        self._workers = workers
        self._clock = clock
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._dirty: set[str] = set()
        self._epoch = 0
        self._touched: dict[str, int] = {}
        self._detail_at: dict[str, float] = {}
        self._tags: dict[str, dict[str, str]] = {}

    # -- reads ------------------------------------------------------------

    def service(self, uid: str) -> tuple[Resources, Shared]:
        """A working copy of one Service's resources, fresh within `max_age`."""
        while True:
            found = self._fresh(uid, self._max_age)
            if found is not None:
                return found
            with self._refresh_lock:
                found = self._fresh(uid, self._max_age)
                if found is not None:
                    return found
                self._refresh()

    def everything(self, *, max_age: float = 0.0) -> tuple[dict[str, Resources], Shared]:
        """Every Service's resources; `max_age=0` forces a refresh."""
        with self._refresh_lock:
            with self._lock:
                snap = self._snapshot
                stale = snap is None or self._clock.now() - snap.taken_at >= max_age or self._dirty
            if stale:
                self._refresh()
            with self._lock:
                assert self._snapshot is not None
                services = {u: r.copy() for u, r in self._snapshot.services.items()}
                return services, self._snapshot.shared

    def _fresh(self, uid: str, max_age: float) -> tuple[Resources, Shared] | None:
        with self._lock:
            snap = self._snapshot
            if snap is None or uid in self._dirty or self._clock.now() - snap.taken_at >= max_age:
                return None
            found = snap.services.get(uid)
            return (found.copy() if found else Resources(uid=uid)), snap.shared

    def shared(self) -> Shared:
        """The latest cluster-level view, with every write-through applied."""
        with self._lock:
            return self._snapshot.shared if self._snapshot else Shared()

    def set_backend(self, backend: SecurityGroup, node_groups: tuple[SecurityGroup, ...]) -> None:
        """Store the cluster-level groups after the provider changed them."""
        with self._lock:
            if self._snapshot is not None:
                self._snapshot.shared = replace(
                    self._snapshot.shared, backend=backend, node_groups=node_groups
                )

    def refresh_addresses(self) -> Shared:
        """Re-read the Elastic IPs alone (a user may have just allocated one)."""
        addresses = self._read_addresses()
        with self._lock:
            if self._snapshot is None:
                return Shared(addresses=addresses)
            self._snapshot.shared = replace(self._snapshot.shared, addresses=addresses)
            return self._snapshot.shared

    def _read_addresses(self) -> tuple[Address, ...]:
        reply = self._api.call("ec2", "DescribeAddresses")
        return tuple(state.address_from_api(a) for a in reply.get("Addresses", []))

    # -- writes -----------------------------------------------------------

    def begin(self, uid: str) -> None:
        """Called before the first mutation of a Service's resources."""
        with self._lock:
            self._epoch += 1
            self._touched[uid] = self._epoch
            self._dirty.add(uid)

    def commit(self, resources: Resources) -> None:
        """Store what a finished reconcile leaves behind."""
        uid = resources.uid
        with self._lock:
            self._epoch += 1
            self._touched[uid] = self._epoch
            self._dirty.discard(uid)
            self._detail_at.setdefault(uid, self._clock.now())
            # We wrote these tags at creation: no need to ask AWS for them later.
            if resources.lb is not None:
                self._tags.setdefault(resources.lb.arn, dict(resources.lb.tags))
            for tg in resources.target_groups.values():
                self._tags.setdefault(tg.arn, dict(tg.tags))
            if self._snapshot is None:
                return
            services = self._snapshot.services
            if resources.empty:
                services.pop(uid, None)
                self._detail_at.pop(uid, None)
            else:
                services[uid] = resources.copy()
            self._snapshot.shared = _with_holder(self._snapshot.shared, resources)

    # -- the bulk refresh -------------------------------------------------

    def _refresh(self) -> None:
        with self._lock:
            started_epoch = self._epoch
            # A dirty Service's last known details may predate a mutation: never carry them.
            previous = {
                u: r
                for u, r in (self._snapshot.services if self._snapshot else {}).items()
                if u not in self._dirty
            }
        taken_at = self._clock.now()
        services, shared = self._read(previous)
        with self._lock:
            old = self._snapshot.services if self._snapshot else {}
            merged: dict[str, Resources] = {}
            for uid in set(services) | set(old):
                if self._touched.get(uid, -1) > started_epoch:
                    if uid in old:
                        merged[uid] = old[uid]
                elif uid in services:
                    merged[uid] = services[uid]
            self._dirty = {u for u in self._dirty if self._touched.get(u, -1) > started_epoch}
            self._snapshot = _Snapshot(taken_at, merged, _holders(shared, merged.values()))

    def _read(self, previous: Mapping[str, Resources]) -> tuple[dict[str, Resources], Shared]:
        lbs = self._list("DescribeLoadBalancers", "LoadBalancers", names.LB_NAME_RE.match)
        tgs = self._list("DescribeTargetGroups", "TargetGroups", names.TG_NAME_RE.match)
        tags = self._tags_of(
            [lb["LoadBalancerArn"] for lb in lbs] + [t["TargetGroupArn"] for t in tgs]
        )
        services: dict[str, Resources] = {}
        foreign: set[str] = set()

        def slot(tag_map: Mapping[str, str]) -> Resources | None:
            owner = names.owner_from_tags(tag_map, self._cluster_id)
            return services.setdefault(owner.uid, Resources(uid=owner.uid)) if owner else None

        for data in lbs:
            lb_tags = tags.get(data["LoadBalancerArn"], {})
            res = slot(lb_tags)
            if res is None:
                foreign.add(data["LoadBalancerName"])
            elif data.get("Type") == "network":
                res.lb = state.nlb_from_api(data, lb_tags)
        for data in tgs:
            tg_tags = tags.get(data["TargetGroupArn"], {})
            if (res := slot(tg_tags)) is not None:
                tg = state.target_group_from_api(data, tg_tags)
                res.target_groups[tg.name] = tg
        backend, node_groups = self._groups(slot)
        self._details(services, previous)
        shared = Shared(
            addresses=self._read_addresses(),
            backend=backend,
            node_groups=tuple(node_groups),
            foreign_lbs=frozenset(foreign),
        )
        return services, shared

    def _list(self, operation: str, key: str, keep: Callable[[str], Any]) -> list[dict[str, Any]]:
        name_field = "LoadBalancerName" if key == "LoadBalancers" else "TargetGroupName"
        return [
            item
            for page in self._api.pages("elbv2", operation, token=ELB_MARKER, PageSize=PAGE)
            for item in page.get(key, [])
            if keep(item.get(name_field, ""))
        ]

    def _tags_of(self, arns: Iterable[str]) -> dict[str, dict[str, str]]:
        """Tags by ARN, asking AWS only about ARNs not seen before."""
        wanted = list(arns)
        unknown = [a for a in wanted if a not in self._tags]
        for start in range(0, len(unknown), TAG_BATCH):
            batch = unknown[start : start + TAG_BATCH]
            reply = self._api.call("elbv2", "DescribeTags", ResourceArns=batch)
            for entry in reply.get("TagDescriptions", []):
                self._tags[entry["ResourceArn"]] = names.tag_dict(entry.get("Tags"))
        return {a: self._tags.get(a, {}) for a in wanted}

    def _groups(
        self, slot: Callable[[Mapping[str, str]], Resources | None]
    ) -> tuple[SecurityGroup | None, list[SecurityGroup]]:
        """Services' groups into their slots; returns (backend group, node groups)."""
        tag = names.cluster_tag(self._cluster_id)
        filters = [{"Name": "tag-key", "Values": [tag]}]
        if self._vpc_id:
            filters.append({"Name": "vpc-id", "Values": [self._vpc_id]})
        backend: SecurityGroup | None = None
        node_groups: list[SecurityGroup] = []
        for page in self._api.pages(
            "ec2", "DescribeSecurityGroups", token=EC2_TOKEN, Filters=filters, MaxResults=1000
        ):
            for data in page.get("SecurityGroups", []):
                group = state.security_group_from_api(data)
                if group.tags.get(names.ROLE_TAG) == names.BACKEND:
                    backend = group if group.tags.get(tag) == names.OWNED else backend
                elif (res := slot(group.tags)) is not None:
                    res.sg = group
                elif group.tags.get(tag) in (names.OWNED, names.SHARED):
                    node_groups.append(group)
        return backend, node_groups

    def _details(self, services: dict[str, Resources], previous: Mapping[str, Resources]) -> None:
        now = self._clock.now()
        todo: list[Resources] = []
        for uid, res in services.items():
            old = previous.get(uid)
            fresh = old is not None and now - self._detail_at.get(uid, -1e18) < self._verify_period
            if old is not None and fresh and _carry_details(res, old):
                continue
            todo.append(res)
        if not todo:
            return
        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            list(pool.map(self._read_details, todo))
        with self._lock:
            for res in todo:
                self._detail_at[res.uid] = now

    def _read_details(self, res: Resources) -> None:
        if res.lb is not None:
            res.lb = self.read_lb_details(res.lb)
        for name, tg in list(res.target_groups.items()):
            res.target_groups[name] = self.read_tg_details(tg)

    def read_lb_details(self, lb: Nlb) -> Nlb:
        reply = self._api.call("elbv2", "DescribeListeners", LoadBalancerArn=lb.arn)
        listeners = tuple(state.listener_from_api(x) for x in reply.get("Listeners", []))
        cross_zone: bool | None = None
        if lb.eip_allocation:
            attrs = self._api.call(
                "elbv2", "DescribeLoadBalancerAttributes", LoadBalancerArn=lb.arn
            ).get("Attributes", [])
            cross_zone = state.cross_zone_from_api(attrs)
        return replace(lb, listeners=listeners, cross_zone=cross_zone)

    def read_tg_details(self, tg: TargetGroup) -> TargetGroup:
        attrs = self._api.call("elbv2", "DescribeTargetGroupAttributes", TargetGroupArn=tg.arn).get(
            "Attributes", []
        )
        health = self._api.call("elbv2", "DescribeTargetHealth", TargetGroupArn=tg.arn)
        return replace(
            tg,
            sticky=state.sticky_from_api(attrs),
            targets=state.targets_from_api(health.get("TargetHealthDescriptions", [])),
        )


def _carry_details(res: Resources, old: Resources) -> bool:
    """Copy still-valid details from the last snapshot; False if any is missing."""
    if res.lb is not None:
        if old.lb is None or old.lb.arn != res.lb.arn or old.lb.listeners is None:
            return False
        res.lb = replace(res.lb, listeners=old.lb.listeners, cross_zone=old.lb.cross_zone)
    for name, tg in res.target_groups.items():
        before = old.target_groups.get(name)
        if before is None or before.arn != tg.arn or before.targets is None:
            return False
        res.target_groups[name] = replace(tg, sticky=before.sticky, targets=before.targets)
    return True


def _holders(shared: Shared, services: Iterable[Resources]) -> Shared:
    holders = {
        r.lb.eip_allocation: _holder(r.uid, r.lb)
        for r in services
        if r.lb is not None and r.lb.eip_allocation
    }
    return replace(shared, eip_holders=holders)


def _holder(uid: str, lb: Nlb) -> tuple[str, str]:
    return uid, lb.tags.get(names.SERVICE_NAME_TAG, "?")


def _with_holder(shared: Shared, res: Resources) -> Shared:
    holders = {a: h for a, h in shared.eip_holders.items() if h[0] != res.uid}
    if res.lb is not None and res.lb.eip_allocation:
        holders[res.lb.eip_allocation] = _holder(res.uid, res.lb)
    return replace(shared, eip_holders=holders)
