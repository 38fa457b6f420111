"""The `localcluster` command: up | down | status | demo.

The docker-free local Kubernetes cluster is test infrastructure and the
demo's stage, so it has its own command, separate from the controller's.
Failures the user can act on are one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from localcluster.versions import KUBERNETES_VERSION


def _cmd_up(args: argparse.Namespace) -> int:
    from localcluster import commands

    return commands.up(
        workers=args.workers, version=args.version, load_balancing=args.load_balancing
    )


def _cmd_down(_: argparse.Namespace) -> int:
    from localcluster import commands

    return commands.down()


def _cmd_status(args: argparse.Namespace) -> int:
    from localcluster import commands

    return commands.kubeconfig() if args.kubeconfig else commands.status()


def _cmd_demo(args: argparse.Namespace) -> int:
    from localcluster.demo import run_demo

    return run_demo(keep=args.keep)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="localcluster",
        description="A local multi-node Kubernetes cluster (network namespaces, no Docker).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    actions = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    up = actions.add_parser("up", help="build (first time) and start the cluster; print kubeconfig")
    up.add_argument(
        "--workers", type=int, default=2, help="worker nodes besides the control plane (default 2)"
    )
    up.add_argument(
        "--version",
        default=KUBERNETES_VERSION,
        help=f"Kubernetes version to build and run (default {KUBERNETES_VERSION})",
    )
    up.add_argument(
        "--no-load-balancing",
        dest="load_balancing",
        action="store_false",
        help="do not deploy lbctl and nodeproxy in-cluster (run them as host processes "
        "with localcluster.loadbalancing instead: benchmarks, debugging)",
    )
    up.set_defaults(func=_cmd_up)
    actions.add_parser("down", help="stop the cluster and remove everything it made").set_defaults(
        func=_cmd_down
    )
    status = actions.add_parser("status", help="show the cluster's nodes and processes")
    status.add_argument(
        "--kubeconfig",
        action="store_true",
        help="print only the admin kubeconfig's path (exit 1 if no cluster is ready)",
    )
    status.set_defaults(func=_cmd_status)
    demo = actions.add_parser(
        "demo", help="start the cluster with lbctl and nodeproxy, a sample LoadBalancer, a request"
    )
    demo.add_argument("--keep", action="store_true", help="leave the cluster running")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
