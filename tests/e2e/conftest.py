"""The local multi-node cluster as a session fixture for e2e tests.

One cluster per test session, brought up once (`up` first removes what a
crashed run left) and torn down at the end, also when tests fail. All e2e
tests share one pytest-xdist group, so only one worker ever owns the
machine's single local cluster. `test_teardown.py` runs last: it takes the
cluster down itself and compares the machine against a snapshot taken
before `up`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client

from localcluster.cluster import LocalCluster
from tests.e2e import snapshot
from tests.kubehelpers import create_namespace

GROUP = "local-cluster"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark e2e tests, keep them on one xdist worker, and run teardown checks last."""
    grouped = config.pluginmanager.hasplugin("xdist")
    for item in items:
        if "tests/e2e/" in item.nodeid:
            item.add_marker(pytest.mark.e2e)
            if grouped:
                item.add_marker(pytest.mark.xdist_group(GROUP))
    last = [item for item in items if "tests/e2e/test_teardown.py" in item.nodeid]
    for item in last:
        items.remove(item)
    items.extend(last)


@pytest.fixture(scope="session")
def machine_before() -> snapshot.Snapshot:
    return snapshot.take()


@pytest.fixture(scope="session")
def local_cluster(machine_before: snapshot.Snapshot) -> Iterator[LocalCluster]:
    if os.geteuid() != 0:
        pytest.skip("the local cluster needs root (namespaces, mounts, cgroups)")
    cluster = LocalCluster(workers=2)
    try:
        cluster.up()
        yield cluster
    finally:
        cluster.down()


@pytest.fixture(scope="session")
def cluster_api(local_cluster: LocalCluster) -> Iterator[client.ApiClient]:
    api = local_cluster.api_client()
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def e2e_namespace(cluster_api: client.ApiClient) -> Iterator[str]:
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    create_namespace(cluster_api, name)
    yield name
    client.CoreV1Api(cluster_api).delete_namespace(name)
