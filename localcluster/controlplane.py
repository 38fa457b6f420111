"""A real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager).

Guarantees:
- `start()` returns only when the apiserver answers /readyz and the controller
  manager answers /healthz, or raises with the failing component's log tail;
- every instance listens on its own loopback address (127.x.y.z), so several
  instances (pytest-xdist workers, a developer's shell) never collide on ports;
- `stop()` leaves no process, port or file behind, and runs on exceptions,
  interpreter exit and SIGTERM alike; the children also die with their parent.

The same class serves the local multi-node cluster, which binds the
apiserver to the node bridge instead of loopback.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import json
import logging
import random
import shutil
import socket
import ssl
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from localcluster import pki
from localcluster.build import ensure_control_plane_binaries, ensure_named
from localcluster.processes import Supervised
from localcluster.versions import KUBERNETES_VERSION

log = logging.getLogger(__name__)

ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
APISERVER_PORT = 6443
CONTROLLER_MANAGER_PORT = 10257
SCHEDULER_PORT = 10259


@dataclass(frozen=True)
class ControlPlaneSettings:
    """What a control plane serves; the defaults follow docs/DESIGN address plan."""

    service_cidr: str = "198.18.16.0/20"
    cluster_cidr: str = "198.19.0.0/18"
    node_cidr_mask: int = 24
    node_port_range: str = "30000-32767"
    #: address to listen on; None picks a free 127.x.y.z
    bind_address: str | None = None
    #: extra names and IPs for the apiserver's serving certificate
    extra_sans: tuple[str, ...] = ()
    #: controllers kube-controller-manager runs (its --controllers flag)
    controllers: tuple[str, ...] = ("*",)
    ready_timeout: float = 60.0
    #: where state goes; None is a fresh temporary directory removed on stop
    workdir: Path | None = None
    extra_apiserver_flags: tuple[str, ...] = field(default=())
    #: also run kube-scheduler (the local multi-node cluster needs it)
    scheduler: bool = False
    #: processes outlive this Python process (`localcluster up` exits while
    #: the cluster runs); stopping is then the caller's job, by pid
    detached: bool = False
    #: Kubernetes release to run (built from its module on first use)
    kubernetes_version: str = KUBERNETES_VERSION


def _ports_free(address: str, ports: tuple[int, ...]) -> bool:
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((address, port))
            except OSError:
                return False
    return True


def pick_loopback_address(ports: tuple[int, ...]) -> str:
    """Return a 127.x.y.z address on which all `ports` are free.

    Linux routes all of 127.0.0.0/8 to `lo`, so each instance can use the
    components' well-known ports on an address of its own.
    """
    rng = random.SystemRandom()
    for _ in range(100):
        address = f"127.{rng.randint(100, 199)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        if _ports_free(address, ports):
            return address
    raise RuntimeError("no free loopback address found for the control plane")


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager, started and stopped as one."""

    def __init__(self, settings: ControlPlaneSettings | None = None) -> None:
        self.settings = settings or ControlPlaneSettings()
        self._own_workdir = self.settings.workdir is None
        self.workdir = self.settings.workdir or Path(tempfile.mkdtemp(prefix="lbctl-cp-"))
        self.address = self.settings.bind_address or pick_loopback_address(
            (ETCD_CLIENT_PORT, ETCD_PEER_PORT, APISERVER_PORT, CONTROLLER_MANAGER_PORT)
        )
        self.url = f"https://{self.address}:{APISERVER_PORT}"
        self.processes: list[Supervised] = []
        self.kubeconfig = self.workdir / "admin.kubeconfig"
        self._ca: pki.CertificateAuthority | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> Self:
        if not self.settings.detached:
            atexit.register(self.stop)
        try:
            version = self.settings.kubernetes_version
            binaries = ensure_control_plane_binaries(version)
            if self.settings.scheduler:
                binaries |= ensure_named(["kube-scheduler"], kubernetes_version=version)
            self._write_pki()
            self._start_etcd(binaries["etcd"])
            self._start_apiserver(binaries["kube-apiserver"])
            self._start_controller_manager(binaries["kube-controller-manager"])
            if self.settings.scheduler:
                self._start_scheduler(binaries["kube-scheduler"])
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every component (reverse order) and remove the state; idempotent."""
        while self.processes:
            self.processes.pop().stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- pieces ------------------------------------------------------------

    @property
    def pki_dir(self) -> Path:
        return self.workdir / "pki"

    @property
    def ca(self) -> pki.CertificateAuthority:
        if self._ca is None:
            raise RuntimeError("the control plane has not been started")
        return self._ca

    def _write_pki(self) -> None:
        self._ca = pki.CertificateAuthority(self.pki_dir)
        first_service_ip = str(next(ipaddress.ip_network(self.settings.service_cidr).hosts()))
        names = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"]
        names.append("kubernetes.default.svc.cluster.local")
        ips = ["127.0.0.1", self.address, first_service_ip]
        for extra in self.settings.extra_sans:
            try:
                ipaddress.ip_address(extra)
                ips.append(extra)
            except ValueError:
                names.append(extra)
        self._ca.issue(
            "apiserver",
            common_name="kube-apiserver",
            server_names=names,
            server_ips=ips,
            client=False,
        )
        self._ca.issue(
            "apiserver-kubelet-client",
            common_name="kube-apiserver-kubelet-client",
            organization="system:masters",
        )
        admin = self._ca.issue("admin", common_name="lbctl-admin", organization="system:masters")
        pki.write_kubeconfig(self.kubeconfig, server=self.url, ca=self._ca.pair.cert, client=admin)
        kcm = self._ca.issue("controller-manager", common_name="system:kube-controller-manager")
        pki.write_kubeconfig(
            self.workdir / "controller-manager.kubeconfig",
            server=self.url,
            ca=self._ca.pair.cert,
            client=kcm,
            user="system:kube-controller-manager",
        )
        if self.settings.scheduler:
            scheduler = self._ca.issue("scheduler", common_name="system:kube-scheduler")
            pki.write_kubeconfig(
                self.workdir / "scheduler.kubeconfig",
                server=self.url,
                ca=self._ca.pair.cert,
                client=scheduler,
                user="system:kube-scheduler",
            )
        pki.service_account_keys(self.pki_dir)

    def _spawn(self, name: str, argv: list[str]) -> Supervised:
        proc = Supervised(
            name, argv, log_dir=self.workdir / "logs", die_with_parent=not self.settings.detached
        ).start()
        self.processes.append(proc)
        return proc

    def _start_etcd(self, binary: Path) -> None:
        client_url = f"http://{self.address}:{ETCD_CLIENT_PORT}"
        etcd = self._spawn(
            "etcd",
            [
                str(binary),
                "--name=lbctl",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls=http://{self.address}:{ETCD_PEER_PORT}",
                f"--initial-advertise-peer-urls=http://{self.address}:{ETCD_PEER_PORT}",
                f"--initial-cluster=lbctl=http://{self.address}:{ETCD_PEER_PORT}",
                "--log-level=warn",
                # A test cluster trades durability for speed: no fsync per write.
                "--unsafe-no-fsync",
                "--quota-backend-bytes=2147483648",
            ],
        )
        etcd.wait_ready(
            lambda: _http_ok(f"{client_url}/health"), timeout=self.settings.ready_timeout
        )

    def _start_apiserver(self, binary: Path) -> None:
        p = self.pki_dir
        loopback = ipaddress.ip_address(self.address).is_loopback
        # The apiserver refuses to publish a loopback address as the endpoint of
        # the `kubernetes` Service; on loopback, in-cluster clients do not exist.
        reconciler = ["--endpoint-reconciler-type=none"] if loopback else []
        apiserver = self._spawn(
            "kube-apiserver",
            [
                str(binary),
                f"--etcd-servers=http://{self.address}:{ETCD_CLIENT_PORT}",
                f"--bind-address={self.address}",
                f"--advertise-address={self.address}",
                f"--secure-port={APISERVER_PORT}",
                f"--tls-cert-file={p / 'apiserver.crt'}",
                f"--tls-private-key-file={p / 'apiserver.key'}",
                f"--client-ca-file={p / 'ca.crt'}",
                f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}",
                f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}",
                f"--service-account-key-file={p / 'sa.pub'}",
                f"--service-account-signing-key-file={p / 'sa.key'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-cluster-ip-range={self.settings.service_cidr}",
                f"--service-node-port-range={self.settings.node_port_range}",
                "--authorization-mode=Node,RBAC",
                "--allow-privileged=true",
                "--profiling=false",
                *reconciler,
                *self.settings.extra_apiserver_flags,
            ],
        )
        apiserver.wait_ready(self._apiserver_ready, timeout=self.settings.ready_timeout)

    def _start_controller_manager(self, binary: Path) -> None:
        p = self.pki_dir
        kubeconfig = self.workdir / "controller-manager.kubeconfig"
        kcm = self._spawn(
            "kube-controller-manager",
            [
                str(binary),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                f"--bind-address={self.address}",
                f"--secure-port={CONTROLLER_MANAGER_PORT}",
                f"--cert-dir={self.workdir / 'kcm-certs'}",
                f"--service-account-private-key-file={p / 'sa.key'}",
                f"--root-ca-file={p / 'ca.crt'}",
                f"--cluster-signing-cert-file={p / 'ca.crt'}",
                f"--cluster-signing-key-file={p / 'ca.key'}",
                "--use-service-account-credentials=true",
                f"--service-cluster-ip-range={self.settings.service_cidr}",
                "--allocate-node-cidrs=true",
                f"--cluster-cidr={self.settings.cluster_cidr}",
                f"--node-cidr-mask-size={self.settings.node_cidr_mask}",
                f"--controllers={','.join(self.settings.controllers)}",
                "--leader-elect=false",
                "--profiling=false",
            ],
        )
        kcm.wait_ready(
            lambda: _http_ok(
                f"https://{self.address}:{CONTROLLER_MANAGER_PORT}/healthz", verify=False
            ),
            timeout=self.settings.ready_timeout,
        )

    def _start_scheduler(self, binary: Path) -> None:
        kubeconfig = self.workdir / "scheduler.kubeconfig"
        scheduler = self._spawn(
            "kube-scheduler",
            [
                str(binary),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                f"--bind-address={self.address}",
                f"--secure-port={SCHEDULER_PORT}",
                f"--cert-dir={self.workdir / 'scheduler-certs'}",
                "--leader-elect=false",
                "--profiling=false",
            ],
        )
        scheduler.wait_ready(
            lambda: _http_ok(f"https://{self.address}:{SCHEDULER_PORT}/healthz", verify=False),
            timeout=self.settings.ready_timeout,
        )

    def restart_apiserver(self) -> None:
        """Stop kube-apiserver and start it again on the same etcd (tests use it)."""
        index = next(i for i, p in enumerate(self.processes) if p.name == "kube-apiserver")
        old = self.processes[index]
        old.stop()
        new = Supervised(old.name, old.command, log_dir=self.workdir / "logs")
        self.processes[index] = new.start()
        new.wait_ready(self._apiserver_ready, timeout=self.settings.ready_timeout)

    def compact_etcd(self) -> int:
        """Compact etcd's history to its current revision; return the revision.

        Watches from an older resourceVersion then fail with 410 Gone, as they
        do on a long-running cluster: tests use it to prove relisting works.
        """
        base = f"http://{self.address}:{ETCD_CLIENT_PORT}/v3"
        status = _post_json(f"{base}/maintenance/status", {})
        revision = int(status["header"]["revision"])
        _post_json(f"{base}/kv/compaction", {"revision": revision, "physical": True})
        return revision

    def _apiserver_ready(self) -> bool:
        context = ssl.create_default_context(cafile=str(self.ca.pair.cert))
        admin = self.pki_dir
        context.load_cert_chain(str(admin / "admin.crt"), str(admin / "admin.key"))
        return _http_ok(f"{self.url}/readyz", context=context)


def _post_json(url: str, body: dict[str, object]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def _http_ok(url: str, *, verify: bool = True, context: ssl.SSLContext | None = None) -> bool:
    if context is None and url.startswith("https"):
        context = ssl.create_default_context()
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    with (
        contextlib.suppress(OSError, urllib.error.URLError),
        urllib.request.urlopen(url, timeout=2, context=context) as response,
    ):
        return bool(response.status == 200)
    return False
