"""Fixtures of the conformance suite.

Session: the settings, the cluster (`--conformance-cluster`), an API
session, the topology, and the runner-side prober. Per test: a fresh
namespace named after the test's conformance id (deleted afterwards), a probe
client pod in it on demand, and LoadBalancer helpers.

A cluster that cannot run here (kind without Docker, a kubeconfig that does
not exist) skips every test with the reason printed, never silently; a
cluster that should be here and is not (the local cluster did not start)
makes every test error with the cause.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from conformance import backends
from conformance.cluster import (
    ClusterHandle,
    ClusterStartError,
    ClusterUnavailableError,
    open_cluster,
)
from conformance.kube import Kube, Namespace
from conformance.loadbalancers import LoadBalancers
from conformance.outside import Outside
from conformance.probes import PodProbe
from conformance.settings import SuiteSettings, settings_of
from conformance.topology import Topology

API_TIMEOUT = 15


@pytest.fixture(scope="session")
def suite_settings(pytestconfig: pytest.Config) -> SuiteSettings:
    return settings_of(pytestconfig)


@pytest.fixture(scope="session")
def cluster(suite_settings: SuiteSettings) -> Iterator[ClusterHandle]:
    option = f"--conformance-cluster={suite_settings.mode.value}"
    with ExitStack() as stack:
        try:
            handle = stack.enter_context(open_cluster(suite_settings))
        except ClusterUnavailableError as err:
            pytest.skip(f"{option}: {err}")
        except ClusterStartError as err:
            cause = str(err)
        else:
            yield handle
            return
    # outside the except block: the one-line cause, not a chained traceback
    pytest.fail(f"{option}: {cause}", pytrace=False)


@pytest.fixture(scope="session")
def kube(cluster: ClusterHandle) -> Iterator[Kube]:
    session = Kube(cluster.kubeconfig)
    try:
        session.core.get_api_resources(_request_timeout=API_TIMEOUT)
    except Exception as err:
        session.close()
        pytest.fail(f"the API of {cluster.name} does not answer: {err}", pytrace=False)
    yield session
    session.close()


@pytest.fixture(scope="session")
def topology(kube: Kube, cluster: ClusterHandle) -> Topology:
    return Topology(kube, cluster)


@pytest.fixture(scope="session")
def outside(cluster: ClusterHandle, topology: Topology) -> Outside:
    """The runner as a client outside the cluster (skips if nodes are unreachable)."""
    topology.need_runner_on_node_network()
    return Outside(cluster.guard)


def _prefix(request: pytest.FixtureRequest) -> str:
    mark = request.node.get_closest_marker("conformance")
    base = str(mark.args[0]) if mark and mark.args else "conformance"
    return f"cf-{base.lower()}"


@pytest.fixture
def ns(kube: Kube, request: pytest.FixtureRequest) -> Iterator[Namespace]:
    namespace = kube.new_namespace(_prefix(request))
    yield namespace
    namespace.delete()


@pytest.fixture
def client(ns: Namespace) -> PodProbe:
    """A ready probe client pod in the test's namespace."""
    return backends.client(ns)


@pytest.fixture
def lbs(ns: Namespace, suite_settings: SuiteSettings, cluster: ClusterHandle) -> LoadBalancers:
    return LoadBalancers(ns, suite_settings, cluster)
