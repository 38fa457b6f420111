"""What docs/deploy.md promises of the rendered overlays, checked on `kubectl kustomize` output.

No apiserver here (test_dry_run.py has one): these read the rendered
objects, and feed each container's rendered environment and arguments to
the program's own flag parser, so a configuration the program would refuse
cannot ship.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbcommon.flags import UsageError
from lbcommon.pools import parse_pools
from lbctl.cli import build_parser
from lbctl.settings import Settings
from lbctl.settings import settings_from_args as lbctl_settings_from_args
from localcluster.versions import KUBERNETES_VERSION, LBCTL_IMAGE, NODEPROXY_IMAGE
from nodeproxy.agent import AgentSettings
from nodeproxy.cli import settings_from_args as nodeproxy_settings_from_args
from tests.integration.deploy.kubectl_cli import render, run_kubectl
from tests.unit.deploy.manifests import (
    CLOUD_OVERLAYS,
    DEPLOY,
    DOC,
    LEASE_NAMESPACE,
    NAMESPACE,
    OVERLAYS,
    Obj,
    config_map,
    container_env,
    expected_grants,
    find,
    granted,
    lease_name,
    one,
    placeholders,
    pod_spec,
    workloads,
)

pytestmark = pytest.mark.integration

ALL = (*OVERLAYS, "base")
WITH_NODEPROXY = ("local", "kind", "base")
LOCAL_POOL = "198.18.0.200-198.18.0.250"
KIND_POOL = "172.18.255.200-172.18.255.250"


def _containers(objects: list[Obj]) -> Iterator[tuple[Obj, Obj]]:
    for workload in workloads(objects):
        for container in pod_spec(workload)["containers"]:
            yield workload, container


def _lbctl(objects: list[Obj]) -> tuple[Obj, Obj]:
    deployment = one(objects, "Deployment", "lbctl")
    return deployment, pod_spec(deployment)["containers"][0]


def _nodeproxy(objects: list[Obj]) -> tuple[Obj, Obj]:
    daemonset = one(objects, "DaemonSet", "nodeproxy")
    return daemonset, pod_spec(daemonset)["containers"][0]


def test_kubectl_is_the_pinned_release(kubectl: Path) -> None:
    proc = run_kubectl(kubectl, "version", "--client", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["clientVersion"]["gitVersion"] == KUBERNETES_VERSION


#: what lives in LEASE_NAMESPACE: nodeproxy's Lease rights, for its heartbeat Leases
IN_LEASE_NAMESPACE = {("Role", "nodeproxy-leases"), ("RoleBinding", "nodeproxy-leases")}


@pytest.mark.parametrize("overlay", ALL)
def test_everything_is_in_one_namespace_but_the_heartbeat_leases_rights(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    objects = rendered[overlay]
    namespaces = {o["metadata"]["name"] for o in find(objects, "Namespace")}
    with_nodeproxy = bool(find(objects, "DaemonSet"))
    assert namespaces == ({NAMESPACE, LEASE_NAMESPACE} if with_nodeproxy else {NAMESPACE})
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    for obj in objects:
        kind, name = obj["kind"], obj["metadata"]["name"]
        namespace = obj["metadata"].get("namespace")
        if kind in cluster_scoped:
            assert namespace is None, kind
        else:
            want = LEASE_NAMESPACE if (kind, name) in IN_LEASE_NAMESPACE else NAMESPACE
            assert namespace == want, (kind, name)


@pytest.mark.parametrize("overlay", ALL)
def test_every_container_has_requests_and_limits(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    containers = list(_containers(rendered[overlay]))
    assert containers
    for _, container in containers:
        resources = container["resources"]
        for kind in ("requests", "limits"):
            assert set(resources[kind]) >= {"cpu", "memory"}, (container["name"], kind)


@pytest.mark.parametrize("overlay", ALL)
def test_seccomp_is_runtime_default_everywhere(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    for workload, container in _containers(rendered[overlay]):
        pod = pod_spec(workload).get("securityContext") or {}
        own = container.get("securityContext") or {}
        profile = own.get("seccompProfile") or pod.get("seccompProfile")
        assert profile == {"type": "RuntimeDefault"}, container["name"]


@pytest.mark.parametrize("overlay", ALL)
def test_lbctl_is_non_root_read_only_and_without_capabilities(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    deployment, container = _lbctl(rendered[overlay])
    pod = pod_spec(deployment)["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] != 0
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security.get("privileged", False) is False
    assert security["capabilities"] == {"drop": ["ALL"]}


@pytest.mark.parametrize("overlay", WITH_NODEPROXY)
def test_nodeproxy_is_root_with_exactly_net_admin_and_net_raw(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    daemonset, container = _nodeproxy(rendered[overlay])
    spec = pod_spec(daemonset)
    assert spec["hostNetwork"] is True
    security = container["securityContext"]
    assert security["runAsUser"] == 0
    assert security["capabilities"]["drop"] == ["ALL"]
    assert sorted(security["capabilities"]["add"]) == ["NET_ADMIN", "NET_RAW"]
    assert security["allowPrivilegeEscalation"] is False
    assert security.get("privileged", False) is False
    assert security["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize("overlay", WITH_NODEPROXY)
def test_nodeproxy_runs_on_control_plane_nodes_and_knows_where_it_is(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    daemonset, container = _nodeproxy(rendered[overlay])
    tolerations = pod_spec(daemonset)["tolerations"]
    assert any(
        t["key"] == "node-role.kubernetes.io/control-plane" and t["operator"] == "Exists"
        for t in tolerations
    )
    downward = {
        var["name"]: var["valueFrom"]["fieldRef"]["fieldPath"]
        for var in container["env"]
        if "valueFrom" in var
    }
    assert downward == {"NODE_NAME": "spec.nodeName"}


@pytest.mark.parametrize("overlay", ALL)
def test_liveness_and_readiness_probe_different_paths_on_the_metrics_port(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    for _, container in _containers(rendered[overlay]):
        live = container["livenessProbe"]["httpGet"]
        ready = container["readinessProbe"]["httpGet"]
        assert (live["path"], ready["path"]) == ("/livez", "/readyz"), container["name"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert live["port"] == ready["port"] == "metrics"
        metrics_addr = next(a for a in container["args"] if a.startswith("--metrics-addr="))
        assert metrics_addr.rpartition(":")[2] == str(ports["metrics"]), container["name"]


@pytest.mark.parametrize("overlay", ALL)
def test_lbctl_is_two_leader_elected_replicas_spread_over_nodes(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    deployment, container = _lbctl(rendered[overlay])
    assert deployment["spec"]["replicas"] == 2
    assert container["args"][:2] == ["run", "--leader-elect"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    anti = pod_spec(deployment)["affinity"]["podAntiAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in anti
    (preferred,) = anti["preferredDuringSchedulingIgnoredDuringExecution"]
    term = preferred["podAffinityTerm"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("overlay", ALL)
def test_the_pdb_selects_the_deployments_pods(rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    deployment, _ = _lbctl(objects)
    pdb = one(objects, "PodDisruptionBudget")
    selector = pdb["spec"]["selector"]
    assert set(selector) == {"matchLabels"}
    assert (
        selector["matchLabels"].items()
        <= deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    assert selector == deployment["spec"]["selector"]
    assert pdb["spec"].get("maxUnavailable", 0) == 1 or pdb["spec"].get("minAvailable") == 1


#: the local overlay names the images the local cluster builds and imports
#: (localcluster.versions); the cloud overlays the lbctl image with their SDK
#: (Dockerfile targets lbctl-gce, lbctl-aws); kind and base the release images
LOCAL_IMAGES = {"lbctl": LBCTL_IMAGE, "nodeproxy": NODEPROXY_IMAGE}


@pytest.mark.parametrize("overlay", ALL)
def test_images_are_the_release_tags_pulled_if_not_present(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    for workload, container in _containers(rendered[overlay]):
        name = workload["metadata"]["name"]
        want = {
            "local": LOCAL_IMAGES[name],
            "gce": f"ghcr.io/lbctl/{name}:0.1.0-gce",
            "aws": f"ghcr.io/lbctl/{name}:0.1.0-aws",
        }.get(overlay, f"ghcr.io/lbctl/{name}:0.1.0")
        assert container["image"] == want
        assert container["imagePullPolicy"] == "IfNotPresent"


@pytest.mark.parametrize("overlay", ALL)
def test_rbac_equals_the_documented_table(rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    _, container = _lbctl(objects)
    lbctl_class = container_env(objects, container)["LBCTL_LOAD_BALANCER_CLASS"]
    programs = ["lbctl", *(["nodeproxy"] if find(objects, "DaemonSet") else [])]
    want = expected_grants(DOC.read_text(), lease=lease_name(lbctl_class), programs=programs)
    actual = granted(objects)
    assert sorted(actual - want) == [], "granted but not documented"
    assert sorted(want - actual) == [], "documented but not granted"


@pytest.mark.parametrize("overlay", ALL)
def test_each_workload_runs_as_its_own_account(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    objects = rendered[overlay]
    accounts = {o["metadata"]["name"] for o in find(objects, "ServiceAccount")}
    used = {pod_spec(w)["serviceAccountName"] for w in workloads(objects)}
    assert used == accounts
    assert accounts == {w["metadata"]["name"] for w in workloads(objects)}


@pytest.mark.parametrize("overlay", CLOUD_OVERLAYS)
def test_cloud_overlays_have_no_nodeproxy_and_no_default_class(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    objects = rendered[overlay]
    assert find(objects, "DaemonSet") == []
    assert not any("nodeproxy" in o["metadata"]["name"] for o in objects)
    _, container = _lbctl(objects)
    assert not any(a.startswith("--default-class") for a in container["args"])
    env = container_env(objects, container)
    assert "LBCTL_DEFAULT_CLASS" not in env
    assert env["LBCTL_PROVIDER"] == overlay
    assert env["LBCTL_LOAD_BALANCER_CLASS"] == f"lbctl.io/{overlay}"


@pytest.mark.parametrize(
    ("overlay", "annotation"),
    [("gce", "iam.gke.io/gcp-service-account"), ("aws", "eks.amazonaws.com/role-arn")],
)
def test_cloud_overlays_annotate_the_account_for_the_clouds_identity(
    rendered: dict[str, list[Obj]], overlay: str, annotation: str
) -> None:
    account = one(rendered[overlay], "ServiceAccount", "lbctl")
    assert set(account["metadata"]["annotations"]) == {annotation}


@pytest.mark.parametrize(
    ("overlay", "level"),
    [("local", "privileged"), ("kind", "privileged"), ("gce", "restricted"), ("aws", "restricted")],
)
def test_pod_security_is_as_strict_as_the_workloads_allow(
    rendered: dict[str, list[Obj]], overlay: str, level: str
) -> None:
    labels = one(rendered[overlay], "Namespace", NAMESPACE)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == level
    for leases in find(rendered[overlay], "Namespace", LEASE_NAMESPACE):
        # no pod runs there
        assert leases["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_local_overlay_has_no_placeholder(rendered: dict[str, list[Obj]]) -> None:
    assert placeholders(json.dumps(rendered["local"])) == set()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_placeholder_is_documented(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    assert sorted(placeholders(json.dumps(rendered[overlay])) - placeholders(DOC.read_text())) == []


# -- the programs accept what is rendered ----------------------------------------


@pytest.fixture
def program_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A clean environment for the programs' flag parsers, restored afterwards."""
    for name in list(os.environ):
        if name.startswith(("LBCTL_", "NODEPROXY_")) or name in (
            "KUBECONFIG",
            "NODE_NAME",
            "POD_NAMESPACE",
        ):
            monkeypatch.delenv(name)
    yield monkeypatch


