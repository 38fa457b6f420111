"""Cluster add-ons applied through the API: CoreDNS and node roles.

CoreDNS runs the way kubeadm runs it: a Deployment in kube-system behind the
`kube-dns` Service at the tenth Service address (198.18.16.10), so pods
resolve `<service>.<namespace>.svc.cluster.local` through kube-proxy like on
any cluster. Its binary is built from the CoreDNS module with only the
plugins the Corefile below uses; nothing is forwarded upstream (no resolver
outside this machine may be asked).

Guarantees: `apply_coredns` is idempotent (create, or replace what exists);
`label_control_plane` gives the control-plane node upstream's role label.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from localcluster.kubelet import CLUSTER_DOMAIN, CONTROL_PLANE_TAINT
from localcluster.versions import COREDNS_IMAGE

NAMESPACE = "kube-system"
DNS_LABELS = {"k8s-app": "kube-dns"}

COREFILE = f""".:53 {{
    errors
    health :8080
    ready :8181
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
    cache 30
    loadbalance
}}
"""

_RBAC_RULES = [
    client.V1PolicyRule(
        api_groups=[""],
        resources=["endpoints", "services", "pods", "namespaces"],
        verbs=["list", "watch"],
    ),
    client.V1PolicyRule(
        api_groups=["discovery.k8s.io"], resources=["endpointslices"], verbs=["list", "watch"]
    ),
]


def _create_or_replace(create: Any, replace: Any, body: Any, *args: str) -> None:
    try:
        create(*args, body)
    except ApiException as err:
        if err.status != 409:
            raise
        replace(body.metadata.name, *args, body)


def _deployment() -> client.V1Deployment:
    probe_port = {"ready": 8181, "health": 8080}
    container = client.V1Container(
        name="coredns",
        image=COREDNS_IMAGE,
        image_pull_policy="Never",
        args=["-conf", "/etc/coredns/Corefile"],
        ports=[
            client.V1ContainerPort(name="dns", container_port=53, protocol="UDP"),
            client.V1ContainerPort(name="dns-tcp", container_port=53, protocol="TCP"),
        ],
        readiness_probe=client.V1Probe(
            http_get=client.V1HTTPGetAction(path="/ready", port=probe_port["ready"]),
            period_seconds=2,
        ),
        liveness_probe=client.V1Probe(
            http_get=client.V1HTTPGetAction(path="/health", port=probe_port["health"]),
            initial_delay_seconds=30,
            period_seconds=10,
        ),
        volume_mounts=[client.V1VolumeMount(name="config", mount_path="/etc/coredns")],
    )
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name="coredns", namespace=NAMESPACE, labels=DNS_LABELS),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels=DNS_LABELS),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=DNS_LABELS),
                spec=client.V1PodSpec(
                    service_account_name="coredns",
                    priority_class_name="system-cluster-critical",
                    dns_policy="Default",
                    containers=[container],
                    tolerations=[
                        client.V1Toleration(key="CriticalAddonsOnly", operator="Exists"),
                        client.V1Toleration(key=CONTROL_PLANE_TAINT, effect="NoSchedule"),
                    ],
                    node_selector={CONTROL_PLANE_TAINT: ""},
                    volumes=[
                        client.V1Volume(
                            name="config",
                            config_map=client.V1ConfigMapVolumeSource(name="coredns"),
                        )
                    ],
                ),
            ),
        ),
    )


def apply_coredns(api: client.ApiClient, *, cluster_ip: str) -> None:
    """Create (or update) CoreDNS's RBAC, Corefile, Deployment and kube-dns Service."""
    core = client.CoreV1Api(api)
    rbac = client.RbacAuthorizationV1Api(api)
    apps = client.AppsV1Api(api)
    _create_or_replace(
        core.create_namespaced_service_account,
        core.replace_namespaced_service_account,
        client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="coredns")),
        NAMESPACE,
    )
    _create_or_replace(
        rbac.create_cluster_role,
        rbac.replace_cluster_role,
        client.V1ClusterRole(
            metadata=client.V1ObjectMeta(name="system:coredns"), rules=_RBAC_RULES
        ),
    )
    _create_or_replace(
        rbac.create_cluster_role_binding,
        rbac.replace_cluster_role_binding,
        client.V1ClusterRoleBinding(
            metadata=client.V1ObjectMeta(name="system:coredns"),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="system:coredns"
            ),
            subjects=[
                client.RbacV1Subject(kind="ServiceAccount", name="coredns", namespace=NAMESPACE)
            ],
        ),
    )
    _create_or_replace(
        core.create_namespaced_config_map,
        core.replace_namespaced_config_map,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="coredns"), data={"Corefile": COREFILE}
        ),
        NAMESPACE,
    )
    _create_or_replace(
        apps.create_namespaced_deployment,
        apps.replace_namespaced_deployment,
        _deployment(),
        NAMESPACE,
    )
    service = client.V1Service(
        metadata=client.V1ObjectMeta(name="kube-dns", labels=DNS_LABELS),
        spec=client.V1ServiceSpec(
            cluster_ip=cluster_ip,
            selector=DNS_LABELS,
            ports=[
                client.V1ServicePort(name="dns", port=53, protocol="UDP", target_port=53),
                client.V1ServicePort(name="dns-tcp", port=53, protocol="TCP", target_port=53),
            ],
        ),
    )
    try:
        core.create_namespaced_service(NAMESPACE, service)
    except ApiException as err:
        if err.status != 409:
            raise


def label_control_plane(api: client.ApiClient, node: str) -> None:
    """Give `node` upstream's control-plane role label (kubelets may not set it)."""
    client.CoreV1Api(api).patch_node(
        node,
        {
            "metadata": {
                "labels": {
                    CONTROL_PLANE_TAINT: "",
                    "node.kubernetes.io/exclude-from-external-load-balancers": "",
                }
            }
        },
    )
