"""docs/deploy.md's RBAC table equals the base's roles, and names the code for every verb.

The base's RBAC files are plain YAML that kustomize passes through (it only
adds labels), so they are read here without rendering; the rendered overlays
are compared with the same table in tests/integration/deploy.
"""

from __future__ import annotations

import re

import pytest

from nodeproxy.agent import DEFAULT_LEASE_NAMESPACE
from tests.unit.deploy.manifests import (
    BASE_LEASE,
    DEPLOY,
    DOC,
    LEASE_NAMESPACE,
    NAMESPACE,
    Grant,
    documented_grants,
    granted,
    lease_name,
    load_files,
    load_yaml,
    placeholders,
)

pytestmark = pytest.mark.unit

BASE_RBAC = (DEPLOY / "base" / "lbctl" / "rbac.yaml", DEPLOY / "base" / "nodeproxy" / "rbac.yaml")


def test_table_equals_the_base_roles() -> None:
    documented = documented_grants(DOC.read_text())
    assert len(documented) == len(set(documented)), "a row appears twice"
    actual = granted(load_files(BASE_RBAC))
    assert sorted(actual - set(documented)) == [], "granted but not documented"
    assert sorted(set(documented) - actual) == [], "documented but not granted"


def test_each_program_has_its_own_account() -> None:
    accounts = {g.account for g in documented_grants(DOC.read_text())}
    assert accounts == {"lbctl", "nodeproxy"}
    service_accounts = [o for o in load_files(BASE_RBAC) if o["kind"] == "ServiceAccount"]
    assert sorted(o["metadata"]["name"] for o in service_accounts) == ["lbctl", "nodeproxy"]


def test_leases_are_namespaced_and_everything_else_is_cluster_wide() -> None:
    for grant in documented_grants(DOC.read_text()):
        assert (grant.scope != "cluster") == (grant.resource == "leases"), grant


def test_each_program_has_lease_rights_in_its_own_namespace_only() -> None:
    """nodeproxy's heartbeats are apart from lbctl's leader Lease: nodeproxy may create,
    patch and delete any Lease where it may at all, so it has nothing in lbctl-system."""
    want = {"lbctl": NAMESPACE, "nodeproxy": LEASE_NAMESPACE}
    for grants in (documented_grants(DOC.read_text()), granted(load_files(BASE_RBAC))):
        namespaced = {(g.account, g.scope) for g in grants if g.scope != "cluster"}
        assert namespaced == set(want.items())


def test_the_heartbeat_namespace_is_a_manifest() -> None:
    (namespace,) = load_yaml((DEPLOY / "base" / "nodeproxy" / "namespace.yaml").read_text())
    assert (namespace["kind"], namespace["metadata"]["name"]) == ("Namespace", LEASE_NAMESPACE)
    # nothing runs there
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_nodeproxy_is_configured_for_the_heartbeat_namespace_and_defaults_to_it() -> None:
    kustomization = load_yaml((DEPLOY / "base" / "nodeproxy" / "kustomization.yaml").read_text())[0]
    literals = dict(
        item.split("=", 1)
        for gen in kustomization["configMapGenerator"]
        if gen["name"] == "nodeproxy-config"
        for item in gen["literals"]
    )
    assert literals["NODEPROXY_LEASE_NAMESPACE"] == LEASE_NAMESPACE == DEFAULT_LEASE_NAMESPACE


def test_a_subject_outside_lbctl_system_is_refused() -> None:
    objects = load_files(BASE_RBAC)
    for obj in objects:
        for subject in obj.get("subjects") or []:
            subject["namespace"] = LEASE_NAMESPACE
    with pytest.raises(AssertionError, match="binds"):
        granted(objects)


def test_the_table_names_the_base_classes_leader_lease() -> None:
    kustomization = load_yaml((DEPLOY / "base" / "lbctl" / "kustomization.yaml").read_text())[0]
    literals = dict(
        item.split("=", 1)
        for gen in kustomization["configMapGenerator"]
        if gen["name"] == "lbctl-config"
        for item in gen["literals"]
    )
    assert lease_name(literals["LBCTL_LOAD_BALANCER_CLASS"]) == BASE_LEASE
    named = {g.name for g in documented_grants(DOC.read_text()) if g.name}
    assert named == {BASE_LEASE}


def test_no_wildcards_and_no_write_verbs_beyond_the_table() -> None:
    """A `*` would make the exact table meaningless."""
    for grant in granted(load_files(BASE_RBAC)):
        assert "*" not in (grant.group, grant.resource, grant.verb), grant


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("| lbctl | cluster | core | services | | list | |", "names no code"),
        ("| lbctl | cluster | core | services | list | code |", "columns"),
    ],
    ids=["empty-needed-by", "missing-column"],
)
def test_a_malformed_row_is_an_error(line: str, problem: str) -> None:
    doc = (
        "<!-- rbac-table -->\n"
        "| program | scope | API group | resource | names | verb | needed by |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n"
        f"{line}\n"
    )
    with pytest.raises(ValueError, match=problem):
        documented_grants(doc)


def test_a_parsed_row() -> None:
    doc = (
        "text\n<!-- rbac-table -->\n"
        "| program | scope | API group | resource | names | verb | needed by |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n"
        "| nodeproxy | lbctl-nodeproxy | coordination.k8s.io | leases | | delete | `stop` |\n"
        "\nafter\n| not | a | row |\n"
    )
    assert documented_grants(doc) == [
        Grant("nodeproxy", LEASE_NAMESPACE, "coordination.k8s.io", "leases", "", "delete")
    ]


def test_every_placeholder_in_deploy_is_documented() -> None:
    used = set()
    for path in DEPLOY.rglob("*.yaml"):
        used |= placeholders(path.read_text())
    assert used, "the kind, gce and aws overlays have placeholders"
    documented = placeholders(DOC.read_text())
    assert sorted(used - documented) == []


def test_the_old_flat_manifests_are_gone() -> None:
    assert not (DEPLOY / "lbctl.yaml").exists()
    assert not (DEPLOY / "nodeproxy.yaml").exists()
    assert re.search(r"kubectl apply -k deploy/overlays/local", DOC.read_text())
