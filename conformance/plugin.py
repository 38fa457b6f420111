"""pytest plugin of the conformance suite (registered as `lbctl-conformance`).

Guarantees:
- registers the `conformance(*ids)` marker and the suite's flags;
- rejects, at collection, a `conformance` marker without ids or with an id
  that is not in CONFORMANCE.md, so the matrix can never miss a row silently;
- copies each test's ids into its `user_properties`, which pytest-xdist
  ships with every report, so the controller aggregates workers' results in
  `pytest_runtest_logreport` exactly as it does its own;
- ships with each report, beside the ids, the routes its probes from
  outside took and the ingress ipModes it saw, and (once per pytest
  process) what the suite discovered about the cluster (conftest.py adds
  them; `discovery.ClusterFacts`);
- when any test with an id ran, prints the header (what was discovered) and
  the matrix after the run and writes, under `--conformance-report-dir`,
  `conformance.md` (header and matrix), `conformance.xml` (the matrix as
  JUnit XML, one testcase per id) and `conformance.log` (one line per test:
  outcome, ids, seconds, probe routes);
- when `--conformance-report-dir` (or its variable) is given and no
  `--junitxml` is, pytest's own JUnit XML goes to `junit.xml` there (one
  testcase per test, its properties the ones above), as Sonobuoy and
  Hydrophone leave a junit file beside their logs;
- in a suite run (some test carries an id), `--kubeconfig` (pytest-kind's
  option) without `--conformance-kubeconfig` is a usage error, so the old
  spelling cannot leave the suite on its default (local) cluster;
- a run in which every selected id was skipped exits non-zero
  (`ExitCode.TESTS_FAILED`) and prints the skip reasons with their ids;
- runs without such tests (the project's unit tests, or any other project's,
  since the entry point loads this plugin into every pytest run of the
  environment) see nothing of it: its flags are all `--conformance-*`, it
  has no fixtures, writes no file (unless a report directory is named),
  prints nothing and leaves the exit status alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from conformance import render
from conformance.facts import ClusterFacts, header_lines
from conformance.ids import is_known
from conformance.matrix import (
    Ledger,
    PhaseReport,
    Row,
    all_skipped,
    build_matrix,
    one_line,
    skip_reason,
    union,
)
from conformance.settings import add_options, report_dir_of, settings_of

MARKER = "conformance"
PROPERTY = "conformance_ids"
ROUTES_PROPERTY = "conformance_probe_routes"
IP_MODES_PROPERTY = "conformance_ip_modes"
FACTS_PROPERTY = "conformance_cluster_facts"
JUNIT_NAME = "junit.xml"
REPORTER_NAME = "lbctl-conformance-reporter"
HEADING = "lbctl Service conformance"


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(*ids): the Service conformance ids (e.g. CIP-1) a test covers"
    )
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(MatrixReporter(config), REPORTER_NAME)
    junit_into_report_dir(config)


def junit_into_report_dir(config: pytest.Config) -> None:
    """Point pytest's junitxml at `<report dir>/junit.xml` when a report directory
    is named and `--junitxml` is not (runs before junitxml's own configure)."""
    directory = report_dir_of(config)
    if directory is not None and not getattr(config.option, "xmlpath", None):
        config.option.xmlpath = str(resolve_report_dir(config, directory) / JUNIT_NAME)


def resolve_report_dir(config: pytest.Config, directory: Path) -> Path:
    return directory if directory.is_absolute() else config.rootpath / directory


def ids_of(item: pytest.Item) -> tuple[str, ...]:
    """The conformance ids of `item`, in marker order, without repeats."""
    ids: list[str] = []
    for mark in item.iter_markers(MARKER):
        if not mark.args:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.{MARKER} needs an id")
        for arg in mark.args:
            if not isinstance(arg, str) or not is_known(arg):
                raise pytest.UsageError(f"{item.nodeid}: {arg!r} is not an id of CONFORMANCE.md")
            ids.append(arg)
    return tuple(dict.fromkeys(ids))


def pytest_collection_modifyitems(config: pytest.Config, items: Sequence[pytest.Item]) -> None:
    suite = False
    for item in items:
        ids = ids_of(item)
        if ids:
            item.user_properties.append((PROPERTY, ",".join(ids)))
            suite = True
    if suite:
        reject_foreign_kubeconfig(config)


def reject_foreign_kubeconfig(config: pytest.Config) -> None:
    """`--kubeconfig` (pytest-kind's option, the suite's before its flags were
    namespaced) would leave the suite on its default cluster: refuse it."""
    if config.getoption("kubeconfig", default=None) and not config.getoption(
        "conformance_kubeconfig", default=None
    ):
        raise pytest.UsageError(
            "--kubeconfig is pytest-kind's option; the conformance suite reads "
            "--conformance-kubeconfig"
        )


def ids_from_properties(
    properties: Sequence[tuple[str, object]], name: str = PROPERTY
) -> tuple[str, ...]:
    """The comma-separated list a report carries in its user_properties under
    `name` (the ids by default; empty when none)."""
    for key, value in properties:
        if key == name:
            return tuple(v for v in str(value).split(",") if v)
    return ()


def facts_from_properties(properties: Sequence[tuple[str, object]]) -> ClusterFacts | None:
    """The cluster facts a report carries, if it carries them."""
    for key, value in properties:
        if key == FACTS_PROPERTY:
            return ClusterFacts.from_json(str(value))
    return None


def phase_of(report: pytest.TestReport) -> PhaseReport | None:
    """The matrix's view of one report, or None for tests without ids."""
    ids = ids_from_properties(report.user_properties)
    if not ids:
        return None
    if report.outcome == "skipped":
        message = skip_reason(report.longrepr)
        if getattr(report, "wasxfail", None) is not None:
            message = f"xfail: {report.wasxfail}".rstrip(": ")
    elif report.outcome == "failed":
        message = _failure_message(report)
    else:
        message = ""
    return PhaseReport(
        nodeid=report.nodeid,
        ids=ids,
        when=report.when or "call",
        outcome=report.outcome,
        duration=float(report.duration),
        message=message,
        routes=ids_from_properties(report.user_properties, ROUTES_PROPERTY),
        ip_modes=ids_from_properties(report.user_properties, IP_MODES_PROPERTY),
    )


def _failure_message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", None)
    if message:
        return one_line(str(message))
    lines = [line for line in report.longreprtext.splitlines() if line.strip()]
    return one_line(lines[-1]) if lines else "failed"


class MatrixReporter:
    """Collects reports on the controller; prints and writes the report."""

    def __init__(self, config: pytest.Config) -> None:
        self._config = config
        self.ledger = Ledger()
        self.facts: ClusterFacts | None = None
        self.written: list[Path] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        phase = phase_of(report)
        if phase is not None:
            self.ledger.add(phase)
        if self.facts is None:
            self.facts = facts_from_properties(report.user_properties)

    def report_dir(self) -> Path:
        return resolve_report_dir(self._config, settings_of(self._config).report_dir)

    def header(self) -> list[str]:
        results = self.ledger.results()
        return header_lines(
            self.facts,
            ip_modes=union(r.ip_modes for r in results),
            routes=union(r.routes for r in results),
        )

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.ledger:
            return
        rows = build_matrix(self.ledger.results())
        if all_skipped(rows) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        self._write(rows)

    def _write(self, rows: Sequence[Row]) -> None:
        directory = self.report_dir()
        directory.mkdir(parents=True, exist_ok=True)
        header = self.header()
        md = directory / "conformance.md"
        xml = directory / "conformance.xml"
        log = directory / "conformance.log"
        md.write_text(render.markdown(rows, heading=HEADING, header=header), encoding="utf-8")
        xml.write_text(render.junit_xml(rows), encoding="utf-8")
        lines = render.log_lines(self.ledger.results(), heading=HEADING, header=header)
        log.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.written = [md, xml, log]

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.ledger:
            return
        rows = build_matrix(self.ledger.results())
        terminalreporter.write_sep("=", HEADING)
        for line in self.header():
            terminalreporter.write_line(line)
        terminalreporter.write_line("")
        for line in render.text_lines(rows):
            terminalreporter.write_line(line)
        for path in self.written:
            terminalreporter.write_line(f"written: {path}")
        failing = render.all_skipped_lines(rows)
        if failing:
            terminalreporter.write_sep("=", "conformance run failed", red=True)
            for line in failing:
                terminalreporter.write_line(line, red=True)
