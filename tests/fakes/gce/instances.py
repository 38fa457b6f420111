"""Zonal `instances`: read-only over REST (get, list, aggregatedList), seeded from Python.

A seeded instance has what a load-balancer provider reads: `name`, `zone`,
`status`, `tags.items` (with a tags fingerprint), `labels`, and one
`networkInterfaces[0]` (`nic0`) on the given network with `networkIP`.
Seeding a zone the fake did not know adds that zone (and its region).
"""

from __future__ import annotations

import ipaddress

from tests.fakes.gce import crud
from tests.fakes.gce.links import Ref, region_of_zone
from tests.fakes.gce.stamps import fingerprint
from tests.fakes.gce.state import JSON, Store

STATUSES = ("PROVISIONING", "STAGING", "RUNNING", "STOPPING", "STOPPED", "SUSPENDED", "TERMINATED")


def seed(
    store: Store,
    *,
    name: str,
    zone: str,
    ip: str,
    tags: tuple[str, ...] | list[str] = (),
    status: str = "RUNNING",
    network: str = "default",
    labels: dict[str, str] | None = None,
) -> JSON:
    """Create or replace an instance; returns its JSON as GET would."""
    ipaddress.ip_address(ip)
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}")
    with store.lock:
        store.zones.add(zone)
        store.regions.add(region_of_zone(zone))
        store.networks.add(network)
        ref = Ref(store.project, f"zones/{zone}", "instances", name)
        instance = store.new_resource(ref)
        network_url = store.links.url(Ref(store.project, "global", "networks", network))
        instance.update(
            {
                "status": status,
                "machineType": f"{store.links.scope_url(store.project, ref.scope)}"
                "/machineTypes/e2-standard-2",
                "tags": {"items": list(tags), "fingerprint": fingerprint(sorted(tags))},
                "labels": dict(labels or {}),
                "labelFingerprint": fingerprint(dict(labels or {})),
                "networkInterfaces": [
                    {
                        "kind": "compute#networkInterface",
                        "name": "nic0",
                        "network": network_url,
                        "networkIP": ip,
                        "stackType": "IPV4_ONLY",
                        "fingerprint": fingerprint({"ip": ip, "network": network}),
                    }
                ],
                "canIpForward": False,
                "fingerprint": fingerprint({"name": name, "ip": ip}),
            }
        )
        if not instance["tags"]["items"]:
            del instance["tags"]["items"]
        if not instance["labels"]:
            del instance["labels"]
        store.put(ref, instance)
        return store.render("instances", instance)


def remove(store: Store, *, name: str, zone: str) -> None:
    """Delete a seeded instance (a node going away).

    Target pools are left untouched: whether GCE drops a deleted instance from its
    pools is not something a provider should rely on, so the fake keeps the URL
    and the provider must remove it (removeInstance accepts a missing instance).
    """
    with store.lock:
        store.remove(Ref(store.project, f"zones/{zone}", "instances", name))


HANDLERS: dict[str, crud.Handler] = {
    "instances.get": crud.get("instances"),
    "instances.list": crud.list_("instances"),
    "instances.aggregatedList": crud.aggregated("instances"),
}
