"""The plugin: id markers, reports shipped by xdist, the printed and written matrix."""

from __future__ import annotations

import textwrap
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance.plugin import PROPERTY, MatrixReporter, ids_from_properties, phase_of

pytestmark = pytest.mark.unit


def report(
    outcome: str,
    *,
    when: str = "call",
    ids: str | None = "CIP-1",
    longrepr: object = None,
) -> pytest.TestReport:
    props = [(PROPERTY, ids)] if ids is not None else []
    return pytest.TestReport(
        nodeid="conformance/test_x.py::test_x",
        location=("conformance/test_x.py", 1, "test_x"),
        keywords={},
        outcome=outcome,  # type: ignore[arg-type]
        longrepr=longrepr,  # type: ignore[arg-type]
        when=when,  # type: ignore[arg-type]
        duration=0.25,
        user_properties=props,
    )


def test_ids_from_properties() -> None:
    assert ids_from_properties([("other", "x"), (PROPERTY, "LB-7,LB-8")]) == ("LB-7", "LB-8")
    assert ids_from_properties([]) == ()


def test_skip_report_keeps_its_reason() -> None:
    phase = phase_of(
        report("skipped", when="setup", longrepr=("f.py", 1, "Skipped: no Docker engine"))
    )
    assert phase is not None
    assert phase.message == "no Docker engine"


def test_reports_without_ids_are_not_phases() -> None:
    assert phase_of(report("passed", ids=None)) is None


def test_reports_shipped_by_xdist_keep_their_ids(pytestconfig: pytest.Config) -> None:
    """xdist serialises each worker's report; the controller must still see the ids."""
    reporter = MatrixReporter(pytestconfig)
    for original in (
        report("passed", when="setup"),
        report("skipped", when="call", longrepr=("f.py", 2, "Skipped: no second node")),
        report("passed", when="teardown"),
    ):
        shipped = pytest.TestReport._from_json(original._to_json())
        reporter.pytest_runtest_logreport(shipped)
    [result] = reporter.ledger.results()
    assert result.ids == ("CIP-1",)
    assert result.outcome.value == "skipped"
    assert result.message == "no second node"


def _run(tmp_path: Path, source: str, *args: str) -> int:
    module = f"test_conf_{uuid.uuid4().hex[:8]}.py"
    (tmp_path / module).write_text(textwrap.dedent(source))
    return int(
        pytest.main(
            [
                str(tmp_path / module),
                "-p",
                "no:cacheprovider",
                "-p",
                "no:xdist",
                f"--rootdir={tmp_path}",
                *args,
            ]
        )
    )


def test_run_prints_and_writes_the_matrix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _run(
        tmp_path,
        """
        import pytest

        @pytest.mark.conformance("CIP-1")
        def test_pass():
            pass

        @pytest.mark.conformance("LB-1")
        def test_skip():
            pytest.skip("no LoadBalancer provider")

        @pytest.mark.conformance("NP-1")
        def test_fail():
            assert 1 == 2
        """,
        f"--conformance-report-dir={tmp_path / 'out'}",
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "lbctl Service conformance" in out
    assert any(line.startswith("CIP-1 ") and " pass " in line for line in out.splitlines())
    assert "no LoadBalancer provider" in out
    md = (tmp_path / "out" / "conformance.md").read_text()
    assert "| LB-1 |" in md
    assert "no LoadBalancer provider" in md
    suite = ET.parse(tmp_path / "out" / "conformance.xml").getroot().find("testsuite")
    assert suite is not None
    assert suite.get("failures") == "1"


def test_unknown_id_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(
        tmp_path,
        """
        import pytest

        @pytest.mark.conformance("CIP-99")
        def test_typo():
            pass
        """,
    )
    captured = capsys.readouterr()
    assert code == pytest.ExitCode.USAGE_ERROR
    assert "'CIP-99' is not an id of CONFORMANCE.md" in captured.err + captured.out


def test_runs_without_ids_print_no_matrix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _run(tmp_path, "def test_plain():\n    pass\n")
    assert code == 0
    assert "lbctl Service conformance" not in capsys.readouterr().out
    assert not (tmp_path / "reports").exists()


def test_a_run_where_every_id_skipped_fails_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _run(
        tmp_path,
        """
        import pytest

        @pytest.mark.conformance("LB-1")
        def test_lb():
            pytest.skip("no LoadBalancer ingress within 120s")

        @pytest.mark.conformance("NP-3", "NP-4")
        def test_local_policy():
            pytest.skip("needs 2 schedulable ready nodes; the cluster has 1")

        @pytest.mark.conformance("NP-5")
        def test_health_check():
            pytest.skip("needs 2 schedulable ready nodes; the cluster has 1")

        def test_without_ids():
            pass
        """,
        f"--conformance-report-dir={tmp_path / 'out'}",
    )
    out = capsys.readouterr().out
    assert code == pytest.ExitCode.TESTS_FAILED
    assert "every selected conformance id (4) was skipped: nothing was verified" in out
    reasons = out.split("was skipped: nothing was verified. Reasons:", 1)[1].splitlines()
    assert "  no LoadBalancer ingress within 120s  [LB-1]" in reasons
    assert "  needs 2 schedulable ready nodes; the cluster has 1  [NP-3, NP-4, NP-5]" in reasons


@pytest.mark.parametrize(
    "other",
    [
        pytest.param("pass", id="one-id-passed"),
        pytest.param("pytest.fail('no')", id="one-id-failed"),
    ],
)
def test_a_run_where_some_id_ran_keeps_its_exit_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], other: str
) -> None:
    code = _run(
        tmp_path,
        f"""
        import pytest

        @pytest.mark.conformance("LB-1")
        def test_lb():
            pytest.skip("no LoadBalancer ingress within 120s")

        @pytest.mark.conformance("CIP-1")
        def test_cip():
            {other}
        """,
    )
    out = capsys.readouterr().out
    expected = pytest.ExitCode.OK if other == "pass" else pytest.ExitCode.TESTS_FAILED
    assert code == expected
    assert "nothing was verified" not in out


