"""pytest plugin of the conformance suite (registered as `lbctl-conformance`).

Guarantees:
- registers the `conformance(*ids)` marker and the suite's flags;
- rejects, at collection, a `conformance` marker without ids or with an id
  that is not in CONFORMANCE.md, so the matrix can never miss a row silently;
- copies each test's ids into its `user_properties`, which pytest-xdist
  ships with every report, so the controller aggregates workers' results in
  `pytest_runtest_logreport` exactly as it does its own;
- when any test with an id ran, prints the matrix after the run and writes
  `conformance.md` and `conformance.xml` under `--conformance-report-dir`;
- in a suite run (some test carries an id), `--kubeconfig` (pytest-kind's
  option) without `--conformance-kubeconfig` is a usage error, so the old
  spelling cannot leave the suite on its default (local) cluster;
- a run in which every selected id was skipped exits non-zero
  (`ExitCode.TESTS_FAILED`) and prints the skip reasons with their ids;
- runs without such tests (the project's unit tests, or any other project's,
  since the entry point loads this plugin into every pytest run of the
  environment) see nothing of it: its flags are all `--conformance-*`, it
  has no fixtures, writes no file, prints nothing and leaves the exit status
  alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from conformance import render
from conformance.ids import is_known
from conformance.matrix import (
    Ledger,
    PhaseReport,
    Row,
    all_skipped,
    build_matrix,
    one_line,
    skip_reason,
)
from conformance.settings import add_options, settings_of

MARKER = "conformance"
PROPERTY = "conformance_ids"
REPORTER_NAME = "lbctl-conformance-reporter"
HEADING = "lbctl Service conformance"


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(*ids): the Service conformance ids (e.g. CIP-1) a test covers"
    )
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(MatrixReporter(config), REPORTER_NAME)


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


def ids_from_properties(properties: Sequence[tuple[str, object]]) -> tuple[str, ...]:
    """The ids a report carries in its user_properties (empty when none)."""
    for name, value in properties:
        if name == PROPERTY:
            return tuple(v for v in str(value).split(",") if v)
    return ()


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
    )


def _failure_message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", None)
    if message:
        return one_line(str(message))
    lines = [line for line in report.longreprtext.splitlines() if line.strip()]
    return one_line(lines[-1]) if lines else "failed"


class MatrixReporter:
    """Collects reports on the controller; prints and writes the matrix."""

    def __init__(self, config: pytest.Config) -> None:
        self._config = config
        self.ledger = Ledger()
        self.written: list[Path] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        phase = phase_of(report)
        if phase is not None:
            self.ledger.add(phase)

    def report_dir(self) -> Path:
        directory = settings_of(self._config).report_dir
        return directory if directory.is_absolute() else self._config.rootpath / directory

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
        md = directory / "conformance.md"
        xml = directory / "conformance.xml"
        md.write_text(render.markdown(rows, heading=HEADING), encoding="utf-8")
        xml.write_text(render.junit_xml(rows), encoding="utf-8")
        self.written = [md, xml]

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.ledger:
            return
        rows = build_matrix(self.ledger.results())
        terminalreporter.write_sep("=", HEADING)
        for line in render.text_lines(rows):
            terminalreporter.write_line(line)
        for path in self.written:
            terminalreporter.write_line(f"written: {path}")
        failing = render.all_skipped_lines(rows)
        if failing:
            terminalreporter.write_sep("=", "conformance run failed", red=True)
            for line in failing:
                terminalreporter.write_line(line, red=True)
