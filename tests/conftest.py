"""Fixtures shared by every test layer.

`control_plane` is one real etcd + kube-apiserver + kube-controller-manager per
test process (each pytest-xdist worker gets its own, on its own loopback
address); `kube` is a ready `kubernetes` ApiClient for it and `namespace` a
fresh namespace per test, deleted afterwards.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client, config

from localcluster.controlplane import ControlPlane
from tests import netguard


def pytest_configure(config: pytest.Config) -> None:
    netguard.install()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--cloudbox",
        choices=("gce", "aws"),
        help="tests/cloudbox: the cloud to set up on the running local cluster "
        "(a fresh one per cloud; hack/cloud-columns.sh)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("cloudbox"):
        return
    skip = pytest.mark.skip(
        reason="tests/cloudbox needs --cloudbox gce|aws and a fresh local cluster "
        "(hack/cloud-columns.sh runs them)"
    )
    for item in items:
        if item.get_closest_marker("cloudbox"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    with ControlPlane() as cp:
        yield cp


@pytest.fixture(scope="session")
def kube(control_plane: ControlPlane) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def namespace(kube: client.ApiClient) -> Iterator[str]:
    from tests.kubehelpers import create_namespace

    name = f"t-{uuid.uuid4().hex[:10]}"
    create_namespace(kube, name)
    yield name
    client.CoreV1Api(kube).delete_namespace(name)


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """A test that leaves a thread running fails (STYLE.md, tests)."""
    before = set(threading.enumerate())
    yield
    leaked = [
        t
        for t in threading.enumerate()
        if t not in before and t.is_alive() and not t.name.startswith(_ALLOWED_THREADS)
    ]
    if leaked and not os.environ.get("LBCTL_ALLOW_THREAD_LEAKS"):
        for thread in leaked:
            thread.join(timeout=5)
        still = [t.name for t in leaked if t.is_alive()]
        assert not still, f"test leaked threads: {still}"


# Threads owned by session-scoped fixtures and libraries' own pools.
_ALLOWED_THREADS = ("ThreadPoolExecutor", "asyncio_", "pydevd", "Dummy-")