def _lbctl_settings(objects: list[Obj], env: pytest.MonkeyPatch) -> Settings:
    _, container = _lbctl(objects)
    for name, value in container_env(objects, container).items():
        env.setenv(name, value)
    return lbctl_settings_from_args(build_parser().parse_args(container["args"]))


def _nodeproxy_settings(objects: list[Obj], env: pytest.MonkeyPatch) -> AgentSettings:
    _, container = _nodeproxy(objects)
    for name, value in container_env(objects, container).items():
        env.setenv(name, value)
    settings, _ = nodeproxy_settings_from_args(container["args"])
    return settings


def test_local_overlay_configures_both_programs(
    rendered: dict[str, list[Obj]], program_env: pytest.MonkeyPatch
) -> None:
    lbctl = _lbctl_settings(rendered["local"], program_env)
    assert (lbctl.provider, lbctl.default_class, lbctl.leader_elect) == ("local", True, True)
    assert lbctl.pools == parse_pools([LOCAL_POOL])
    assert lbctl.leader_elect_namespace == NAMESPACE
    assert lbctl.metrics_addr == "0.0.0.0:8080"
    nodeproxy = _nodeproxy_settings(rendered["local"], program_env)
    assert (nodeproxy.interface, nodeproxy.node_name) == ("eth0", "node-0")
    assert nodeproxy.lease_namespace == LEASE_NAMESPACE
    assert nodeproxy.pools == lbctl.pools


