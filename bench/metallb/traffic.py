"""Traffic through a load-balancer IP from the client network, one routed hop away.

Every client runs in `lbctl-client` (198.19.100.10; localcluster/outside.py):
the tools through `outside.argv`, Python sockets inside `outside.entered()`.
Destinations are load-balancer IPs in 198.18.0.0/24 only.

- throughput: iperf3 (Debian's), 1 stream for `seconds`, upload and download
  (-R), against an iperf3 server run inside the backend pod's network
  namespace (the pod's own address and port; the path is the Service's);
- new connections per second: wrk with `Connection: close` (every request a
  new TCP connection) against netexec's /echo;
- small-request latency: wrk, one connection, one request at a time, p99;
- client source IP: netexec's /clientip through an externalTrafficPolicy
  Local Service, compared with the client's address;
- outage: a request every 20 ms (a new connection each, 0.2 s timeout), from
  the first failure to the next success.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from localcluster import outside

ROUTER = outside.ROUTER_NETNS
INTERVAL = 0.02
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


class TrafficError(RuntimeError):
    """A traffic tool failed or printed nothing usable."""


def _run(argv: list[str], timeout: float) -> str:
    proc = subprocess.run(
        outside.argv(argv), capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise TrafficError(f"{' '.join(argv)}: {(proc.stderr or proc.stdout).strip()[-400:]}")
    return proc.stdout


def iperf3_gbps(ip: str, port: int, *, seconds: int, reverse: bool) -> float:
    argv = ["iperf3", "--client", ip, "--port", str(port), "--time", str(seconds), "--json"]
    if reverse:
        argv.append("--reverse")
    report = json.loads(_run(argv, timeout=seconds + 30))
    if "error" in report:
        raise TrafficError(f"iperf3 to {ip}:{port}: {report['error']}")
    end = report["end"]
    key = "sum_received" if "sum_received" in end else "sum"
    return float(end[key]["bits_per_second"]) / 1e9


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p99_seconds: float
    errors: int


def _duration(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise TrafficError(f"wrk printed an unreadable duration {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(url: str, *, seconds: int, connections: int, threads: int, close: bool) -> WrkResult:
    argv = [
        "wrk",
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={seconds}s",
        "--timeout=2s",
        "--latency",
    ]
    if close:
        argv += ["--header", "Connection: close"]
    out = _run([*argv, url], timeout=seconds + 30)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+(\S+)$", out, re.MULTILINE)
    if rate is None or p99 is None:
        raise TrafficError(f"wrk {url}: no rate or latency in its output:\n{out}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    errors += int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    return WrkResult(float(rate.group(1)), _duration(p99.group(1)), errors)


def syn_retransmits() -> int:
    """The client network's TcpExt TCPSynRetrans counter (SYNs sent again after 1 s)."""
    lines = _run(["cat", "/proc/net/netstat"], timeout=10).splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=True))
            return int(table.get("TCPSynRetrans", 0))
    return 0


def http_get(ip: str, path: str, *, port: int = 80, timeout: float = 2.0) -> str | None:
    """The body of GET http://ip:port/path from the client network, or None."""
    with outside.entered():
        connection = http.client.HTTPConnection(ip, port, timeout=timeout)
        try:
            connection.request("GET", path, headers={"Connection": "close"})
            response = connection.getresponse()
            body = response.read().decode(errors="replace")
            return body if response.status == 200 else None
        except OSError:
            return None
        finally:
            connection.close()


def client_ip_seen(ip: str) -> str:
    """The source address the backend saw for a request from the client network."""
    body = http_get(ip, "/clientip")
    if body is None:
        raise TrafficError(f"GET http://{ip}/clientip failed from the client network")
    return body.strip().rsplit(":", 1)[0]


def wait_answering(ip: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http_get(ip, "/hostname", timeout=0.5) is not None:
            return
        time.sleep(0.2)
    raise TrafficError(f"{ip} did not answer /hostname from the client network in {timeout:.0f}s")


def _answers(ip: str) -> bool:
    connection = http.client.HTTPConnection(ip, 80, timeout=0.2)
    try:
        connection.request("GET", "/hostname")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def outage(ip: str, *, watch: float) -> float | None:
    """Seconds from the first failed request to the next good one; 0.0 if none failed,
    None if it never answered again within `watch` seconds."""
    with outside.entered():
        started = time.monotonic()
        failed_at: float | None = None
        while time.monotonic() - started < watch:
            ok = _answers(ip)
            now = time.monotonic()
            if not ok and failed_at is None:
                failed_at = now
            elif ok and failed_at is not None:
                return now - failed_at
            time.sleep(INTERVAL)
    return 0.0 if failed_at is None else None


def _mac(argv: list[str]) -> str | None:
    out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
    match = re.search(r"(?:lladdr|link/ether) ([0-9a-f:]{17})", out)
    return match.group(1) if match else None


def announcer(ip: str, nodes: list[str]) -> str | None:
    """The node whose eth0 MAC the router resolved `ip` to (after a request)."""
    http_get(ip, "/hostname", timeout=1.0)
    wanted = _mac(["ip", "-n", ROUTER, "neigh", "show", ip])
    for node in nodes:
        if wanted and _mac(["ip", "-n", node, "link", "show", "dev", "eth0"]) == wanted:
            return node
    return None


def pod_netns_pid(pod_ip: str, program: str = "agnhost") -> int:
    """A pid (of `program`) in the network namespace that holds `pod_ip`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not argv or Path(argv[0].decode(errors="replace")).name != program:
            continue
        addresses = subprocess.run(
            ["nsenter", f"--net={entry / 'ns' / 'net'}", "--", "ip", "-4", "-o", "addr"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        if f" {pod_ip}/" in addresses:
            return int(entry.name)
    raise TrafficError(f"no {program} process holds the pod address {pod_ip}")


def start_iperf3_server(pid: int, port: int, log: Path) -> subprocess.Popen[bytes]:
    """iperf3 -s inside the network namespace of process `pid` (a backend pod)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                "nsenter",
                f"--net=/proc/{pid}/ns/net",
                "--",
                "iperf3",
                "--server",
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
