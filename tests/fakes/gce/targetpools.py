"""Regional `targetPools` and their membership calls.

Behaviour:
- insert takes `instances` (instance URLs), `healthChecks` (legacy
  httpHealthCheck URLs; at most one, as GCE allows) and `sessionAffinity`
  (NONE, CLIENT_IP, CLIENT_IP_PROTO; default NONE);
- a request naming more than `Store.max_instances_per_request` instances
  (default 1000, GCE's per-request limit) is 400; creating with at most 200 and
  adding the rest in batches is a caller's choice the fake does not enforce;
- an instance reference must exist (404 notFound) and lie in a zone of the
  pool's region (400); a health check reference must exist (404); a
  `global/healthChecks/...` (non-legacy) check is 400, as GCE refuses it;
- addInstance of a member, removeInstance of a non-member, duplicates within
  one request, and the same for health checks, are 400 invalid (the stricter
  reading; a provider should diff membership before calling);
- removeInstance does not require the instance to still exist, so a deleted
  node's URL can always be removed;
- delete while a forwarding rule targets the pool is 400
  resourceInUseByAnotherResource;
- getHealth reports HEALTHY unless `GCEFake.set_instance_health` says otherwise.
"""

from __future__ import annotations

from tests.fakes.gce import crud, errors, validate
from tests.fakes.gce.links import Ref, parse_ref, path_of
from tests.fakes.gce.state import JSON, Request, Store

KNOWN = (
    "backupPool", "creationTimestamp", "description", "failoverRatio", "healthChecks", "id",
    "instances", "kind", "name", "region", "securityPolicy", "selfLink", "sessionAffinity",
)  # fmt: skip
MODELLED = (
    "creationTimestamp", "description", "healthChecks", "id", "instances", "kind", "name",
    "region", "selfLink", "sessionAffinity",
)  # fmt: skip
AFFINITIES = ("NONE", "CLIENT_IP", "CLIENT_IP_PROTO")


def normalize(store: Store, req: Request, body: JSON) -> JSON:
    validate.fields(body, known=KNOWN, modelled=MODELLED)
    instances = _instance_links(store, req, body.get("instances"), "resource.instances")
    checks = _check_links(store, req, body.get("healthChecks"), "resource.healthChecks")
    if len(checks) > 1:
        raise errors.invalid(
            "resource.healthChecks", len(checks), "A target pool may have at most one health check."
        )
    fields: JSON = {
        "sessionAffinity": validate.enum(
            body.get("sessionAffinity"), AFFINITIES, "resource.sessionAffinity", "NONE"
        ),
    }
    if instances:
        fields["instances"] = instances
    if checks:
        fields["healthChecks"] = checks
    if body.get("description"):
        fields["description"] = str(body["description"])
    return fields


def _refs(value: object, field: str) -> list[object]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise errors.invalid(field, value, "Must be a list.")
    return value


def _unique(links: list[str], field: str) -> list[str]:
    if len(set(links)) != len(links):
        raise errors.invalid(field, links, "Duplicate entries are not allowed.")
    return links


def _instance_links(
    store: Store, req: Request, value: object, field: str, *, must_exist: bool = True
) -> list[str]:
    entries = _refs(value, field)
    if len(entries) > store.max_instances_per_request:
        raise errors.invalid(
            field,
            f"{len(entries)} instances",
            f"At most {store.max_instances_per_request} instances may be given per request.",
        )
    region = req.scope.split("/", 1)[1]
    links: list[str] = []
    for i, entry in enumerate(entries):
        ref = parse_ref(
            entry, field=f"{field}[{i}]", project=req.project, collections=("instances",)
        )
        if ref.region != region:
            raise errors.invalid(
                f"{field}[{i}]", entry, f"The instance must be in region '{region}'."
            )
        if must_exist:
            store.require(ref)
        links.append(store.links.url(ref))
    return _unique(links, field)


def _check_links(store: Store, req: Request, value: object, field: str) -> list[str]:
    links: list[str] = []
    for i, entry in enumerate(_refs(value, field)):
        ref: Ref = parse_ref(
            entry,
            field=f"{field}[{i}]",
            project=req.project,
            collections=("httpHealthChecks",),
            default_scope="global",
        )
        store.require(ref)
        links.append(store.links.url(ref))
    return _unique(links, field)


def _unwrap(req: Request, list_field: str, key: str) -> list[object]:
    validate.fields(req.body, known=(list_field,), modelled=(list_field,))
    entries = _refs(req.body.get(list_field), list_field)
    result: list[object] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise errors.invalid(f"{list_field}[{i}]", entry, "Must be an object.")
        validate.fields(entry, known=(key,), modelled=(key,))
        result.append(entry.get(key))
    return result


def _membership(field: str, *, adding: bool) -> crud.Handler:
    """addInstance/removeInstance (field "instances") or add/removeHealthCheck."""
    key = "instance" if field == "instances" else "healthCheck"

    def handle(store: Store, req: Request) -> JSON:
        pool = store.require(req.ref("targetPools"))
        refs = _unwrap(req, field, key)
        if field == "instances":
            links = _instance_links(store, req, refs, "instances", must_exist=adding)
        else:
            links = _check_links(store, req, refs, "healthChecks")
        current: list[str] = list(pool.get(field, []))
        for link in links:
            if adding and link in current:
                raise errors.invalid(
                    field, link, f"'{path_of(link)}' is already a member of the target pool."
                )
            if not adding and link not in current:
                raise errors.invalid(
                    field, link, f"'{path_of(link)}' is not a member of the target pool."
                )
        updated = current + links if adding else [x for x in current if x not in links]
        if field == "healthChecks" and len(updated) > 1:
            raise errors.invalid(field, links, "A target pool may have at most one health check.")
        if updated:
            pool[field] = updated
        else:
            pool.pop(field, None)
        return store.operation(req, pool)

    return handle


def _get_health(store: Store, req: Request) -> JSON:
    pool = store.require(req.ref("targetPools"))
    validate.fields(req.body, known=("instance",), modelled=("instance",))
    ref = parse_ref(
        req.body.get("instance"), field="instance", project=req.project, collections=("instances",)
    )
    link = store.links.url(ref)
    if link not in pool.get("instances", []):
        raise errors.invalid("instance", link, "The instance is not a member of the target pool.")
    status: JSON = {"instance": link, "healthState": store.instance_health.get(link, "HEALTHY")}
    rules = [r for r in store.scoped("forwardingRules") if r.get("target") == pool["selfLink"]]
    if rules:
        status["ipAddress"] = rules[0]["IPAddress"]
    return {"kind": "compute#targetPoolInstanceHealth", "healthStatus": [status]}


def _in_use(store: Store, pool: JSON) -> str | None:
    for rule in store.scoped("forwardingRules"):
        if rule.get("target") == pool["selfLink"]:
            return path_of(str(rule["selfLink"]))
    return None


HANDLERS: dict[str, crud.Handler] = {
    "targetPools.get": crud.get("targetPools"),
    "targetPools.list": crud.list_("targetPools"),
    "targetPools.aggregatedList": crud.aggregated("targetPools"),
    "targetPools.insert": crud.insert("targetPools", normalize),
    "targetPools.delete": crud.delete("targetPools", _in_use),
    "targetPools.addInstance": _membership("instances", adding=True),
    "targetPools.removeInstance": _membership("instances", adding=False),
    "targetPools.addHealthCheck": _membership("healthChecks", adding=True),
    "targetPools.removeHealthCheck": _membership("healthChecks", adding=False),
    "targetPools.getHealth": _get_health,
}