@pytest.mark.parametrize("overlay", WITH_NODEPROXY)
def test_nodeproxy_keeps_its_leases_where_its_lease_role_is(
    rendered: dict[str, list[Obj]], program_env: pytest.MonkeyPatch, overlay: str
) -> None:
    """The rendered setting, and the program's default without it, are the namespace in
    which the rendered roles let nodeproxy heartbeat (and lbctl-system is not it)."""
    objects = rendered[overlay]
    where = {
        g.scope for g in granted(objects) if g.account == "nodeproxy" and g.resource == "leases"
    }
    assert where == {LEASE_NAMESPACE} and NAMESPACE not in where
    _, container = _nodeproxy(objects)
    assert container_env(objects, container)["NODEPROXY_LEASE_NAMESPACE"] == LEASE_NAMESPACE
    program_env.setenv("NODEPROXY_INTERFACE", "eth0")
    program_env.setenv("NODE_NAME", "node-0")
    default, _ = nodeproxy_settings_from_args([])
    assert default.lease_namespace == LEASE_NAMESPACE


@pytest.mark.parametrize("program", ["lbctl", "nodeproxy"])
def test_kinds_placeholder_pool_stops_both_programs(
    rendered: dict[str, list[Obj]], program_env: pytest.MonkeyPatch, program: str
) -> None:
    parse = _lbctl_settings if program == "lbctl" else _nodeproxy_settings
    with pytest.raises(UsageError, match="--pool"):
        parse(rendered["kind"], program_env)


