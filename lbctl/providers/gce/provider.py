"""`GceProvider`: the Provider protocol over target-pool network load balancers.

Each operation is read -> pure diff -> ordered steps -> the shared executor
(lbctl.providers.common), the same pattern as the aws provider:
- `ensure` reads from the round's inventory; when the diff is empty (the
  steady state of a resync) it returns with zero API calls of its own; when
  not, it re-reads the load balancer's resources with GETs, settles the IP
  first, then applies the rest; `Replan` (409/412/404 races) re-reads and
  re-diffs, a bounded number of times (common.executor.converge);
- `update_backends` lists every kind once, fresh, then converges all load
  balancers concurrently (a bounded thread pool): for a node change that is
  one addInstance/removeInstance per target pool, all in flight together;
- `delete` always reads fresh and removes everything in dependency order;
  a user's static address is never in the plan;
- `plan` / `plan_delete` run the same diff and return its steps as Changes,
  mutating nothing; `list_owned` / `delete_owned` live in
  lbctl.providers.gce.owned.
Calls for one load balancer are serialised by a per-name lock.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from lbcommon.clock import Clock
from lbcommon.errors import LbctlError
from lbcommon.model import (
    Change,
    Ingress,
    IPMode,
    LoadBalancer,
    OwnedResource,
    ServiceKey,
)
from lbctl.providers.common.executor import converge
from lbctl.providers.common.locks import KeyedLocks, SharedLock
from lbctl.providers.common.names import lb_name
from lbctl.providers.common.steps import changes
from lbctl.providers.gce import diff, owned
from lbctl.providers.gce.api import ComputeApi
from lbctl.providers.gce.apply import Applier
from lbctl.providers.gce.inventory import CachedReader, DirectReader, Inventory, Listing, Reader
from lbctl.providers.gce.names import Scope
from lbctl.providers.gce.observe import observe
from lbctl.providers.gce.resources import Kind, Observed
from lbctl.providers.gce.spec import LbSpec, load_balancer_spec
from lbctl.providers.gce.steps import Step, Verb

log = logging.getLogger(__name__)

#: seconds one round's listing serves no-op reconciles (a resync round's length)
CACHE_TTL = 20.0


class GceProvider:
    """Target-pool load balancers in one project, region and network."""

    name = "gce"

    def __init__(
        self,
        api: ComputeApi,
        *,
        clock: Clock,
        backend_workers: int = 16,
        on_close: Sequence[object] = (),
    ) -> None:
        """`clock` measures how long one round's listing serves (CACHE_TTL);
        `backend_workers`: concurrent target-pool updates in `update_backends`;
        `on_close`: objects whose `close()` `close` calls (the clients)."""
        self.api = api
        self.scope: Scope = api.scope
        self.inventory = Inventory(api, ttl=CACHE_TTL, clock=clock)
        self._shared = SharedLock()
        self._applier = Applier(api, self.inventory, self._shared)
        self._locks = KeyedLocks()
        self._workers = max(1, backend_workers)
        self._on_close = tuple(on_close)

    def close(self) -> None:
        for item in self._on_close:
            close = getattr(item, "close", None)
            if callable(close):
                close()

    # -- the Provider protocol ----------------------------------------------

    def restore(self, published: Mapping[ServiceKey, tuple[Ingress, ...]]) -> list[ServiceKey]:
        """Nothing to adopt in memory: GCE itself holds every address."""
        return []

    def ensure(self, lb: LoadBalancer) -> tuple[Ingress, ...]:
        spec = self._spec(lb)
        with self._locks.hold(spec.name):
            ip = self._converge(spec, listing=None)
        return (Ingress(ip=ip, ip_mode=IPMode.VIP),)

    def update_backends(self, lbs: Sequence[LoadBalancer]) -> Mapping[ServiceKey, Exception]:
        if not lbs:
            return {}
        failures: dict[ServiceKey, Exception] = {}
        try:
            listing = self.inventory.listing(max_age=0.0)
        except LbctlError as err:
            return {lb.key: err for lb in lbs}

        def one(lb: LoadBalancer) -> None:
            spec = self._spec(lb)
            with self._locks.hold(spec.name):
                self._converge(spec, listing=listing)

        workers = min(self._workers, len(lbs))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gce-backends") as pool:
            futures = {lb.key: pool.submit(one, lb) for lb in lbs}
        for key, future in futures.items():
            error = future.exception()
            if error is not None:
                if not isinstance(error, Exception):
                    raise error
                failures[key] = error
        return failures

    def delete(self, key: ServiceKey, uid: str) -> None:
        name = lb_name(uid)

        def round_() -> bool:
            steps = diff.plan_delete(name, key, self._observe_name(name), self.scope)
            self._applier.run(steps, service=key)
            return True

        with self._locks.hold(name):
            converge(round_, service=key, provider=self.name)

    def plan(self, lb: LoadBalancer) -> list[Change]:
        spec = self._spec(lb)
        obs = self._observe(spec, CachedReader(self.inventory, self.inventory.listing()))
        return changes(diff.plan_ensure(spec, obs, self.scope))

    def plan_delete(self, key: ServiceKey, uid: str) -> list[Change]:
        name = lb_name(uid)
        reader = CachedReader(self.inventory, self.inventory.listing())
        obs = observe(name, reader, self.scope)
        return changes(diff.plan_delete(name, key, obs, self.scope))

    def list_owned(self) -> list[OwnedResource]:
        return owned.list_owned(self.api)

    def delete_owned(self, resource: OwnedResource) -> None:
        self.inventory.forget(Kind(resource.kind), resource.name)
        owned.delete_owned(self.api, self._applier, resource)

    # -- internals ----------------------------------------------------------

    def _spec(self, lb: LoadBalancer) -> LbSpec:
        spec = load_balancer_spec(lb, region=self.scope.region, cluster_id=self.scope.cluster_id)
        if spec.skipped:
            log.warning(
                "nodes without a GCE instance in %s are left out: %s",
                self.scope.region,
                ", ".join(spec.skipped),
                extra={"service": lb.key, "provider": self.name},
            )
        return spec

    def _observe(self, spec: LbSpec, reader: Reader) -> Observed:
        return observe(
            spec.name,
            reader,
            self.scope,
            requested_ip=spec.requested_ip,
            instances=self.inventory.instances(spec.instances),
            wanted=spec.instances,
            shared_users=not spec.health_check.shared,
        )

    def _observe_name(self, name: str) -> Observed:
        return observe(name, DirectReader(self.inventory), self.scope)

    def _converge(self, spec: LbSpec, *, listing: Listing | None) -> str:
        """Read, diff, apply until nothing differs; returns the IP.

        With `listing` (node sync) that fresh listing is trusted for the first
        round; otherwise the cached one decides whether anything differs and
        GETs confirm before the first mutation.
        """
        trusted = listing is not None
        reader: Reader = CachedReader(self.inventory, listing or self.inventory.listing())
        direct = DirectReader(self.inventory)
        settled: list[str] = []

        def round_() -> bool:
            nonlocal trusted, reader, direct
            obs = self._observe(spec, reader)
            address = diff.plan_address(spec, obs, self.scope)
            steps: list[Step] = list(address.steps)
            if not steps:
                assert address.ip is not None  # no step means the IP is settled
                steps = diff.plan_resources(spec, obs, self.scope, ip=address.ip)
                if address.release:
                    steps.append(Step(Kind.ADDRESS, Verb.DELETE, spec.name))
                if not steps:
                    settled.append(address.ip)
                    return True
            if not trusted:
                trusted, reader = True, direct
                return False  # confirm with fresh reads before mutating
            confirmed = direct
            # Should the steps find the world changed (Replan), read all afresh.
            reader = direct = DirectReader(self.inventory)
            self._applier.run(steps, service=spec.key)
            if address.steps:
                # The IP is settled now: plan the rest against it, re-reading
                # only what the address steps touched.
                reader = direct = confirmed.after(_touched(steps))
                return False
            assert address.ip is not None
            settled.append(address.ip)
            return True

        converge(round_, service=spec.key, provider=self.name)
        return settled[-1]


def _touched(steps: Sequence[Step]) -> list[tuple[Kind, str]]:
    return [(step.kind, step.name) for step in steps]
