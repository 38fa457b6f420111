"""Wiring: Settings (or explicit arguments) -> a ready `GceProvider`.

Guarantees: one place builds the clients, the Caller, the API and the
provider, so tests and `lbctl run` get the same object graph; invalid
settings are a one-line UsageError; everything opened is closed by
`GceProvider.close()`.
"""

from __future__ import annotations

from lbcommon.clock import Clock, RealClock
from lbcommon.flags import UsageError
from lbctl.metrics import Metrics
from lbctl.providers.common.retry import Retrier, RetryPolicy
from lbctl.providers.gce import errors, names
from lbctl.providers.gce.api import ComputeApi
from lbctl.providers.gce.calls import Caller, Timeouts
from lbctl.providers.gce.clients import api_root, make_clients
from lbctl.providers.gce.convert import Links
from lbctl.providers.gce.names import Scope
from lbctl.providers.gce.provider import GceProvider
from lbctl.settings import Settings


def connect(
    scope: Scope,
    *,
    endpoint: str | None,
    metrics: Metrics,
    retry: RetryPolicy | None = None,
    timeouts: Timeouts | None = None,
    clock: Clock | None = None,
    backend_workers: int = 16,
) -> GceProvider:
    """A provider talking to `endpoint` (default: the real Compute API).

    `clock` (default the real one) times retries, operation waits and the
    read cache; tests pass a FakeClock so nothing sleeps.
    """
    if not names.valid_cluster_id(scope.cluster_id):
        raise UsageError(
            f"--cluster-id {scope.cluster_id!r} cannot name GCE resources: use 1-46 "
            "lower-case letters, digits or dashes"
        )
    clients = make_clients(project=scope.project, endpoint=endpoint)
    clock = clock or RealClock()
    retrier = Retrier(retry, clock=clock, failures=errors)
    caller = Caller(
        metrics=metrics,
        retrier=retrier,
        timeouts=timeouts or Timeouts(),
        clock=clock,
        project=scope.project,
        region_operations=clients.region_operations,
        global_operations=clients.global_operations,
    )
    api = ComputeApi(clients, caller, scope, Links(api_root(endpoint), scope))
    return GceProvider(api, clock=clock, backend_workers=backend_workers, on_close=(clients,))


def build_gce_provider(settings: Settings, metrics: Metrics) -> GceProvider:
    """What `lbctl run|plan|gc --provider gce` use."""
    if not (settings.gce_project and settings.gce_region):
        raise UsageError("--provider gce needs --gce-project and --gce-region")
    scope = Scope(
        project=settings.gce_project,
        region=settings.gce_region,
        network=settings.gce_network,
        cluster_id=settings.cluster_id,
    )
    return connect(scope, endpoint=settings.gce_endpoint, metrics=metrics)
