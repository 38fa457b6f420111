"""Remove everything a local cluster made, whether it stopped cleanly or not.

Guarantees (each step idempotent, each runs even when an earlier one failed):
1. every process whose command line names the state directory (etcd,
   kube-apiserver, kube-controller-manager, kube-scheduler, containerd and its
   shims, kubelet, kube-proxy: all take a path below it) is killed, and so is
   every task in the cluster's cgroup subtree (the containers);
2. the cgroups the cluster created are removed;
3. every mount below the state directory is unmounted (the per-node mount
   namespaces take their own mounts with them);
4. every `lbctl-*` network namespace is deleted (its veth, routes and the
   kube-proxy rules inside go with it) and so is the `lbk0` bridge (with the
   pod routes through it);
5. the state directory is removed.
The root namespace's safety route stays: it only ever blocks traffic.

Nothing is matched by process name: only by the state directory path or by
cgroup membership, so unrelated processes on the machine are never touched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from localcluster import cgroups, mountns, netns

log = logging.getLogger(__name__)

NETNS_PREFIX = "lbctl-"


def _ancestors() -> set[int]:
    pids = set()
    pid = os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return pids


def processes_using(state_dir: Path) -> dict[int, str]:
    """Processes (pid -> command line) whose arguments name `state_dir`."""
    needle = str(state_dir).encode()
    mine = _ancestors()
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
    return found


def kill_processes(state_dir: Path, *, grace: float = 5.0) -> None:
    """SIGTERM the cluster's daemons, then SIGKILL whatever is left."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        pids = processes_using(state_dir)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and processes_using(state_dir):
            time.sleep(0.1)
    left = processes_using(state_dir)
    if left:
        log.warning("processes survive teardown: %s", left)


def mounts_below(directory: Path) -> list[str]:
    """Mount points at or below `directory` in this mount namespace, deepest first."""
    prefix = str(directory)
    points = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            point = line.split()[4]
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    return sorted(set(points), key=lambda p: (-p.count("/"), p))


def unmount_below(directory: Path) -> None:
    for _ in range(5):
        points = mounts_below(directory)
        if not points:
            return
        for point in points:
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def delete_network() -> None:
    for name in netns.list_netns(NETNS_PREFIX):
        netns.delete_netns(name)
    netns.delete_bridge()


def teardown(state_dir: Path, *, cgroup_root: str, cgroups_created: list[str]) -> None:
    """Run every step; a failing step is logged and the others still run."""
    steps: list[tuple[str, Callable[[], object]]] = [
        ("processes", lambda: kill_processes(state_dir)),
        (
            "cgroups",
            lambda: cgroups.kill_and_remove(cgroup_root, created=cgroups_created),
        ),
        ("processes again", lambda: kill_processes(state_dir, grace=0)),
        ("mount namespaces", lambda: _drop_mount_namespaces(state_dir)),
        ("mounts", lambda: unmount_below(state_dir)),
        ("network", delete_network),
        ("files", lambda: shutil.rmtree(state_dir, ignore_errors=True)),
    ]
    for name, step in steps:
        try:
            step()
        except Exception:
            log.exception("teardown step %s failed", name)


def _drop_mount_namespaces(state_dir: Path) -> None:
    handles = state_dir / "mnt"
    if handles.is_dir():
        for handle in handles.iterdir():
            mountns.destroy(handle)
        mountns.release_parent(handles)
