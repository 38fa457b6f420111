"""reconcile(key): bring one Service's load balancer to what the Service asks.

The decision table (DESIGN.md, Data flow):
- not in the cache, or not ours, or being deleted: if we hold anything for it
  (finalizer, allocation, published ingress), delete the provider's
  resources, clear status, drop the finalizer;
- ours: add the finalizer first (so a delete can never skip cleanup), build
  the desired LoadBalancer, ensure it, and patch status only when it changed.

It returns a Result instead of raising, so the caller's queue handling is one
`match`:
- DONE: nothing left to do (also when the Service vanished mid-way);
- RETRY: with the queue's per-key backoff (temporary errors, conflicts, and
  invalid input: a Warning event, nothing touched at the provider);
- RETRY_AFTER: after `Result.after` seconds (throttled with Retry-After, or a
  node change raced the reconcile);
- GIVE_UP: a PermanentError (a 400/403/422 from the apiserver, a provider
  error retrying cannot fix): a Warning event, then nothing until the Service
  changes or the informer's resync hands it over again. No hot retry.

A Service waiting for capacity (lbctl.providers.base.CapacityError, such as an
exhausted address pool) is re-queued as soon as any load balancer is deleted
or changed, instead of waiting out its backoff. Every log line carries the
Service key and the provider name.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from lbcommon.clock import Clock
from lbcommon.desired import ClassPolicy, desired_load_balancer
from lbcommon.errors import (
    InvalidServiceError,
    LbctlError,
    PermanentError,
    ServiceGoneError,
    TemporaryError,
)
from lbcommon.model import (
    CLEANUP_FINALIZER,
    OWNER_ANNOTATION,
    LoadBalancer,
    NodeInfo,
    ServiceKey,
    ServiceSpec,
)
from lbctl.controller.events import EventRecorder
from lbctl.controller.ports import ObjectRef, ServiceWriter
from lbctl.metrics import Metrics
from lbctl.providers.base import CapacityError, Provider

log = logging.getLogger(__name__)


class Outcome(Enum):
    DONE = "done"
    RETRY = "retry"  # with the queue's per-key backoff
    RETRY_AFTER = "retry_after"  # after `Result.after` seconds
    GIVE_UP = "give_up"  # forget the key until the Service changes or resyncs


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    after: float | None = None
    reason: str = ""


DONE = Result(Outcome.DONE)

#: status conditions a provider's InvalidServiceError may set; cleared once
#: the Service is served again
PROVIDER_CONDITIONS = frozenset({"LoadBalancerPortsError"})


class Reconciler:
    """Reconciles Services against one provider."""

    def __init__(
        self,
        *,
        get_service: Callable[[ServiceKey], ServiceSpec | None],
        list_nodes: Callable[[], list[NodeInfo]],
        provider: Provider,
        writer: ServiceWriter,
        recorder: EventRecorder,
        policy: ClassPolicy,
        metrics: Metrics,
        clock: Clock,
        requeue: Callable[[ServiceKey], None],
    ) -> None:
        self._get_service = get_service
        self._list_nodes = list_nodes
        self._provider = provider
        self._writer = writer
        self._recorder = recorder
        self._policy = policy
        self._metrics = metrics
        self._clock = clock
        self._requeue = requeue
        self._lock = threading.Lock()
        #: what we last ensured per Service: node sync re-points these
        self._ensured: dict[ServiceKey, LoadBalancer] = {}
        #: bumped by node sync; a reconcile that raced with it runs again
        self.nodes_generation = 0
        #: Services waiting for capacity, in the order they began to wait
        self._waiting: dict[ServiceKey, None] = {}
        #: bumped whenever a delete or change may have freed capacity
        self._capacity_generation = 0

    # -- read by node sync --------------------------------------------------

    def ensured(self) -> list[LoadBalancer]:
        with self._lock:
            return list(self._ensured.values())

    def record_ensured(self, lb: LoadBalancer) -> None:
        with self._lock:
            if lb.key in self._ensured:
                self._ensured[lb.key] = lb

    # -- the reconcile ------------------------------------------------------

    def reconcile(self, key: ServiceKey) -> Result:
        started = self._clock.now()
        result = self._reconcile(key)
        self._metrics.reconciles.labels(result=result.outcome.value).inc()
        self._metrics.reconcile_seconds.observe(self._clock.now() - started)
        return result

    def _reconcile(self, key: ServiceKey) -> Result:
        spec = self._get_service(key)
        if spec is None:
            with self._lock:
                self._waiting.pop(key, None)
                known = self._ensured.get(key)
            if known is None:
                return DONE
            # Deleted without our finalizer (someone removed it): still clean up.
            return self._guard(key, lambda: self._cleanup_gone(known))
        ref = ObjectRef("Service", spec.namespace, spec.name, spec.uid)
        if spec.deleting or not self._policy.serves(spec):
            if self._holds_anything(spec):
                return self._guard(key, lambda: self._cleanup(spec, ref), ref=ref)
            return DONE
        return self._guard(key, lambda: self._ensure(spec, ref), ref=ref)

    def _guard(
        self, key: ServiceKey, step: Callable[[], Result], ref: ObjectRef | None = None
    ) -> Result:
        extra = {"service": key, "provider": self._provider.name}
        try:
            return step()
        except InvalidServiceError as err:
            self._metrics.errors.labels(kind="invalid").inc()
            if ref is not None:
                self._recorder.warning(ref, "InvalidLoadBalancerConfig", str(err))
            if err.condition is not None:
                self._writer.set_condition(key, err.condition)
            return Result(Outcome.RETRY, reason="invalid")
        except ServiceGoneError as err:
            # The Service went away mid-reconcile; its deletion event will follow.
            log.info("gone while reconciling: %s", err, extra=extra)
            return DONE
        except PermanentError as err:
            self._metrics.errors.labels(kind=type(err).__name__).inc()
            if ref is not None:
                self._recorder.warning(
                    ref, "SyncLoadBalancerFailed", f"Error syncing load balancer: {err}"
                )
            log.warning(
                "reconcile failed permanently; giving up until the Service changes: %s",
                err,
                extra=extra,
            )
            return Result(Outcome.GIVE_UP, reason=type(err).__name__)
        except LbctlError as err:
            self._metrics.errors.labels(kind=type(err).__name__).inc()
            if ref is not None:
                self._recorder.warning(
                    ref, "SyncLoadBalancerFailed", f"Error syncing load balancer: {err}"
                )
            log.warning("reconcile failed: %s", err, extra=extra)
            if isinstance(err, TemporaryError) and err.retry_after is not None:
                return Result(Outcome.RETRY_AFTER, after=err.retry_after, reason="throttled")
            return Result(Outcome.RETRY, reason=type(err).__name__)

    def _holds_anything(self, spec: ServiceSpec) -> bool:
        """Whether we provisioned for this Service, by memory or by our claim on it.

        The finalizer alone is no proof: upstream's controller (GKE's, say)
        uses the same name, and its resources are not ours to delete.
        """
        with self._lock:
            known = spec.key in self._ensured
        return known or spec.annotation(OWNER_ANNOTATION) == self._policy.load_balancer_class

    def _ensure(self, spec: ServiceSpec, ref: ObjectRef) -> Result:
        claimed = spec.annotation(OWNER_ANNOTATION) == self._policy.load_balancer_class
        if CLEANUP_FINALIZER not in spec.finalizers or not claimed:
            self._writer.claim(
                spec.key,
                finalizer=CLEANUP_FINALIZER,
                annotation=(OWNER_ANNOTATION, self._policy.load_balancer_class),
            )
        generation = self.nodes_generation
        nodes = self._list_nodes()
        lb = desired_load_balancer(spec, nodes)
        with self._lock:
            previous = self._ensured.get(spec.key)
        if previous is not None and previous.uid != spec.uid:
            # The Service was deleted and recreated under the same name while
            # we were not looking (its finalizer removed by hand): the old
            # one's resources are named after its UID and would leak.
            self._provider.delete(previous.key, previous.uid)
            self._capacity_freed()
            previous = None
        changed = previous != lb
        if changed:
            self._recorder.normal(ref, "EnsuringLoadBalancer", "Ensuring load balancer")
        if changed and not lb.backends:
            self._recorder.warning(
                ref, "UnAvailableLoadBalancer", "There are no available nodes for LoadBalancer"
            )
        with self._lock:
            capacity = self._capacity_generation
        try:
            ingress = self._provider.ensure(lb)
        except CapacityError:
            self._wait_for_capacity(spec.key, capacity)
            raise
        with self._lock:
            self._ensured[spec.key] = lb
            self._waiting.pop(spec.key, None)
        if changed and previous is not None:
            self._capacity_freed()  # a changed load balancer may have let go of something
        for condition in PROVIDER_CONDITIONS & set(spec.conditions):
            self._writer.clear_condition(spec.key, condition)
        if ingress != spec.ingress:
            self._writer.patch_ingress(spec.key, ingress)
        if changed:
            self._recorder.normal(ref, "EnsuredLoadBalancer", "Ensured load balancer")
        if generation != self.nodes_generation:
            return Result(Outcome.RETRY_AFTER, after=0.0, reason="nodes changed")
        return DONE

    def _cleanup(self, spec: ServiceSpec, ref: ObjectRef) -> Result:
        self._recorder.normal(ref, "DeletingLoadBalancer", "Deleting load balancer")
        self._provider.delete(spec.key, spec.uid)
        with self._lock:
            self._ensured.pop(spec.key, None)
            self._waiting.pop(spec.key, None)
        self._capacity_freed()
        if spec.ingress and not spec.deleting:
            self._writer.patch_ingress(spec.key, ())
        self._writer.release(spec.key, finalizer=CLEANUP_FINALIZER, annotation=OWNER_ANNOTATION)
        self._recorder.normal(ref, "DeletedLoadBalancer", "Deleted load balancer")
        return DONE

    def _cleanup_gone(self, lb: LoadBalancer) -> Result:
        self._provider.delete(lb.key, lb.uid)
        with self._lock:
            self._ensured.pop(lb.key, None)
        self._capacity_freed()
        return DONE

    # -- waiting for capacity -------------------------------------------------

    def _wait_for_capacity(self, key: ServiceKey, seen: int) -> None:
        """Remember `key` until capacity is freed; retry at once if it was meanwhile.

        `seen` is the capacity generation read before the failed `ensure`: a
        delete that completed since then may have come too late for that
        `ensure` and too early to find `key` waiting.
        """
        with self._lock:
            freed_meanwhile = self._capacity_generation != seen
            if not freed_meanwhile:
                self._waiting[key] = None
        if freed_meanwhile:
            self._requeue(key)

    def _capacity_freed(self) -> None:
        """A load balancer was deleted or changed: hand every waiting Service back, in order."""
        with self._lock:
            self._capacity_generation += 1
            waiting = list(self._waiting)
            self._waiting.clear()
        for key in waiting:
            log.info(
                "capacity freed; retrying", extra={"service": key, "provider": self._provider.name}
            )
            self._requeue(key)
