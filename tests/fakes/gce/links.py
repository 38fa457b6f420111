"""Resource URLs: building selfLinks and parsing references the way GCE accepts them.

A scope is `"global"`, `"regions/<region>"` or `"zones/<zone>"`. A reference
(`target`, `instances[]`, `healthChecks[]`, `network`, ...) may be given, as GCE
allows, as a full URL on any host and API version
(`https://www.googleapis.com/compute/v1/projects/p/regions/r/targetPools/x`),
as a project-relative path (`projects/p/regions/r/targetPools/x`), as a
scope-relative path (`regions/r/targetPools/x`) or, where the field has an
obvious scope, as a bare name. The fake stores every reference as its own
canonical URL (`Links.url`), so what a caller reads back is always a full URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.fakes.gce import errors

_URL = re.compile(r"^(?:https?://[^/]+)?/?(?:compute/(?:v1|beta|alpha)/)?(?P<rest>.*)$")


@dataclass(frozen=True)
class Ref:
    """A parsed reference to one resource."""

    project: str
    scope: str
    collection: str
    name: str

    @property
    def path(self) -> str:
        """`projects/p/regions/r/targetPools/x`: the form GCE uses in messages."""
        return f"projects/{self.project}/{self.scope}/{self.collection}/{self.name}"

    @property
    def region(self) -> str | None:
        if self.scope.startswith("regions/"):
            return self.scope.split("/", 1)[1]
        if self.scope.startswith("zones/"):
            return region_of_zone(self.scope.split("/", 1)[1])
        return None


def region_of_zone(zone: str) -> str:
    """`us-central1-a` -> `us-central1`."""
    return zone.rsplit("-", 1)[0]


def path_of(url: str) -> str:
    """`http://host/compute/v1/projects/p/...` -> `projects/p/...` (GCE's form in messages)."""
    match = _URL.match(url)
    return match.group("rest") if match else url


class Links:
    """Builds canonical URLs under one base, e.g. `http://127.0.0.1:PORT`."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def project_url(self, project: str) -> str:
        return f"{self.base}/compute/v1/projects/{project}"

    def scope_url(self, project: str, scope: str) -> str:
        return f"{self.project_url(project)}/{scope}"

    def collection_url(self, project: str, scope: str, collection: str) -> str:
        return f"{self.scope_url(project, scope)}/{collection}"

    def url(self, ref: Ref) -> str:
        return f"{self.project_url(ref.project)}/{ref.scope}/{ref.collection}/{ref.name}"


def parse_ref(
    value: object,
    *,
    field: str,
    project: str,
    collections: tuple[str, ...],
    default_scope: str | None = None,
) -> Ref:
    """Parse a reference accepted in `field`, whose collection must be one of `collections`.

    A malformed value is 400 invalid; whether the resource exists is the caller's check.
    """
    if not isinstance(value, str) or not value:
        raise errors.invalid(field, value, "Must be a URL to a resource.")
    match = _URL.match(value)
    rest = match.group("rest") if match else value
    parts = [p for p in rest.split("/") if p]
    ref_project = project
    if len(parts) >= 2 and parts[0] == "projects":
        ref_project, parts = parts[1], parts[2:]
    if len(parts) == 1 and default_scope is not None:
        ref = Ref(ref_project, default_scope, collections[0], parts[0])
    elif len(parts) == 3 and parts[0] == "global":
        ref = Ref(ref_project, "global", parts[1], parts[2])
    elif len(parts) == 4 and parts[0] in ("regions", "zones"):
        ref = Ref(ref_project, f"{parts[0]}/{parts[1]}", parts[2], parts[3])
    else:
        raise errors.invalid(field, value, "The URL is malformed.")
    if ref.collection not in collections:
        raise errors.invalid(
            field,
            value,
            f"Must refer to a resource of type {' or '.join(collections)}.",
        )
    return ref
