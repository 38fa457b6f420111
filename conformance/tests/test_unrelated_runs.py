"""The plugin adds nothing to pytest runs that are not the conformance suite.

The `pytest11` entry point loads the plugin into every pytest run of an
environment it is installed in (the project's own unit tests, any other
project's). Each test here runs the same unrelated test file in a fresh
pytest process twice, once with the plugin loaded through its entry point and
once with it blocked (`-p no:lbctl-conformance`), and requires the two runs to
be indistinguishable: exit status, output, JUnit XML, fixtures, files left
behind. Its only visible trace is its `--conformance-*` flags in `--help`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from conformance.plugin import PROPERTY

pytestmark = pytest.mark.integration

PLUGIN = "lbctl-conformance"
RUN_TIMEOUT = 120

UNRELATED = """
import pytest

@pytest.fixture
def value():
    return 3

def test_pass(value):
    assert value == 3

def test_skip():
    pytest.skip("not today")

@pytest.mark.xfail(reason="known", strict=True)
def test_xfail():
    assert False

def test_fail():
    assert 1 == 2

def test_no_properties(request):
    assert request.node.user_properties == []
"""

ALL_SKIPPED = """
import pytest

def test_one():
    pytest.skip("not here")

@pytest.mark.skip(reason="not there")
def test_two():
    pass
"""


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    files: frozenset[str]


def _env() -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "LBCTL_CONFORMANCE_"))
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("KUBECONFIG", None)
    return env


def _files(root: Path) -> frozenset[str]:
    return frozenset(str(p.relative_to(root)) for p in root.rglob("*"))


def run(work: Path, *args: str, plugin: bool) -> Run:
    """One pytest process in `work` (which holds only the test file), with or
    without the plugin; the files it leaves are compared against the start."""
    before = _files(work)
    blocked = () if plugin else ("-p", f"no:{PLUGIN}")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *blocked, *args],
        cwd=work,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    return Run(proc.returncode, proc.stdout + proc.stderr, _files(work) - before)


def _normalised(out: str, *paths: Path) -> list[str]:
    """Output lines without what differs between any two runs (durations, the
    `paths` each run was given) and the header line that lists the plugins
    loaded from entry points."""
    for path in paths:
        out = out.replace(str(path), "PATH")
    lines = [line for line in out.splitlines() if not line.startswith("plugins:")]
    return [re.sub(r"\d+\.\d+s", "N.NNs", line) for line in lines]


def _plugins_line(out: str) -> str:
    return next((line for line in out.splitlines() if line.startswith("plugins:")), "")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    directory = tmp_path / "work"
    directory.mkdir()
    return directory


@pytest.mark.parametrize(
    ("source", "code"),
    [
        pytest.param(UNRELATED, pytest.ExitCode.TESTS_FAILED, id="pass-skip-xfail-fail"),
        pytest.param(ALL_SKIPPED, pytest.ExitCode.OK, id="all-skipped-without-ids"),
    ],
)
def test_unrelated_run_is_untouched(
    work: Path, tmp_path: Path, source: str, code: pytest.ExitCode
) -> None:
    (work / "test_unrelated.py").write_text(textwrap.dedent(source))
    xml_with, xml_without = tmp_path / "with.xml", tmp_path / "without.xml"
    with_plugin = run(work, "-rA", f"--junitxml={xml_with}", plugin=True)
    without = run(work, "-rA", f"--junitxml={xml_without}", plugin=False)

    assert PLUGIN in _plugins_line(with_plugin.out), "the entry point did not load the plugin"
    assert PLUGIN not in _plugins_line(without.out)
    assert with_plugin.code == without.code == code, with_plugin.out
    assert _normalised(with_plugin.out, xml_with) == _normalised(without.out, xml_without)
    assert "conformance" not in with_plugin.out.replace(_plugins_line(with_plugin.out), "")
    assert with_plugin.files == without.files == frozenset(), "a run left files behind"
    assert not (work / "reports").exists()
    for xml in (xml_with, xml_without):
        properties = [p.get("name") for p in ET.parse(xml).getroot().iter("property")]
        assert PROPERTY not in properties
        assert properties == []


def test_no_fixtures_are_added(work: Path) -> None:
    (work / "test_unrelated.py").write_text(textwrap.dedent(UNRELATED))
    with_plugin = run(work, "--fixtures", "-v", plugin=True)
    without = run(work, "--fixtures", "-v", plugin=False)
    assert with_plugin.code == without.code == pytest.ExitCode.OK
    assert _normalised(with_plugin.out) == _normalised(without.out)


def _options(help_text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", help_text))


def test_every_flag_is_namespaced(work: Path) -> None:
    with_plugin = run(work, "--help", plugin=True)
    without = run(work, "--help", plugin=False)
    added = _options(with_plugin.out) - _options(without.out)
    assert "--conformance-cluster" in added
    assert "--conformance-kubeconfig" in added
    assert "--conformance-lb-class" in added
    assert sorted(o for o in added if not o.startswith("--conformance-")) == []
