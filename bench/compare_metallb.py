"""Benchmark: lbctl + nodeproxy side by side with MetalLB (layer 2), same cluster, same run.

Needs a running local cluster (`localcluster up`: lbctl and nodeproxy
in-cluster from deploy/overlays/local). MetalLB v0.15.2 is built from its Go
module (bench/metallb/build.py) and run beside them as host processes:
controller in the root namespace, one speaker per node in the node's network
namespace (bench/metallb/hostrun.py says what is off and why). Each serves only
its own loadBalancerClass (lbctl.io/lbctl, metallb.io/metallb), on disjoint
pools of the node bridge.

Per run, for each provider in turn (figures are medians over `--runs`):
- burst: `--services` Services created at once by 32 threads; time until all
  have an ingress, per-Service create-to-ingress p50/p99; CPU seconds and
  peak memory of the controller (lbctl: the leader) and the per-node agents
  (nodeproxy, speaker; CPU summed over nodes, memory the largest node) from
  the first create until 10 s after the last ingress;
- traffic from the client network (198.19.100.10, one routed hop away) through
  the provider's IPs: iperf3 throughput both ways, new connections per second
  (wrk, Connection: close), p99 of one-at-a-time small requests (wrk, 1
  connection), and the source address a pod sees through an
  externalTrafficPolicy Local Service;
- failover, a request every 20 ms: the announcing node's agent SIGKILLed (and
  restarted at once, as kubelet does: by kubelet for nodeproxy, by this bench
  for the speaker), then the announcing node's link cut (its root-side veth
  down, restored after): outage from the first failed request to the next good
  one.

The table gives lbctl, MetalLB and lbctl / MetalLB for each figure, against
the issue's targets (lbctl at least equal everywhere, failover at most half).

    .venv/bin/python bench/compare_metallb.py [--runs 3] [--quick] [--services 1000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from kubernetes import client, config
from metallb import burst, lbctl_side, manifests, procstat, traffic
from metallb.build import METALLB_VERSION
from metallb.hostrun import WORK_DIR, MetalLB, NodeAddress

from localcluster import incluster, netns
from localcluster.incluster import Kubectl
from localcluster.outside import CLIENT_ADDRESS
from localcluster.state import ClusterRecord, state_dir
from localcluster.versions import AGNHOST_IMAGE

RESULTS = Path(__file__).parent / "results"
NAMESPACE = "bench-compare"
#: burst pools beyond the node bridge's (only the controllers' bookkeeping is
#: measured there; 1000 Services need more than the 50 addresses on lbk0)
LBCTL_BURST_POOL = "198.18.4.0/22"
METALLB_BURST_POOL = "198.18.8.0/22"
IPERF_PORT = 5201
PROVIDERS = ("lbctl", "metallb")
CLASSES = {"lbctl": lbctl_side.LB_CLASS, "metallb": manifests.LB_CLASS}
SETTLE = 10.0


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    unit: str
    #: "lower" or "higher" is better
    better: str
    #: the issue's target for lbctl / MetalLB
    target: float = 1.0


FIGURES = (
    Figure("burst_all_s", "burst: all Services have an ingress", "s", "lower"),
    Figure("burst_p50_s", "burst: create-to-ingress p50", "s", "lower"),
    Figure("burst_p99_s", "burst: create-to-ingress p99", "s", "lower"),
    Figure("controller_cpu_s", "burst: controller CPU", "s", "lower"),
    Figure("controller_peak_mib", "burst: controller peak RSS", "MiB", "lower"),
    Figure("agent_cpu_s", "burst: agents' CPU (sum of nodes)", "s", "lower"),
    Figure("agent_peak_mib", "burst: agent peak RSS (largest node)", "MiB", "lower"),
    Figure("upload_gbps", "throughput client->pod (iperf3)", "Gbit/s", "higher"),
    Figure("download_gbps", "throughput pod->client (iperf3 -R)", "Gbit/s", "higher"),
    Figure("new_conn_per_s", "new connections per second (wrk)", "/s", "higher"),
    Figure("p99_latency_ms", "small request p99, one at a time (wrk)", "ms", "lower"),
    Figure("client_ip_kept", "client IP reaches the pod (ETP Local)", "1=yes", "higher"),
    Figure("failover_kill_s", "failover: announcing agent SIGKILLed", "s", "lower", 0.5),
    Figure("failover_link_s", "failover: announcing node's link down", "s", "lower", 0.5),
)


# --- the cluster ------------------------------------------------------------


def _api(kubeconfig: Path) -> client.ApiClient:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    configuration.connection_pool_maxsize = 64
    return client.ApiClient(configuration)


def _retry(what: str, call: Callable[[], object], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            call()
            return
        except client.ApiException as err:
            if err.status == 409 or time.monotonic() > deadline:
                if err.status == 409:
                    return
                raise RuntimeError(f"{what}: {err.reason}") from err
            time.sleep(0.5)


def _deployment(name: str, replicas: int) -> client.V1Deployment:
    labels = {"bench": name}
    container = client.V1Container(
        name="netexec",
        image=AGNHOST_IMAGE,
        image_pull_policy="IfNotPresent",
        args=["netexec", "--http-port=8080"],
    )
    spread = client.V1TopologySpreadConstraint(
        max_skew=1,
        topology_key="kubernetes.io/hostname",
        when_unsatisfiable="ScheduleAnyway",
        label_selector=client.V1LabelSelector(match_labels=labels),
    )
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[container], topology_spread_constraints=[spread]),
            ),
        ),
    )


def _service(provider: str, name: str, backend: str, *, local: bool) -> client.V1Service:
    ports = [client.V1ServicePort(name="http", port=80, target_port=8080)]
    if backend == "one":
        ports.append(client.V1ServicePort(name="iperf", port=IPERF_PORT, target_port=IPERF_PORT))
    annotations = {"metallb.io/address-pool": manifests.POOL_NAME} if provider == "metallb" else {}
    return client.V1Service(
        metadata=client.V1ObjectMeta(name=f"{provider}-{name}", annotations=annotations),
        spec=client.V1ServiceSpec(
            type="LoadBalancer",
            load_balancer_class=CLASSES[provider],
            selector={"bench": backend},
            ports=ports,
            external_traffic_policy="Local" if local else "Cluster",
        ),
    )


@dataclass(frozen=True)
class Frontends:
    """The provider's load-balancer IPs on the node bridge."""

    cluster_ip: str  # the "one" backend, externalTrafficPolicy Cluster
    local_ip: str  # the "one" backend, externalTrafficPolicy Local
    web_ip: str  # two replicas on both workers, Cluster (failover)


