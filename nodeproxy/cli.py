"""`nodeproxy`: parse flags (with NODEPROXY_* fallbacks) into AgentSettings and run.

Bad input is one line on stderr and exit code 2; SIGTERM/SIGINT stop the
agent cleanly (addresses, rules and Lease are given back).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence

from lbcommon import logs
from lbcommon.flags import Flags, Parser, UsageError, host_port, positive_int
from lbcommon.kube.client import load_api_client
from lbcommon.pools import DEFAULT_POOL
from nodeproxy.agent import DEFAULT_LEASE_NAMESPACE, Agent, AgentSettings

FLAGS = Flags("NODEPROXY")
_env = FLAGS.env


def _parser() -> argparse.ArgumentParser:
    p = Parser(prog="nodeproxy", description="L4 data plane of lbctl's local provider")
    a = p.add_argument
    a("--kubeconfig", default=_env("--kubeconfig", os.environ.get("KUBECONFIG")))
    a("--interface", default=_env("--interface"), help="interface that announces LB IPs")
    a("--node-name", default=_env("--node-name", os.environ.get("NODE_NAME")))
    a("--pool", action="append", default=None, help=f"repeatable (default {DEFAULT_POOL})")
    a(
        "--lease-namespace",
        default=_env("--lease-namespace", DEFAULT_LEASE_NAMESPACE),
        help=f"namespace of the heartbeat Leases (default {DEFAULT_LEASE_NAMESPACE})",
    )
    a("--metrics-addr", default=_env("--metrics-addr", "0.0.0.0:10262"))
    a("--netns", default=_env("--netns"), help="run the data plane in this named netns")
    a("--max-connections", default=_env("--max-connections", "65536"))
    a("--tcp-idle-timeout", default=_env("--tcp-idle-timeout", "3600"))
    a("--udp-idle-timeout", default=_env("--udp-idle-timeout", "120"))
    a("-v", "--verbose", action="store_true")
    return p


def settings_from_args(argv: Sequence[str]) -> tuple[AgentSettings, argparse.Namespace]:
    args = _parser().parse_args(argv)
    if not args.interface:
        raise UsageError("--interface is required (or NODEPROXY_INTERFACE)")
    if not args.node_name:
        raise UsageError("--node-name is required (or NODEPROXY_NODE_NAME, NODE_NAME)")
    pools = FLAGS.pools(args.pool)
    if args.netns and not os.path.exists(f"/run/netns/{args.netns}"):
        raise UsageError(f"--netns: no network namespace named {args.netns!r}")
    settings = AgentSettings(
        interface=args.interface,
        node_name=args.node_name,
        pools=pools,
        lease_namespace=args.lease_namespace or DEFAULT_LEASE_NAMESPACE,
        metrics_addr=host_port("--metrics-addr", args.metrics_addr) if args.metrics_addr else None,
        netns=args.netns,
        max_connections=positive_int("--max-connections", args.max_connections),
        tcp_idle_timeout=positive_int("--tcp-idle-timeout", args.tcp_idle_timeout),
        udp_idle_timeout=positive_int("--udp-idle-timeout", args.udp_idle_timeout),
    )
    return settings, args


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings, args = settings_from_args(sys.argv[1:] if argv is None else argv)
    except UsageError as err:
        print(f"nodeproxy: {err}", file=sys.stderr)
        return 2
    logs.configure(verbose=args.verbose)
    try:
        api = load_api_client(args.kubeconfig)
    except UsageError as err:
        print(f"nodeproxy: {err}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    agent = Agent(api, settings).start()
    try:
        stop.wait()
    finally:
        agent.stop()
        api.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
