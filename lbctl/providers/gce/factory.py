"""Wiring: Settings (or explicit arguments) -> a ready `GceProvider`.

Guarantees: one place builds the clients, the Caller, the API and the
provider, so tests and `lbctl run` get the same object graph; invalid
settings are a one-line UsageError; everything opened is closed by
`GceProvider.close()`.
"""

from __future__ import annotations

from google.auth.credentials import Credentials

from lbcommon.flags import UsageError
from lbctl.metrics import Metrics
from lbctl.providers.gce import names
from lbctl.providers.gce.api import ComputeApi
from lbctl.providers.gce.calls import Caller, RetryPolicy
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
    credentials: Credentials | None = None,
    retry: RetryPolicy | None = None,
    cache_ttl: float = 20.0,
    backend_workers: int = 16,
) -> GceProvider:
    """A provider talking to `endpoint` (default: the real Compute API)."""
    if not names.valid_cluster_id(scope.cluster_id):
        raise UsageError(
            f"--cluster-id {scope.cluster_id!r} cannot name GCE resources: use 1-46 "
            "lower-case letters, digits or dashes"
        )
    clients = make_clients(project=scope.project, endpoint=endpoint, credentials=credentials)
    caller = Caller(
        metrics=metrics,
        policy=retry or RetryPolicy(),
        project=scope.project,
        region_operations=clients.region_operations,
        global_operations=clients.global_operations,
    )
    api = ComputeApi(clients, caller, scope, Links(api_root(endpoint), scope))
    return GceProvider(
        api, cache_ttl=cache_ttl, backend_workers=backend_workers, on_close=(clients,)
    )


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
