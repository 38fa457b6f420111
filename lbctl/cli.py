"""The `lbctl` command line: parse flags into settings and start things.

Errors the user can fix are one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lbcommon import logs
from lbcommon.flags import UsageError
from lbctl import __version__
from lbctl.settings import add_controller_flags, add_run_flags, settings_from_args


def _cmd_version(_: argparse.Namespace) -> int:
    print(f"lbctl {__version__}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from lbctl.app import run

    return run(settings_from_args(args))


def _cmd_plan(args: argparse.Namespace) -> int:
    from lbctl.app import plan

    return plan(settings_from_args(args))


def _cmd_gc(args: argparse.Namespace) -> int:
    from lbctl.app import gc

    return gc(settings_from_args(args), delete=args.delete)


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
