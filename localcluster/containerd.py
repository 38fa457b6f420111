"""One containerd 2 per node: its configuration, readiness and image import.

Guarantees:
- each node's containerd has its own root, state, socket, CNI configuration
  and pod-netns directory (all below the node directory), so nodes share no
  runtime state;
- the sandbox image is the locally built pause image, pinned so that image
  garbage collection never removes it; nothing is ever pulled (images are
  imported from tarballs, see images.py);
- CNI is Debian's containernetworking-plugins: containerd renders
  `cni-template.json` with the podCIDR the kubelet hands it (kubenet-style),
  so the bridge + host-local config follows the Node's spec.podCIDR;
- NRI and tracing are disabled: NRI's socket is a host-wide path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from localcluster.versions import PAUSE_IMAGE

CNI_BIN_DIR = "/usr/lib/cni"
RUNC = "/usr/sbin/runc"
CNI_BRIDGE = "cni0"


@dataclass(frozen=True)
class ContainerdPaths:
    """Where one node's containerd keeps everything."""

    base: Path

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def state(self) -> Path:
        return self.base / "state"

    @property
    def socket(self) -> Path:
        return self.base / "containerd.sock"

    @property
    def config(self) -> Path:
        return self.base / "config.toml"

    @property
    def cni_conf_dir(self) -> Path:
        return self.base / "net.d"

    @property
    def cni_template(self) -> Path:
        return self.base / "cni-template.json"

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket}"


def cni_template() -> str:
    """The CNI network list containerd renders with the node's podCIDR.

    No masquerade: pod IPs are routed between nodes and to the root namespace,
    so every hop sees real pod addresses (as the suite's source-IP tests need).
    No default route either: nothing in a pod can even try to leave the machine.
    """
    config = {
        "cniVersion": "1.0.0",
        "name": "lbctl",
        "plugins": [
            {
                "type": "bridge",
                "bridge": CNI_BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": "{{.PodCIDR}}"}]],
                    # Pods route only the cluster's own range (nodes, Services,
                    # pods: all of 198.18.0.0/15), never a default route.
                    "routes": [{"dst": "198.18.0.0/15"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(config, indent=2)


def render_config(paths: ContainerdPaths) -> str:
    """containerd's config.toml (version 3) for one node."""
    cri_runtime = 'plugins."io.containerd.cri.v1.runtime"'
    runc = f"{cri_runtime}.containerd.runtimes.runc"
    return f"""version = 3
root = "{paths.root}"
state = "{paths.state}"
disabled_plugins = [
  "io.containerd.nri.v1.nri",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{paths.socket}"

[ttrpc]
  address = "{paths.socket}.ttrpc"

[debug]
  level = "warn"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{PAUSE_IMAGE}"

[{cri_runtime}]
  netns_mounts_under_state_dir = true
  # Without CAP_SYS_RESOURCE (this sandbox drops it) no process may lower its
  # oom_score_adj below ours: the pause container's -998 would fail in runc.
  restrict_oom_score_adj = true
  enable_selinux = false
  disable_apparmor = true
  cdi_spec_dirs = []
  [{cri_runtime}.containerd]
    default_runtime_name = "runc"
  [{runc}]
    runtime_type = "io.containerd.runc.v2"
  [{runc}.options]
    BinaryName = "{RUNC}"
    SystemdCgroup = false
  [{cri_runtime}.cni]
    bin_dirs = ["{CNI_BIN_DIR}"]
    conf_dir = "{paths.cni_conf_dir}"
    conf_template = "{paths.cni_template}"

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins."io.containerd.internal.v1.opt"]
  path = "{paths.base / "opt"}"
"""


def write_config(paths: ContainerdPaths) -> None:
    for directory in (paths.root, paths.state, paths.cni_conf_dir):
        directory.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(render_config(paths))
    paths.cni_template.write_text(cni_template())


def command(binary: Path, paths: ContainerdPaths) -> list[str]:
    return [str(binary), f"--config={paths.config}"]


def import_command(ctr: Path, paths: ContainerdPaths, tarball: Path) -> list[str]:
    """`ctr images import` of one tarball into the CRI's `k8s.io` namespace.

    Imported images carry the CRI's pinned label, so the kubelet's image
    garbage collection leaves them alone.
    """
    return [
        str(ctr),
        f"--address={paths.socket}",
        "--namespace=k8s.io",
        "images",
        "import",
        "--label=io.cri-containerd.pinned=pinned",
        str(tarball),
    ]
