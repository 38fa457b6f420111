"""Processes the local adapter starts (lbctl, nodeproxy) and stops by pid.

Guarantees: processes start in their own session (they outlive the pytest
worker that started them, so other xdist workers keep using them) with
their output in a log file; `stop` signals exactly the recorded pid, and
only if its command line still is the one we started (a reused pid is left
alone), waits a bounded time, then kills.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

STOP_TIMEOUT = 10.0

#: Popen objects of the processes this interpreter started: kept so they are
#: neither garbage-collected while running (a ResourceWarning) nor left as zombies.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def start(argv: Sequence[str], log: Path) -> int:
    """Start `argv` detached, output to `log`; return its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    return proc.pid


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[0]


def alive(pid: int, marker: str) -> bool:
    """The pid runs (not a zombie) and its command line contains `marker`."""
    return marker in _cmdline(pid) and _state(pid) not in ("", "Z", "X")


def _reap(pid: int, *, wait: float = 0.0) -> None:
    """Collect the exit status of a child of ours (waiting up to `wait` seconds)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=wait)
            del _CHILDREN[pid]
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop(pid: int, marker: str) -> None:
    """SIGTERM the pid if it is still ours, wait, then SIGKILL; reap our children."""
    if alive(pid, marker):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while alive(pid, marker) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.1)
        if alive(pid, marker):
            os.kill(pid, signal.SIGKILL)
    _reap(pid, wait=STOP_TIMEOUT)
