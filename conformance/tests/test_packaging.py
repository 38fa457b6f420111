"""The suite works from its wheel alone, with no checkout of lbctl.

The wheel is built offline (`pip wheel --no-deps --no-build-isolation
--no-index`) from a copy of `conformance/`, so the work tree gets no build/ or
egg-info changes. Then:
- it holds every module of the package (the test modules and conftest.py
  included: `pytest --pyargs conformance` collects them from site-packages),
  and every `conformance.*` import of a shipped module resolves inside it;
- outside `conformance`, a shipped module imports at module level only the
  standard library and the declared dependencies; the optional ones
  (`localcluster` for the local cluster, `pytest_kind` for kind) only inside
  the function that needs them;
- its entry point registers `conformance.plugin` under `pytest11`;
- installed into an empty directory, it collects the whole suite with
  pytest while importing lbctl, lbcommon, nodeproxy, localcluster or the
  checkout's tests fails: every module and the plugin come from the wheel.
"""

from __future__ import annotations

import ast
import configparser
import importlib.metadata
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement

pytestmark = pytest.mark.integration

SUITE = Path(__file__).resolve().parents[1]
PACKAGE = "conformance"
PLUGIN_ENTRY = ("pytest11", "lbctl-conformance", "conformance.plugin")
#: packages of the checkout the suite must never need once installed
CHECKOUT_ONLY = ("lbctl", "lbcommon", "nodeproxy", "localcluster", "tests")
#: import names of the distributions the wheel declares
IMPORT_NAMES = {
    "kubernetes": {"kubernetes"},
    "python-dateutil": {"dateutil"},
    "pytest": {"pytest", "_pytest"},
    "pytest-kind": {"pytest_kind"},
}
#: optional: imported only inside the function of the mode that needs them
LAZY = {"localcluster", "pytest_kind"}
TIMEOUT = 300


def _build_requirements_missing() -> str | None:
    """Why this environment cannot build the wheel offline, or None."""
    requires = tomllib.loads((SUITE / "pyproject.toml").read_text())["build-system"]["requires"]
    for text in requires:
        requirement = Requirement(text)
        try:
            version = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            return f"{requirement.name} is not installed (the wheel's build needs {text})"
        if not requirement.specifier.contains(version, prereleases=True):
            return f"{requirement.name} {version} is installed; the wheel's build needs {text}"
    return None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    missing = _build_requirements_missing()
    if missing:
        pytest.skip(f"cannot build offline without build isolation: {missing}")
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    shutil.copytree(
        SUITE,
        source,
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist"),
    )
    out = root / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            "-w",
            str(out),
            str(source),
        ],
        check=True,
        timeout=TIMEOUT,
        env={**os.environ, "PIP_NO_INDEX": "1", "PYTHONDONTWRITEBYTECODE": "1"},
    )
    [built] = out.glob("lbctl_conformance-*.whl")
    yield built


def _names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def _read(wheel: Path, suffix: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(suffix)]
        return archive.read(name).decode()


def _shipped_modules(wheel: Path) -> dict[str, str]:
    """Dotted module name -> source, for every module of the package in the wheel."""
    modules: dict[str, str] = {}
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.startswith(f"{PACKAGE}/") and name.endswith(".py"):
                dotted = name.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
                modules[dotted] = archive.read(name).decode()
    return modules


def _imports(source: str) -> Iterator[tuple[str, bool]]:
    """(imported module, at module level?) for every import statement."""
    tree = ast.parse(source)
    nested = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, id(node) not in nested
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            top = id(node) not in nested
            yield node.module, top
            for alias in node.names:  # `from conformance import render` names a module
                yield f"{node.module}.{alias.name}", top


def test_the_wheel_holds_every_module_of_the_package(wheel: Path) -> None:
    names = _names(wheel)
    expected = {
        f"{PACKAGE}/{path.relative_to(SUITE).as_posix()}"
        for path in SUITE.rglob("*.py")
        if path.relative_to(SUITE).parts[0] not in ("tests", "build")
    }
    assert expected <= names, f"missing from the wheel: {sorted(expected - names)}"
    assert f"{PACKAGE}/conftest.py" in names
    assert f"{PACKAGE}/ids.py" in names  # the spec's ids travel with the package


def test_every_import_of_the_suite_is_shipped_or_declared(wheel: Path) -> None:
    modules = _shipped_modules(wheel)
    metadata = _read(wheel, ".dist-info/METADATA")
    declared: set[str] = set()
    for line in metadata.splitlines():
        if line.startswith("Requires-Dist:"):
            requirement = Requirement(line.removeprefix("Requires-Dist:").strip())
            declared |= IMPORT_NAMES[requirement.name]
    problems: list[str] = []
    for module, source in modules.items():
        for imported, top_level in _imports(source):
            root = imported.split(".")[0]
            if root == PACKAGE:
                exists = imported in modules or imported.rsplit(".", 1)[0] in modules
                if not exists:
                    problems.append(f"{module}: {imported} is not in the wheel")
            elif root in sys.stdlib_module_names or root == "__future__":
                continue
            elif root not in declared | LAZY:
                problems.append(f"{module}: imports {imported}, which the wheel does not declare")
            elif top_level and root in LAZY:
                problems.append(f"{module}: imports optional {imported} at module level")
    assert problems == []


def test_the_entry_point_registers_the_plugin(wheel: Path) -> None:
    parser = configparser.ConfigParser()
    parser.read_string(_read(wheel, ".dist-info/entry_points.txt"))
    group, name, target = PLUGIN_ENTRY
    assert parser.get(group, name) == target


RUNNER = """
import importlib.abc
import sys

import pytest

CHECKOUT_ONLY = {checkout_only!r}
SITE = {site!r}


class NoCheckout(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in CHECKOUT_ONLY:
            raise ImportError(f"{{name}} is part of the checkout, not of the wheel")
        return None


sys.meta_path.insert(0, NoCheckout())
sys.path.insert(0, SITE)
code = pytest.main(["--pyargs", "conformance", "--collect-only", "-q", "-p", "no:cacheprovider"])
leaked = sorted(
    name
    for name, module in sys.modules.items()
    if name.split(".")[0] == "conformance"
    and getattr(module, "__file__", None)
    and not module.__file__.startswith(SITE)
)
print("LEAKED", leaked)
print("PLUGIN", sys.modules["conformance.plugin"].__file__)
sys.exit(code)
"""


def test_the_installed_wheel_collects_the_suite_without_a_checkout(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        timeout=TIMEOUT,
    )
    (tmp_path / "runner.py").write_text(
        textwrap.dedent(RUNNER).format(checkout_only=CHECKOUT_ONLY, site=str(site))
    )
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "runner.py")],
        cwd=work,
        env={**env, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == pytest.ExitCode.OK, out
    assert "LEAKED []" in out
    assert f"PLUGIN {site}/conformance/plugin.py" in out
    collected = {Path(line.split("::")[0]).name for line in out.splitlines() if "::" in line}
    shipped_tests = {path.name for path in SUITE.glob("test_*.py")}
    assert collected == shipped_tests, out
