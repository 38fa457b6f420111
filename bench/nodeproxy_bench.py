"""nodeproxy against a direct connection and haproxy, on one namespace path, in one run.

Topology (tests.netns): client, proxy and server namespaces on one bridge,
inside a random 198.19.X.0/24; nothing leaves the namespaces. Each path has
its own client namespace (all on the same bridge): the server keeps
TIME_WAIT sockets (60 s) and conntrack entries of every closed connection,
and the server's kube-proxy emulation redirects the LB IP to its own
address, so a shared client would reuse the ports the direct run left in
TIME_WAIT with unrelated sequence numbers and timestamps; those SYNs get a
stale ACK, the client resets and retransmits the SYN after 1 s, which once
halved nodeproxy's connection rate (a benchmark artifact, see
docs/nodeproxy.md). `syn_retrans` (client SYN retransmissions during the
connection-rate run) must stay near 0 for a result to be meaningful.
Four paths:

- direct:    client -> server address on the same bridge, skipping the proxy
             namespace (the physical limit);
- direct via middle: client -> server address with the proxy as next hop
             (route via the proxy, ip_forward=1 there, no nodeproxy rules, no
             ICMP redirects): each client-to-server frame crosses the bridge
             and the proxy's veth twice like nodeproxy's, but through the
             plain kernel IP forwarding path; replies go straight back, as
             with nodeproxy. This is the issue's "direct routed path" through
             a middle namespace;
- nodeproxy: client -> LB IP held by the proxy -> (netdev ingress, layer-2
             rewrite) -> server, which accepts the LB IP as kube-proxy would;
- haproxy:   client -> proxy address -> haproxy 2.6 (mode tcp, splice) -> server.

Each path gets: bulk TCP throughput (iperf3, 4 s), new connections per second
(wrk, `Connection: close`, 4 s), p50/p99 latency of small keep-alive
requests (wrk, 1 connection, 3 s), and whether the server saw the client's
address. The server's HTTP responder is haproxy itself (fast, C). Prints a
table with ratios and writes JSON under bench/results/.

Run as root: `.venv/bin/python bench/nodeproxy_bench.py [--seconds 4]`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from ipaddress import IPv4Address
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lbcommon.model import Protocol, ServiceKey
from nodeproxy.config import DataplaneConfig, HealthTarget, Listener, NodeBackend
from nodeproxy.dataplane import Dataplane
from nodeproxy.nft import RenderSettings
from tests.netns import Host, Topology
from tests.netns.servers import NodeServer, tcp_ask

IPERF, HTTP, ECHO = 5201, 8080, 7000


@dataclass
class Result:
    path: str
    gbit_s: float
    conn_s: float
    p50_ms: float
    p99_ms: float
    source_ip_preserved: bool
    syn_retrans: int = 0


def haproxy_config(kind: str, target: IPv4Address | None = None) -> str:
    head = (
        "global\n  maxconn 4000\n"
        "defaults\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n"
    )
    if kind == "responder":
        return head + (
            f"frontend web\n  mode http\n  bind :{HTTP}\n"
            "  http-request return status 200 content-type text/plain string ok\n"
        )
    body = head + "  mode tcp\n  option splice-auto\n"
    for port in (IPERF, HTTP, ECHO):
        body += f"listen p{port}\n  bind :{port}\n  server s {target}:{port}\n"
    return body


def start_haproxy(topo: Topology, host: Host, config: str, workdir: Path) -> None:
    path = workdir / f"haproxy-{host.role}.cfg"
    path.write_text(config)
    topo.start(host, ["haproxy", "-db", "-f", str(path)])


def iperf(topo: Topology, client: Host, server: Host, target: IPv4Address, seconds: int) -> float:
    proc = topo.start(server, ["iperf3", "-s", "-1", "-p", str(IPERF)])
    time.sleep(0.3)
    try:
        out = client.run(
            "timeout",
            str(seconds + 10),
            "iperf3",
            "-c",
            str(target),
            "-p",
            str(IPERF),
            "-t",
            str(seconds),
            "-J",
        )
        report = json.loads(out)
        if "error" in report:
            raise RuntimeError(f"iperf3 to {target}: {report['error']}")
        return float(report["end"]["sum_received"]["bits_per_second"]) / 1e9
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(client: Host, url: str, seconds: int, *, close: bool, connections: int) -> str:
    argv = [
        "wrk",
        "-t2" if connections > 1 else "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        url,
    ]
    if close:
        argv[1:1] = ["-H", "Connection: close"]
    return client.run("timeout", str(seconds + 15), *argv)


def syn_retransmits(host: Host) -> int:
    """The host's TcpExtTCPSynRetrans (absolute; nstat -s keeps no history)."""
    out = host.run("nstat", "-asz", "TcpExtTCPSynRetrans", check=False)
    match = re.search(r"TcpExtTCPSynRetrans\s+(\d+)", out)
    return int(match.group(1)) if match else 0


def route_via_middle(client: Host, proxy: Host, server: Host) -> None:
    """Make the proxy namespace a plain router hop from `client` to `server`.

    The proxy forwards (ip_forward=1) without sending ICMP redirects (which
    would teach the client the shorter on-link path); the client routes the
    server's /32 via the proxy and ignores redirects. Replies from the server
    go straight to the client (same subnet), like nodeproxy's direct return.
    """
    for key in ("net.ipv4.ip_forward=1", "net.ipv4.conf.all.send_redirects=0"):
        proxy.run("sysctl", "-qw", key)
    proxy.run("sysctl", "-qw", "net.ipv4.conf.eth0.send_redirects=0")
    for scope in ("all", "eth0"):
        client.run("sysctl", "-qw", f"net.ipv4.conf.{scope}.accept_redirects=0")
    client.run("ip", "route", "add", f"{server.ip}/32", "via", str(proxy.ip), "dev", "eth0")
    route = client.run("ip", "route", "get", str(server.ip))
    if f"via {proxy.ip}" not in route:
        raise RuntimeError(f"client route to {server.ip} does not use the proxy: {route}")


