"""`GCEFake`: a Compute Engine v1 REST fake on 127.0.0.1 for the real google-cloud-compute clients.

    with GCEFake(project="p", region="us-central1") as fake:
        fake.seed_instance("node-1", zone="us-central1-a", ip="198.18.0.10", tags=["node"])
        pools = fake.client(compute_v1.TargetPoolsClient)
        ...
        assert fake.names() == {"targetPools": ["a1234"]}

Guarantees: the server listens only on 127.0.0.1 (ephemeral port); `stop()`
(or leaving the `with`) joins the server thread and every request thread;
everything configurable here is thread-safe and may change while clients run.
Resources are seeded after `start()`, because their selfLinks carry the
server's URL.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any, TypeVar, cast

from tests.fakes.gce import instances
from tests.fakes.gce.calls import Call, CallLog
from tests.fakes.gce.faults import Faults
from tests.fakes.gce.links import Links, Ref
from tests.fakes.gce.server import App, HttpServer
from tests.fakes.gce.state import DEFAULT_ADDRESS_RANGE, JSON, Store

T = TypeVar("T")

HEALTH_STATES = ("HEALTHY", "UNHEALTHY")


class GCEFake:
    """One fake project with one (or more) regions."""

    def __init__(
        self,
        project: str = "p",
        region: str = "us-central1",
        *,
        extra_regions: tuple[str, ...] = (),
        zones: tuple[str, ...] | None = None,
        address_range: tuple[str, str] = DEFAULT_ADDRESS_RANGE,
        operation_polls: int = 0,
        max_instances_per_request: int = 1000,
        quota_errors_in_operation: bool = False,
        self_link_base: str | None = None,
    ) -> None:
        """
        `zones` default to `<region>-a`, `-b`, `-c`, `-f` for every region.
        `operation_polls`: 0 = operations are DONE at once; n = DONE on the n-th poll.
        `quota_errors_in_operation`: report quota errors through a failed operation
        (403 QUOTA_EXCEEDED) instead of a synchronous 403 quotaExceeded.
        `self_link_base`: e.g. "https://www.googleapis.com" to make selfLinks look
        like production's; by default they use the fake's own endpoint.
        """
        regions = (region, *extra_regions)
        if zones is None:
            zones = tuple(f"{r}-{z}" for r in regions for z in "abcf")
        self.project = project
        self.region = region
        self._links = Links(self_link_base or "http://127.0.0.1")
        self._fixed_links = self_link_base is not None
        self.store = Store(
            project=project,
            regions=regions,
            zones=zones,
            links=self._links,
            address_range=address_range,
        )
        self.store.ops.set_polls(operation_polls)
        self.store.max_instances_per_request = max_instances_per_request
        self.store.quota_errors_in_operation = quota_errors_in_operation
        self.faults = Faults()
        self.call_log = CallLog()
        self._app = App(self.store, self.faults, self.call_log)
        self._server = HttpServer(self._app)
        self._endpoint: str | None = None
        self._stopped = False
        self._clients_lock = threading.RLock()
        self._clients: list[Any] = []
        self._ops_clients: dict[str, Any] = {}

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> GCEFake:
        if self._endpoint is not None or self._stopped:
            raise RuntimeError("a GCEFake starts once")
        self._endpoint = self._server.start()
        if not self._fixed_links:
            self._links.base = self._endpoint
        return self

    def stop(self) -> None:
        """Close the clients made by `client()`, stop the server, join its threads."""
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for made in clients:
            made.transport.close()
        if self._endpoint is not None and not self._stopped:
            self._server.stop()
        self._stopped = True

    def __enter__(self) -> GCEFake:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        """`http://127.0.0.1:PORT`, the value for `client_options={"api_endpoint": ...}`."""
        if self._endpoint is None:
            raise RuntimeError("GCEFake is not started")
        return self._endpoint

    # -- clients ----------------------------------------------------------------

    def client(self, cls: type[T]) -> T:
        """A real google-cloud-compute client (REST, anonymous) pointed at the fake.

        The client library builds the operations clients that `ExtendedOperation`
        polls with from credentials only, ignoring `client_options`, so they would
        poll compute.googleapis.com. This method therefore also points the client's
        region/global/zone operations clients at the fake (a private attribute of
        the transport: the one place the fake reaches into the library). The fake
        owns every client it makes and closes them in `stop()`.
        """
        made: T = self._make(cls)
        transport = cast(Any, made).transport
        services = getattr(transport, "_extended_operations_services", None)
        if isinstance(services, dict):
            services.update(self._operations_clients())
        return made

    def _make(self, cls: type[Any]) -> Any:
        from google.auth.credentials import AnonymousCredentials

        made = cls(
            transport="rest",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": self.endpoint},
        )
        with self._clients_lock:
            self._clients.append(made)
        return made

    def _operations_clients(self) -> dict[str, Any]:
        from google.cloud import compute_v1

        with self._clients_lock:
            if not self._ops_clients:
                self._ops_clients = {
                    "region_operations": self._make(compute_v1.RegionOperationsClient),
                    "global_operations": self._make(compute_v1.GlobalOperationsClient),
                    "zone_operations": self._make(compute_v1.ZoneOperationsClient),
                }
            return dict(self._ops_clients)

    def api_url(self, path: str) -> str:
        """Full URL of `path` relative to the project, e.g. `global/httpHealthChecks`."""
        return f"{self.endpoint}/compute/v1/projects/{self.project}/{path.lstrip('/')}"

    def link(self, collection: str, name: str, *, scope: str | None = None) -> str:
        """The selfLink the fake gives `name` (scope defaults to the kind's usual one)."""
        if scope is None:
            scope = {
                "firewalls": "global",
                "httpHealthChecks": "global",
                "networks": "global",
            }.get(collection, f"regions/{self.region}")
        return self._links.url(Ref(self.project, scope, collection, name))

    def instance_link(self, name: str, zone: str) -> str:
        return self.link("instances", name, scope=f"zones/{zone}")

    # -- seeding and knobs ------------------------------------------------------

    def seed_instance(
        self,
        name: str,
        zone: str,
        ip: str,
        tags: tuple[str, ...] | list[str] = (),
        *,
        status: str = "RUNNING",
        network: str = "default",
        labels: dict[str, str] | None = None,
    ) -> JSON:
        self.endpoint  # noqa: B018  (seeding needs the final selfLink base)
        return instances.seed(
            self.store,
            name=name,
            zone=zone,
            ip=ip,
            tags=tags,
            status=status,
            network=network,
            labels=labels,
        )

    def remove_instance(self, name: str, zone: str) -> None:
        instances.remove(self.store, name=name, zone=zone)

    def seed_network(self, name: str) -> None:
        with self.store.lock:
            self.store.networks.add(name)

    def set_instance_health(self, name: str, zone: str, state: str) -> None:
        """What targetPools.getHealth reports for the instance (default HEALTHY)."""
        if state not in HEALTH_STATES:
            raise ValueError(f"state must be one of {HEALTH_STATES}")
        with self.store.lock:
            self.store.instance_health[self.instance_link(name, zone)] = state

    def set_quota(self, metric: str, limit: int | None, *, region: str | None = None) -> None:
        """Limit FORWARDING_RULES, TARGET_POOLS, STATIC_ADDRESSES, IN_USE_ADDRESSES
        (regional; `region` defaults to the fake's) or FIREWALLS, HEALTH_CHECKS
        (global); `None` removes the limit."""
        global_metrics = ("FIREWALLS", "HEALTH_CHECKS")
        scoped = None if metric in global_metrics else (region or self.region)
        self.store.set_quota(metric, limit, region=scoped)

    def set_operation_polls(self, polls: int, *, method: str | None = None) -> None:
        """Operations of `method` (e.g. "targetPools.insert"), or all, finish on the n-th poll."""
        self.store.ops.set_polls(polls, method=method)

    # -- observation ------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        return self.call_log.all()

    def reset_calls(self) -> None:
        self.call_log.reset()

    def count(self, pattern: str = "*", *, mutating: bool | None = None) -> int:
        return self.call_log.count(pattern, mutating=mutating)

    def snapshot(self) -> dict[str, dict[str, JSON]]:
        """Every resource, by collection then name (see `Store.snapshot` for keys)."""
        return self.store.snapshot()

    def names(self, *, include_instances: bool = False) -> dict[str, list[str]]:
        """Sorted names per non-empty collection: the form leak checks assert on."""
        return {
            collection: sorted(resources)
            for collection, resources in self.snapshot().items()
            if resources and (include_instances or collection != "instances")
        }

    def pending_operations(self) -> list[str]:
        return self.store.ops.pending()

    @property
    def internal_errors(self) -> list[str]:
        """Exceptions inside the fake itself (each also answered as a 500); should be empty."""
        return list(self._app.internal_errors)