def _ingress(core: client.CoreV1Api, name: str, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = core.read_namespaced_service(name, NAMESPACE).status
        ingress = status.load_balancer.ingress if status.load_balancer else None
        if ingress and ingress[0].ip:
            ip = str(ingress[0].ip)
            if not ip.startswith("198.18.0."):
                raise RuntimeError(f"{name} got {ip}, not an address on the node bridge")
            return ip
        time.sleep(0.5)
    raise RuntimeError(f"{NAMESPACE}/{name} got no ingress within {timeout:.0f}s")


def deploy_backends(api: client.ApiClient) -> tuple[dict[str, Frontends], str]:
    """Backends and each provider's three Services; returns the frontends and the
    IP of the single "one" pod."""
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    _retry(
        "namespace",
        lambda: core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE))
        ),
    )
    for name, replicas in (("one", 1), ("web", 2)):
        _retry(
            f"deployment {name}",
            lambda n=name, r=replicas: apps.create_namespaced_deployment(  # type: ignore[misc]
                NAMESPACE, _deployment(n, r)
            ),
        )
    for provider in PROVIDERS:
        for name, backend, local in (
            ("one", "one", False),
            ("local", "one", True),
            ("web", "web", False),
        ):
            _retry(
                f"service {provider}-{name}",
                lambda p=provider, n=name, b=backend, lo=local: core.create_namespaced_service(  # type: ignore[misc]
                    NAMESPACE, _service(p, n, b, local=lo)
                ),
            )
    frontends = {
        p: Frontends(
            cluster_ip=_ingress(core, f"{p}-one"),
            local_ip=_ingress(core, f"{p}-local"),
            web_ip=_ingress(core, f"{p}-web"),
        )
        for p in PROVIDERS
    }
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        pods = core.list_namespaced_pod(NAMESPACE).items
        ready = [
            p
            for p in pods
            if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        ]
        if len(ready) == 3:
            one = next(p for p in ready if p.metadata.labels.get("bench") == "one")
            return frontends, str(one.status.pod_ip)
        time.sleep(1)
    raise RuntimeError("the backend pods did not become ready")


