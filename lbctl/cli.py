"""The `lbctl` command line: parse flags into settings and start things.

Errors the user can fix are one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lbctl import __version__, logs
from lbctl.settings import (
    UsageError,
    add_controller_flags,
    add_run_flags,
    settings_from_args,
)


def _cmd_version(_: argparse.Namespace) -> int:
    from lbctl.cluster.versions import KUBERNETES_VERSION

    print(f"lbctl {__version__} (local cluster: Kubernetes {KUBERNETES_VERSION})")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from lbctl.demo import run_demo

    return run_demo(keep=args.keep)


def _cmd_run(args: argparse.Namespace) -> int:
    from lbctl.app import run

    return run(settings_from_args(args))


def _cmd_plan(args: argparse.Namespace) -> int:
    from lbctl.app import plan

    return plan(settings_from_args(args))


def _cmd_gc(args: argparse.Namespace) -> int:
    from lbctl.app import gc

    return gc(settings_from_args(args), delete=args.delete)


def _cmd_cluster(args: argparse.Namespace) -> int:
    from lbctl.cluster import commands

    if args.cluster_command == "up":
        return commands.up(workers=args.workers, version=args.version)
    if args.cluster_command == "down":
        return commands.down()
    return commands.status()


def _add_cluster_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from lbctl.cluster.versions import KUBERNETES_VERSION

    cluster = sub.add_parser(
        "cluster", help="a local multi-node Kubernetes cluster (network namespaces, no Docker)"
    )
    actions = cluster.add_subparsers(dest="cluster_command", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="build (first time) and start the cluster; print kubeconfig")
    up.add_argument(
        "--workers", type=int, default=2, help="worker nodes besides the control plane (default 2)"
    )
    up.add_argument(
        "--version",
        default=KUBERNETES_VERSION,
        help=f"Kubernetes version to build and run (default {KUBERNETES_VERSION})",
    )
    actions.add_parser("down", help="stop the cluster and remove everything it made")
    actions.add_parser("status", help="show the cluster's nodes and processes")
    cluster.set_defaults(func=_cmd_cluster)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lbctl",
        description="Give Kubernetes Services of type LoadBalancer a real load balancer.",
    )
    parser.add_argument("--version", action="version", version=f"lbctl {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    version = sub.add_parser("version", help="print the version")
    version.set_defaults(func=_cmd_version)

    run = sub.add_parser("run", help="run the service controller")
    add_controller_flags(run)
    add_run_flags(run)
    run.set_defaults(func=_cmd_run)

    plan = sub.add_parser("plan", help="print what the controller would change; change nothing")
    add_controller_flags(plan)
    plan.set_defaults(func=_cmd_plan)

    gc = sub.add_parser("gc", help="list provider resources that no Service claims")
    add_controller_flags(gc)
    gc.add_argument("--delete", action="store_true", help="delete what is found")
    gc.set_defaults(func=_cmd_gc)

    demo = sub.add_parser(
        "demo",
        help="start a local cluster, create a sample LoadBalancer Service, send a request",
    )
    demo.add_argument("--keep", action="store_true", help="leave the cluster running")
    demo.set_defaults(func=_cmd_demo)

    _add_cluster_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.configure(verbose=args.verbose)
    try:
        code: int = args.func(args)
    except UsageError as err:
        print(f"lbctl: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code
