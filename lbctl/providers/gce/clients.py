"""Building the Compute clients: REST transport, one endpoint, one set of credentials.

Guarantees:
- every client, the operations clients included, and the REST session for
  legacy health checks use the same endpoint and credentials, so nothing
  ever polls or writes anywhere but the configured API;
- a plain-HTTP endpoint (the GCE fake on loopback) gets anonymous
  credentials: no token is ever sent over an unencrypted connection;
- `Clients.close()` closes every transport it opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.auth.credentials import AnonymousCredentials, Credentials
from google.auth.transport.requests import AuthorizedSession
from google.cloud import compute_v1

from lbctl.providers.gce.legacy import HealthChecksRest

DEFAULT_ENDPOINT = "https://compute.googleapis.com"


def api_root(endpoint: str | None) -> str:
    """`https://compute.googleapis.com` -> `https://compute.googleapis.com/compute/v1`."""
    base = (endpoint or DEFAULT_ENDPOINT).rstrip("/")
    if "://" not in base:
        base = "https://" + base
    return f"{base}/compute/v1"


def credentials_for(endpoint: str | None) -> Credentials:
    if endpoint and endpoint.startswith("http://"):
        return AnonymousCredentials()  # type: ignore[no-untyped-call]
    import google.auth

    found, _project = google.auth.default(scopes=["https://www.googleapis.com/auth/compute"])
    return found


@dataclass
class Clients:
    """The clients one provider uses; close them with `close()`."""

    addresses: compute_v1.AddressesClient
    firewalls: compute_v1.FirewallsClient
    pools: compute_v1.TargetPoolsClient
    rules: compute_v1.ForwardingRulesClient
    instances: compute_v1.InstancesClient
    region_operations: compute_v1.RegionOperationsClient
    global_operations: compute_v1.GlobalOperationsClient
    health_checks: HealthChecksRest

    def close(self) -> None:
        for client in (
            self.addresses,
            self.firewalls,
            self.pools,
            self.rules,
            self.instances,
            self.region_operations,
            self.global_operations,
        ):
            client.transport.close()  # type: ignore[no-untyped-call]
        self.health_checks.close()


def make_clients(*, project: str, endpoint: str | None) -> Clients:
    creds = credentials_for(endpoint)
    options: dict[str, Any] = {}
    if endpoint:
        options["api_endpoint"] = endpoint

    def make(cls: Any) -> Any:
        return cls(transport="rest", credentials=creds, client_options=options)

    return Clients(
        addresses=make(compute_v1.AddressesClient),
        firewalls=make(compute_v1.FirewallsClient),
        pools=make(compute_v1.TargetPoolsClient),
        rules=make(compute_v1.ForwardingRulesClient),
        instances=make(compute_v1.InstancesClient),
        region_operations=make(compute_v1.RegionOperationsClient),
        global_operations=make(compute_v1.GlobalOperationsClient),
        health_checks=HealthChecksRest(
            AuthorizedSession(creds),  # type: ignore[no-untyped-call]
            api_root=api_root(endpoint),
            project=project,
        ),
    )
