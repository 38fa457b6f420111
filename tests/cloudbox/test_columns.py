"""One provider's conformance column with real traffic, and the faults it must catch.

Run by hack/cloud-columns.sh as `pytest tests/cloudbox --cloudbox gce|aws` on
a fresh local cluster (a Node's providerID is set once, so a cluster serves
one cloud). One box for the module (the cloud's fake API and its network);
lbctl is started per test: as built for the column, then broken by each of
the cloud's faults (tests.cloudbox.faults) for the conformance id that must
catch it. The suite runs as its users run it, a separate pytest from the
client network, and leaves its report in reports/<cloud>/ (the column) and
reports/<cloud>-<fault>/.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

import pytest

from conformance.columns import read_results
from localcluster import outside
from tests.cloudbox import BOXES
from tests.cloudbox.base import ROOT, Box, lbctl_running
from tests.cloudbox.faults import FAULTS, Fault

pytestmark = pytest.mark.cloudbox

REPORTS = ROOT / "reports"
#: the suite's ids for load balancers: what a provider changes
SUITE = ROOT / "conformance" / "test_loadbalancer.py"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "fault" in metafunc.fixturenames:
        cloud = metafunc.config.getoption("cloudbox")
        faults = [f for f in FAULTS.values() if f.cloud == cloud or not cloud]
        metafunc.parametrize("fault", faults, ids=[f.id for f in faults])


@pytest.fixture(scope="module")
def box(pytestconfig: pytest.Config) -> Iterator[Box]:
    cloud = pytestconfig.getoption("cloudbox")
    with ExitStack() as stack:
        yield BOXES[cloud](stack)


def run_suite(box: Box, report: Path, *options: str) -> int:
    """The suite's load-balancer ids from the client network against lbctl's class
    for the box's cloud; its exit code."""
    argv: Sequence[str] = [
        sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider",
        str(SUITE),
        f"--conformance-kubeconfig={box.kubeconfig}",
        f"--conformance-lb-class={box.lb_class}",
        f"--conformance-report-dir={report}",
        *box.suite_options,
        *options,
    ]  # fmt: skip
    nsenter = ["nsenter", f"--net=/run/netns/{outside.CLIENT_NETNS}", "--"]
    return subprocess.run([*nsenter, *argv], cwd=ROOT, check=False).returncode


def test_every_load_balancer_id_passes_or_skips_with_its_reason(box: Box) -> None:
    report = REPORTS / box.cloud
    with lbctl_running(box, report / "lbctl.log"):
        code = run_suite(box, report)
    assert code == 0, f"the {box.cloud} column failed: {report / 'conformance.md'}"


def test_a_broken_provider_fails_the_id_that_covers_it(box: Box, fault: Fault) -> None:
    report = REPORTS / fault.id
    with lbctl_running(box, report / "lbctl.log", fault=fault.id):
        code = run_suite(box, report, "-k", fault.test, "--conformance-lb-timeout=30")
    assert code == 1, f"{fault.id}: the suite exited {code}, not 1 (failed): {report}"
    results = read_results((report / "conformance.xml").read_text(encoding="utf-8"))
    assert fault.conformance_id in results, f"{report}: no {fault.conformance_id}"
    result, message = results[fault.conformance_id].result, results[fault.conformance_id].note
    assert result == "fail", f"{fault.id}: {fault.conformance_id} is {result}: {message}"
    assert fault.named in message, (
        f"{fault.id}: {fault.conformance_id} failed without naming {fault.named}: {message}"
    )
    print(f"{fault.id}: {fault.conformance_id} failed: {message}")
