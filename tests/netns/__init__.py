"""Throw-away network topologies for tests and benchmarks: namespaces on a bridge.

Guarantees:
- Before creating anything, the root namespace has `unreachable
  198.18.0.0/15` (added only when no route for exactly that prefix exists),
  so nothing addressed to the benchmarking range can leave the machine.
- Everything lives in namespaces named `<prefix>-<role>` with a random
  prefix (`lbnp-<6 hex>`), so parallel test workers never collide. The
  bridge lives in its own `<prefix>-sw` namespace: the root namespace gets
  no link, address or route. No namespace gets a default route.
- `close` (also when a test failed; use `with Topology() as topo`) deletes
  every namespace it made, which removes their links, the bridge, nft tables
  and sockets; processes it started are killed first.
"""

from __future__ import annotations

import contextlib
import json
import random
import secrets
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from types import TracebackType

SAFETY_NET = "198.18.0.0/15"


def sh(*argv: str, check: bool = True, stdin: str | None = None) -> str:
    done = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=30, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


def ensure_safety_net() -> None:
    """Add `unreachable 198.18.0.0/15` to the root namespace if nothing owns that prefix."""
    if not sh("ip", "route", "show", "exact", SAFETY_NET).strip():
        sh("ip", "route", "add", "unreachable", SAFETY_NET, check=False)
    if not sh("ip", "route", "show", "exact", SAFETY_NET).strip():
        raise RuntimeError(f"cannot install the {SAFETY_NET} safety route")


@dataclass
class Host:
    """One namespace with `eth0` on the bridge."""

    role: str
    ns: str
    ip: IPv4Address
    mac: str = ""

    def run(self, *argv: str, check: bool = True, stdin: str | None = None) -> str:
        return sh("ip", "netns", "exec", self.ns, *argv, check=check, stdin=stdin)

    def popen(self, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["ip", "netns", "exec", self.ns, *argv], **kwargs)  # type: ignore[call-overload]


@dataclass
class Topology:
    """A bridge plus hosts in 198.19.X.0/24 (X random unless given)."""

    prefix: str = field(default_factory=lambda: f"lbnp-{secrets.token_hex(3)}")
    subnet: IPv4Network = field(
        default_factory=lambda: IPv4Network(f"198.19.{random.randint(128, 254)}.0/24")
    )
    hosts: dict[str, Host] = field(default_factory=dict)
    namespaces: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert self.subnet.subnet_of(IPv4Network(SAFETY_NET)), self.subnet
        assert self.subnet != IPv4Network("198.18.0.0/24"), "198.18.0.0/24 is the cluster's"

    @property
    def switch(self) -> str:
        return f"{self.prefix}-sw"

    def __enter__(self) -> Topology:
        ensure_safety_net()
        try:
            self._namespace(self.switch)
            sh("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
            sh("ip", "-n", self.switch, "link", "set", "br0", "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        err: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def address(self, index: int) -> IPv4Address:
        return self.subnet.network_address + index

    def _namespace(self, name: str) -> None:
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")

    def add_host(self, role: str, index: int) -> Host:
        """A namespace `<prefix>-<role>` with eth0 = subnet + index on the bridge."""
        ns = f"{self.prefix}-{role}"
        self._namespace(ns)
        port = f"p{len(self.hosts)}"
        sh(*f"ip -n {self.switch} link add {port} type veth peer name eth0 netns {ns}".split())
        sh("ip", "-n", self.switch, "link", "set", port, "master", "br0", "up")
        ip = self.address(index)
        sh("ip", "-n", ns, "addr", "add", f"{ip}/{self.subnet.prefixlen}", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        mac = json.loads(sh("ip", "-n", ns, "-j", "link", "show", "dev", "eth0"))[0]["address"]
        host = Host(role=role, ns=ns, ip=ip, mac=mac)
        self.hosts[role] = host
        return host

    def emulate_kube_proxy(self, host: Host, lb_ip: IPv4Address) -> None:
        """What kube-proxy does for an ingress IP with ipMode VIP: accept it locally.

        DNAT to the node itself (conntrack restores the source of replies), so
        servers bound to 0.0.0.0 see the client's address and answer as the LB IP.
        """
        rules = (
            "table ip lbnp_kube_proxy {\n"
            "  chain pre { type nat hook prerouting priority dstnat; policy accept;\n"
            f"    ip daddr {lb_ip} redirect\n  }}\n}}\n"
        )
        host.run("nft", "-f", "-", stdin=rules)

    def start(self, host: Host, argv: Sequence[str]) -> subprocess.Popen[bytes]:
        proc = host.popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        self.processes.clear()
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "delete", ns, check=False)
        self.namespaces.clear()
        self.hosts.clear()


def leftover_namespaces(prefix: str) -> list[str]:
    """Namespaces still named after `prefix` (a test asserts there are none)."""
    return [
        line.split()[0]
        for line in sh("ip", "netns", "list").splitlines()
        if line.startswith(prefix)
    ]
