"""Every overlay, rendered by the pinned kubectl, passes a real apiserver's server-side dry run.

The apiserver validates each object fully (schemas, RBAC rules, quota scopes,
defaulting) and evaluates the namespace's Pod Security level against the pod
templates; a template the level would refuse comes back as a warning, which
fails the test as surely as an error.

The namespaces are created for real first (a dry run of namespaced objects
needs them to exist, and Pod Security reads their labels), then removed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from localcluster.controlplane import ControlPlane
from tests.integration.deploy.kubectl_cli import run_kubectl
from tests.unit.deploy.manifests import LEASE_NAMESPACE, NAMESPACE, OVERLAYS, Obj, find

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kubeconfig(control_plane: ControlPlane, kubectl: Path) -> Iterator[Path]:
    """The control plane's admin kubeconfig; the namespaces are deleted afterwards."""
    yield control_plane.kubeconfig
    run_kubectl(
        kubectl,
        "delete",
        "namespace",
        NAMESPACE,
        LEASE_NAMESPACE,
        "--ignore-not-found",
        "--wait=false",
        kubeconfig=control_plane.kubeconfig,
    )


def _dump(objects: list[Obj]) -> str:
    text: str = yaml.safe_dump_all(objects)
    return text


def _create_namespaces(kubectl: Path, kubeconfig: Path, objects: list[Obj]) -> None:
    namespaces = find(objects, "Namespace")
    assert namespaces
    proc = run_kubectl(
        kubectl,
        "apply",
        "-f",
        "-",
        stdin=_dump(namespaces),
        kubeconfig=kubeconfig,
    )
    assert proc.returncode == 0, proc.stderr


def _dry_run(kubectl: Path, kubeconfig: Path, objects: list[Obj]) -> tuple[int, str, str]:
    proc = run_kubectl(
        kubectl, "apply", "--dry-run=server", "-f", "-", stdin=_dump(objects), kubeconfig=kubeconfig
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("overlay", [*OVERLAYS, "base"])
def test_overlay_passes_server_side_dry_run(
    kubectl: Path, kubeconfig: Path, rendered: dict[str, list[Obj]], overlay: str
) -> None:
    objects = rendered[overlay]
    _create_namespaces(kubectl, kubeconfig, objects)
    code, out, err = _dry_run(kubectl, kubeconfig, objects)
    assert code == 0, err
    assert err.strip() == "", f"the apiserver warned:\n{err}"
    applied = [line for line in out.splitlines() if line.endswith("(server dry run)")]
    assert len(applied) == len(objects), out


def test_pod_security_warnings_are_seen(
    kubectl: Path, kubeconfig: Path, rendered: dict[str, list[Obj]]
) -> None:
    """nodeproxy in lbctl-only `restricted` namespace is refused with a warning, so the
    test above would see one for any workload its namespace's level does not admit."""
    _create_namespaces(kubectl, kubeconfig, rendered["gce"])
    daemonset = find(rendered["local"], "DaemonSet", "nodeproxy")
    code, _, err = _dry_run(kubectl, kubeconfig, daemonset)
    assert code == 0, err
    assert "would violate PodSecurity" in err
    assert "hostNetwork" in err
