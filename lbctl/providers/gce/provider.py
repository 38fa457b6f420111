"""`GceProvider`: the Provider protocol over target-pool network load balancers.

Each operation is read -> pure diff -> steps -> executor:
- `ensure` reads from the round's inventory; when the diff is empty (the
  steady state of a resync) it returns with zero API calls of its own; when
  not, it re-reads the load balancer's resources with GETs, settles the IP
  first, then applies the rest; `Replan` (409/412/404 races) re-reads and
  re-diffs, a bounded number of times;
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
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from lbcommon.errors import ConflictError, LbctlError, ResourceMissingError, TemporaryError
from lbcommon.model import (
    Change,
    Ingress,
    IPMode,
    LoadBalancer,
    OwnedResource,
    ServiceKey,
)
from lbctl.providers.gce import diff, names, owned
from lbctl.providers.gce.api import ComputeApi
from lbctl.providers.gce.executor import Executor, Replan
from lbctl.providers.gce.inventory import CachedReader, DirectReader, Inventory, Listing, Reader
from lbctl.providers.gce.locks import KeyedLocks, SharedLock
from lbctl.providers.gce.names import Scope
from lbctl.providers.gce.observe import observe
from lbctl.providers.gce.resources import Kind, Observed
from lbctl.providers.gce.spec import LbSpec, load_balancer_spec
from lbctl.providers.gce.steps import Step, Verb

log = logging.getLogger(__name__)

#: read-diff-apply rounds per call before giving up with ConflictError
MAX_ROUNDS = 6


class GceProvider:
    """Target-pool load balancers in one project, region and network."""

    name = "gce"

    def __init__(
        self,
        api: ComputeApi,
        *,
        cache_ttl: float = 20.0,
        backend_workers: int = 16,
        on_close: Sequence[object] = (),
    ) -> None:
        """`cache_ttl`: how long one round's listing serves no-op reconciles;
        `backend_workers`: concurrent target-pool updates in `update_backends`;
        `on_close`: objects whose `close()` `close` calls (the clients)."""
        self.api = api
        self.scope: Scope = api.scope
        self.inventory = Inventory(api, ttl=cache_ttl)
        self._shared = SharedLock()
        self._executor = Executor(api, self.inventory, self._shared)
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
        with self._locks.hold(spec.name), _reconcile_errors():
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
            with self._locks.hold(spec.name), _reconcile_errors():
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
        name = names.lb_name(uid)
        with self._locks.hold(name), _reconcile_errors():
            for _ in range(MAX_ROUNDS):
                steps = diff.plan_delete(name, key, self._observe_name(name), self.scope)
                if not steps:
                    return
                try:
                    self._executor.run(steps, service=key)
                    return
                except Replan as err:
                    log.info("re-planning delete: %s", err, extra={"service": key})
            raise ConflictError(f"{key}: resources kept changing during delete")

    def plan(self, lb: LoadBalancer) -> list[Change]:
        spec = self._spec(lb)
        obs = self._observe(spec, CachedReader(self.inventory, self.inventory.listing()))
        return [step.change() for step in diff.plan_ensure(spec, obs, self.scope)]

    def plan_delete(self, key: ServiceKey, uid: str) -> list[Change]:
        name = names.lb_name(uid)
        reader = CachedReader(self.inventory, self.inventory.listing())
        obs = observe(name, reader, self.scope)
        return [step.change() for step in diff.plan_delete(name, key, obs, self.scope)]

    def list_owned(self) -> list[OwnedResource]:
        return owned.list_owned(self.api)

    def delete_owned(self, resource: OwnedResource) -> None:
        self.inventory.forget(Kind(resource.kind), resource.name)
        owned.delete_owned(self.api, self._executor, resource)

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
        for _ in range(MAX_ROUNDS):
            obs = self._observe(spec, reader)
            address = diff.plan_address(spec, obs, self.scope)
            steps: list[Step] = list(address.steps)
            if not steps:
                assert address.ip is not None  # no step means the IP is settled
                steps = diff.plan_resources(spec, obs, self.scope, ip=address.ip)
                if address.release:
                    steps.append(Step(Kind.ADDRESS, Verb.DELETE, spec.name))
                if not steps:
                    return address.ip
            if not trusted:
                trusted, reader = True, direct
                continue  # confirm with fresh reads before mutating
            try:
                self._executor.run(steps, service=spec.key)
            except Replan as err:
                log.info("re-planning: %s", err, extra={"service": spec.key})
                reader = direct = DirectReader(self.inventory)
                continue
            if address.steps:
                # The IP is settled now: plan the rest against it, re-reading
                # only what the address steps touched.
                reader = direct = direct.after(_touched(steps))
                continue
            assert address.ip is not None
            return address.ip
        raise ConflictError(f"{spec.key}: resources kept changing; will retry")


def _touched(steps: Sequence[Step]) -> list[tuple[Kind, str]]:
    return [(step.kind, step.name) for step in steps]


@contextmanager
def _reconcile_errors() -> Iterator[None]:
    """A resource that vanished mid-reconcile: re-read and converge on the next try."""
    try:
        yield
    except ResourceMissingError as err:
        raise TemporaryError(f"a resource vanished during the reconcile: {err}") from err
