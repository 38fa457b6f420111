"""lbctl and nodeproxy as processes (their console scripts), and what their logs report.

Guarantees:
- a `Program` runs in its own session, dies with the test process
  (PR_SET_PDEATHSIG) and writes everything to one log file; `stop()` sends
  SIGTERM and returns the exit code, killing the group if it does not exit;
  `close()` (the fixtures call it) leaves nothing running;
- `forbidden(text, verb, resource)` finds a log record that reports a 403 for
  exactly that verb and resource: the apiserver's message ("... is forbidden:
  User ... cannot VERB resource "RESOURCE" ..."), whether it came through
  lbcommon.kube.errors ("<verb> <resource>: forbidden: ...") or raw from an
  informer (the client's ApiException, its body JSON-escaped);
- `never(what, probe)` polls for `GRACE` seconds and fails as soon as the
  behaviour a scenario took away happens after all.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from localcluster.processes import DIE_WITH_PARENT
from tests.kubehelpers import wait_for

REPO = Path(__file__).resolve().parents[3]
LBCTL = REPO / ".venv" / "bin" / "lbctl"
NODEPROXY = REPO / ".venv" / "bin" / "nodeproxy"

#: a log record starts with the date lbcommon.logs puts first
_RECORD = re.compile(r"^(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", re.MULTILINE)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def records(text: str) -> list[str]:
    """The log's records (a traceback or a multi-line message stays with its record)."""
    return [r for r in _RECORD.split(text.replace('\\"', '"')) if r.strip()]


def forbidden(text: str, verb: str, resource: str) -> str | None:
    """The first record reporting that `verb` on `resource` was forbidden, if any."""
    denial = f'cannot {verb} resource "{resource}"'
    for record in records(text):
        if "forbidden" in record and denial in record:
            return record
    return None


def any_forbidden(text: str) -> list[str]:
    return [r for r in records(text) if "forbidden" in r.lower()]


class Program:
    """One lbctl or nodeproxy process and its log."""

    def __init__(self, name: str, argv: Sequence[str], *, log: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        self.metrics_port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Program:
        with self.log.open("ab") as out:
            self._proc = subprocess.Popen(
                [*DIE_WITH_PARENT, *self.argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, what: str, pattern: str, *, timeout: float = 20) -> str:
        """Wait for a log record matching the regular expression `pattern`."""
        found = re.compile(pattern)

        def probe() -> str | None:
            self._check_running()
            return next((r for r in records(self.text()) if found.search(r)), None)

        return self._wait(what, probe, timeout)

    def wait_forbidden(self, verb: str, resource: str, *, timeout: float = 20) -> str:
        """Wait for the log to report `verb` on `resource` as forbidden; return the record."""

        def probe() -> str | None:
            self._check_running()
            return forbidden(self.text(), verb, resource)

        return self._wait(f"a forbidden {verb} {resource} in the log", probe, timeout)

    def _wait(self, what: str, probe: object, timeout: float) -> str:
        assert callable(probe)
        try:
            result: str = wait_for(f"{self.name}: {what}", probe, timeout=timeout)
        except AssertionError as err:
            raise AssertionError(f"{err}\n--- {self.name} log ---\n{self.text()[-4000:]}") from None
        return result

    def _check_running(self) -> None:
        if not self.running:
            code = self._proc.returncode if self._proc else None
            raise AssertionError(f"{self.name} exited ({code}):\n{self.text()[-4000:]}")

    def metric(self, path: str = "/metrics") -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.metrics_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return int(response.status), str(response.read().decode())
        except urllib.error.HTTPError as err:
            return int(err.code), ""
        except OSError:
            return 0, ""

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM; the exit code (the group is killed after `timeout`, then -9)."""
        proc = self._proc
        assert proc is not None, f"{self.name} was not started"
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return self.close()

    def close(self) -> int:
        """Make sure nothing of it runs any more; idempotent."""
        proc = self._proc
        if proc is None:
            return 0
        # Whatever the leader did, nothing of its group may survive it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        code = proc.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _group_alive(proc.pid):
            time.sleep(0.05)
        return code


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


#: How long a behaviour is given to happen before a test calls it failed. The
#: baselines see every one of them happen well within it after its trigger.
GRACE = 3.0


def never(what: str, probe: Callable[[], object], *, seconds: float = GRACE) -> None:
    """Fail if `probe()` turns truthy within `seconds` (polled, not slept through)."""
    deadline = time.monotonic() + seconds
    while True:
        seen = probe()
        assert not seen, f"{what} happened after all: {seen!r}"
        if time.monotonic() >= deadline:
            return
        time.sleep(0.1)
