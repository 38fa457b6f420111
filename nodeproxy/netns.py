"""Doing network I/O in a named network namespace (`ip netns`), or in our own.

nodeproxy normally runs in the node's namespace (hostNetwork) and passes
`netns=None` everywhere. With `--netns NAME` (a node of the local cluster,
or a test) it talks to the Kubernetes API from where it was started while
its data plane lives in NAME: commands are wrapped in `ip netns exec` and
sockets are created inside NAME.

Guarantee: `entered` switches only the calling thread and always switches
it back, also when the body raises; a socket keeps the namespace it was
created in, so it can be used after the block.
"""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextmanager
def entered(name: str | None) -> Iterator[None]:
    """Run the body with the calling thread in namespace `name` (None: stay)."""
    if name is None:
        yield
        return
    with open("/proc/thread-self/ns/net", "rb") as home, open(f"/run/netns/{name}", "rb") as ns:
        _setns(ns.fileno())
        try:
            yield
        finally:
            _setns(home.fileno())


def make_socket(name: str | None, family: int, kind: int, proto: int = 0) -> socket.socket:
    """A socket living in namespace `name`."""
    with entered(name):
        return socket.socket(family, kind, proto)


def command(name: str | None, argv: Sequence[str]) -> list[str]:
    return ["ip", "netns", "exec", name, *argv] if name else list(argv)


def run(
    name: str | None,
    argv: Sequence[str],
    *,
    stdin: str | None = None,
    timeout: float = 30.0,
) -> str:
    """Run a command in namespace `name`; return stdout, raise CalledProcessError on failure."""
    done = subprocess.run(
        command(name, argv),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, done.args, done.stdout, done.stderr)
    return done.stdout