def test_a_run_without_ids_where_everything_skipped_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _run(tmp_path, "import pytest\n\ndef test_plain():\n    pytest.skip('x')\n")
    assert code == pytest.ExitCode.OK
    assert "nothing was verified" not in capsys.readouterr().out


def test_pytest_kinds_kubeconfig_option_is_refused_in_a_suite_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The old spelling would silently leave the suite on the local cluster."""
    source = """
        import pytest

        @pytest.mark.conformance("CIP-1")
        def test_one():
            pass
        """
    code = _run(tmp_path, source, f"--kubeconfig={tmp_path / 'kubeconfig'}")
    captured = capsys.readouterr()
    assert code == pytest.ExitCode.USAGE_ERROR
    assert "the conformance suite reads --conformance-kubeconfig" in captured.err + captured.out


def test_pytest_kinds_kubeconfig_option_is_left_alone_elsewhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _run(tmp_path, "def test_plain():\n    pass\n", f"--kubeconfig={tmp_path / 'k'}")
    assert code == pytest.ExitCode.OK
    assert "--conformance-kubeconfig" not in capsys.readouterr().out


FACTS_JSON = (
    '{"cluster": "kubeconfig /k", "kube_proxy": "nftables (ConfigMap kube-system/kube-proxy)",'
    ' "missing_ingress": "fails", "nodes": 3, "provider": "lbctl, provider local",'
    ' "runner_reaches_nodes": "no (--conformance-runner-reaches-nodes=no)", "schedulable": 2}'
)

ROUTED = f"""
import pytest
from conformance.plugin import FACTS_PROPERTY, IP_MODES_PROPERTY, ROUTES_PROPERTY

@pytest.mark.conformance("NP-1")
def test_node_port(request):
    request.node.user_properties.append((ROUTES_PROPERTY, "pod:b,pod:a"))
    request.node.user_properties.append((FACTS_PROPERTY, {FACTS_JSON!r}))

@pytest.mark.conformance("LB-1")
def test_ingress(request):
    request.node.user_properties.append((ROUTES_PROPERTY, "runner"))
    request.node.user_properties.append((IP_MODES_PROPERTY, "VIP"))
    raise AssertionError("missing ingress: Service cf-lb-1/lb (loadBalancerClass x) ...")
"""


def test_the_report_directory_holds_markdown_junit_and_a_plain_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    code = _run(tmp_path, ROUTED, f"--conformance-report-dir={out_dir}")
    out = capsys.readouterr().out
    assert code == pytest.ExitCode.TESTS_FAILED
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "conformance.log",
        "conformance.md",
        "conformance.xml",
        "junit.xml",
    ]
    for text in (out, (out_dir / "conformance.md").read_text()):
        assert "nodes: 3 ready (2 schedulable)" in text
        assert "kube-proxy mode: nftables (ConfigMap kube-system/kube-proxy)" in text
        assert "ingress ipMode: VIP" in text
        assert "runner reaches node IPs: no (--conformance-runner-reaches-nodes=no)" in text
        assert "probes from outside went: pod:b, pod:a, runner" in text
    log = (out_dir / "conformance.log").read_text().splitlines()
    assert [line.split(" ", 1)[0] for line in log if not line.startswith("#")] == [
        "PASSED",
        "FAILED",
    ]
    assert any(" NP-1 " in line and " via pod:b, pod:a " in line for line in log)
    assert any(" LB-1 " in line and "missing ingress: Service cf-lb-1/lb" in line for line in log)
    junit = ET.parse(out_dir / "junit.xml").getroot()
    cases = {case.get("name"): case for case in junit.iter("testcase")}
    assert set(cases) == {"test_node_port", "test_ingress"}
    properties = {(p.get("name"), p.get("value")) for p in cases["test_node_port"].iter("property")}
    assert (PROPERTY, "NP-1") in properties
    assert ("conformance_probe_routes", "pod:b,pod:a") in properties


def test_an_explicit_junitxml_is_left_where_it_was_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "mine.xml"
    _run(tmp_path, ROUTED, f"--conformance-report-dir={tmp_path / 'out'}", f"--junitxml={mine}")
    capsys.readouterr()
    assert mine.is_file()
    assert not (tmp_path / "out" / "junit.xml").exists()


def test_routes_and_facts_survive_xdist(pytestconfig: pytest.Config) -> None:
    reporter = MatrixReporter(pytestconfig)
    original = report("passed", when="teardown", ids="NP-1")
    original.user_properties += [
        ("conformance_probe_routes", "pod:a"),
        ("conformance_cluster_facts", FACTS_JSON),
    ]
    reporter.pytest_runtest_logreport(pytest.TestReport._from_json(original._to_json()))
    [result] = reporter.ledger.results()
    assert result.routes == ("pod:a",)
    assert reporter.facts is not None
    assert reporter.facts.nodes == 3
