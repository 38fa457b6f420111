"""Configuration of a node's kubelet and kube-proxy.

Guarantees (pure functions: settings in, file contents out):
- each kubelet has its own root, pod-log, volume-plugin and certificate
  directories and its own cgroup root, so several kubelets on one host never
  touch each other's pods, cgroups or files;
- cgroup v1 is accepted (`failCgroupV1: false`, this machine has no cgroup2
  controllers) with the cgroupfs driver, as containerd's runc runtime uses;
- images are never garbage-collected (thresholds at 100%): they cannot be
  pulled again, there is no registry;
- kube-proxy runs in nftables mode and leaves the conntrack sysctls alone
  (`maxPerCore: 0`, zero timeouts): a network namespace may not set
  nf_conntrack_max, and the host's values are fine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

CLUSTER_DOMAIN = "cluster.local"
CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane"
KUBELET_PORT = 10250
PROXY_HEALTHZ_PORT = 10256


@dataclass(frozen=True)
class KubeletSettings:
    """What differs between two kubelets of one cluster."""

    node_name: str
    node_ip: str
    node_dir: Path
    cgroup_root: str
    runtime_endpoint: str
    cluster_dns: str
    ca_file: Path
    control_plane: bool = False

    @property
    def root_dir(self) -> Path:
        return self.node_dir / "kubelet"

    @property
    def config_path(self) -> Path:
        return self.node_dir / "kubelet-config.json"

    @property
    def kubeconfig(self) -> Path:
        return self.node_dir / "kubelet.kubeconfig"

    @property
    def resolv_conf(self) -> Path:
        return self.node_dir / "resolv.conf"


def kubelet_config(s: KubeletSettings) -> dict[str, object]:
    """The KubeletConfiguration (kubelet.config.k8s.io/v1beta1) of one node."""
    taints = [{"key": CONTROL_PLANE_TAINT, "effect": "NoSchedule"}] if s.control_plane else []
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": s.cgroup_root,
        "cgroupsPerQOS": True,
        "containerRuntimeEndpoint": s.runtime_endpoint,
        "address": s.node_ip,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(s.ca_file)},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDomain": CLUSTER_DOMAIN,
        "clusterDNS": [s.cluster_dns],
        "resolvConf": str(s.resolv_conf),
        "podLogsDir": str(s.node_dir / "pod-logs"),
        "volumePluginDir": str(s.node_dir / "volume-plugins"),
        "failSwapOn": False,
        # Lowering oom_score_adj needs CAP_SYS_RESOURCE, which may be missing.
        "oomScoreAdj": 0,
        "protectKernelDefaults": False,
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "serializeImagePulls": False,
        "registerWithTaints": taints,
        "nodeStatusReportFrequency": "1m",
        "enableDebuggingHandlers": True,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "logging": {"format": "text"},
    }


def write_kubelet_files(s: KubeletSettings) -> None:
    """Write the kubelet's config and resolv.conf (the kubeconfig comes from PKI)."""
    s.node_dir.mkdir(parents=True, exist_ok=True)
    s.root_dir.mkdir(parents=True, exist_ok=True)
    s.config_path.write_text(json.dumps(kubelet_config(s), indent=2))
    # Pods with dnsPolicy Default and host-network pods resolve through the
    # cluster DNS too: the host's resolvers are outside the machine.
    s.resolv_conf.write_text(f"nameserver {s.cluster_dns}\noptions ndots:1\n")


def kubelet_command(binary: Path, s: KubeletSettings) -> list[str]:
    return [
        str(binary),
        f"--config={s.config_path}",
        f"--kubeconfig={s.kubeconfig}",
        f"--root-dir={s.root_dir}",
        f"--cert-dir={s.root_dir / 'pki'}",
        f"--hostname-override={s.node_name}",
        f"--node-ip={s.node_ip}",
        "--v=1",
    ]


@dataclass(frozen=True)
class ProxySettings:
    node_name: str
    node_ip: str
    node_dir: Path
    cluster_cidr: str
    mode: str = "nftables"

    @property
    def config_path(self) -> Path:
        return self.node_dir / "kube-proxy-config.json"

    @property
    def kubeconfig(self) -> Path:
        return self.node_dir / "kube-proxy.kubeconfig"


def proxy_config(s: ProxySettings) -> dict[str, object]:
    """The KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1) of one node."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": s.mode,
        "hostnameOverride": s.node_name,
        "bindAddress": s.node_ip,
        "clusterCIDR": s.cluster_cidr,
        "clientConnection": {"kubeconfig": str(s.kubeconfig)},
        "healthzBindAddress": f"{s.node_ip}:{PROXY_HEALTHZ_PORT}",
        "metricsBindAddress": "127.0.0.1:10249",
        "nodePortAddresses": ["primary"],
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "oomScoreAdj": 0,
        "logging": {"format": "text"},
    }


def write_proxy_files(s: ProxySettings) -> None:
    s.node_dir.mkdir(parents=True, exist_ok=True)
    s.config_path.write_text(json.dumps(proxy_config(s), indent=2))


def proxy_command(binary: Path, s: ProxySettings) -> list[str]:
    return [str(binary), f"--config={s.config_path}", "--v=1"]
