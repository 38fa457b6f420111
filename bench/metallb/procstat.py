"""CPU seconds and peak memory of processes, from /proc, and where lbctl's run.

Guarantees:
- `Usage` over a window is exact for the process: CPU is utime+stime plus the
  children it has waited for (cutime+cstime; nodeproxy's `nft` runs count),
  in clock ticks from /proc/<pid>/stat; peak memory is the kernel's VmHWM
  after the window, reset at its start by writing 5 to /proc/<pid>/clear_refs,
  so it is the peak resident set during the window, not since start;
- a process that exits inside the window (restarted by kubelet, OOM-killed)
  is followed to its successor and counted (`Usage.restarts`), not hidden;
- lbctl and nodeproxy run as pods in the cluster's nodes: they are found by
  their command line in the host's /proc (one pid namespace per container is
  still visible from the host), a nodeproxy's node by its network namespace
  (hostNetwork: the node's), lbctl's leader by its pod name (HOSTNAME).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK")


class ProcessGoneError(RuntimeError):
    """A measured process exited during the window."""


def cpu_ticks(pid: int) -> int:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError as err:
        raise ProcessGoneError(f"pid {pid}: {err}") from None
    fields = stat.rsplit(")", 1)[1].split()
    # after the command: state(0) ... utime(11) stime(12) cutime(13) cstime(14)
    return sum(int(fields[i]) for i in (11, 12, 13, 14))


def _status_kib(pid: int, key: str) -> int:
    try:
        text = (PROC / str(pid) / "status").read_text()
    except OSError as err:
        raise ProcessGoneError(f"pid {pid}: {err}") from None
    for line in text.splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


def reset_peak(pid: int) -> None:
    try:
        (PROC / str(pid) / "clear_refs").write_text("5")
    except OSError as err:
        raise ProcessGoneError(f"pid {pid}: {err}") from None


@dataclass(frozen=True)
class Usage:
    """What one process used during a window."""

    cpu_seconds: float
    peak_mib: float
    restarts: int = 0


@dataclass
class _Tracked:
    pid: int
    #: CPU ticks of this pid when it was first seen in the window (0 for a replacement)
    base: int
    last: int
    #: ticks of earlier pids under this name that died in the window
    done: int = 0
    peak_kib: int = 0
    restarts: int = 0


class Window:
    """Measure named processes from `start()` to `stop()`, through restarts.

    A sampler thread reads every process twice a second. When one exits (a
    liveness-probe restart, an OOM kill), the ticks it used up to its last
    sample are kept, `find(name)` names its successor, and that one counts
    from its birth; `Usage.restarts` says how often it happened. CPU lost
    between a process's last sample and its death is at most half a second's.
    """

    def __init__(self, pids: dict[str, int], find: Callable[[str], int | None]) -> None:
        self._tracked = {name: _Tracked(pid, 0, 0) for name, pid in pids.items()}
        self._find = find
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_loop, daemon=True, name="procstat")

    def start(self) -> None:
        for tracked in self._tracked.values():
            reset_peak(tracked.pid)
            tracked.base = tracked.last = cpu_ticks(tracked.pid)
        self._thread.start()

    def _sample(self, name: str, tracked: _Tracked) -> None:
        try:
            tracked.last = cpu_ticks(tracked.pid)
            tracked.peak_kib = max(tracked.peak_kib, _status_kib(tracked.pid, "VmHWM"))
        except ProcessGoneError:
            successor = self._find(name)
            if successor is None or successor == tracked.pid:
                return
            tracked.done += tracked.last - tracked.base
            tracked.pid, tracked.base, tracked.last = successor, 0, 0
            tracked.restarts += 1
            self._sample(name, tracked)

    def _sample_loop(self) -> None:
        while not self._stop.wait(0.5):
            for name, tracked in self._tracked.items():
                self._sample(name, tracked)

    def stop(self) -> dict[str, Usage]:
        self._stop.set()
        self._thread.join()
        for name, tracked in self._tracked.items():
            self._sample(name, tracked)
        return {
            name: Usage(
                cpu_seconds=(t.done + t.last - t.base) / TICKS,
                peak_mib=t.peak_kib / 1024,
                restarts=t.restarts,
            )
            for name, t in self._tracked.items()
        }


def _cmdline(pid: str) -> list[str]:
    try:
        raw = (PROC / pid / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _environ(pid: str) -> dict[str, str]:
    try:
        raw = (PROC / pid / "environ").read_bytes()
    except OSError:
        return {}
    pairs = (part.decode(errors="replace").partition("=") for part in raw.split(b"\0") if part)
    return {key: value for key, _, value in pairs}


def _net_inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def _runs(argv: list[str], program: str) -> bool:
    """Whether `argv` is `program` itself (its script or binary), not a wrapper naming it."""
    if not argv or Path(argv[0]).name in {"nsenter", "sh", "bash", "pgrep", "grep"}:
        return False
    return any(Path(part).name == program for part in argv[:2])


def find_nodeproxy(nodes: list[str]) -> dict[str, int]:
    """node name -> pid of the nodeproxy whose network namespace is that node's."""
    wanted = {_net_inode(Path("/run/netns") / node): node for node in nodes}
    found: dict[str, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or not _runs(_cmdline(entry.name), "nodeproxy"):
            continue
        node = wanted.get(_net_inode(entry / "ns" / "net"))
        if node is not None:
            found[node] = int(entry.name)
    return found


def find_lbctl(pod_name: str) -> int | None:
    """The pid of lbctl's `run` in the pod `pod_name` (its HOSTNAME)."""
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        argv = _cmdline(entry.name)
        if (
            _runs(argv, "lbctl")
            and "run" in argv
            and _environ(entry.name).get("HOSTNAME") == pod_name
        ):
            return int(entry.name)
    return None
