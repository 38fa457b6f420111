"""Node-level probes from host-network pods, for a runner that cannot reach the nodes.

A `HostProbe` sends what the runner would send (HTTP, a TCP connect, a UDP
request) from a host-network agnhost pod with the image's own tools: `curl`
for HTTP (the status code as well as the body), `/agnhost connect` for TCP,
bash's `/dev/udp` for UDP. `HostPods` keeps at most one such pod per node, in
one namespace of the session, made on first use; `NodeRouter` answers
`Outside`'s two questions (which way, and through which pod).

Guarantees:
- a `HostProbe` is only ever handed literal addresses the caller's
  `DestinationGuard` passed (`Outside` checks before it routes); the one
  exception, `node_local_http`, names no address: it reads a port on the
  pod's own node through the node's loopback, which no packet leaves;
- every probe is bounded by its timeout; failures are values (`None`, a
  `Connect` result), never exceptions; many requests go in one exec;
- pods tolerate the control-plane taint, so a cluster whose only other node
  is the control plane still gets a probe pod off the target node;
- `HostPods.close` deletes the namespace and with it every probe pod.
"""

from __future__ import annotations

import shlex

from conformance import backends, podexec
from conformance import manifests as m
from conformance.kube import Kube, Namespace
from conformance.probes import Connect, PodProbe, hostport
from conformance.routes import Route, choose_route
from conformance.topology import Topology

#: ends each request's output in a loop (a line of its own)
END = "#lbctl-end"
#: precedes the HTTP status curl prints after the body (000: no answer)
STATUS = "#lbctl-status "
NAMESPACE_PREFIX = "cf-probes"


def curl_loop(url: str, *, count: int, timeout: float) -> str:
    """A script sending `count` GETs to `url` (a new connection each), printing
    each body, then its status, then END."""
    seconds = max(1, round(timeout))
    curl = (
        f"curl -sS --noproxy '*' -m {seconds} -H 'Connection: close' "
        f"-w '\\n{STATUS}%{{http_code}}\\n' {shlex.quote(url)}"
    )
    return f"i=0; while [ $i -lt {count} ]; do {curl} 2>/dev/null; echo '{END}'; i=$((i+1)); done"


def http_answers(stdout: str, count: int) -> list[tuple[int, str] | None]:
    """(status, body) of each request of a `curl_loop`, None where none came back
    (no answer, or the output was cut short)."""
    out: list[tuple[int, str] | None] = []
    chunk: list[str] = []
    for line in stdout.splitlines():
        if line != END:
            chunk.append(line)
            continue
        out.append(_answer(chunk))
        chunk = []
    out = out[:count]
    return out + [None] * (count - len(out))


def _answer(lines: list[str]) -> tuple[int, str] | None:
    statuses = [i for i, line in enumerate(lines) if line.startswith(STATUS)]
    if not statuses:
        return None
    last = statuses[-1]
    try:
        status = int(lines[last].removeprefix(STATUS))
    except ValueError:
        return None
    if status == 0:
        return None
    return status, "\n".join(lines[:last]).strip()


def udp_script(address: str, port: int, payload: str, *, timeout: float) -> str:
    """One UDP request from a fresh socket through bash's /dev/udp; prints the answer."""
    seconds = max(1, round(timeout))
    inner = (
        f"exec 3<>/dev/udp/{address}/{port} && printf %s {shlex.quote(payload)} >&3 "
        f"&& timeout {seconds} cat <&3"
    )
    return f"bash -c {shlex.quote(inner)}"


class HostProbe:
    """Probes sent from one host-network pod (its node's network namespace)."""

    def __init__(self, pod: PodProbe, *, node: str) -> None:
        self._pod = pod
        self.node = node

    @property
    def ip(self) -> str | None:
        """The address the pod's probes leave from (its node's)."""
        return self._pod.ip

    def _shell(self, script: str, *, timeout: float) -> str:
        result = podexec.shell(
            self._pod.kube, self._pod.namespace, self._pod.pod, script, timeout=timeout
        )
        return result.stdout

    def http_status_many(
        self, address: str, port: int, path: str, *, count: int, timeout: float
    ) -> list[tuple[int, str] | None]:
        url = f"http://{hostport(address, port)}{path}"
        script = curl_loop(url, count=count, timeout=timeout)
        return http_answers(self._shell(script, timeout=count * (timeout + 1) + 15), count)

    def tcp(self, address: str, port: int, *, timeout: float) -> Connect:
        return self._pod.connect(address, port, timeout=timeout)

    def udp(self, address: str, port: int, payload: str, *, timeout: float) -> str | None:
        out = self._shell(udp_script(address, port, payload, timeout=timeout), timeout=timeout + 15)
        return out.strip() or None

    def node_local_http(self, port: int, path: str, *, timeout: float = 3) -> str | None:
        """The body of a 200 answer from `port` on the pod's own node (its loopback)."""
        [answer] = self.http_status_many("127.0.0.1", port, path, count=1, timeout=timeout)
        return answer[1] if answer and answer[0] == 200 else None


class HostPods:
    """At most one host-network probe pod per node, made when first needed."""

    def __init__(self, kube: Kube) -> None:
        self._kube = kube
        self._ns: Namespace | None = None
        self._probes: dict[str, HostProbe] = {}

    def on(self, node: str) -> HostProbe:
        """The ready probe pod on `node`."""
        if node not in self._probes:
            if self._ns is None:
                self._ns = self._kube.new_namespace(NAMESPACE_PREFIX)
            name = f"probe-{len(self._probes)}"
            self._ns.create(m.host_probe_pod(name, node=node))
            info = self._ns.wait_pod_ready(name, timeout=backends.POD_READY_TIMEOUT)
            pod = PodProbe(self._kube, self._ns.name, name, ip=info.ip)
            self._probes[node] = HostProbe(pod, node=node)
        return self._probes[node]

    def close(self) -> None:
        if self._ns is not None:
            self._ns.delete()
        self._ns = None
        self._probes.clear()


class NodeRouter:
    """`Outside`'s router on a real cluster: routes from the topology, pods from `HostPods`."""

    def __init__(self, topology: Topology, pods: HostPods) -> None:
        self._topology = topology
        self._pods = pods

    def route(self, address: str) -> Route:
        return choose_route(
            address,
            node_by_ip=self._topology.node_by_ip,
            hosts=self._topology.probe_hosts,
            runner_reaches_nodes=self._topology.runner_reaches_nodes,
        )

    def prober(self, route: Route) -> HostProbe:
        assert route.node is not None, "the runner's route needs no pod"
        return self._pods.on(route.node)