def test_kinds_documented_replacement_sets_the_pool_for_both(
    kubectl: Path, tmp_path: Path, program_env: pytest.MonkeyPatch
) -> None:
    """docs/deploy.md's sed line, on a copy of deploy/, gives both programs the pool."""
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy)
    kustomization = copy / "overlays" / "kind" / "kustomization.yaml"
    text = kustomization.read_text()
    assert "REPLACE_WITH_KIND_NETWORK_RANGE" in text
    assert f"s/REPLACE_WITH_KIND_NETWORK_RANGE/{KIND_POOL}/" in DOC.read_text()
    kustomization.write_text(text.replace("REPLACE_WITH_KIND_NETWORK_RANGE", KIND_POOL))
    objects = render(kubectl, copy / "overlays" / "kind")
    assert config_map(objects, "lbctl-pool")["data"] == {"POOL": KIND_POOL}
    lbctl = _lbctl_settings(objects, program_env)
    nodeproxy = _nodeproxy_settings(objects, program_env)
    assert lbctl.pools == nodeproxy.pools == parse_pools([KIND_POOL])
    assert lbctl.default_class is True


@pytest.mark.parametrize("overlay", CLOUD_OVERLAYS)
def test_cloud_overlays_configure_lbctl_for_their_provider_only(
    rendered: dict[str, list[Obj]], program_env: pytest.MonkeyPatch, overlay: str
) -> None:
    settings = _lbctl_settings(rendered[overlay], program_env)
    assert settings.provider == overlay
    assert settings.default_class is False
    assert settings.load_balancer_class == f"lbctl.io/{overlay}"
    assert settings.leader_elect_namespace == NAMESPACE
