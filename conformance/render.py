"""Renderings of the result matrix: terminal lines, Markdown, JUnit XML, a plain log.

Guarantees: pure functions of the rows or results (and a title and header
lines); every spec id appears once in each matrix rendering, in the rows'
order; the plain log has one line per test, in spec order, with its outcome,
ids, seconds and the routes its probes from outside took; skip reasons and
failure messages are kept on one line so the table stays a table.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from conformance.ids import spec_order
from conformance.matrix import (
    Row,
    Status,
    TestResult,
    all_skipped,
    one_line,
    skip_reasons,
    totals,
)

_SUITE = "lbctl-conformance"


def _note(row: Row) -> str:
    if row.failures:
        return one_line(" | ".join(row.failures), 200)
    return one_line("; ".join(row.reasons), 200)


def summary_line(rows: Sequence[Row]) -> str:
    """`N pass, N fail, ...` over the rows, every status named."""
    count = totals(rows)
    return ", ".join(f"{count[s]} {s.value}" for s in Status)


def text_lines(rows: Sequence[Row]) -> list[str]:
    """A fixed-width table for the terminal, one line per id, then the totals."""
    width = max([len(r.id) for r in rows] + [2])
    head = f"{'id':<{width}}  {'result':<7}  pass  fail  skip  seconds  reason / failure"
    lines = [head]
    for r in rows:
        lines.append(
            f"{r.id:<{width}}  {r.status.value:<7}  {r.passed:>4}  {r.failed:>4}  {r.skipped:>4}"
            f"  {r.seconds:>7.1f}  {_note(r)}".rstrip()
        )
    lines.append(summary_line(rows))
    return lines


def all_skipped_lines(rows: Sequence[Row]) -> list[str]:
    """Why the run fails when every id that ran was skipped: one line per reason
    with the ids it skipped (empty when something passed or failed)."""
    if not all_skipped(rows):
        return []
    ran = sum(1 for r in rows if r.status is not Status.NOT_RUN)
    lines = [f"every selected conformance id ({ran}) was skipped: nothing was verified. Reasons:"]
    for reason, ids in skip_reasons(rows).items():
        lines.append(f"  {one_line(reason)}  [{', '.join(ids)}]")
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _routes(routes: Sequence[str]) -> str:
    return ", ".join(routes) if routes else "-"


def markdown(rows: Sequence[Row], *, heading: str, header: Sequence[str] = ()) -> str:
    """The header (what the suite discovered) as a list, then the matrix as a
    table with a one-line summary."""
    out = [f"# {heading}", ""]
    if header:
        out += ["## The cluster", "", *(f"- {_cell(line)}" for line in header), ""]
        out += ["## The matrix", ""]
    out += [
        summary_line(rows),
        "",
        "| id | behaviour | result | pass | fail | skip | seconds | probes via"
        " | skip reason / failure |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in rows:
        out.append(
            f"| {r.id} | {_cell(r.title)} | {r.status.value} | {r.passed} | {r.failed}"
            f" | {r.skipped} | {r.seconds:.1f} | {_cell(_routes(r.routes))}"
            f" | {_cell(_note(r))} |"
        )
    return "\n".join(out) + "\n"


def log_lines(
    results: Sequence[TestResult], *, heading: str, header: Sequence[str] = ()
) -> list[str]:
    """The plain log: the header as comments, then one line per test
    (`OUTCOME ids seconds via ROUTES nodeid[: message]`)."""
    lines = [f"# {heading}", *(f"# {line}" for line in header)]
    ordered = sorted(results, key=lambda r: (spec_order(r.ids[0]) if r.ids else (0, ""), r.nodeid))
    for r in ordered:
        line = (
            f"{r.outcome.value.upper():<7} {','.join(r.ids)} {r.seconds:.1f}s "
            f"via {_routes(r.routes)} {r.nodeid}"
        )
        if r.message:
            line += f": {one_line(r.message, 500)}"
        lines.append(line)
    return lines


def junit_xml(rows: Sequence[Row], *, suite: str = _SUITE) -> str:
    """The matrix as JUnit XML: one testcase per id (not-run ids are skipped)."""
    count = totals(rows)
    root = ET.Element("testsuites")
    tsuite = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(rows)),
        failures=str(count[Status.FAIL]),
        errors="0",
        skipped=str(count[Status.SKIP] + count[Status.NOT_RUN]),
        time=f"{sum(r.seconds for r in rows):.3f}",
    )
    for r in rows:
        case = ET.SubElement(
            tsuite, "testcase", classname=suite, name=r.id, time=f"{r.seconds:.3f}"
        )
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", name="title", value=r.title)
        ET.SubElement(props, "property", name="result", value=r.status.value)
        for nodeid in r.tests:
            ET.SubElement(props, "property", name="test", value=nodeid)
        if r.status is Status.FAIL:
            failure = ET.SubElement(case, "failure", message=one_line(r.failures[0], 500))
            failure.text = "\n".join(r.failures)
        elif r.status in (Status.SKIP, Status.NOT_RUN):
            reason = "; ".join(r.reasons) if r.reasons else "not run"
            ET.SubElement(case, "skipped", message=one_line(reason, 500))
        elif r.status is Status.PARTIAL:
            out = ET.SubElement(case, "system-out")
            out.text = "partially skipped: " + "; ".join(r.reasons)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
