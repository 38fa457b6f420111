"""The suite's conftest ships, with each conformance test that used the cluster,
the routes its probes took and the ipModes it saw, and once per pytest process
what it discovered; the plugin turns them into the header and the log.

The run below uses the suite's own fixtures (conformance/conftest.py) with
`kube` and `cluster_facts` replaced by fakes, so no cluster is involved.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

CONFTEST = """
import pytest

from conformance.conftest import _conformance_report_properties, probe_log  # noqa: F401
from conformance.facts import ClusterFacts


@pytest.fixture(scope="session")
def kube():
    return object()


@pytest.fixture(scope="session")
def cluster_facts(kube):
    return ClusterFacts(
        cluster="fake",
        nodes=3,
        schedulable=2,
        kube_proxy="nftables (fake)",
        provider="lbctl, provider local",
        missing_ingress="fails",
        runner_reaches_nodes="no (--conformance-runner-reaches-nodes=no)",
    )
"""

TESTS = """
import pytest

from conformance.routes import RUNNER, Route


@pytest.mark.conformance("NP-1")
def test_node_port(kube, probe_log):
    probe_log.route(Route("worker-b"))
    probe_log.route(Route("worker-a"))


@pytest.mark.conformance("LB-1")
def test_ingress(kube, probe_log):
    probe_log.route(RUNNER)
    probe_log.ip_modes(("",))


@pytest.mark.conformance("CIP-1")
def test_cluster_ip(kube):
    pass


@pytest.mark.conformance("EN-1")
def test_without_the_cluster():
    pass
"""


def test_routes_ip_modes_and_facts_reach_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (tmp_path / "test_fake_suite.py").write_text(textwrap.dedent(TESTS))
    out_dir = tmp_path / "out"
    code = pytest.main(
        [
            str(tmp_path / "test_fake_suite.py"),
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            f"--rootdir={tmp_path}",
            f"--conformance-report-dir={out_dir}",
        ]
    )
    out = capsys.readouterr().out
    assert code == pytest.ExitCode.OK, out
    log = (out_dir / "conformance.log").read_text().splitlines()
    assert "# cluster: fake" in log
    assert "# ingress ipMode: VIP" in log
    assert "# probes from outside went: pod:worker-b, pod:worker-a, runner" in log
    by_test = {line.rsplit("::", 1)[-1]: line for line in log if not line.startswith("#")}
    assert " via pod:worker-b, pod:worker-a " in by_test["test_node_port"]
    assert " via runner " in by_test["test_ingress"]
    assert " via - " in by_test["test_cluster_ip"]
    assert "runner reaches node IPs: no (--conformance-runner-reaches-nodes=no)" in out
    junit = (out_dir / "junit.xml").read_text()
    assert junit.count("conformance_cluster_facts") == 1  # once per pytest process
