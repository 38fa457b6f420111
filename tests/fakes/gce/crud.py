"""Handlers every collection shares: get, list, aggregatedList, insert, update,
patch, delete and setLabels, parameterised by a per-kind `normalize` function.

A kind's `normalize(store, req, body)` validates the caller's fields and
returns the stored input fields with GCE's defaults filled in; the helpers here
add the server-assigned fields (kind, id, creationTimestamp, selfLink,
region/zone), so insert, update (PUT: replace every input field) and patch
(merge the given fields into the current ones) share one validation path.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.fakes.gce import errors, validate
from tests.fakes.gce.stamps import fingerprint
from tests.fakes.gce.state import JSON, Request, Store

Handler = Callable[[Store, Request], JSON]
Normalizer = Callable[[Store, Request, JSON], JSON]
InUseCheck = Callable[[Store, JSON], str | None]

SERVER_FIELDS = frozenset({"kind", "id", "creationTimestamp", "name", "selfLink", "region", "zone"})


def get(collection: str) -> Handler:
    def handle(store: Store, req: Request) -> JSON:
        return store.render(collection, store.require(req.ref(collection)))

    return handle


def list_(collection: str) -> Handler:
    def handle(store: Store, req: Request) -> JSON:
        return store.list_response(collection, req)

    return handle


def aggregated(collection: str) -> Handler:
    def handle(store: Store, req: Request) -> JSON:
        return store.aggregated_response(collection, req)

    return handle


def insert(collection: str, normalize: Normalizer) -> Handler:
    def handle(store: Store, req: Request) -> JSON:
        name = validate.name(req.body.get("name"))
        ref = req.ref(collection, name)
        if store.find(ref) is not None:
            raise errors.already_exists(ref.path)
        fields = normalize(store, req, req.body)
        store.check_quota(collection, req.scope)
        resource = store.new_resource(ref)
        resource.update(fields)
        store.put(ref, resource)
        return store.operation(req, resource)

    return handle


def replace(collection: str, normalize: Normalizer, *, merge: bool) -> Handler:
    """PUT (`merge=False`) or PATCH (`merge=True`) of a resource's input fields."""

    def handle(store: Store, req: Request) -> JSON:
        ref = req.ref(collection)
        current = store.require(ref)
        given = req.body.get("name")
        if given not in (None, "", current["name"]):
            raise errors.invalid("resource.name", given, "Must match the name in the URL.")
        update = {k: v for k, v in req.body.items() if k not in SERVER_FIELDS}
        if merge:
            inputs = {k: v for k, v in current.items() if k not in SERVER_FIELDS}
            update = {**inputs, **update}
        fields = normalize(store, req, update)
        kept = {k: v for k, v in current.items() if k in SERVER_FIELDS}
        current.clear()
        current.update(kept)
        current.update(fields)
        return store.operation(req, current)

    return handle


def delete(collection: str, in_use: InUseCheck | None = None) -> Handler:
    """Delete; `in_use` names a user of the resource, which makes it 400 resourceInUse."""

    def handle(store: Store, req: Request) -> JSON:
        ref = req.ref(collection)
        resource = store.require(ref)
        user = in_use(store, resource) if in_use else None
        if user is not None:
            raise errors.in_use(ref.path, user)
        store.remove(ref)
        return store.operation(req, resource)

    return handle


def set_labels(collection: str) -> Handler:
    """setLabels: the body's labelFingerprint must equal the current one, else 412."""

    def handle(store: Store, req: Request) -> JSON:
        ref = req.ref(collection)
        resource = store.require(ref)
        validate.fields(
            req.body, known=("labels", "labelFingerprint"), modelled=("labels", "labelFingerprint")
        )
        if req.body.get("labelFingerprint") != resource.get("labelFingerprint"):
            raise errors.condition_not_met(
                "Labels fingerprint either invalid or resource labels have changed"
            )
        labels = validate.labels(req.body.get("labels"))
        if labels:
            resource["labels"] = labels
        else:
            resource.pop("labels", None)
        resource["labelFingerprint"] = fingerprint(labels)
        refresh_fingerprint(resource)
        return store.operation(req, resource)

    return handle


def refresh_fingerprint(resource: JSON) -> None:
    """Recompute `fingerprint` (for kinds that have one) from the resource content."""
    if "fingerprint" in resource:
        content = {k: v for k, v in resource.items() if k != "fingerprint"}
        resource["fingerprint"] = fingerprint(content)