# --- the figures --------------------------------------------------------------


def measure_burst(
    api: client.ApiClient,
    tool: Kubectl,
    provider: str,
    *,
    metallb: MetalLB,
    nodes: list[str],
    count: int,
) -> dict[str, float]:
    core = client.CoreV1Api(api)
    namespace = f"bench-burst-{provider}"
    _retry(
        "burst namespace",
        lambda: core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace))
        ),
    )
    if provider == "lbctl":
        pids = {"controller": lbctl_side.leader_pid(tool)}
        pids |= {f"agent/{n}": pid for n, pid in lbctl_side.wait_agents(nodes).items()}

        def find(name: str) -> int | None:
            if name == "controller":
                return procstat.find_lbctl(lbctl_side.leader_pod(tool))
            return procstat.find_nodeproxy(nodes).get(name.split("/", 1)[1])
    else:
        pids = {k.replace("speaker/", "agent/"): v for k, v in metallb.pids().items()}

        def find(name: str) -> int | None:
            return metallb.pids().get(name.replace("agent/", "speaker/"))

    window = procstat.Window(pids, find)
    window.start()
    result = burst.run_burst(
        api, namespace=namespace, lb_class=CLASSES[provider], count=count, timeout=600
    )
    time.sleep(SETTLE)
    usage = window.stop()
    say(
        f"{provider}: {count} Services: created in {result.create_seconds:.1f}s, all ingress "
        f"{result.all_seconds:.1f}s, p50 {result.p50_seconds:.2f}s p99 {result.p99_seconds:.2f}s"
        f"{f', {result.missing} MISSING' if result.missing else ''}"
    )
    tool.run("delete", "namespace", namespace, "--wait=true", timeout=900)
    agents = [u for name, u in usage.items() if name.startswith("agent/")]
    return {
        "burst_all_s": result.all_seconds,
        "burst_p50_s": result.p50_seconds,
        "burst_p99_s": result.p99_seconds,
        "burst_missing": float(result.missing),
        "controller_cpu_s": round(usage["controller"].cpu_seconds, 2),
        "controller_peak_mib": round(usage["controller"].peak_mib, 1),
        "agent_cpu_s": round(sum(u.cpu_seconds for u in agents), 2),
        "agent_peak_mib": round(max(u.peak_mib for u in agents), 1),
        "controller_restarts": float(usage["controller"].restarts),
        "agent_restarts": float(sum(u.restarts for u in agents)),
    }


def measure_traffic(front: Frontends, *, seconds: int) -> dict[str, float]:
    traffic.wait_answering(front.cluster_ip)
    traffic.wait_answering(front.local_ip)
    upload = traffic.iperf3_gbps(front.cluster_ip, IPERF_PORT, seconds=seconds, reverse=False)
    download = traffic.iperf3_gbps(front.cluster_ip, IPERF_PORT, seconds=seconds, reverse=True)
    url = f"http://{front.cluster_ip}/echo?msg=x"
    retransmits = traffic.syn_retransmits()
    connections = traffic.wrk(url, seconds=seconds, connections=16, threads=2, close=True)
    retransmits = traffic.syn_retransmits() - retransmits
    serial = traffic.wrk(url, seconds=seconds, connections=1, threads=1, close=False)
    seen = traffic.client_ip_seen(front.local_ip)
    return {
        "upload_gbps": round(upload, 2),
        "download_gbps": round(download, 2),
        "new_conn_per_s": round(connections.requests_per_second),
        "new_conn_errors": float(connections.errors),
        "new_conn_syn_retransmits": float(retransmits),
        "p99_latency_ms": round(serial.p99_seconds * 1000, 3),
        "client_ip_kept": 1.0 if seen == CLIENT_ADDRESS else 0.0,
    }


