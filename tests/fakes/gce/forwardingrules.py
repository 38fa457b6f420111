"""Regional external `forwardingRules` targeting target pools.

Behaviour:
- insert: `IPProtocol` TCP (default), UDP, SCTP, ESP, AH or ICMP;
  `loadBalancingScheme` EXTERNAL only (the default); `networkTier` PREMIUM
  (the default) or STANDARD; `target` (required) must be an existing target
  pool in the same region (404 if missing); `portRange` ("80" is stored as
  "80-80"; TCP/UDP/SCTP only, default "1-65535"); `ports` is refused because a
  target-pool rule cannot use it (GCE allows it only for backend-service rules);
- `IPAddress` may be an IP or an address URL; an IP must be a reserved address
  of the region (else 400) whose tier equals the rule's (else 400); without it
  an ephemeral IP is taken from the fake's range. Several rules may share one
  address when their protocol/port ranges do not overlap; an overlap is 400
  "Specified IP address is in-use and would result in a conflict." (GCE's text);
- the IP, ports, protocol, scheme and tier are immutable: change means
  delete and insert, as in GCE; setTarget swaps the target pool;
- setLabels needs the current `labelFingerprint` (412 conditionNotMet
  otherwise); `fingerprint` changes whenever the rule does;
- quota metrics FORWARDING_RULES and IN_USE_ADDRESSES apply.
"""

from __future__ import annotations

from tests.fakes.gce import crud, errors, validate
from tests.fakes.gce.links import parse_ref
from tests.fakes.gce.stamps import fingerprint
from tests.fakes.gce.state import JSON, Request, Store

KNOWN = (
    "IPAddress", "IPProtocol", "allPorts", "allowGlobalAccess", "allowPscGlobalAccess",
    "attachedExtensions", "backendService", "baseForwardingRule", "creationTimestamp",
    "description", "externalManagedBackendBucketMigrationState",
    "externalManagedBackendBucketMigrationTestingPercentage", "fingerprint", "id",
    "ipCollection", "ipVersion", "isMirroringCollector", "kind", "labelFingerprint", "labels",
    "loadBalancingScheme", "metadataFilters", "name", "network", "networkTier",
    "noAutomateDnsZone", "portRange", "ports", "pscConnectionId", "pscConnectionStatus",
    "region", "selfLink", "selfLinkWithId", "serviceDirectoryRegistrations", "serviceLabel",
    "serviceName", "sourceIpRanges", "subnetwork", "target",
)  # fmt: skip
MODELLED = (
    "IPAddress", "IPProtocol", "description", "labels", "loadBalancingScheme", "name",
    "networkTier", "portRange", "ports", "target", "ipVersion", "creationTimestamp",
    "fingerprint", "id", "kind", "labelFingerprint", "region", "selfLink", "selfLinkWithId",
)  # fmt: skip
PROTOCOLS = ("TCP", "UDP", "SCTP", "ESP", "AH", "ICMP")
PORTED = ("TCP", "UDP", "SCTP")


