"""MetalLB in layer-2 mode on the local cluster: controller and speakers as host processes.

`MetalLB(...).install()` applies what MetalLB's native manifests would
(namespace, the `metallb-excludel2` ConfigMap, the module's CRDs, its RBAC),
mints a ServiceAccount token per program, writes a kubeconfig for each, adds
the memberlist placeholder pods (manifests.py), the pool and the
L2Advertisement. `start()` runs the controller in the root namespace and one
speaker per node inside that node's network namespace (nsenter, so the mount
namespace and /sys stay the host's), each with its own log file.

What a host process cannot do is off, and says so on the command line:
- webhooks (`--webhook-mode=disabled --disable-cert-rotation`): nothing
  validates MetalLB's CRs at admission, and the CRDs are applied from
  `config/crd/bases` without the conversion-webhook patch (only BGPPeer has
  two versions; layer-2 mode never reads it);
- memberlist encryption: no `memberlist` Secret is mounted, so speakers
  gossip in clear text (a warning in their logs; no effect on detection).

Memberlist itself stays on (MetalLB's default): the speakers bind the node IP
on 7946 and find each other through the placeholder pods.

Guarantees: every process started here is a child of this Python process,
recorded by pid, and `stop()` ends exactly those; `uninstall()` deletes what
`install()` created (the CRDs last, which deletes their objects).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs; bench only

from localcluster import netns
from localcluster.incluster import Kubectl
from localcluster.versions import AGNHOST_IMAGE
from metallb import manifests
from metallb.build import crd_files, ensure_metallb, module_source
from metallb.manifests import LB_CLASS, NAMESPACE, Manifest

#: where kubeconfigs and logs go (tmpfs; gone at reboot)
WORK_DIR = Path("/run/lbctl-bench-metallb")
MEMBERLIST_PORT = "7946"
METRICS_PORT = "7472"


class MetalLBError(RuntimeError):
    """MetalLB could not be installed or did not start."""


@dataclass(frozen=True)
class NodeAddress:
    """A node of the local cluster: its name (= its network namespace) and IP."""

    name: str
    address: str


def _dump(documents: Sequence[Manifest]) -> str:
    return str(yaml.safe_dump_all(list(documents), sort_keys=False))


class MetalLB:
    """MetalLB `controller` and one `speaker` per node, as processes of this one."""

    def __init__(self, tool: Kubectl, nodes: Sequence[NodeAddress], *, extra_pool: str = ""):
        self.tool = tool
        self.nodes = tuple(nodes)
        self.extra_pool = extra_pool
        self.binaries = ensure_metallb()
        self.controller: subprocess.Popen[bytes] | None = None
        self.speakers: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []

    # --- objects ------------------------------------------------------------

    def _apply(self, documents: Sequence[Manifest]) -> None:
        self.tool.run(
            "apply",
            "--server-side",
            "--field-manager=bench-metallb",
            "--force-conflicts",
            "--filename=-",
            stdin=_dump(documents),
        )

    def install(self) -> None:
        source = module_source()
        native = source / "config" / "native"
        rbac = source / "config" / "rbac"
        base: list[Manifest] = []
        for path in (native / "ns.yaml", native / "exclude-l2-config.yaml"):
            base.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
        for path in crd_files():
            base.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
        for name in ("service-accounts.yaml", "role.yaml"):
            base.extend(manifests.namespaced(yaml.safe_load_all((rbac / name).read_text())))
        self._apply(base)
        self.tool.run(
            "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all", timeout=90
        )
        WORK_DIR.mkdir(parents=True, exist_ok=True)
        admin = yaml.safe_load(self.tool.kubeconfig.read_text())
        for account in (manifests.CONTROLLER_SA, manifests.SPEAKER_SA):
            token = self.tool.run(
                "create", "token", account, f"--namespace={NAMESPACE}", "--duration=6h"
            ).strip()
            config = manifests.token_kubeconfig(admin, user=f"metallb-{account}", token=token)
            path = WORK_DIR / f"{account}.kubeconfig"
            path.write_text(yaml.safe_dump(config))
            path.chmod(0o600)
        pools = [manifests.address_pool(manifests.POOL_NAME, [manifests.POOL])]
        if self.extra_pool:
            pools.append(manifests.address_pool("burst", [self.extra_pool]))
        advert = manifests.l2_advertisement([p["metadata"]["name"] for p in pools])
        self._apply([*pools, advert])
        if not self.nodes:
            return
        self._apply([manifests.speaker_placeholder(n.name, AGNHOST_IMAGE) for n in self.nodes])
        self.tool.run(
            "wait",
            "--for=condition=Ready",
            "--timeout=90s",
            f"--namespace={NAMESPACE}",
            "pod",
            "-l",
            ",".join(f"{k}={v}" for k, v in manifests.SPEAKER_LABELS.items()),
            timeout=120,
        )

    def uninstall(self) -> None:
        self.tool.run("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true")
        names = [p.stem.split("_", 1)[1] + ".metallb.io" for p in crd_files()]
        self.tool.run("delete", "crd", "--ignore-not-found", *names)
        for kind in ("clusterrolebinding", "clusterrole"):
            for name in ("metallb-system:controller", "metallb-system:speaker"):
                self.tool.run("delete", kind, name, "--ignore-not-found")

    # --- processes ------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], kubeconfig: Path) -> subprocess.Popen[bytes]:
        log = (WORK_DIR / f"{name}.log").open("ab")
        self._logs.append(log)
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)

    def controller_argv(self) -> list[str]:
        return [
            str(self.binaries["controller"]),
            f"--kubeconfig={WORK_DIR / f'{manifests.CONTROLLER_SA}.kubeconfig'}",
            f"--port={METRICS_PORT}",
            "--log-level=info",
            f"--namespace={NAMESPACE}",
            f"--lb-class={LB_CLASS}",
            "--webhook-mode=disabled",
            "--disable-cert-rotation",
        ]

    def speaker_argv(self, node: NodeAddress) -> list[str]:
        labels = ",".join(f"{k}={v}" for k, v in manifests.SPEAKER_LABELS.items())
        speaker = [
            str(self.binaries["speaker"]),
            f"--kubeconfig={WORK_DIR / f'{manifests.SPEAKER_SA}.kubeconfig'}",
            f"--port={METRICS_PORT}",
            "--log-level=info",
            f"--namespace={NAMESPACE}",
            f"--lb-class={LB_CLASS}",
            f"--node-name={node.name}",
            f"--pod-name=speaker-{node.name}",
            f"--host={node.address}",
            f"--ml-bindaddr={node.address}",
            f"--ml-bindport={MEMBERLIST_PORT}",
            f"--ml-labels={labels}",
        ]
        return netns.in_netns(node.name, speaker)

    def start(self) -> None:
        self.controller = self._spawn(
            "controller", self.controller_argv(), WORK_DIR / f"{manifests.CONTROLLER_SA}.kubeconfig"
        )
        for node in self.nodes:
            self.start_speaker(node.name)
        time.sleep(1)
        self.check_running()

    def start_speaker(self, name: str) -> None:
        node = next(n for n in self.nodes if n.name == name)
        self.speakers[name] = self._spawn(
            f"speaker-{name}",
            self.speaker_argv(node),
            WORK_DIR / f"{manifests.SPEAKER_SA}.kubeconfig",
        )

    def kill_speaker(self, name: str) -> None:
        """SIGKILL the speaker of node `name` (as a crash or an OOM kill would)."""
        process = self.speakers[name]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def restart_speaker(self, name: str, *, attempts: int = 10) -> None:
        """Start node `name`'s speaker again until it stays up, as kubelet would.

        A speaker that cannot reach the apiserver at start (a link just back
        up) exits; kubelet would restart it, so this does, once a second.
        """
        for _ in range(attempts):
            if self.speakers[name].poll() is None:
                return
            self.start_speaker(name)
            time.sleep(2)
        self.check_running()

    def check_running(self) -> None:
        everything = {"controller": self.controller, **self.speakers}
        dead = [n for n, p in everything.items() if p is None or p.poll() is not None]
        if dead:
            raise MetalLBError(f"MetalLB processes exited: {', '.join(dead)} (logs in {WORK_DIR})")

    def pids(self) -> dict[str, int]:
        """`controller` and `speaker/<node>` -> pid (nsenter execs, so the pid is the speaker's)."""
        found = {f"speaker/{n}": p.pid for n, p in self.speakers.items()}
        if self.controller is not None:
            found["controller"] = self.controller.pid
        return found

    def stop(self) -> None:
        processes = [p for p in (self.controller, *self.speakers.values()) if p is not None]
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self._logs:
            log.close()
        self._logs.clear()


def service_l2_node(tool: Kubectl, service: str, namespace: str) -> str | None:
    """The node MetalLB says announces `namespace/service` (its ServiceL2Status)."""
    out = tool.run(
        "get", "servicel2statuses.metallb.io", f"--namespace={NAMESPACE}", "--output=json"
    )
    items: list[dict[str, Any]] = json.loads(out).get("items", [])
    for item in items:
        status = item.get("status") or {}
        if status.get("serviceName") == service and status.get("serviceNamespace") == namespace:
            node = status.get("node")
            return str(node) if node else None
    return None