def _announcer(ip: str, nodes: list[str], timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        node = traffic.announcer(ip, nodes)
        if node:
            return node
        time.sleep(0.5)
    raise RuntimeError(f"no node's MAC answers for {ip} at the router")


def measure_failover(
    provider: str, ip: str, *, metallb: MetalLB, nodes: list[str], addresses: dict[str, str]
) -> dict[str, float]:
    figures: dict[str, float] = {}
    traffic.wait_answering(ip)
    node = _announcer(ip, nodes)
    if provider == "lbctl":
        lbctl_side.kill_agent(node, nodes)
    else:
        metallb.kill_speaker(node)
        metallb.restart_speaker(node)  # at once, as kubelet restarts a crashed container
    kill = traffic.outage(ip, watch=20.0)
    say(f"{provider}: agent on {node} SIGKILLed: outage {kill}")
    figures["failover_kill_s"] = round(kill, 3) if kill is not None else float("inf")
    if provider == "lbctl":
        lbctl_side.wait_agents(nodes)
    time.sleep(SETTLE)

    traffic.wait_answering(ip)
    node = _announcer(ip, nodes)
    veth = netns.veth_name(addresses[node])
    netns.ip("link", "set", veth, "down")
    try:
        link = traffic.outage(ip, watch=40.0)
    finally:
        netns.ip("link", "set", veth, "up")
    say(f"{provider}: link of {node} down: outage {link}")
    figures["failover_link_s"] = round(link, 3) if link is not None else float("inf")
    if provider == "metallb":
        # The cut-off speaker and the others each think the other side dead;
        # memberlist rejoins only on its one-minute tick. Restarting that
        # speaker rejoins at once, so the next measurement starts clean.
        metallb.kill_speaker(node)
        metallb.restart_speaker(node)
    time.sleep(SETTLE)
    traffic.wait_answering(ip)
    return figures


# --- the table ------------------------------------------------------------------


def _ratio(ours: float, theirs: float) -> float | None:
    if theirs == 0:
        return 1.0 if ours == 0 else None
    return ours / theirs


def _met(figure: Figure, ours: float, theirs: float) -> bool:
    ratio = _ratio(ours, theirs)
    if figure.better == "higher":
        return ours >= theirs
    if ratio is None:
        return False
    return ratio <= figure.target or (figure.target < 1 and ours == 0)


def table(medians: dict[str, dict[str, float]]) -> list[str]:
    lines = [
        f"| figure | unit | lbctl | MetalLB {METALLB_VERSION} | lbctl / MetalLB | target | met |",
        "| --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for figure in FIGURES:
        ours = medians["lbctl"].get(figure.key)
        theirs = medians["metallb"].get(figure.key)
        if ours is None or theirs is None:
            continue
        ratio = _ratio(ours, theirs)
        shown = "-" if ratio is None else f"{ratio:.2f}"
        sign = ">=" if figure.better == "higher" else "<="
        target = f"{sign} {figure.target:g}"
        met = "yes" if _met(figure, ours, theirs) else "**no**"
        cells = [figure.label, figure.unit, f"{ours:g}", f"{theirs:g}", shown, target, met]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    keys = {k for run in runs for k in run}
    return {k: statistics.median(run[k] for run in runs if k in run) for k in sorted(keys)}


# --- main -----------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    runs: int
    count: int
    seconds: int
    parts: frozenset[str]


def _options() -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a dry run: 100 Services, 2 s tools")
    parser.add_argument("--services", type=int, default=None, help="burst size (default 1000)")
    parser.add_argument(
        "--parts",
        default="burst,traffic,failover",
        help="comma-separated subset of burst,traffic,failover",
    )
    args = parser.parse_args()
    return Options(
        runs=args.runs,
        count=args.services or (100 if args.quick else 1000),
        seconds=2 if args.quick else 10,
        parts=frozenset(args.parts.split(",")),
    )


class Bench:
    """Both providers on the running local cluster, set up and torn down once."""

    def __init__(self, options: Options) -> None:
        record = ClusterRecord.load(state_dir())
        if record is None or not record.ready:
            raise SystemExit("bench: no ready local cluster; run `localcluster up` first")
        self.options = options
        self.tool = incluster.kubectl(Path(record.kubeconfig))
        self.nodes = [NodeAddress(n.name, n.address) for n in record.nodes]
        self.names = [n.name for n in self.nodes]
        self.addresses = {n.name: n.address for n in self.nodes}
        self.api = _api(Path(record.kubeconfig))
        incluster.wait_ready(self.tool, nodes=len(self.nodes), timeout=120)
        self.original_pool = lbctl_side.current_pool(self.tool)
        burst_pool = METALLB_BURST_POOL if "burst" in options.parts else ""
        self.metallb = MetalLB(self.tool, self.nodes, extra_pool=burst_pool)
        self.iperf: subprocess.Popen[bytes] | None = None
        self.frontends: dict[str, Frontends] = {}

    def set_up(self) -> None:
        if "burst" in self.options.parts and LBCTL_BURST_POOL not in self.original_pool:
            say(f"lbctl: pool {self.original_pool},{LBCTL_BURST_POOL} (lbctl, nodeproxy restart)")
            lbctl_side.set_pool(self.tool, f"{self.original_pool},{LBCTL_BURST_POOL}")
            incluster.wait_ready(self.tool, nodes=len(self.nodes), timeout=180)
        say(f"MetalLB {METALLB_VERSION}: installing and starting (logs in {WORK_DIR})")
        self.metallb.install()
        self.metallb.start()
        self.frontends, one_ip = deploy_backends(self.api)
        for provider, front in self.frontends.items():
            say(f"{provider}: Cluster {front.cluster_ip} Local {front.local_ip} web {front.web_ip}")
        if "traffic" in self.options.parts:
            pid = traffic.pod_netns_pid(one_ip)
            self.iperf = traffic.start_iperf3_server(pid, IPERF_PORT, WORK_DIR / "iperf3.log")

    def one_run(self, provider: str) -> dict[str, float]:
        parts = self.options.parts
        figures: dict[str, float] = {}
        if "burst" in parts:
            figures |= measure_burst(
                self.api,
                self.tool,
                provider,
                metallb=self.metallb,
                nodes=self.names,
                count=self.options.count,
            )
        if "traffic" in parts:
            figures |= measure_traffic(self.frontends[provider], seconds=self.options.seconds)
        if "failover" in parts:
            figures |= measure_failover(
                provider,
                self.frontends[provider].web_ip,
                metallb=self.metallb,
                nodes=self.names,
                addresses=self.addresses,
            )
        self.metallb.check_running()
        return figures

    def tear_down(self) -> None:
        if self.iperf is not None:
            self.iperf.terminate()
            self.iperf.wait()
        self.metallb.stop()
        namespaces = [NAMESPACE, *(f"bench-burst-{p}" for p in PROVIDERS)]
        self.tool.run(
            "delete", "namespace", *namespaces, "--ignore-not-found", "--wait=true", timeout=900
        )
        self.metallb.uninstall()
        if lbctl_side.current_pool(self.tool) != self.original_pool:
            say(f"lbctl: pool back to {self.original_pool}")
            lbctl_side.set_pool(self.tool, self.original_pool)
        self.api.close()


def _report(options: Options, runs: dict[str, list[dict[str, float]]]) -> None:
    medians = {p: _median(r) for p, r in runs.items() if r}
    lines = table(medians) if len(medians) == len(PROVIDERS) else []
    print(
        f"\nlbctl vs MetalLB {METALLB_VERSION} (layer 2), median of {options.runs} run(s), "
        f"{options.count} Services per burst, {options.seconds} s per traffic tool"
    )
    print("\n".join(lines))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"compare_metallb-{time.strftime('%Y%m%dT%H%M%S')}.json"
    document = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "metallb": METALLB_VERSION,
        "options": {**asdict(options), "parts": sorted(options.parts)},
        "runs": runs,
        "medians": medians,
        "figures": [asdict(f) for f in FIGURES],
        "table": lines,
    }
    out.write_text(json.dumps(document, indent=2))
    print(f"wrote {out}")


def main() -> int:
    options = _options()
    bench = Bench(options)
    runs: dict[str, list[dict[str, float]]] = {p: [] for p in PROVIDERS}
    try:
        bench.set_up()
        for run in range(1, options.runs + 1):
            say(f"run {run} of {options.runs}")
            for provider in PROVIDERS:
                figures = bench.one_run(provider)
                say(f"{provider} run {run}: {json.dumps(figures)}")
                runs[provider].append(figures)
    finally:
        bench.tear_down()
        _report(options, runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
