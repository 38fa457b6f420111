"""cgroup v1 subtrees for the local cluster's kubelets.

Guarantees:
- the cluster's cgroups nest under the memory cgroup this process runs in
  (on a host that confines us with a memory cgroup, pods stay inside it),
  at the same path in every v1 hierarchy, because a kubelet's `cgroupRoot`
  names one path for all of them;
- `ensure` creates missing levels only, initialising cpuset levels from their
  parent (a v1 cpuset child starts empty and would reject every task), and
  reports what it created so teardown removes exactly that;
- `kill_and_remove` SIGKILLs every task below a path and removes the
  directories bottom-up; idempotent.

Machine fact (DESIGN.md): cgroup v1 controllers are mounted, cgroup2 is
mounted with no controllers, so only the v1 hierarchies matter.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_MOUNT = Path("/sys/fs/cgroup")


def hierarchies() -> list[Path]:
    """Mount points of every hierarchy: v1 (cpu, memory, ..., name=systemd) and cgroup2.

    runc also creates the container's cgroup in the (controller-less) cgroup2
    hierarchy of a hybrid host, so the cluster's path is created there too and
    removed with the rest.
    """
    found = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype in ("cgroup", "cgroup2"):
                found.append(Path(fields[4]))
    return sorted(found)


def own_memory_cgroup() -> str:
    """The memory cgroup path this process runs in ("/" when unconfined)."""
    with open("/proc/self/cgroup") as cgroup:
        for line in cgroup:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if "memory" in controllers.split(","):
                return path or "/"
    return "/"


def cluster_root(name: str = "lbctl") -> str:
    """The cgroup path under which every node's cgroups go."""
    return f"{own_memory_cgroup().rstrip('/')}/{name}"


def _init_cpuset(directory: Path) -> None:
    for knob in ("cpuset.cpus", "cpuset.mems"):
        target = directory / knob
        if target.exists() and not target.read_text().strip():
            target.write_text((directory.parent / knob).read_text())


def ensure(path: str) -> list[str]:
    """Create `path` in every hierarchy; return the directories created (top-down)."""
    created: list[str] = []
    for hierarchy in hierarchies():
        current = hierarchy
        for part in [p for p in path.split("/") if p]:
            current = current / part
            if not current.is_dir():
                current.mkdir()
                created.append(str(current))
            if (current / "cpuset.cpus").exists():
                _init_cpuset(current)
    return created


def _walk_bottom_up(top: Path) -> Iterator[Path]:
    if not top.is_dir():
        return
    for dirpath, _, _ in sorted(os.walk(top), key=lambda entry: -entry[0].count("/")):
        yield Path(dirpath)


def tasks_below(path: str) -> set[int]:
    """Every pid in `path` or below, in any hierarchy."""
    pids: set[int] = set()
    for hierarchy in hierarchies():
        for directory in _walk_bottom_up(hierarchy / path.lstrip("/")):
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in (directory / "cgroup.procs").read_text().split())
    return pids


def kill_and_remove(path: str, *, created: list[str] | None = None, timeout: float = 20) -> None:
    """SIGKILL all tasks below `path`, then remove its directories bottom-up.

    `created` (from `ensure`) names parents to remove as well, deepest first,
    when they are empty.
    """
    deadline = time.monotonic() + timeout
    while pids := tasks_below(path):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            log.warning("tasks survive in cgroup %s: %s", path, sorted(pids))
            break
        time.sleep(0.1)
    for hierarchy in hierarchies():
        for directory in _walk_bottom_up(hierarchy / path.lstrip("/")):
            _rmdir(directory)
    for parent in reversed(created or []):
        _rmdir(Path(parent))


def _rmdir(directory: Path) -> None:
    for _ in range(50):
        try:
            directory.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            # A dying task still counts for a moment after SIGKILL.
            time.sleep(0.1)
    log.warning("could not remove cgroup %s", directory)
