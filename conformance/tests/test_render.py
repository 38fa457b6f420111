"""The matrix renders as terminal lines, Markdown and JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from conformance import render
from conformance.ids import SPEC_IDS
from conformance.matrix import Ledger, PhaseReport, Row, build_matrix

pytestmark = pytest.mark.unit


def rows() -> list[Row]:
    ledger = Ledger()
    ledger.add(PhaseReport("t::a", ("CIP-1",), "call", "passed", 2.0))
    ledger.add(PhaseReport("t::b", ("CIP-2",), "call", "failed", 1.0, "assert 1 == 2"))
    ledger.add(PhaseReport("t::c", ("LB-1",), "setup", "skipped", 0.1, "no LB | provider"))
    return build_matrix(ledger.results())


def test_text_has_one_line_per_id_and_totals() -> None:
    lines = render.text_lines(rows())
    assert len(lines) == len(SPEC_IDS) + 2
    lb = next(line for line in lines if line.startswith("LB-1 "))
    assert "skip" in lb
    assert "no LB | provider" in lb
    assert lines[-1].startswith("1 pass, 1 fail, 1 skip, 0 partial")


def test_markdown_escapes_pipes_and_lists_every_id() -> None:
    text = render.markdown(rows(), heading="conformance")
    table = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert [line.split(" | ")[0].removeprefix("| ") for line in table[1:]] == list(SPEC_IDS)
    assert "no LB \\| provider" in text


def test_junit_counts_and_elements() -> None:
    root = ET.fromstring(render.junit_xml(rows()))
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("tests") == str(len(SPEC_IDS))
    assert suite.get("failures") == "1"
    assert suite.get("skipped") == str(len(SPEC_IDS) - 2)
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert list(cases) == list(SPEC_IDS)
    failure = cases["CIP-2"].find("failure")
    assert failure is not None
    assert "assert 1 == 2" in (failure.get("message") or "")
    skipped = cases["LB-1"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "no LB | provider"
    not_run = cases["HL-1"].find("skipped")
    assert not_run is not None
    assert not_run.get("message") == "not run"
    assert cases["CIP-1"].find("failure") is None
    assert cases["CIP-1"].find("skipped") is None


def routed_ledger() -> Ledger:
    ledger = Ledger()
    ledger.add(PhaseReport("t::np1", ("NP-1",), "call", "passed", 3.0, routes=("pod:b",)))
    ledger.add(
        PhaseReport("t::np1", ("NP-1",), "teardown", "passed", 0.5, routes=("pod:a", "pod:b"))
    )
    ledger.add(PhaseReport("t::cip", ("CIP-1",), "call", "passed", 1.0))
    ledger.add(
        PhaseReport(
            "t::lb", ("LB-1",), "call", "failed", 120.0, "missing ingress: Service x/y", ("runner",)
        )
    )
    return ledger


def test_markdown_opens_with_the_header_and_shows_each_ids_probe_routes() -> None:
    text = render.markdown(
        build_matrix(routed_ledger().results()),
        heading="conformance",
        header=["nodes: 3 ready (2 schedulable)", "kube-proxy mode: a | b"],
    )
    lines = text.splitlines()
    assert lines[:6] == [
        "# conformance",
        "",
        "## The cluster",
        "",
        "- nodes: 3 ready (2 schedulable)",
        "- kube-proxy mode: a \\| b",
    ]
    assert lines.index("## The matrix") < next(
        i for i, line in enumerate(lines) if line.startswith("| id |")
    )
    np1 = next(line for line in lines if line.startswith("| NP-1 |"))
    assert "| pod:b, pod:a |" in np1
    cip1 = next(line for line in lines if line.startswith("| CIP-1 |"))
    assert "| - |" in cip1


def test_the_plain_log_has_one_line_per_test_in_spec_order() -> None:
    lines = render.log_lines(
        routed_ledger().results(), heading="conformance", header=["nodes: 3 ready"]
    )
    assert lines == [
        "# conformance",
        "# nodes: 3 ready",
        "PASSED  CIP-1 1.0s via - t::cip",
        "PASSED  NP-1 3.5s via pod:b, pod:a t::np1",
        "FAILED  LB-1 120.0s via runner t::lb: call: missing ingress: Service x/y",
    ]
