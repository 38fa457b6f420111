"""Regional external `addresses`: insert, get, list, aggregatedList, delete, setLabels.

Behaviour (GCE's where known, the stricter choice where not):
- without `address`, the lowest free IP of the fake's range is reserved; none
  free is 403 quotaExceeded on IN_USE_ADDRESSES;
- with `address`, the IP must lie in the fake's range (GCE only lets you
  reserve IPs you own); an IP already reserved by another address is 409
  (`IP_IN_USE_BY_ANOTHER_RESOURCE`, as GCE reports it); an IP that a
  forwarding rule in the same region uses ephemerally is promoted: the new
  address is IN_USE with that rule among its `users`;
- `status` and `users` are derived from forwarding rules at read time;
- delete of an address in use is 400 resourceInUseByAnotherResource;
- only EXTERNAL IPv4 addresses are modelled; INTERNAL, IPv6, `purpose` and
  `subnetwork` are refused as unsupported rather than ignored.
"""

from __future__ import annotations

from tests.fakes.gce import crud, errors, validate
from tests.fakes.gce.links import path_of
from tests.fakes.gce.stamps import fingerprint
from tests.fakes.gce.state import JSON, Request, Store

KNOWN = (
    "address", "addressType", "creationTimestamp", "description", "id", "ipCollection",
    "ipVersion", "ipv6EndpointType", "kind", "labelFingerprint", "labels", "name", "network",
    "networkTier", "prefixLength", "purpose", "region", "selfLink", "status", "subnetwork",
    "users",
)  # fmt: skip
MODELLED = (
    "address", "addressType", "description", "ipVersion", "labels", "name", "networkTier",
    "creationTimestamp", "id", "kind", "labelFingerprint", "region", "selfLink", "status",
    "users",
)  # fmt: skip
TIERS = ("PREMIUM", "STANDARD")


def normalize(store: Store, req: Request, body: JSON) -> JSON:
    validate.fields(body, known=KNOWN, modelled=MODELLED)
    address_type = validate.enum(
        body.get("addressType"), ("EXTERNAL", "INTERNAL"), "resource.addressType", "EXTERNAL"
    )
    if address_type != "EXTERNAL":
        raise errors.unsupported("addressType INTERNAL")
    if body.get("ipVersion") not in (None, "", "IPV4"):
        raise errors.unsupported(f"ipVersion {body.get('ipVersion')}")
    tier = validate.enum(body.get("networkTier"), TIERS, "resource.networkTier", "PREMIUM")
    labels = validate.labels(body.get("labels"))
    ip = _choose_ip(store, req, body.get("address"))
    fields: JSON = {
        "address": ip,
        "addressType": "EXTERNAL",
        "networkTier": tier,
        "labelFingerprint": fingerprint(labels),
    }
    if body.get("description"):
        fields["description"] = str(body["description"])
    if labels:
        fields["labels"] = labels
    return fields


def _choose_ip(store: Store, req: Request, wanted: object) -> str:
    if wanted in (None, ""):
        return store.allocate_ip(req.scope)
    ip = validate.ipv4(wanted, "resource.address")
    if not store.owns_ip(ip):
        first, last = store.address_range
        raise errors.invalid(
            "resource.address",
            wanted,
            f"The IP address is not available to this project (the fake owns {first}-{last}).",
        )
    text = str(ip)
    for other in store.scoped("addresses"):
        if other["address"] == text:
            raise errors.ApiError(
                409,
                "conflict",
                f"IP_IN_USE_BY_ANOTHER_RESOURCE - IP '{text}' is already being used by "
                f"another resource.",
                error_info_reason="IP_IN_USE_BY_ANOTHER_RESOURCE",
            )
    for rule in store.scoped("forwardingRules"):
        if rule["IPAddress"] == text and not str(rule["region"]).endswith("/" + req.scope):
            raise errors.invalid(
                "resource.address", wanted, "The IP address is in use in another region."
            )
    return text


def _in_use(store: Store, address: JSON) -> str | None:
    users = store.address_users(address)
    return path_of(users[0]) if users else None


HANDLERS: dict[str, crud.Handler] = {
    "addresses.get": crud.get("addresses"),
    "addresses.list": crud.list_("addresses"),
    "addresses.aggregatedList": crud.aggregated("addresses"),
    "addresses.insert": crud.insert("addresses", normalize),
    "addresses.delete": crud.delete("addresses", _in_use),
    "addresses.setLabels": crud.set_labels("addresses"),
}
