"""Global legacy `httpHealthChecks` (the only kind a target pool accepts).

Note for provider authors: google-cloud-compute has no client for this
collection (Google's generated clients exclude the legacy health checks), so a
provider reaches it over plain REST, e.g. with
`google.auth.transport.requests.AuthorizedSession`; the fake serves the same
paths GCE does: `projects/{p}/global/httpHealthChecks[/{name}]`.

Behaviour: defaults port 80, requestPath "/", checkIntervalSec 5, timeoutSec 5,
healthyThreshold 2, unhealthyThreshold 2; ranges port 1-65535, intervals and
timeouts 1-300 s with timeoutSec <= checkIntervalSec, thresholds 1-10;
requestPath must start with "/". Delete while a target pool lists the check is
400 resourceInUseByAnotherResource. Update replaces, patch merges.
"""

from __future__ import annotations

from tests.fakes.gce import crud, errors, validate
from tests.fakes.gce.links import path_of
from tests.fakes.gce.state import JSON, Request, Store

KNOWN = (
    "checkIntervalSec", "creationTimestamp", "description", "healthyThreshold", "host", "id",
    "kind", "name", "port", "requestPath", "selfLink", "timeoutSec", "unhealthyThreshold",
)  # fmt: skip


def normalize(store: Store, req: Request, body: JSON) -> JSON:
    validate.fields(body, known=KNOWN, modelled=KNOWN)
    path = body.get("requestPath") or "/"
    if not isinstance(path, str) or not path.startswith("/"):
        raise errors.invalid("resource.requestPath", path, "Must start with '/'.")
    fields: JSON = {
        "port": validate.integer(body.get("port"), "resource.port", low=1, high=65535, default=80),
        "requestPath": path,
        "checkIntervalSec": validate.integer(
            body.get("checkIntervalSec"), "resource.checkIntervalSec", low=1, high=300, default=5
        ),
        "timeoutSec": validate.integer(
            body.get("timeoutSec"), "resource.timeoutSec", low=1, high=300, default=5
        ),
        "healthyThreshold": validate.integer(
            body.get("healthyThreshold"), "resource.healthyThreshold", low=1, high=10, default=2
        ),
        "unhealthyThreshold": validate.integer(
            body.get("unhealthyThreshold"), "resource.unhealthyThreshold", low=1, high=10, default=2
        ),
    }
    if fields["timeoutSec"] > fields["checkIntervalSec"]:
        raise errors.invalid(
            "resource.timeoutSec",
            fields["timeoutSec"],
            "timeoutSec should be less than or equal to checkIntervalSec.",
        )
    for optional in ("host", "description"):
        if body.get(optional):
            fields[optional] = str(body[optional])
    return fields


def _in_use(store: Store, check: JSON) -> str | None:
    for pool in store.scoped("targetPools"):
        if check["selfLink"] in pool.get("healthChecks", []):
            return path_of(str(pool["selfLink"]))
    return None


HANDLERS: dict[str, crud.Handler] = {
    "httpHealthChecks.get": crud.get("httpHealthChecks"),
    "httpHealthChecks.list": crud.list_("httpHealthChecks"),
    "httpHealthChecks.insert": crud.insert("httpHealthChecks", normalize),
    "httpHealthChecks.delete": crud.delete("httpHealthChecks", _in_use),
    "httpHealthChecks.patch": crud.replace("httpHealthChecks", normalize, merge=True),
    "httpHealthChecks.update": crud.replace("httpHealthChecks", normalize, merge=False),
}