def normalize(store: Store, req: Request, body: JSON) -> JSON:
    validate.fields(body, known=KNOWN, modelled=MODELLED)
    if body.get("ipVersion") not in (None, "", "IPV4"):
        raise errors.unsupported(f"ipVersion {body.get('ipVersion')}")
    validate.enum(
        body.get("loadBalancingScheme"), ("EXTERNAL",), "resource.loadBalancingScheme", "EXTERNAL"
    )
    protocol = validate.enum(body.get("IPProtocol"), PROTOCOLS, "resource.IPProtocol", "TCP")
    tier = validate.enum(
        body.get("networkTier"), ("PREMIUM", "STANDARD"), "resource.networkTier", "PREMIUM"
    )
    if body.get("ports"):
        raise errors.invalid(
            "resource.ports",
            body["ports"],
            "ports may only be used by backend-service based rules; use portRange.",
        )
    port_range = body.get("portRange")
    if port_range and protocol not in PORTED:
        raise errors.invalid(
            "resource.portRange", port_range, "portRange requires TCP, UDP or SCTP."
        )
    first, last = validate.port_spec(port_range or "1-65535", "resource.portRange", low=1)
    labels = validate.labels(body.get("labels"))
    fields: JSON = {
        "IPProtocol": protocol,
        "loadBalancingScheme": "EXTERNAL",
        "networkTier": tier,
        "target": _target(store, req, body.get("target")),
        "labelFingerprint": fingerprint(labels),
    }
    if protocol in PORTED:
        fields["portRange"] = f"{first}-{last}"
    fields["IPAddress"] = _ip(store, req, body.get("IPAddress"), fields)
    if labels:
        fields["labels"] = labels
    if body.get("description"):
        fields["description"] = str(body["description"])
    fields["fingerprint"] = fingerprint(fields)
    return fields


def _target(store: Store, req: Request, value: object) -> str:
    if value in (None, ""):
        raise errors.required("resource.target")
    ref = parse_ref(
        value,
        field="resource.target",
        project=req.project,
        collections=("targetPools",),
        default_scope=req.scope,
    )
    if ref.scope != req.scope:
        raise errors.invalid("resource.target", value, "The target must be in the same region.")
    store.require(ref)
    return store.links.url(ref)


def _ip(store: Store, req: Request, value: object, rule: JSON) -> str:
    if value in (None, ""):
        ip = store.allocate_ip(req.scope)
        store.check_in_use_quota(req.scope, ip)
        return ip
    text = str(value)
    if "/" in text:
        ref = parse_ref(
            text, field="resource.IPAddress", project=req.project, collections=("addresses",)
        )
        address = store.require(ref)
    else:
        validate.ipv4(text, "resource.IPAddress")
        found = [a for a in store.scoped("addresses", req.scope) if a["address"] == text]
        if not found:
            raise errors.invalid(
                "resource.IPAddress",
                text,
                "The IP address is not a reserved address of this project in this region.",
            )
        address = found[0]
    if address["networkTier"] != rule["networkTier"]:
        raise errors.invalid(
            "resource.networkTier",
            rule["networkTier"],
            f"The address has network tier {address['networkTier']}; the rule must match it.",
        )
    ip = str(address["address"])
    for other in store.scoped("forwardingRules", req.scope):
        if other["IPAddress"] == ip and _overlaps(other, rule):
            raise errors.bad_request(
                "Specified IP address is in-use and would result in a conflict."
            )
    store.check_in_use_quota(req.scope, ip)
    return ip


def _overlaps(a: JSON, b: JSON) -> bool:
    if a["IPProtocol"] != b["IPProtocol"]:
        return False
    a_first, a_last = (int(p) for p in str(a.get("portRange", "1-65535")).split("-"))
    b_first, b_last = (int(p) for p in str(b.get("portRange", "1-65535")).split("-"))
    return a_first <= b_last and b_first <= a_last


def _set_target(store: Store, req: Request) -> JSON:
    rule = store.require(req.ref("forwardingRules"))
    validate.fields(req.body, known=("target",), modelled=("target",))
    rule["target"] = _target(store, req, req.body.get("target"))
    crud.refresh_fingerprint(rule)
    return store.operation(req, rule)


HANDLERS: dict[str, crud.Handler] = {
    "forwardingRules.get": crud.get("forwardingRules"),
    "forwardingRules.list": crud.list_("forwardingRules"),
    "forwardingRules.aggregatedList": crud.aggregated("forwardingRules"),
    "forwardingRules.insert": crud.insert("forwardingRules", normalize),
    "forwardingRules.delete": crud.delete("forwardingRules"),
    "forwardingRules.setTarget": _set_target,
    "forwardingRules.setLabels": crud.set_labels("forwardingRules"),
}
