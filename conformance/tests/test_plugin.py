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
