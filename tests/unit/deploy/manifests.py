"""Pure helpers over deploy/ and docs/deploy.md, for the unit and integration tests.

Nothing here runs a process: manifests are lists of wire-form dicts (as
`kubectl kustomize` prints them, or as the source YAML files hold them).
`Grant` is one verb on one resource for one ServiceAccount, the unit in which
docs/deploy.md's RBAC table and the rendered roles are compared.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
DOC = REPO / "docs" / "deploy.md"
OVERLAYS = ("local", "kind", "gce", "aws")
CLOUD_OVERLAYS = ("gce", "aws")
NAMESPACE = "lbctl-system"
#: nodeproxy's heartbeat Leases: apart from lbctl's leader Lease in NAMESPACE
LEASE_NAMESPACE = "lbctl-nodeproxy"
PLACEHOLDER = re.compile(r"REPLACE_WITH_[A-Z0-9_]+")
#: The base's class and the leader Lease named after it (docs/deploy.md).
BASE_LEASE = "lbctl-io-lbctl"

Obj = dict[str, Any]


@dataclass(frozen=True, order=True)
class Grant:
    """One verb on one resource, granted to one ServiceAccount."""

    account: str
    scope: str  # "cluster" (ClusterRoleBinding), else the RoleBinding's namespace
    group: str  # "core" for the API group ""
    resource: str
    name: str  # one of the rule's resourceNames, "" for any
    verb: str


def load_yaml(text: str) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def load_files(paths: Iterable[Path]) -> list[Obj]:
    return [obj for path in paths for obj in load_yaml(path.read_text())]


# -- the RBAC table ----------------------------------------------------------


def documented_grants(doc: str) -> list[Grant]:
    """The rows of the table after the `rbac-table` marker, one Grant each."""
    _, marker, rest = doc.partition("<!-- rbac-table")
    if not marker:
        raise ValueError("docs/deploy.md has no rbac-table marker")
    rows: list[list[str]] = []
    for line in rest.splitlines()[1:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rows.append(cells)
    header, _separator, *body = rows
    if header != ["program", "scope", "API group", "resource", "names", "verb", "needed by"]:
        raise ValueError(f"unexpected RBAC table header {header}")
    grants = []
    for row in body:
        if len(row) != len(header):
            raise ValueError(f"RBAC row {row} has {len(row)} columns, not {len(header)}")
        program, scope, group, resource, name, verb, needed_by = row
        if not needed_by:
            raise ValueError(f"RBAC row {program} {resource} {verb} names no code")
        grants.append(Grant(program, scope, group, resource, name, verb))
    return grants


def granted(objects: Iterable[Obj]) -> set[Grant]:
    """Every Grant the (Cluster)RoleBindings among `objects` give to ServiceAccounts."""
    objs = list(objects)
    roles = {
        (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
        for o in objs
        if o["kind"] in ("Role", "ClusterRole")
    }
    grants: set[Grant] = set()
    for binding in objs:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        ref = binding["roleRef"]
        namespace = binding["metadata"].get("namespace", "") if ref["kind"] == "Role" else ""
        role = roles[(ref["kind"], namespace, ref["name"])]
        kind = binding["kind"]
        scope = "cluster" if kind == "ClusterRoleBinding" else str(binding["metadata"]["namespace"])
        for subject in binding.get("subjects") or []:
            if subject["kind"] != "ServiceAccount":
                raise AssertionError(f"{binding['metadata']['name']} binds a {subject['kind']}")
            if subject.get("namespace") != NAMESPACE:
                # Both programs' ServiceAccounts live in NAMESPACE; a subject
                # elsewhere (or without one) is somebody else.
                raise AssertionError(f"{binding['metadata']['name']} binds {subject}")
            grants |= set(_rule_grants(subject["name"], scope, role.get("rules") or []))
    return grants


def _rule_grants(account: str, scope: str, rules: list[Obj]) -> Iterator[Grant]:
    for rule in rules:
        for group in rule.get("apiGroups") or []:
            for resource in rule.get("resources") or []:
                for name in rule.get("resourceNames") or [""]:
                    for verb in rule["verbs"]:
                        yield Grant(account, scope, group or "core", resource, name, verb)


def lease_name(load_balancer_class: str) -> str:
    """lbctl's leader Lease for a class, as lbctl/app.py names it."""
    return load_balancer_class.replace("/", "-").replace(".", "-")


def expected_grants(doc: str, *, lease: str, programs: Iterable[str]) -> set[Grant]:
    """The documented grants of `programs`, with the leader Lease renamed to `lease`."""
    wanted = set(programs)
    return {
        replace(g, name=lease) if g.name == BASE_LEASE else g
        for g in documented_grants(doc)
        if g.account in wanted
    }


# -- rendered objects --------------------------------------------------------


def find(objects: Iterable[Obj], kind: str, name: str | None = None) -> list[Obj]:
    return [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]


def one(objects: Iterable[Obj], kind: str, name: str | None = None) -> Obj:
    found = find(objects, kind, name)
    if len(found) != 1:
        raise AssertionError(f"want one {kind} {name or ''}, found {len(found)}")
    return found[0]


def workloads(objects: Iterable[Obj]) -> list[Obj]:
    return [o for o in objects if o["kind"] in ("Deployment", "DaemonSet")]


def pod_spec(workload: Obj) -> Obj:
    spec: Obj = workload["spec"]["template"]["spec"]
    return spec


def config_map(objects: Iterable[Obj], name: str) -> Obj:
    """The ConfigMap generated as `name` (kustomize appends a content hash)."""
    found = [
        o
        for o in find(objects, "ConfigMap")
        if re.fullmatch(rf"{re.escape(name)}(-[a-z0-9]+)?", o["metadata"]["name"])
    ]
    if len(found) != 1:
        raise AssertionError(f"want one ConfigMap {name}, found {len(found)}")
    return found[0]


#: What the downward API gives each fieldRef in container_env.
FIELD_VALUES = {
    "metadata.namespace": NAMESPACE,
    "metadata.name": "pod-0",
    "spec.nodeName": "node-0",
}


def container_env(objects: Iterable[Obj], container: Obj) -> dict[str, str]:
    """The environment the kubelet gives `container`: envFrom in order, then env."""
    objs = list(objects)
    by_name = {o["metadata"]["name"]: o for o in find(objs, "ConfigMap")}
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        ref = source["configMapRef"]["name"]
        for key, value in (by_name[ref].get("data") or {}).items():
            env[source.get("prefix", "") + key] = value
    for var in container.get("env") or []:
        if "value" in var:
            env[var["name"]] = var["value"]
        else:
            env[var["name"]] = FIELD_VALUES[var["valueFrom"]["fieldRef"]["fieldPath"]]
    return env


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))
