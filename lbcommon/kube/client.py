"""Load a Kubernetes API client the way both programs are run.

From a kubeconfig file when one is named (flag or $KUBECONFIG), else the
in-cluster ServiceAccount, else ~/.kube/config. A kubeconfig that cannot be
read is a UsageError (one line, exit code 2).
"""

from __future__ import annotations

import os

from kubernetes import client, config

from lbcommon.flags import UsageError


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
