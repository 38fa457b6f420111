"""The CLI: bad flags are one line on stderr and exit code 2."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest

from lbctl import __version__
from lbctl.cli import main

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """main() configures the root logger for a process; undo it for the next test.

    Its handler would otherwise keep writing to this test's captured stderr
    after pytest closed it.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["run", "--provider", "azure"], "--provider must be one of local, gce, aws"),
        (["run", "--pool", "198.18.0.250-198.18.0.200"], "--pool"),
        (["run", "--pool", "10.0.0.1/24"], "--pool"),
        (["run", "--workers", "zero"], "--workers must be a whole number"),
        (["run", "--workers", "0"], "--workers must be at least 1"),
        (["run", "--resync-period", "-5"], "--resync-period must be positive"),
        (["run", "--metrics-addr", "nowhere"], "--metrics-addr must be HOST:PORT"),
        (["run", "--load-balancer-class", "plain"], "--load-balancer-class must be"),
        (["run", "--provider", "gce"], "--gce-project and --gce-region"),
        (["plan", "--provider", "aws"], "--aws-region"),
    ],
    ids=lambda v: v if isinstance(v, str) else "-".join(v)[:40],
)
def test_bad_flags_exit_2_with_one_line(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err
    assert err.count("\n") == 1
    assert err.startswith("lbctl: ")


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["launch"])
    assert raised.value.code == 2


def test_env_fallback(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LBCTL_WORKERS", "-1")
    assert main(["run"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out == f"lbctl {__version__}\n"


def test_the_controller_does_not_load_the_local_cluster() -> None:
    """Installing or imaging the controller must not need the cluster code."""
    code = (
        "import sys; import lbctl.cli, lbctl.app, nodeproxy.cli; "
        "sys.exit(any(m.split('.')[0] in ('localcluster', 'conformance') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_missing_kubeconfig_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--kubeconfig", "/nonexistent/kubeconfig"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lbctl: --kubeconfig /nonexistent/kubeconfig")
    assert err.count("\n") == 1
