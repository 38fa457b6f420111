"""The scripts a host-network probe pod runs, run here against loopback servers
with this machine's sh, curl and bash (the agnhost image has all three), and
the parsing of what they print."""

from __future__ import annotations

import http.server
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator

import pytest

from conformance import manifests as m
from conformance.hostprobes import END, STATUS, curl_loop, http_answers, udp_script

pytestmark = pytest.mark.unit

needs_tools = pytest.mark.skipif(
    not (shutil.which("curl") and shutil.which("bash")),
    reason="needs curl and bash on this machine to run the pod's scripts",
)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = {"/hostname": (200, b"web-0"), "/healthz": (503, b"no local endpoint")}[
            self.path
        ]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _sh(script: str) -> str:
    return subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, timeout=30, check=False
    ).stdout


@needs_tools
def test_curl_loop_reports_each_status_and_body(http_port: int) -> None:
    ok = _sh(curl_loop(f"http://127.0.0.1:{http_port}/hostname", count=3, timeout=2))
    assert http_answers(ok, 3) == [(200, "web-0")] * 3
    unhealthy = _sh(curl_loop(f"http://127.0.0.1:{http_port}/healthz", count=1, timeout=2))
    assert http_answers(unhealthy, 1) == [(503, "no local endpoint")]


@needs_tools
def test_curl_loop_reports_no_answer_as_none() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        out = _sh(curl_loop(f"http://127.0.0.1:{port}/hostname", count=2, timeout=1))
    assert http_answers(out, 2) == [None, None]


@needs_tools
def test_udp_script_prints_the_answer() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(10)

        def answer() -> None:
            data, peer = server.recvfrom(100)
            server.sendto(b"pod-" + data, peer)

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        out = _sh(udp_script("127.0.0.1", server.getsockname()[1], "hostname", timeout=1))
        thread.join(timeout=10)
    assert out.strip() == "pod-hostname"


@pytest.mark.parametrize(
    ("stdout", "count", "expected"),
    [
        pytest.param(f"a\n{STATUS}200\n{END}\n", 1, [(200, "a")], id="one"),
        pytest.param(f"{STATUS}000\n{END}\n", 1, [None], id="no-answer"),
        pytest.param(
            f"line 1\nline 2\n{STATUS}200\n{END}\n",
            1,
            [(200, "line 1\nline 2")],
            id="multi-line-body",
        ),
        pytest.param(f"a\n{STATUS}200\n{END}\n", 3, [(200, "a"), None, None], id="cut-short"),
        pytest.param(f"garbage\n{END}\n", 1, [None], id="no-status"),
        pytest.param(f"{STATUS}abc\n{END}\n", 1, [None], id="bad-status"),
    ],
)
def test_http_answers(stdout: str, count: int, expected: list[tuple[int, str] | None]) -> None:
    assert http_answers(stdout, count) == expected


def test_the_probe_pod_runs_on_its_node_with_the_hosts_network_control_plane_too() -> None:
    spec = m.host_probe_pod("probe-0", node="cp")["spec"]
    assert spec["hostNetwork"] is True
    assert spec["nodeSelector"] == {"kubernetes.io/hostname": "cp"}
    tolerated = {(t["key"], t["effect"]) for t in spec["tolerations"]}
    assert ("node-role.kubernetes.io/control-plane", "NoSchedule") in tolerated
    assert spec["containers"][0]["args"] == ["pause"]  # binds no port on the node
