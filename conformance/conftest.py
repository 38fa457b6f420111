"""Fixtures of the conformance suite.

Session: the settings, the cluster (`--conformance-cluster`), an API
session, the topology, the prober from outside (the runner, or host-network
pods where the runner cannot reach the nodes) and what the suite discovered
about the cluster. Per test: a fresh namespace named after the test's
conformance id (deleted afterwards), a probe client pod in it on demand, and
LoadBalancer helpers; after each test with an id that used the cluster, the
routes its probes took and the ipModes it saw go into its user_properties
(and, once per pytest process, the discovered facts), for the report.

A cluster that cannot run here (kind without Docker, a kubeconfig that does
not exist) skips every test with the reason printed, never silently; a
cluster that should be here and is not (the local cluster did not start)
makes every test error with the cause.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from conformance import backends, discovery
from conformance.cluster import (
    ClusterHandle,
    ClusterStartError,
    ClusterUnavailableError,
    open_cluster,
)
from conformance.facts import ClusterFacts
from conformance.hostprobes import HostPods, NodeRouter
from conformance.kube import Kube, Namespace
from conformance.loadbalancers import LoadBalancers
from conformance.outside import Outside
from conformance.plugin import FACTS_PROPERTY, IP_MODES_PROPERTY, MARKER, ROUTES_PROPERTY
from conformance.probes import PodProbe
from conformance.routes import ProbeLog
from conformance.settings import SuiteSettings, settings_of
from conformance.topology import Topology

API_TIMEOUT = 15
#: set once this pytest process has shipped the cluster facts with a report
FACTS_SHIPPED = pytest.StashKey[bool]()


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
def topology(kube: Kube, cluster: ClusterHandle, suite_settings: SuiteSettings) -> Topology:
    return Topology(kube, cluster, reaches=suite_settings.runner_reaches_nodes)


@pytest.fixture(scope="session")
def probe_log() -> ProbeLog:
    """Routes and ipModes of the running test (the recorder fixture below takes them)."""
    return ProbeLog()


@pytest.fixture(scope="session")
def host_pods(kube: Kube) -> Iterator[HostPods]:
    """Host-network probe pods, made on first use, deleted with the session."""
    pods = HostPods(kube)
    yield pods
    pods.close()


@pytest.fixture(scope="session")
def outside(
    cluster: ClusterHandle, topology: Topology, host_pods: HostPods, probe_log: ProbeLog
) -> Outside:
    """A client outside the cluster: the runner, or host-network pods for node
    addresses the runner cannot reach."""
    return Outside(cluster.guard, router=NodeRouter(topology, host_pods), log=probe_log)


@pytest.fixture(scope="session")
def cluster_facts(
    topology: Topology,
    cluster: ClusterHandle,
    suite_settings: SuiteSettings,
    outside: Outside,
    host_pods: HostPods,
) -> ClusterFacts:
    """What the report's header says about the cluster, read once."""
    return discovery.discover(
        kube=topology.kube,
        topology=topology,
        settings=suite_settings,
        outside=outside,
        pods=host_pods,
        lbctl_by_suite=cluster.lb_provider_is_lbctl,
        cluster=cluster.name,
    )


@pytest.fixture(autouse=True)
def _conformance_report_properties(
    request: pytest.FixtureRequest, probe_log: ProbeLog
) -> Iterator[None]:
    """Ship with a conformance test's report how its probes went (and the facts)."""
    item = request.node
    if item.get_closest_marker(MARKER) is None or "kube" not in request.fixturenames:
        yield
        return
    facts: ClusterFacts = request.getfixturevalue("cluster_facts")
    probe_log.take()  # discovery's own probes are nobody's
    yield
    routes, ip_modes = probe_log.take()
    if routes:
        item.user_properties.append((ROUTES_PROPERTY, ",".join(routes)))
    if ip_modes:
        item.user_properties.append((IP_MODES_PROPERTY, ",".join(ip_modes)))
    if not request.config.stash.get(FACTS_SHIPPED, False):
        item.user_properties.append((FACTS_PROPERTY, facts.to_json()))
        request.config.stash[FACTS_SHIPPED] = True


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
def lbs(
    ns: Namespace, suite_settings: SuiteSettings, cluster: ClusterHandle, probe_log: ProbeLog
) -> LoadBalancers:
    return LoadBalancers(ns, suite_settings, cluster, log=probe_log)
