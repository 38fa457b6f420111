"""Renderings of the result matrix: terminal lines, Markdown and JUnit XML.

Guarantees: pure functions of the rows (and a title line); every spec id
appears once in each rendering, in the rows' order; skip reasons and failure
messages are kept on one line so the table stays a table.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from conformance.matrix import Row, Status, all_skipped, one_line, skip_reasons, totals

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


def markdown(rows: Sequence[Row], *, heading: str) -> str:
    """The matrix as a Markdown document with a one-line summary."""
    out = [
        f"# {heading}",
        "",
        summary_line(rows),
        "",
        "| id | behaviour | result | pass | fail | skip | seconds | skip reason / failure |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        out.append(
            f"| {r.id} | {_cell(r.title)} | {r.status.value} | {r.passed} | {r.failed}"
            f" | {r.skipped} | {r.seconds:.1f} | {_cell(_note(r))} |"
        )
    return "\n".join(out) + "\n"


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
