"""How each gce Step is applied: one Compute call per step, through the shared Executor.

Guarantees:
- a step's resource is marked dirty in the inventory before its call (the
  executor's `before` hook), so whatever happens next (success, failure, a
  crash right after) the next reader GETs it instead of trusting the cached
  listing;
- 409 on insert (it exists: adopt it), 412 (changed under us), 404 on a
  non-delete (gone under us) and "in use" on a delete raise `Replan`: the
  caller re-reads and diffs again, so what exists is adopted, not
  duplicated; 404 on a delete is success (ComputeApi.delete_*);
- steps that create, update or attach the shared node health check run
  under the shared lock's read side; releasing it takes the write side,
  re-lists the pools fresh and deletes the check (then its firewall) only
  when no pool uses it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import TypeVar

from lbcommon.errors import LbctlError
from lbctl.providers.common.executor import Executor
from lbctl.providers.common.locks import SharedLock
from lbctl.providers.gce import names
from lbctl.providers.gce.api import ComputeApi
from lbctl.providers.gce.errors import InUseError
from lbctl.providers.gce.inventory import Inventory
from lbctl.providers.gce.resources import Address, Firewall, HealthCheck, Kind, Pool, Rule
from lbctl.providers.gce.steps import Step, Verb

log = logging.getLogger(__name__)
T = TypeVar("T")


def _replan(step: Step, error: LbctlError) -> bool:
    """In use is a reason to re-read only for a delete; anything else missing or clashing is."""
    return not isinstance(error, InUseError) or step.verb is Verb.DELETE


class Applier:
    """Applies gce steps for one provider."""

    def __init__(self, api: ComputeApi, inventory: Inventory, shared: SharedLock) -> None:
        self._api = api
        self._inventory = inventory
        self._shared = shared
        self._executor: Executor[Step] = Executor(
            provider="gce",
            apply=self._apply,
            before=lambda step: inventory.forget(step.kind, step.name),
            replan=_replan,
        )

    def run(self, steps: Sequence[Step], *, service: str) -> None:
        uses_shared = any(s.shared and s.verb is not Verb.RELEASE for s in steps)
        if uses_shared and any(s.verb is Verb.RELEASE for s in steps):
            # The diff never plans both (only a Local or deleted load balancer
            # releases; only a Cluster one uses); holding the read side while
            # waiting for the write side would deadlock.
            raise ValueError("a plan may not both use and release the shared health check")
        with self._shared.reading() if uses_shared else nullcontext():
            self._executor.run(steps, service=service)

    def _apply(self, step: Step, service: str) -> None:
        if step.verb is Verb.RELEASE:
            self.release_shared(step.name, service=service)
            return
        api, payload = self._api, step.payload
        handlers: dict[tuple[Kind, Verb], Callable[[], None]] = {
            (Kind.ADDRESS, Verb.INSERT): lambda: api.insert_address(_as(payload, Address)),
            (Kind.ADDRESS, Verb.DELETE): lambda: api.delete_address(step.name),
            (Kind.FIREWALL, Verb.INSERT): lambda: api.insert_firewall(_as(payload, Firewall)),
            (Kind.FIREWALL, Verb.UPDATE): lambda: api.update_firewall(_as(payload, Firewall)),
            (Kind.FIREWALL, Verb.DELETE): lambda: api.delete_firewall(step.name),
            (Kind.HEALTH_CHECK, Verb.INSERT): lambda: api.insert_health_check(
                _as(payload, HealthCheck)
            ),
            (Kind.HEALTH_CHECK, Verb.UPDATE): lambda: api.update_health_check(
                _as(payload, HealthCheck)
            ),
            (Kind.HEALTH_CHECK, Verb.DELETE): lambda: api.delete_health_check(step.name),
            (Kind.POOL, Verb.INSERT): lambda: api.insert_pool(_as(payload, Pool)),
            (Kind.POOL, Verb.DELETE): lambda: api.delete_pool(step.name),
            (Kind.POOL, Verb.ADD_INSTANCES): lambda: api.add_instances(
                step.name, _as(payload, tuple)
            ),
            (Kind.POOL, Verb.REMOVE_INSTANCES): lambda: api.remove_instances(
                step.name, _as(payload, tuple)
            ),
            (Kind.POOL, Verb.ADD_HEALTH_CHECK): lambda: api.add_health_check(
                step.name, _as(payload, str)
            ),
            (Kind.POOL, Verb.REMOVE_HEALTH_CHECK): lambda: api.remove_health_check(
                step.name, _as(payload, str)
            ),
            (Kind.RULE, Verb.INSERT): lambda: api.insert_rule(_as(payload, Rule)),
            (Kind.RULE, Verb.SET_TARGET): lambda: api.set_target(step.name, _as(payload, str)),
            (Kind.RULE, Verb.DELETE): lambda: api.delete_rule(step.name),
        }
        handler = handlers.get((step.kind, step.verb))
        if handler is None:
            raise ValueError(f"no handler for {step.verb.value} {step.kind.value}")
        handler()

    def release_shared(self, check: str, *, service: str) -> bool:
        """Delete the shared check and its firewall if no pool uses it; True if gone."""
        firewall = names.health_check_firewall_name(check, shared=True)
        with self._shared.writing():
            users = [p.name for p in self._api.list_pools() if check in p.health_checks]
            if users:
                log.info(
                    "shared health check %s still used by %d pools",
                    check,
                    len(users),
                    extra={"service": service, "provider": "gce"},
                )
                return False
            log.info("release shared health check %s", check, extra={"service": service})
            self._inventory.forget(Kind.HEALTH_CHECK, check)
            self._inventory.forget(Kind.FIREWALL, firewall)
            try:
                self._api.delete_health_check(check)
            except InUseError:
                return False  # used by a pool outside our naming: keep both
            self._api.delete_firewall(firewall)
            return True


def _as(payload: object, cls: type[T]) -> T:
    if not isinstance(payload, cls):
        raise TypeError(f"step payload {payload!r} is not a {cls.__name__}")
    return payload
