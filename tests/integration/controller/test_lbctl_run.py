"""`lbctl run` as real processes: metrics, health, plan, gc, and leader hand-over."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from lbcommon.model import CLEANUP_FINALIZER, OWNER_ANNOTATION
from localcluster.controlplane import ControlPlane
from localcluster.processes import Supervised
from tests.integration.controller.conftest import lb_service, wait_ingress
from tests.kubehelpers import merge_patch_service, wait_for

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""
    except OSError:
        return 0, ""


class Replica:
    def __init__(
        self, cp: ControlPlane, lb_class: str, namespace: str, name: str, logs: Path
    ) -> None:
        self.port = _free_port()
        self.name = name
        self.proc = Supervised(
            name,
            [
                sys.executable,
                "-m",
                "lbctl",
                "run",
                f"--kubeconfig={cp.kubeconfig}",
                f"--load-balancer-class={lb_class}",
                f"--metrics-addr=127.0.0.1:{self.port}",
                "--pool=198.18.0.200-198.18.0.210",
                "--leader-elect",
                f"--leader-elect-namespace={namespace}",
                f"--leader-elect-id={name}",
            ],
            log_dir=logs,
        )

    def healthy(self) -> bool:
        return _get(f"http://127.0.0.1:{self.port}/healthz")[0] == 200


@pytest.fixture
def replicas(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> Iterator[tuple[str, list[Replica]]]:
    lb_class = f"test.lbctl.io/{uuid.uuid4().hex[:8]}"
    made = [Replica(control_plane, lb_class, namespace, f"replica-{i}", tmp_path) for i in (0, 1)]
    try:
        yield lb_class, made
    finally:
        for replica in made:
            replica.proc.stop(grace=5)


def _holder(api: client.ApiClient, namespace: str, lb_class: str) -> str | None:
    name = lb_class.replace("/", "-").replace(".", "-")
    try:
        lease = client.CoordinationV1Api(api).read_namespaced_lease(name, namespace)
    except client.ApiException:
        return None
    return lease.spec.holder_identity  # type: ignore[no-any-return]


def test_leader_serves_and_standby_takes_over_after_kill(
    kube: client.ApiClient, namespace: str, replicas: tuple[str, list[Replica]]
) -> None:
    lb_class, (first, second) = replicas
    first.proc.start()
    wait_for("first replica leads", lambda: _holder(kube, namespace, lb_class) == first.name)
    second.proc.start()
    wait_for("both healthy", lambda: first.healthy() and second.healthy())
    core = client.CoreV1Api(kube)
    core.create_namespaced_service(namespace, lb_service("one", lb_class))
    wait_ingress(kube, namespace, "one")
    status, metrics = _get(f"http://127.0.0.1:{first.port}/metrics")
    assert status == 200
    assert 'lbctl_reconciles_total{result="done"}' in metrics
    assert "lbctl_leader 1.0" in metrics
    assert "lbctl_leader 0.0" in _get(f"http://127.0.0.1:{second.port}/metrics")[1]

    pid = first.proc.pid
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)
    killed = time.monotonic()
    wait_for("standby leads", lambda: _holder(kube, namespace, lb_class) == second.name, timeout=20)
    core.create_namespaced_service(namespace, lb_service("two", lb_class))
    wait_ingress(kube, namespace, "two")
    assert time.monotonic() - killed < 15
    # The new leader kept the first Service's IP and gave the second a new one.
    assert wait_ingress(kube, namespace, "one") != wait_ingress(kube, namespace, "two")


def test_plan_and_gc_change_nothing(
    kube: client.ApiClient, namespace: str, control_plane: ControlPlane
) -> None:
    lb_class = f"test.lbctl.io/{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(kube)
    core.create_namespaced_service(namespace, lb_service("planned", lb_class))
    common = [f"--kubeconfig={control_plane.kubeconfig}", f"--load-balancer-class={lb_class}"]
    out = subprocess.run(
        [sys.executable, "-m", "lbctl", "plan", *common],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert f"{namespace}/planned:" in out
    assert "create address" in out
    assert "nothing was modified" in out
    svc = core.read_namespaced_service("planned", namespace)
    assert not svc.status.load_balancer.ingress
    assert not svc.metadata.finalizers
    gc = subprocess.run(
        [sys.executable, "-m", "lbctl", "gc", *common],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "0 orphaned resource(s)" in gc


def test_gc_reports_an_address_no_live_service_claims(
    kube: client.ApiClient, namespace: str, control_plane: ControlPlane
) -> None:
    """A Service deleted while no controller ran still holds its published address."""
    lb_class = f"test.lbctl.io/{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(kube)
    for name, ip in (("kept", "198.18.0.201"), ("deleted", "198.18.0.202")):
        svc = lb_service(name, lb_class)
        svc.metadata.finalizers = [CLEANUP_FINALIZER]
        svc.metadata.annotations = {OWNER_ANNOTATION: lb_class}
        core.create_namespaced_service(namespace, svc)
        core.patch_namespaced_service_status(
            name, namespace, {"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}
        )
    core.delete_namespaced_service("deleted", namespace)  # held by the finalizer
    common = [f"--kubeconfig={control_plane.kubeconfig}", f"--load-balancer-class={lb_class}"]
    try:
        gc = subprocess.run(
            [sys.executable, "-m", "lbctl", "gc", *common],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    finally:
        merge_patch_service(kube, namespace, "deleted", {"metadata": {"finalizers": None}})
    assert f"orphan address 198.18.0.202 (owner {namespace}/deleted)" in gc
    assert "198.18.0.201" not in gc
    assert "1 orphaned resource(s)" in gc
