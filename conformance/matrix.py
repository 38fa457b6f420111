"""The result matrix: pytest phase reports folded into one row per spec id.

Guarantees:
- pure: nothing here touches pytest objects, files or the terminal; the
  plugin translates each `TestReport` into a `PhaseReport` at the boundary;
- a test's outcome is `failed` if any phase failed, else `skipped` if any
  phase skipped (with the skip's reason), else `passed`; its seconds are
  the sum of its phases; its probe routes and ipModes are those of all its
  phases, in first-seen order, and a row's are those of all its tests;
- `build_matrix` returns one row per spec id in spec order (ids that no test
  reported are `not run`), then rows for any other id seen, sorted;
- `all_skipped` is true exactly when some id was run and every id that was
  run was skipped: a run that verified nothing (the plugin fails it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from conformance.ids import SPEC_IDS, spec_order, title

SKIP_PREFIX = "Skipped: "


class Outcome(StrEnum):
    """What one test (all its phases together) came to."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


class Status(StrEnum):
    """What one spec id came to, over every test carrying it."""

    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    PARTIAL = "partial"
    NOT_RUN = "not run"


@dataclass(frozen=True)
class PhaseReport:
    """One pytest phase report (setup, call or teardown) of a test with ids."""

    nodeid: str
    ids: tuple[str, ...]
    when: str
    outcome: str
    duration: float
    message: str = ""
    #: which way its probes from outside went (`runner`, `pod:NODE`)
    routes: tuple[str, ...] = ()
    #: the ipMode of the ingresses it saw
    ip_modes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TestResult:
    """One test's outcome over all of its phases."""

    nodeid: str
    ids: tuple[str, ...]
    outcome: Outcome
    seconds: float
    message: str = ""
    routes: tuple[str, ...] = ()
    ip_modes: tuple[str, ...] = ()

    __test__ = False  # not a pytest test class


@dataclass(frozen=True)
class Row:
    """One spec id: counts per outcome, skip reasons, failures, seconds."""

    id: str
    title: str
    status: Status
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    reasons: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()
    seconds: float = 0.0
    tests: tuple[str, ...] = field(default=())
    routes: tuple[str, ...] = ()


def skip_reason(longrepr: object) -> str:
    """The reason of a skip report's `longrepr` ((path, line, 'Skipped: why') or text)."""
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else longrepr
    reason = str(text or "").strip()
    return reason.removeprefix(SKIP_PREFIX).strip()


def one_line(text: str, limit: int = 300) -> str:
    """`text` squeezed to one line of at most `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class Ledger:
    """Accumulates phase reports per test, in the order they arrive."""

    def __init__(self) -> None:
        self._phases: dict[str, list[PhaseReport]] = {}

    def add(self, phase: PhaseReport) -> None:
        """Record one phase of a test (ignored when the test carries no id)."""
        if phase.ids:
            self._phases.setdefault(phase.nodeid, []).append(phase)

    def __bool__(self) -> bool:
        return bool(self._phases)

    def results(self) -> list[TestResult]:
        """Every test seen so far, folded over its phases."""
        return [fold(phases) for phases in self._phases.values()]


def fold(phases: Sequence[PhaseReport]) -> TestResult:
    """Fold the phases of one test into its result."""
    first = phases[0]
    seconds = sum(p.duration for p in phases)
    failed = [p for p in phases if p.outcome == "failed"]
    skipped = [p for p in phases if p.outcome == "skipped"]
    if failed:
        outcome, message = Outcome.FAILED, "; ".join(f"{p.when}: {p.message}" for p in failed)
    elif skipped:
        outcome, message = Outcome.SKIPPED, skipped[0].message
    else:
        outcome, message = Outcome.PASSED, ""
    return TestResult(
        first.nodeid,
        first.ids,
        outcome,
        seconds,
        message,
        routes=union(p.routes for p in phases),
        ip_modes=union(p.ip_modes for p in phases),
    )


def union(groups: Iterable[Sequence[str]]) -> tuple[str, ...]:
    """Every string of `groups`, once, in first-seen order."""
    return tuple(dict.fromkeys(s for group in groups for s in group))


def _status(passed: int, failed: int, skipped: int) -> Status:
    if failed:
        return Status.FAIL
    if passed and skipped:
        return Status.PARTIAL
    if passed:
        return Status.PASS
    if skipped:
        return Status.SKIP
    return Status.NOT_RUN


def _row(id_: str, results: Sequence[TestResult]) -> Row:
    mine = [r for r in results if id_ in r.ids]
    count = {o: sum(1 for r in mine if r.outcome is o) for o in Outcome}
    reasons = tuple(
        dict.fromkeys(r.message or "no reason given" for r in mine if r.outcome is Outcome.SKIPPED)
    )
    failures = tuple(f"{r.nodeid}: {r.message}" for r in mine if r.outcome is Outcome.FAILED)
    return Row(
        id=id_,
        title=title(id_),
        status=_status(count[Outcome.PASSED], count[Outcome.FAILED], count[Outcome.SKIPPED]),
        passed=count[Outcome.PASSED],
        failed=count[Outcome.FAILED],
        skipped=count[Outcome.SKIPPED],
        reasons=reasons,
        failures=failures,
        seconds=sum(r.seconds for r in mine),
        tests=tuple(r.nodeid for r in mine),
        routes=union(r.routes for r in mine),
    )


def build_matrix(results: Iterable[TestResult], spec_ids: Sequence[str] = SPEC_IDS) -> list[Row]:
    """One row per spec id in spec order, then rows for other ids seen."""
    materialised = list(results)
    seen = {id_ for r in materialised for id_ in r.ids}
    extra = sorted(seen - set(spec_ids), key=spec_order)
    return [_row(id_, materialised) for id_ in [*spec_ids, *extra]]


def totals(rows: Sequence[Row]) -> dict[Status, int]:
    """How many rows ended in each status (every status present, maybe 0)."""
    return {status: sum(1 for r in rows if r.status is status) for status in Status}


def all_skipped(rows: Sequence[Row]) -> bool:
    """Some id ran and every id that ran was skipped (nothing passed or failed)."""
    ran = [r for r in rows if r.status is not Status.NOT_RUN]
    return bool(ran) and all(r.status is Status.SKIP for r in ran)


def skip_reasons(rows: Sequence[Row]) -> dict[str, tuple[str, ...]]:
    """Each distinct skip reason -> the ids skipped with it, in row order."""
    by_reason: dict[str, list[str]] = {}
    for row in rows:
        for reason in row.reasons:
            by_reason.setdefault(reason, []).append(row.id)
    return {reason: tuple(ids) for reason, ids in by_reason.items()}
