"""Global `firewalls`: insert, get, list, delete, patch (merge) and update (replace).

Behaviour:
- defaults as GCE fills them: `network` the project's `default` network,
  `priority` 1000, `direction` INGRESS, `disabled` false, `logConfig`
  {"enable": false}, and for an INGRESS rule with neither `sourceRanges` nor
  `sourceTags`, `sourceRanges` ["0.0.0.0/0"];
- exactly one of `allowed` / `denied`; every entry needs `IPProtocol` (tcp,
  udp, icmp, esp, ah, sctp, ipip, all or a protocol number; stored lower-case);
  `ports` ("80" or "80-90") only with tcp, udp, sctp;
- `sourceRanges` / `destinationRanges` must be IPs or CIDRs without host bits;
- `network` must name a known network (`GCEFake.seed_network`), else 404;
- a firewall has no fingerprint in v1, so update and patch are unconditional;
- PATCH merges top-level fields; with the Python client an empty list is not
  sent at all, so clearing a list needs update (PUT), not patch.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.gce import crud, errors, validate
from tests.fakes.gce.links import Ref, parse_ref
from tests.fakes.gce.state import JSON, Request, Store

KNOWN = (
    "allowed", "creationTimestamp", "denied", "description", "destinationRanges", "direction",
    "disabled", "id", "kind", "logConfig", "name", "network", "params", "priority", "selfLink",
    "sourceRanges", "sourceServiceAccounts", "sourceTags", "targetServiceAccounts", "targetTags",
)  # fmt: skip
MODELLED = (
    "allowed", "denied", "description", "destinationRanges", "direction", "disabled",
    "logConfig", "name", "network", "priority", "sourceRanges", "sourceTags", "targetTags",
    "creationTimestamp", "id", "kind", "selfLink",
)  # fmt: skip
PROTOCOLS = ("tcp", "udp", "icmp", "esp", "ah", "sctp", "ipip", "all")
PORTED = ("tcp", "udp", "sctp")


def normalize(store: Store, req: Request, body: JSON) -> JSON:
    validate.fields(body, known=KNOWN, modelled=MODELLED)
    direction = validate.enum(
        body.get("direction"), ("INGRESS", "EGRESS"), "resource.direction", "INGRESS"
    )
    allowed = body.get("allowed") or []
    denied = body.get("denied") or []
    if bool(allowed) == bool(denied):
        raise errors.bad_request("Exactly one of 'allowed' or 'denied' must be specified.")
    fields: JSON = {
        "network": _network(store, req, body.get("network")),
        "priority": validate.integer(
            body.get("priority"), "resource.priority", low=0, high=65535, default=1000
        ),
        "direction": direction,
        "disabled": bool(body.get("disabled", False)),
        "logConfig": {"enable": bool((body.get("logConfig") or {}).get("enable", False))},
    }
    key = "allowed" if allowed else "denied"
    fields[key] = _rules(allowed or denied, f"resource.{key}")
    for name in ("sourceRanges", "destinationRanges"):
        ranges = validate.string_list(body.get(name), f"resource.{name}")
        for i, value in enumerate(ranges):
            validate.cidr(value, f"resource.{name}[{i}]")
        if ranges:
            fields[name] = ranges
    for name in ("sourceTags", "targetTags"):
        tags = validate.string_list(body.get(name), f"resource.{name}")
        for i, tag in enumerate(tags):
            validate.name(tag, f"resource.{name}[{i}]")
        if tags:
            fields[name] = tags
    if direction == "INGRESS" and not fields.get("sourceRanges") and not fields.get("sourceTags"):
        fields["sourceRanges"] = ["0.0.0.0/0"]
    if direction == "EGRESS" and fields.get("sourceTags"):
        raise errors.bad_request("sourceTags may not be set on an EGRESS firewall.")
    if body.get("description"):
        fields["description"] = str(body["description"])
    return fields


def _network(store: Store, req: Request, value: object) -> str:
    if value in (None, ""):
        ref = Ref(req.project, "global", "networks", "default")
    else:
        ref = parse_ref(
            value,
            field="resource.network",
            project=req.project,
            collections=("networks",),
            default_scope="global",
        )
    if ref.project != store.project or ref.name not in store.networks:
        raise errors.not_found(ref.path)
    return store.links.url(ref)


def _rules(entries: Any, field: str) -> list[JSON]:
    if not isinstance(entries, list):
        raise errors.invalid(field, entries, "Must be a list.")
    result: list[JSON] = []
    for i, entry in enumerate(entries):
        where = f"{field}[{i}]"
        if not isinstance(entry, dict):
            raise errors.invalid(where, entry, "Must be an object.")
        validate.fields(entry, known=("IPProtocol", "ports"), modelled=("IPProtocol", "ports"))
        protocol = str(entry.get("IPProtocol") or "").lower()
        if not protocol:
            raise errors.required(f"{where}.IPProtocol")
        if protocol not in PROTOCOLS and not (protocol.isdigit() and int(protocol) <= 255):
            raise errors.invalid(f"{where}.IPProtocol", protocol, "Unknown protocol.")
        ports = validate.string_list(entry.get("ports"), f"{where}.ports")
        if ports and protocol not in PORTED:
            raise errors.invalid(
                f"{where}.ports", ports, "Ports may only be specified for tcp, udp or sctp."
            )
        for j, port in enumerate(ports):
            validate.port_spec(port, f"{where}.ports[{j}]")
        rule: JSON = {"IPProtocol": protocol}
        if ports:
            rule["ports"] = ports
        result.append(rule)
    return result


HANDLERS: dict[str, crud.Handler] = {
    "firewalls.get": crud.get("firewalls"),
    "firewalls.list": crud.list_("firewalls"),
    "firewalls.insert": crud.insert("firewalls", normalize),
    "firewalls.delete": crud.delete("firewalls"),
    "firewalls.patch": crud.replace("firewalls", normalize, merge=True),
    "firewalls.update": crud.replace("firewalls", normalize, merge=False),
}
