"""Run a command inside a pod's container and get its exit code and output.

Guarantees: `run` returns within `timeout` seconds plus one websocket read
(it closes the stream and reports exit code None if the command is still
running), uses a fresh ApiClient per call, and never raises for a non-zero
exit: callers decide what an exit code means.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from kubernetes.stream import stream

from conformance.kube import Kube, close_api


@dataclass(frozen=True)
class ExecResult:
    """What one exec came to: exit code (None: still running at the timeout)."""

    code: int | None
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.code == 0


def run(
    kube: Kube,
    namespace: str,
    pod: str,
    argv: Sequence[str],
    *,
    container: str | None = None,
    timeout: float = 30.0,
) -> ExecResult:
    """Run `argv` in `pod` (first container unless named) and wait for it."""
    api = kube.exec_api()
    kwargs = {"container": container} if container else {}
    try:
        ws = stream(
            api.connect_get_namespaced_pod_exec,
            pod,
            namespace,
            command=list(argv),
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
            _preload_content=False,
            **kwargs,
        )
        out: list[str] = []
        err: list[str] = []
        deadline = time.monotonic() + timeout
        while ws.is_open() and time.monotonic() < deadline:
            ws.update(timeout=min(1.0, max(0.05, deadline - time.monotonic())))
            if ws.peek_stdout():
                out.append(ws.read_stdout())
            if ws.peek_stderr():
                err.append(ws.read_stderr())
        still_running = ws.is_open()
        if not still_running:
            out.append(ws.read_stdout())
            err.append(ws.read_stderr())
        code = None if still_running else _returncode(ws)
        ws.close()
        # websocket-client's close() returns early once the server closed the
        # stream, leaving the TLS socket open: shut it down ourselves.
        if ws.sock is not None:
            ws.sock.shutdown()
        return ExecResult(code, "".join(out), "".join(err))
    finally:
        close_api(api.api_client)


def _returncode(ws: object) -> int:
    """The exit code from the exec's error channel (126 when it is not a number)."""
    try:
        return int(ws.returncode)  # type: ignore[attr-defined]
    except (KeyError, IndexError, TypeError, ValueError):
        return 126


def shell(
    kube: Kube, namespace: str, pod: str, script: str, *, timeout: float = 30.0
) -> ExecResult:
    """Run a `sh -c` script in `pod`."""
    return run(kube, namespace, pod, ["sh", "-c", script], timeout=timeout)
