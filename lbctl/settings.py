"""Flags with environment fallbacks, parsed into one frozen Settings value.

Every flag `--some-flag` falls back to `$LBCTL_SOME_FLAG`. Invalid values are
a UsageError: one line, exit code 2.
"""

from __future__ import annotations

import argparse
import os
import socket
import uuid
from dataclasses import dataclass

from lbcommon.flags import Flags, UsageError, host_port, positive_float, positive_int
from lbcommon.pools import DEFAULT_POOL, Pool

DEFAULT_CLASS = "lbctl.io/lbctl"
PROVIDERS = ("local", "gce", "aws")
FLAGS = Flags("LBCTL")
env_default = FLAGS.env


@dataclass(frozen=True)
class Settings:
    kubeconfig: str | None
    provider: str
    pools: tuple[Pool, ...]
    load_balancer_class: str
    default_class: bool
    workers: int
    resync_period: float
    metrics_addr: str
    leader_elect: bool
    leader_elect_namespace: str
    leader_elect_id: str
    cluster_id: str
    gce_project: str | None = None
    gce_region: str | None = None
    gce_network: str = "default"
    gce_endpoint: str | None = None
    aws_region: str | None = None
    aws_endpoint: str | None = None
    aws_vpc_id: str | None = None


def add_controller_flags(parser: argparse.ArgumentParser) -> None:
    """Flags shared by `run`, `plan` and `gc`."""
    a = parser.add_argument
    a("--kubeconfig", default=os.environ.get("KUBECONFIG"), help="kubeconfig (default: in-cluster)")
    a(
        "--provider",
        default=env_default("--provider", "local"),
        help=f"one of {', '.join(PROVIDERS)}",
    )
    a(
        "--pool",
        action="append",
        default=None,
        help=f"local provider IP pool, CIDR or first-last; repeatable (default {DEFAULT_POOL})",
    )
    a("--load-balancer-class", default=env_default("--load-balancer-class", DEFAULT_CLASS))
    a(
        "--default-class",
        action="store_true",
        default=FLAGS.env_bool("--default-class"),
        help="also serve LoadBalancer Services without a loadBalancerClass",
    )
    a("--cluster-id", default=env_default("--cluster-id", "lbctl"), help="names cloud resources")
    a("--gce-project", default=env_default("--gce-project"))
    a("--gce-region", default=env_default("--gce-region"))
    a("--gce-network", default=env_default("--gce-network", "default"))
    a("--gce-endpoint", default=env_default("--gce-endpoint"), help="Compute API endpoint")
    a("--aws-region", default=env_default("--aws-region"))
    a("--aws-endpoint", default=env_default("--aws-endpoint"), help="AWS API endpoint")
    a("--aws-vpc-id", default=env_default("--aws-vpc-id"))


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--workers", default=env_default("--workers", "4"), help="concurrent reconciles")
    a("--resync-period", default=env_default("--resync-period", "300"), help="seconds")
    a("--metrics-addr", default=env_default("--metrics-addr", "0.0.0.0:8080"))
    a("--leader-elect", action="store_true", default=FLAGS.env_bool("--leader-elect"))
    a("--leader-elect-namespace", default=env_default("--leader-elect-namespace", "kube-system"))
    a("--leader-elect-id", default=env_default("--leader-elect-id"))


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Validate parsed flags into Settings, or raise UsageError."""
    if args.provider not in PROVIDERS:
        raise UsageError(f"--provider must be one of {', '.join(PROVIDERS)}, not {args.provider!r}")
    pools = FLAGS.pools(args.pool)
    if not args.load_balancer_class or "/" not in args.load_balancer_class:
        raise UsageError(
            "--load-balancer-class must be a domain-prefixed name such as example.com/lb, "
            f"not {args.load_balancer_class!r}"
        )
    if args.provider == "gce" and not (args.gce_project and args.gce_region):
        raise UsageError("--provider gce needs --gce-project and --gce-region")
    if args.provider == "aws" and not args.aws_region:
        raise UsageError("--provider aws needs --aws-region")
    run = hasattr(args, "workers")
    return Settings(
        kubeconfig=args.kubeconfig,
        provider=args.provider,
        pools=pools,
        load_balancer_class=args.load_balancer_class,
        default_class=args.default_class,
        workers=positive_int("--workers", args.workers) if run else 1,
        resync_period=positive_float("--resync-period", args.resync_period) if run else 300.0,
        metrics_addr=host_port("--metrics-addr", args.metrics_addr) if run else "",
        leader_elect=args.leader_elect if run else False,
        leader_elect_namespace=args.leader_elect_namespace if run else "kube-system",
        leader_elect_id=(args.leader_elect_id if run else None)
        or f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}",
        cluster_id=args.cluster_id,
        gce_project=args.gce_project,
        gce_region=args.gce_region,
        gce_network=args.gce_network,
        gce_endpoint=args.gce_endpoint,
        aws_region=args.aws_region,
        aws_endpoint=args.aws_endpoint,
        aws_vpc_id=args.aws_vpc_id,
    )
