"""Real google-cloud-compute clients pointed at a GCEFake, and a raw REST helper.

Clients are closed after each test so no socket is left for the garbage
collector to warn about (warnings are errors in this suite).
"""

from __future__ import annotations

from typing import Any

from google.api_core.future import polling
from google.auth.credentials import AnonymousCredentials
from google.auth.transport.requests import AuthorizedSession
from google.cloud import compute_v1

from tests.fakes.gce import GCEFake

PROJECT = "p"
REGION = "us-central1"
ZONE = "us-central1-a"

# Poll operations quickly: the client's default waits 1 s, then 1.5 s, ...
FAST_POLL = polling.DEFAULT_POLLING.with_delay(initial=0.01, maximum=0.05, multiplier=1.5)
FAST_POLL = FAST_POLL.with_timeout(10)


class Clients:
    """Real google-cloud-compute clients, one per collection, all on the fake.

    The fake owns (and closes on stop) the clients it makes; only the raw
    session for the legacy httpHealthChecks, which have no client library, is
    closed here.
    """

    def __init__(self, gce: GCEFake) -> None:
        self.addresses = gce.client(compute_v1.AddressesClient)
        self.firewalls = gce.client(compute_v1.FirewallsClient)
        self.pools = gce.client(compute_v1.TargetPoolsClient)
        self.rules = gce.client(compute_v1.ForwardingRulesClient)
        self.instances = gce.client(compute_v1.InstancesClient)
        self.session = AuthorizedSession(AnonymousCredentials())

    def close(self) -> None:
        self.session.close()


def rest(
    fake: GCEFake, clients: Clients, verb: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """One raw REST call (for httpHealthChecks): status and JSON body."""
    response = clients.session.request(verb, fake.api_url(path), json=body)
    payload: dict[str, Any] = response.json()
    return response.status_code, payload
