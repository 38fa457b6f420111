"""reconcile(key): bring one Service's load balancer to what the Service asks.

The decision table (DESIGN.md, Data flow):
- not in the cache, or not ours, or being deleted: if we hold anything for it
  (finalizer, allocation, published ingress), delete the provider's
  resources, clear status, drop the finalizer;
- ours: add the finalizer first (so a delete can never skip cleanup), build
  the desired LoadBalancer, ensure it, and patch status only when it changed.

It returns a Result instead of raising, so the caller's queue handling is one
`match`. Invalid input is a Warning event and a slow retry; nothing is
touched at the provider for it. Every log line carries the Service key and
the provider name.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from lbcommon.desired import ClassPolicy, desired_load_balancer
from lbcommon.errors import InvalidServiceError, LbctlError, ServiceGoneError, TemporaryError
from lbcommon.kube.convert import service_from_api
from lbcommon.model import (
    CLEANUP_FINALIZER,
    OWNER_ANNOTATION,
    LoadBalancer,
    NodeInfo,
    ServiceKey,
    ServiceSpec,
)
from lbctl.kube.gateway import EventRecorder, KubeGateway, ObjectRef
from lbctl.metrics import Metrics
from lbctl.providers.base import Provider

log = logging.getLogger(__name__)


class Outcome(Enum):
    DONE = "done"
    RETRY = "retry"  # with the queue's per-key backoff
    RETRY_AFTER = "retry_after"  # after `Result.after` seconds


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
        get_service: Callable[[str], dict[str, Any] | None],
        list_nodes: Callable[[], list[NodeInfo]],
        provider: Provider,
        gateway: KubeGateway,
        recorder: EventRecorder,
        policy: ClassPolicy,
        metrics: Metrics,
    ) -> None:
        self._get_service = get_service
        self._list_nodes = list_nodes
        self._provider = provider
        self._gateway = gateway
        self._recorder = recorder
        self._policy = policy
        self._metrics = metrics
        self._lock = threading.Lock()
        #: what we last ensured per Service: node sync re-points these
        self._ensured: dict[ServiceKey, LoadBalancer] = {}
        #: bumped by node sync; a reconcile that raced with it runs again
        self.nodes_generation = 0

    # -- read by node sync --------------------------------------------------

    def ensured(self) -> list[LoadBalancer]:
        with self._lock:
            return list(self._ensured.values())

    def record_ensured(self, lb: LoadBalancer) -> None:
        with self._lock:
            if lb.key in self._ensured:
                self._ensured[lb.key] = lb

    # -- the reconcile ------------------------------------------------------

    def reconcile(self, key: str) -> Result:
        started = time.monotonic()
        result = self._reconcile(ServiceKey(key))
        self._metrics.reconciles.labels(result=result.outcome.value).inc()
        self._metrics.reconcile_seconds.observe(time.monotonic() - started)
        return result

    def _reconcile(self, key: ServiceKey) -> Result:
        obj = self._get_service(key)
        extra = {"service": key, "provider": self._provider.name}
        if obj is None:
            with self._lock:
                known = self._ensured.get(key)
            if known is None:
                return DONE
            # Deleted without our finalizer (someone removed it): still clean up.
            return self._guard(key, lambda: self._cleanup_gone(known))
        try:
            spec = service_from_api(obj)
        except (KeyError, ValueError, TypeError) as err:
            log.error("cannot read Service: %s", err, extra=extra)
            return Result(Outcome.RETRY, reason="unreadable")
        ref = ObjectRef("Service", spec.namespace, spec.name, spec.uid)
        if spec.deleting or not self._policy.serves(spec):
            if self._holds_anything(spec):
                return self._guard(key, lambda: self._cleanup(spec, ref))
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
                self._gateway.set_condition(key, err.condition)
            return Result(Outcome.RETRY, reason="invalid")
        except ServiceGoneError as err:
            # The Service went away mid-reconcile; its deletion event will follow.
            log.info("gone while reconciling: %s", err, extra=extra)
            return DONE
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
            self._gateway.claim(
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
            previous = None
        changed = previous != lb
        if changed:
            self._recorder.normal(ref, "EnsuringLoadBalancer", "Ensuring load balancer")
        if changed and not lb.backends:
            self._recorder.warning(
                ref, "UnAvailableLoadBalancer", "There are no available nodes for LoadBalancer"
            )
        ingress = self._provider.ensure(lb)
        with self._lock:
            self._ensured[spec.key] = lb
        for condition in PROVIDER_CONDITIONS & set(spec.conditions):
            self._gateway.clear_condition(spec.key, condition)
        if ingress != spec.ingress:
            self._gateway.patch_ingress(spec.key, ingress)
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
        if spec.ingress and not spec.deleting:
            self._gateway.patch_ingress(spec.key, ())
        self._gateway.release(spec.key, finalizer=CLEANUP_FINALIZER, annotation=OWNER_ANNOTATION)
        self._recorder.normal(ref, "DeletedLoadBalancer", "Deleted load balancer")
        return DONE

    def _cleanup_gone(self, lb: LoadBalancer) -> Result:
        self._provider.delete(lb.key, lb.uid)
        with self._lock:
            self._ensured.pop(lb.key, None)
        return DONE
