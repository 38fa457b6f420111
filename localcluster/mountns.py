"""A persistent mount namespace per node, shared by its containerd and kubelet.

Why: the kubelet mounts pod volumes that containerd must see, so both run in
one mount namespace; giving each node its own (a slave of the root one)
means
- every mount a node makes (volumes, overlay rootfs, netns handles, shm)
  disappears with the namespace, so teardown cannot leak a mount;
- paths that upstream hard-codes (/run/containerd for shim sockets,
  /var/log/containers, /var/lib/cni, the kubelet's device-plugin socket
  directory) are bind-mounted per node, so nodes do not share or fight over
  them;
- the host-wide kernel tunables the kubelet insists on writing
  (vm.overcommit_memory, kernel.panic, ...) are shadowed by per-node files:
  a local cluster must not change how the host kernel behaves.

Guarantees: `create` is idempotent and `destroy` removes the handle and its
private parent mount; processes enter with `enter_argv`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

#: Host-wide sysctls the kubelet sets (pkg/kubelet/cm setupKernelTunables),
#: with the value it wants: each node gets a file holding that value instead.
KUBELET_TUNABLES = {
    "vm/overcommit_memory": "1",
    "vm/panic_on_oom": "0",
    "kernel/panic": "10",
    "kernel/panic_on_oops": "1",
    "kernel/keys/root_maxkeys": "1000000",
    "kernel/keys/root_maxbytes": "25000000",
}

#: Host paths that upstream components hard-code, shadowed per node.
#: /var/lib/kubelet/device-plugins ignores --root-dir (pluginapi.DevicePluginPath):
#: each kubelet empties it and then binds kubelet.sock there, so kubelets
#: starting together on one directory race, and the loser exits with
#: "bind: address already in use".
SHADOWED_DIRS = (
    "/run/containerd",
    "/var/log/containers",
    "/var/lib/cni",
    "/var/lib/kubelet/device-plugins",
)


class MountError(RuntimeError):
    """A mount command failed; the message has its stderr."""


def _run(argv: Sequence[str]) -> None:
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise MountError(f"{' '.join(argv)}: {proc.stderr.strip()}")


def is_mountpoint(path: Path) -> bool:
    target = str(path.resolve()) if path.exists() else str(path)
    with open("/proc/self/mountinfo") as mountinfo:
        return any(line.split()[4] == target for line in mountinfo)


def _private_dir(directory: Path) -> None:
    """Make `directory` a private mount: nsfs handles may only live on one."""
    directory.mkdir(parents=True, exist_ok=True)
    if not is_mountpoint(directory):
        _run(["mount", "--bind", str(directory), str(directory)])
    _run(["mount", "--make-private", str(directory)])


def enter_argv(handle: Path, netns_path: Path, argv: Sequence[str]) -> list[str]:
    """Wrap `argv` to run in the node's network and mount namespaces."""
    return ["nsenter", f"--net={netns_path}", f"--mount={handle}", "--", *argv]


def create(handle: Path, node_dir: Path) -> None:
    """Create the node's mount namespace at `handle` and set up its shadows."""
    if is_mountpoint(handle):
        return
    _private_dir(handle.parent)
    handle.touch()
    _run(["unshare", f"--mount={handle}", "--propagation", "slave", "true"])
    shadows = node_dir / "shadow"
    script = []
    for relative, value in KUBELET_TUNABLES.items():
        fake = shadows / "sysctl" / relative.replace("/", "_")
        fake.parent.mkdir(parents=True, exist_ok=True)
        fake.write_text(f"{value}\n")
        script.append(f"mount --bind {fake} /proc/sys/{relative}")
    for host_dir in SHADOWED_DIRS:
        own = shadows / host_dir.strip("/").replace("/", "_")
        own.mkdir(parents=True, exist_ok=True)
        # The mount point must exist on the host; an empty directory is all
        # that remains there after teardown (and only if it was missing).
        Path(host_dir).mkdir(parents=True, exist_ok=True)
        script.append(f"mount --bind {own} {host_dir}")
    _run(["nsenter", f"--mount={handle}", "--", "sh", "-ec", "; ".join(script)])


def destroy(handle: Path) -> None:
    """Drop the namespace handle (the namespace dies with its last process)."""
    if is_mountpoint(handle):
        subprocess.run(["umount", "-l", str(handle)], capture_output=True, check=False)
    handle.unlink(missing_ok=True)


def release_parent(directory: Path) -> None:
    """Unmount the private bind of the handles' directory, if no handle is left."""
    if directory.is_dir() and not any(directory.iterdir()) and is_mountpoint(directory):
        subprocess.run(["umount", "-l", str(directory)], capture_output=True, check=False)
