"""One column per provider, from each run's conformance.xml."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance import columns, render
from conformance.matrix import Outcome, TestResult, build_matrix

pytestmark = pytest.mark.unit


def _xml(**outcomes: tuple[Outcome, str]) -> str:
    results = [
        TestResult(f"t::{id_}", (id_.replace("_", "-"),), outcome, 1.0, message)
        for id_, (outcome, message) in outcomes.items()
    ]
    return render.junit_xml(build_matrix(results))


def test_a_row_per_id_and_a_column_per_provider(tmp_path: Path) -> None:
    local = tmp_path / "local"
    gce = tmp_path / "gce"
    for directory, xml in (
        (local, _xml(LB_1=(Outcome.PASSED, ""), LB_12=(Outcome.PASSED, ""))),
        (gce, _xml(LB_1=(Outcome.FAILED, "no answer"), LB_12=(Outcome.SKIPPED, "refused"))),
    ):
        directory.mkdir()
        (directory / "conformance.xml").write_text(xml)
    out = tmp_path / "matrix.md"
    assert columns.main([f"local={local}", f"gce={gce}", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "| id | behaviour | local | gce |"
    lb1 = next(line for line in lines if line.startswith("| LB-1 |"))
    assert "| pass | fail: " in lb1 and "no answer" in lb1
    lb12 = next(line for line in lines if line.startswith("| LB-12 |"))
    assert "| pass | skip: refused |" in lb12
    cip = next(line for line in lines if line.startswith("| CIP-1 |"))
    assert cip.endswith("| not run | not run |")


def test_a_missing_report_is_a_usage_error(tmp_path: Path) -> None:
    assert columns.main([f"gce={tmp_path}"]) == 2
