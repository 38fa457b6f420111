"""RBAC is exact: both programs work with only the shipped roles, and need every verb.

The roles are the local overlay's, rendered by the pinned kubectl and applied
to a real apiserver that authorizes with RBAC; each program runs as its own
process, authenticated as its ServiceAccount. The baselines run every
behaviour with the shipped roles: each happens, and no log record says
"forbidden". Then, for each row of docs/deploy.md's RBAC table (the deploy
tests' parser), the roles are re-applied without exactly that verb, and the
behaviour that needs it must fail with the 403 reported where a user looks
(a Warning event on the Service, or a log record naming verb and resource).
A row whose verb nothing needs would fail here: its behaviour would succeed,
or nothing would report a 403. Last, nodeproxy's identity must be refused
every call on lbctl's leader Lease (its heartbeats have a namespace of their
own for that reason).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.integration.rbac import lbctl_cases, nodeproxy_cases
from tests.integration.rbac.conftest import Roles
from tests.integration.rbac.lbctl_cases import LbctlCase
from tests.integration.rbac.nodeproxy_cases import NodeproxyCase
from tests.integration.rbac.programs import any_forbidden
from tests.integration.rbac.roles import without
from tests.kubehelpers import NodeObjects
from tests.netns import Topology, leftover_namespaces
from tests.unit.deploy.manifests import (
    BASE_LEASE,
    DEPLOY,
    DOC,
    LEASE_NAMESPACE,
    NAMESPACE,
    Grant,
    documented_grants,
    granted,
    load_files,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

ROWS = documented_grants(DOC.read_text())
BASE_RBAC = (DEPLOY / "base" / "lbctl" / "rbac.yaml", DEPLOY / "base" / "nodeproxy" / "rbac.yaml")
SCENARIOS: dict[str, dict[tuple[str, str], Callable[[Any], None]]] = {
    "lbctl": lbctl_cases.SCENARIOS,
    "nodeproxy": nodeproxy_cases.SCENARIOS,
}


def row_id(grant: Grant) -> str:
    return f"{grant.account}-{grant.resource.replace('/', '-')}-{grant.verb}"


@pytest.fixture
def lbctl_case(
    admin: client.ApiClient, kubeconfigs: dict[str, Path], case_namespace: str, tmp_path: Path
) -> Iterator[LbctlCase]:
    nodes = NodeObjects(admin, "rbac-")
    case = LbctlCase(admin, kubeconfigs["lbctl"], case_namespace, tmp_path, nodes)
    try:
        nodes.add("n1", lbctl_cases.NODE_IPS[0])
        yield case
    finally:
        case.close()
        nodes.cleanup()


@pytest.fixture
def nodeproxy_case(
    admin: client.ApiClient, kubeconfigs: dict[str, Path], case_namespace: str, tmp_path: Path
) -> Iterator[NodeproxyCase]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    nodes = NodeObjects(admin, "rbac-")
    with Topology() as topo:
        host = topo.add_host("node", 20)
        try:
            # nodeproxy runs on a Node (n1), as the DaemonSet's instances do: an
            # instance on no eligible Node may be given no address to announce.
            node = nodes.add("n1", nodeproxy_cases.NODE_IPS[0])
            case = NodeproxyCase(
                admin,
                kubeconfigs["nodeproxy"],
                case_namespace,
                tmp_path,
                topo,
                host,
                nodes,
                identity=node,
            )
            try:
                yield case
            finally:
                case.close()
        finally:
            nodes.cleanup()
    assert not leftover_namespaces(topo.prefix)


def test_every_row_has_a_scenario_and_every_scenario_a_row() -> None:
    rows = {(g.account, g.resource, g.verb) for g in ROWS}
    scenarios = {(program, *key) for program, table in SCENARIOS.items() for key in table}
    assert sorted(rows - scenarios) == [], "rows without a scenario"
    assert sorted(scenarios - rows) == [], "scenarios for verbs the table no longer grants"


@pytest.mark.parametrize("grant", ROWS, ids=row_id)
def test_each_removal_takes_away_exactly_its_grant(grant: Grant) -> None:
    """What the scenarios apply: the base roles less one grant (pure, no apiserver)."""
    base = load_files(BASE_RBAC)
    assert granted(without(base, grant)) == granted(base) - {grant}


def test_lbctl_works_with_the_shipped_roles(roles: Roles, lbctl_case: LbctlCase) -> None:
    lbctl_cases.baseline(lbctl_case)
    assert lbctl_case.program is not None
    assert any_forbidden(lbctl_case.program.text()) == []


def test_nodeproxy_works_with_the_shipped_roles(
    roles: Roles, nodeproxy_case: NodeproxyCase
) -> None:
    nodeproxy_cases.baseline(nodeproxy_case)
    assert nodeproxy_case.program is not None
    assert any_forbidden(nodeproxy_case.program.text()) == []


@pytest.mark.parametrize("grant", ROWS, ids=row_id)
def test_without_the_verb_its_behaviour_fails_and_is_reported(
    grant: Grant, roles: Roles, request: pytest.FixtureRequest
) -> None:
    scenario = SCENARIOS[grant.account].get((grant.resource, grant.verb))
    if scenario is None:
        pytest.fail(f"no scenario for {grant}")
    case = request.getfixturevalue(f"{grant.account}_case")
    roles.remove(grant)
    scenario(case)


MERGE_PATCH = "application/merge-patch+json"


def _lease(name: str, holder: str) -> client.V1Lease:
    return client.V1Lease(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1LeaseSpec(holder_identity=holder, lease_duration_seconds=15),
    )


def test_nodeproxy_cannot_touch_lbctls_leader_lease(
    roles: Roles, admin: client.ApiClient, kubeconfigs: dict[str, Path]
) -> None:
    """Why nodeproxy's heartbeats have a namespace of their own: a node agent taken over
    must not be able to seize or disturb lbctl's leadership. As nodeproxy's identity,
    on the apiserver with the shipped roles, every call on lbctl's leader Lease is a 403
    and leaves it as it was, while the same calls on a heartbeat Lease succeed."""
    coordination = client.CoordinationV1Api(admin)
    leader = coordination.create_namespaced_lease(NAMESPACE, _lease(BASE_LEASE, "lbctl-0"))
    as_nodeproxy = config.new_client_from_config(config_file=str(kubeconfigs["nodeproxy"]))
    try:
        theirs = client.CoordinationV1Api(as_nodeproxy)
        seized = {"spec": {"holderIdentity": "nodeproxy-n1", "leaseDurationSeconds": 3600}}
        replaced = _lease(BASE_LEASE, "nodeproxy-n1")
        replaced.metadata.resource_version = leader.metadata.resource_version
        attempts: dict[str, Callable[[], object]] = {
            "patch": lambda: theirs.patch_namespaced_lease(
                BASE_LEASE, NAMESPACE, seized, _content_type=MERGE_PATCH
            ),
            "delete": lambda: theirs.delete_namespaced_lease(BASE_LEASE, NAMESPACE),
            "update": lambda: theirs.replace_namespaced_lease(BASE_LEASE, NAMESPACE, replaced),
            "get": lambda: theirs.read_namespaced_lease(BASE_LEASE, NAMESPACE),
            "list": lambda: theirs.list_namespaced_lease(NAMESPACE),
            "create": lambda: theirs.create_namespaced_lease(
                NAMESPACE, _lease("nodeproxy-n1", "nodeproxy-n1")
            ),
        }
        for verb, attempt in attempts.items():
            with pytest.raises(ApiException) as refused:
                attempt()
            assert refused.value.status == 403, (verb, refused.value.body)
            message = json.loads(refused.value.body)["message"]
            assert f'cannot {verb} resource "leases"' in message, message
            assert f'in the namespace "{NAMESPACE}"' in message, message
        # The identity works: its own kind of Lease, in its own namespace.
        own = "nodeproxy-rbac-contrast"
        theirs.create_namespaced_lease(LEASE_NAMESPACE, _lease(own, own))
        theirs.patch_namespaced_lease(own, LEASE_NAMESPACE, seized, _content_type=MERGE_PATCH)
        theirs.delete_namespaced_lease(own, LEASE_NAMESPACE)
    finally:
        as_nodeproxy.close()
        after = coordination.read_namespaced_lease(BASE_LEASE, NAMESPACE)
        coordination.delete_namespaced_lease(BASE_LEASE, NAMESPACE)
    assert after.metadata.resource_version == leader.metadata.resource_version
    assert after.spec.holder_identity == "lbctl-0"
