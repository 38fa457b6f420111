"""Load a Kubernetes API client the way both programs are run, and list with it.

From a kubeconfig file when one is named (flag or $KUBECONFIG), else the
in-cluster ServiceAccount, else ~/.kube/config. A kubeconfig that cannot be
read is a UsageError (one line, exit code 2). `service_lister` and
`node_lister` give the list/watch functions an Informer takes, so nodeproxy
never imports `kubernetes` itself.
"""

from __future__ import annotations

import os

from kubernetes import client, config
from kubernetes.client import ApiClient

from lbcommon.flags import UsageError
from lbcommon.informer import ListFunc


def load_api_client(kubeconfig: str | None = None) -> client.ApiClient:
    """An ApiClient from `kubeconfig`, $KUBECONFIG, in-cluster config, or ~/.kube/config."""
    if kubeconfig is None and not os.environ.get("KUBECONFIG"):
        try:
            config.load_incluster_config()
            return client.ApiClient()
        except config.ConfigException:
            pass
    try:
        api: client.ApiClient = config.new_client_from_config(config_file=kubeconfig)
    except (config.ConfigException, OSError) as err:
        where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        raise UsageError(f"--kubeconfig {where}: {err}") from None
    return api


__all__ = ["ApiClient", "ListFunc", "load_api_client", "node_lister", "service_lister"]


def service_lister(api: ApiClient) -> ListFunc:
    """A list/watch function over Services in all namespaces, for an Informer."""
    return client.CoreV1Api(api).list_service_for_all_namespaces  # type: ignore[no-any-return]


def node_lister(api: ApiClient) -> ListFunc:
    """A list/watch function over Nodes, for an Informer."""
    return client.CoreV1Api(api).list_node  # type: ignore[no-any-return]
