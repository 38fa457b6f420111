"""Where a local cluster keeps its state, and the record `down`/`status` read.

Guarantees:
- one local cluster per machine (the bridge name and the address plan are
  fixed): its directory is $LBCTL_STATE_DIR, else /var/lib/lbctl (on disk,
  not tmpfs: containerd unpacks images there and the kubelet measures that
  file system for disk pressure), with a short path because unix socket
  paths below it are limited to 108 bytes;
- the record is written before the first thing is created and updated as
  things start, atomically (write + rename), so a crash at any point leaves
  enough to clean up; teardown also works with no record at all;
- `lock()` serialises `up` and `down` across processes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from localcluster.filelock import file_lock

DEFAULT_STATE_DIR = Path("/var/lib/lbctl")
LOCK_PATH = Path("/run/lbctl.lock")


def state_dir() -> Path:
    return Path(os.environ.get("LBCTL_STATE_DIR", DEFAULT_STATE_DIR))


@dataclass
class NodeRecord:
    name: str
    address: str
    control_plane: bool
    pod_cidr: str = ""


@dataclass
class ClusterRecord:
    """What `localcluster status/down` need to know about a running cluster."""

    version: str
    kubeconfig: str
    apiserver: str
    cgroup_root: str
    cgroups_created: list[str] = field(default_factory=list)
    nodes: list[NodeRecord] = field(default_factory=list)
    pids: dict[str, int] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    ready: bool = False
    #: the Python process whose cluster this is (0: detached, `localcluster up`)
    owner_pid: int = 0

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        partial = directory / "cluster.json.partial"
        partial.write_text(json.dumps(asdict(self), indent=2))
        partial.rename(directory / "cluster.json")

    @classmethod
    def load(cls, directory: Path) -> ClusterRecord | None:
        try:
            data = json.loads((directory / "cluster.json").read_text())
        except (OSError, ValueError):
            return None
        nodes = [NodeRecord(**n) for n in data.pop("nodes", [])]
        return cls(**data, nodes=nodes)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def busy_reason(directory: Path) -> tuple[str, bool] | None:
    """Why a new cluster may not replace the recorded one now, and whether to wait.

    A recorded cluster whose processes are gone is a crashed leftover (None:
    `up` cleans it). A live one started by another Python process that is
    still alive is in use: wait for it. A live detached one (the CLI's) is
    the user's: never replaced silently.
    """
    record = ClusterRecord.load(directory)
    if record is None or not any(pid_alive(pid) for pid in record.pids.values()):
        return None
    if record.owner_pid and record.owner_pid != os.getpid():
        if pid_alive(record.owner_pid):
            return (f"the local cluster is in use by process {record.owner_pid}", True)
        return None
    if not record.owner_pid:
        return (
            "a local cluster started by `localcluster up` is running (`localcluster down` first)",
            False,
        )
    return None


@contextmanager
def lock() -> Iterator[None]:
    """Hold the machine-wide local-cluster lock."""
    with file_lock(LOCK_PATH):
        yield
