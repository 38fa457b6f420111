"""Supervised child processes that never outlive their owner.

Each child runs in its own session (so a signal reaches its whole process
group), writes to its own log file, and is asked by the kernel to die with
its parent (PR_SET_PDEATHSIG, unless it is meant to outlive us), so even a
`kill -9` of the test runner leaves nothing behind. The death signal follows
the *thread* that started the child: start children from a long-lived
thread. `stop()` sends SIGTERM, waits, then SIGKILLs the group.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

#: util-linux's setpriv sets PR_SET_PDEATHSIG and execs the command: the same
#: effect as a preexec_fn, without running Python between fork and exec
#: (which can deadlock in a process that has threads).
DIE_WITH_PARENT = ("setpriv", "--pdeathsig", "KILL", "--")


class ReadinessTimeoutError(RuntimeError):
    """A process did not become ready in time; the message has its log tail."""


class Supervised:
    """One child process with a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        die_with_parent: bool = True,
    ) -> None:
        self.name = name
        #: the command as given (without the die-with-parent wrapper)
        self.command = list(argv)
        self._die_with_parent = die_with_parent
        self.log_path = log_dir / f"{name}.log"
        self._env = dict(env) if env is not None else None
        self._cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> Supervised:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            wrapper = DIE_WITH_PARENT if self._die_with_parent else ()
            self._proc = subprocess.Popen(
                [*wrapper, *self.command],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self._env,
                cwd=self._cwd,
                start_new_session=True,
            )
        log.info("started %s", self.name, extra={"pid": self._proc.pid})
        return self

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(
        self, probe: Callable[[], bool], *, timeout: float, interval: float = 0.1
    ) -> None:
        """Poll `probe` until it returns true; fail fast if the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise ReadinessTimeoutError(
                    f"{self.name} exited with {self._proc and self._proc.returncode} "
                    f"before it was ready:\n{self.log_tail()}"
                )
            if probe():
                return
            time.sleep(interval)
        raise ReadinessTimeoutError(
            f"{self.name} not ready after {timeout:.0f}s:\n{self.log_tail()}"
        )

    def stop(self, grace: float = 10.0) -> None:
        """Terminate the process group; idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                log.warning("%s ignored SIGTERM for %.0fs; killing it", self.name, grace)
        # Whatever the leader did, nothing of its group may survive it.
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
