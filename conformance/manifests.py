"""Manifests the suite creates, as plain dicts (the API's own JSON shape).

Guarantees: pure builders; every container uses a locally present image with
`imagePullPolicy: IfNotPresent`; backends are agnhost `netexec` pods that
answer `/hostname` and `/clientip` over HTTP and `hostname`/`clientip` over
UDP, and report ready only once they serve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

AGNHOST: Final = "registry.k8s.io/e2e-test-images/agnhost:2.66.1"
BUSYBOX: Final = "registry.k8s.io/e2e-test-images/busybox:1.37.0-2"

#: the label every backend of a test carries, so `selector` below matches it
APP: Final = "app"

Manifest = dict[str, Any]


def meta(name: str, labels: Mapping[str, str] | None = None, **extra: Any) -> Manifest:
    out: Manifest = {"name": name, **extra}
    if labels:
        out["labels"] = dict(labels)
    return out


def container_port(port: int, *, name: str | None = None, protocol: str = "TCP") -> Manifest:
    out: Manifest = {"containerPort": port, "protocol": protocol}
    if name:
        out["name"] = name
    return out


def netexec(
    *,
    http_port: int = 80,
    udp_port: int | None = None,
    ports: Sequence[Manifest] = (),
    name: str = "netexec",
    ready: bool = True,
    readiness_path: str = "/hostname",
    delay_shutdown: int = 0,
    env: Mapping[str, str] | None = None,
) -> Manifest:
    """An agnhost netexec container; `ready=False` makes its readiness probe fail forever."""
    args = ["netexec", f"--http-port={http_port}", f"--udp-port={udp_port or -1}"]
    if delay_shutdown:
        args.append(f"--delay-shutdown={delay_shutdown}")
    declared = list(ports) or [container_port(http_port, name="http")]
    if udp_port and not ports:
        declared.append(container_port(udp_port, name="udp", protocol="UDP"))
    probe: Manifest = (
        {"httpGet": {"path": readiness_path, "port": http_port}}
        if ready
        else {"exec": {"command": ["false"]}}
    )
    container: Manifest = {
        "name": name,
        "image": AGNHOST,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "ports": declared,
        "readinessProbe": {**probe, "periodSeconds": 1, "failureThreshold": 1},
    }
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return container


def pod_spec(
    containers: Sequence[Manifest],
    *,
    node: str | None = None,
    host_network: bool = False,
    hostname: str | None = None,
    subdomain: str | None = None,
    grace: int = 1,
) -> Manifest:
    spec: Manifest = {
        "containers": list(containers),
        "terminationGracePeriodSeconds": grace,
        "enableServiceLinks": True,
    }
    if node:
        spec["nodeSelector"] = {"kubernetes.io/hostname": node}
    if host_network:
        spec["hostNetwork"] = True
        spec["dnsPolicy"] = "ClusterFirstWithHostNet"
    if hostname:
        spec["hostname"] = hostname
    if subdomain:
        spec["subdomain"] = subdomain
    return spec


def pod(name: str, spec: Manifest, *, labels: Mapping[str, str] | None = None) -> Manifest:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta(name, labels), "spec": spec}


def backend_pod(name: str, app: str, *, node: str | None = None, **netexec_args: Any) -> Manifest:
    """One netexec backend labelled `app=<app>`."""
    return pod(name, pod_spec([netexec(**netexec_args)], node=node), labels={APP: app})


def client_pod(name: str, *, node: str | None = None, host_network: bool = False) -> Manifest:
    """The probe client: agnhost netexec on 8080 (for /dial), plus its shell tools.

    On the host network it runs `agnhost pause` instead, so it binds no node port.
    """
    if host_network:
        container: Manifest = {
            "name": "client",
            "image": AGNHOST,
            "imagePullPolicy": "IfNotPresent",
            "args": ["pause"],
        }
    else:
        container = netexec(http_port=8080)
        container["name"] = "client"
    return pod(
        name,
        pod_spec([container], node=node, host_network=host_network),
        labels={"role": "client"},
    )


def deployment(
    name: str, app: str, *, replicas: int, spec: Manifest, strategy: Manifest | None = None
) -> Manifest:
    body: Manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(name, {APP: app}),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {APP: app}},
            "template": {"metadata": {"labels": {APP: app}}, "spec": spec},
        },
    }
    if strategy:
        body["spec"]["strategy"] = strategy
    return body


def statefulset(
    name: str, app: str, *, replicas: int, service_name: str, spec: Manifest
) -> Manifest:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": meta(name, {APP: app}),
        "spec": {
            "replicas": replicas,
            "serviceName": service_name,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {APP: app}},
            "template": {"metadata": {"labels": {APP: app}}, "spec": spec},
        },
    }


def service_port(
    port: int,
    *,
    target: int | str | None = None,
    protocol: str = "TCP",
    name: str | None = None,
    node_port: int | None = None,
) -> Manifest:
    out: Manifest = {"port": port, "protocol": protocol, "targetPort": target or port}
    if name:
        out["name"] = name
    if node_port:
        out["nodePort"] = node_port
    return out


def service(
    name: str,
    *,
    ports: Sequence[Manifest],
    selector: Mapping[str, str] | None = None,
    type_: str = "ClusterIP",
    **spec: Any,
) -> Manifest:
    """A Service; extra keyword arguments are spec fields in the API's camelCase."""
    body: Manifest = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name),
        "spec": {"type": type_, "ports": list(ports), **spec},
    }
    if selector is not None:
        body["spec"]["selector"] = dict(selector)
    return body


#: the taints a control-plane node carries (current and pre-1.24 spelling)
CONTROL_PLANE_TAINTS: Final = (
    "node-role.kubernetes.io/control-plane",
    "node-role.kubernetes.io/master",
)


def host_probe_pod(name: str, *, node: str) -> Manifest:
    """A host-network probe client pinned to `node`, control plane included."""
    body = client_pod(name, node=node, host_network=True)
    body["spec"]["tolerations"] = [
        {"key": key, "operator": "Exists", "effect": "NoSchedule"} for key in CONTROL_PLANE_TAINTS
    ]
    return body


def app_selector(app: str) -> dict[str, str]:
    return {APP: app}
