"""Whether a process recorded by pid still runs (the local adapter's share file
and the local cluster's record hold pids)."""

from __future__ import annotations

from pathlib import Path


def alive(pid: int) -> bool:
    """The pid runs and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
