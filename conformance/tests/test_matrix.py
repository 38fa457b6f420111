"""The matrix folds phase reports into one row per spec id."""

from __future__ import annotations

import pytest

from conformance.ids import SPEC_IDS
from conformance.matrix import (
    Ledger,
    Outcome,
    PhaseReport,
    Status,
    all_skipped,
    build_matrix,
    fold,
    skip_reason,
    skip_reasons,
)

pytestmark = pytest.mark.unit


def phase(
    nodeid: str, when: str, outcome: str, *, ids: tuple[str, ...] = ("CIP-1",), message: str = ""
) -> PhaseReport:
    return PhaseReport(nodeid, ids, when, outcome, 1.5, message)


@pytest.mark.parametrize(
    ("phases", "outcome", "message"),
    [
        pytest.param(
            [("setup", "passed", ""), ("call", "passed", ""), ("teardown", "passed", "")],
            Outcome.PASSED,
            "",
            id="all-passed",
        ),
        pytest.param(
            [("setup", "skipped", "no second node")],
            Outcome.SKIPPED,
            "no second node",
            id="skipped-in-setup",
        ),
        pytest.param(
            [("setup", "passed", ""), ("call", "skipped", "no LB"), ("teardown", "passed", "")],
            Outcome.SKIPPED,
            "no LB",
            id="skipped-in-call",
        ),
        pytest.param(
            [("setup", "passed", ""), ("call", "passed", ""), ("teardown", "failed", "boom")],
            Outcome.FAILED,
            "teardown: boom",
            id="failed-teardown-beats-pass",
        ),
        pytest.param(
            [("setup", "failed", "no api")], Outcome.FAILED, "setup: no api", id="setup-error"
        ),
    ],
)
def test_fold(phases: list[tuple[str, str, str]], outcome: Outcome, message: str) -> None:
    result = fold([phase("t::a", w, o, message=msg) for w, o, msg in phases])
    assert result.outcome is outcome
    assert result.message == message
    assert result.seconds == pytest.approx(1.5 * len(phases))


def test_rows_follow_spec_order_and_cover_every_id() -> None:
    ledger = Ledger()
    ledger.add(phase("t::lb", "call", "passed", ids=("LB-1",)))
    ledger.add(phase("t::cip", "call", "passed", ids=("CIP-1",)))
    rows = build_matrix(ledger.results())
    assert [r.id for r in rows] == list(SPEC_IDS)
    by_id = {r.id: r for r in rows}
    assert by_id["CIP-1"].status is Status.PASS
    assert by_id["LB-1"].status is Status.PASS
    assert by_id["HL-1"].status is Status.NOT_RUN


@pytest.mark.parametrize(
    ("outcomes", "status"),
    [
        pytest.param(["passed", "passed"], Status.PASS, id="pass"),
        pytest.param(["passed", "failed"], Status.FAIL, id="any-fail"),
        pytest.param(["skipped", "failed"], Status.FAIL, id="fail-beats-skip"),
        pytest.param(["skipped", "skipped"], Status.SKIP, id="skip"),
        pytest.param(["passed", "skipped"], Status.PARTIAL, id="partial"),
    ],
)
def test_row_status_over_several_tests(outcomes: list[str], status: Status) -> None:
    ledger = Ledger()
    for index, outcome in enumerate(outcomes):
        ledger.add(phase(f"t::{index}", "call", outcome, ids=("NP-3",), message="why"))
    row = next(r for r in build_matrix(ledger.results()) if r.id == "NP-3")
    assert row.status is status
    assert row.passed + row.failed + row.skipped == len(outcomes)


def test_one_test_may_cover_several_ids() -> None:
    ledger = Ledger()
    ledger.add(phase("t::both", "call", "passed", ids=("LB-7", "LB-8")))
    rows = {r.id: r for r in build_matrix(ledger.results())}
    assert rows["LB-7"].status is rows["LB-8"].status is Status.PASS


def test_skip_reasons_are_kept_once_each() -> None:
    ledger = Ledger()
    for index in range(3):
        ledger.add(phase(f"t::{index}", "setup", "skipped", ids=("LB-4",), message="no LB"))
    row = next(r for r in build_matrix(ledger.results()) if r.id == "LB-4")
    assert row.reasons == ("no LB",)
    assert row.skipped == 3


def test_tests_without_ids_are_ignored() -> None:
    ledger = Ledger()
    ledger.add(phase("t::plain", "call", "passed", ids=()))
    assert not ledger


def test_unknown_ids_get_rows_after_the_spec() -> None:
    ledger = Ledger()
    ledger.add(phase("t::x", "call", "passed", ids=("ZZ-1",)))
    rows = build_matrix(ledger.results())
    assert rows[-1].id == "ZZ-1"


@pytest.mark.parametrize(
    ("longrepr", "reason"),
    [
        pytest.param(("f.py", 3, "Skipped: no Docker engine"), "no Docker engine", id="tuple"),
        pytest.param("Skipped: plain", "plain", id="text"),
        pytest.param(None, "", id="none"),
    ],
)
def test_skip_reason(longrepr: object, reason: str) -> None:
    assert skip_reason(longrepr) == reason


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        pytest.param({}, False, id="nothing-ran"),
        pytest.param({"LB-1": "skipped", "NP-3": "skipped"}, True, id="every-id-skipped"),
        pytest.param({"LB-1": "skipped", "CIP-1": "passed"}, False, id="one-passed"),
        pytest.param({"LB-1": "skipped", "CIP-1": "failed"}, False, id="one-failed"),
        pytest.param({"LB-1": "passed"}, False, id="all-passed"),
    ],
)
def test_all_skipped(outcomes: dict[str, str], expected: bool) -> None:
    ledger = Ledger()
    for id_, outcome in outcomes.items():
        ledger.add(phase(f"t::{id_}", "call", outcome, ids=(id_,), message="why"))
    assert all_skipped(build_matrix(ledger.results())) is expected


def test_skip_reasons_group_ids_by_reason_in_row_order() -> None:
    ledger = Ledger()
    ledger.add(phase("t::np5", "setup", "skipped", ids=("NP-5",), message="one node"))
    ledger.add(phase("t::lb", "call", "skipped", ids=("LB-1",), message="no LB"))
    ledger.add(phase("t::np3", "setup", "skipped", ids=("NP-3",), message="one node"))
    assert skip_reasons(build_matrix(ledger.results())) == {
        "one node": ("NP-3", "NP-5"),
        "no LB": ("LB-1",),
    }