def forwarded(host: Host) -> int:
    """The host's IpForwDatagrams (packets it routed)."""
    out = host.run("nstat", "-asz", "IpForwDatagrams", check=False)
    match = re.search(r"IpForwDatagrams\s+(\d+)", out)
    return int(match.group(1)) if match else 0


def measure(
    name: str, topo: Topology, *, client: Host, server: Host, target: IPv4Address, seconds: int
) -> Result:
    gbit = iperf(topo, client, server, target, seconds)
    syn_before = syn_retransmits(client)
    out = wrk(client, f"http://{target}:{HTTP}/", seconds, close=True, connections=32)
    syn_retrans = syn_retransmits(client) - syn_before
    conn_s = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    out = wrk(client, f"http://{target}:{HTTP}/", max(2, seconds - 1), close=False, connections=1)
    p50 = _ms(re.search(r"50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    answer = tcp_ask(client.ns, target, ECHO) or ""
    preserved = answer.split()[1].startswith(f"{client.ip}:") if answer else False
    result = Result(name, gbit, conn_s, p50, p99, preserved, syn_retrans)
    print(f"  measured {name}: {result}", file=sys.stderr)
    return result


def run(seconds: int) -> list[Result]:
    with Topology() as topo, tempfile.TemporaryDirectory() as tmp:
        # one client per path, so no path inherits another's TIME_WAIT state
        clients = {
            path: topo.add_host(f"client-{path}", 10 + i)
            for i, path in enumerate(("direct", "middle", "nodeproxy", "haproxy"))
        }
        proxy = topo.add_host("proxy", 20)
        server = topo.add_host("server", 30)
        route_via_middle(clients["middle"], proxy, server)
        lb_ip = topo.address(200)
        proxy.run("ip", "addr", "add", f"{lb_ip}/32", "dev", "eth0")
        topo.emulate_kube_proxy(server, lb_ip)
        echo = NodeServer("server", server.ns, tcp_ports=(ECHO,))
        dataplane = Dataplane(RenderSettings(interface="eth0", mac=proxy.mac), namespace=proxy.ns)
        try:
            start_haproxy(topo, server, haproxy_config("responder"), Path(tmp))
            start_haproxy(topo, proxy, haproxy_config("proxy", server.ip), Path(tmp))
            backend = NodeBackend("server", server.ip, server.mac, HealthTarget(server.ip, 10256))
            dataplane.apply(
                DataplaneConfig(
                    listeners=tuple(
                        Listener(
                            service=ServiceKey("bench/web"),
                            ip=lb_ip,
                            protocol=Protocol.TCP,
                            port=port,
                            source_ranges=(),
                            affinity_timeout=None,
                            backends=(backend,),
                        )
                        for port in (IPERF, HTTP, ECHO)
                    )
                )
            )
            time.sleep(0.5)
            direct = measure(
                "direct",
                topo,
                client=clients["direct"],
                server=server,
                target=server.ip,
                seconds=seconds,
            )
            fwd_before = forwarded(proxy)
            middle = measure(
                "direct via middle",
                topo,
                client=clients["middle"],
                server=server,
                target=server.ip,
                seconds=seconds,
            )
            fwd = forwarded(proxy) - fwd_before
            print(f"  proxy forwarded {fwd} packets for direct via middle", file=sys.stderr)
            if fwd < 1000:
                raise RuntimeError(f"direct via middle bypassed the proxy ({fwd} forwarded)")
            return [
                direct,
                middle,
                measure(
                    "nodeproxy",
                    topo,
                    client=clients["nodeproxy"],
                    server=server,
                    target=lb_ip,
                    seconds=seconds,
                ),
                measure(
                    "haproxy",
                    topo,
                    client=clients["haproxy"],
                    server=server,
                    target=proxy.ip,
                    seconds=seconds,
                ),
            ]
        finally:
            dataplane.close()
            echo.close()


def table(results: list[Result]) -> str:
    by = {r.path: r for r in results}
    direct, middle, haproxy = by["direct"], by["direct via middle"], by["haproxy"]
    lines = [
        "| path | Gbit/s | vs direct | vs via middle | conn/s | vs direct | vs via middle "
        "| vs haproxy | p50 ms | p99 ms | p99 vs haproxy | client IP kept | SYN retrans |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.path} | {r.gbit_s:.1f} | {r.gbit_s / direct.gbit_s:.2f} "
            f"| {r.gbit_s / middle.gbit_s:.2f} | {r.conn_s:.0f} "
            f"| {r.conn_s / direct.conn_s:.2f} | {r.conn_s / middle.conn_s:.2f} "
            f"| {r.conn_s / haproxy.conn_s:.2f} "
            f"| {r.p50_ms:.3f} | {r.p99_ms:.3f} | {r.p99_ms / haproxy.p99_ms:.2f} "
            f"| {'yes' if r.source_ip_preserved else 'no'} | {r.syn_retrans} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=4, help="per measurement (default 4)")
    args = parser.parse_args()
    results = run(args.seconds)
    print(table(results))
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    path = out / f"nodeproxy-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
