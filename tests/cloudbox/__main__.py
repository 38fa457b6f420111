"""`python -m tests.cloudbox gce|aws [--log PATH] [--fault NAME]`: see
tests/cloudbox/__init__.py (and faults.py for --fault)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from contextlib import ExitStack
from pathlib import Path

from tests.cloudbox import BOXES
from tests.cloudbox.base import BoxError, lbctl_running
from tests.cloudbox.faults import FAULTS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.cloudbox")
    parser.add_argument("cloud", choices=sorted(BOXES))
    parser.add_argument("--log", type=Path, default=Path("cloudbox-lbctl.log"))
    parser.add_argument("--fault", help="break lbctl's provider so (tests.cloudbox.faults)")
    args = parser.parse_args(argv)
    fault = f"{args.cloud}-{args.fault}" if args.fault else None
    if fault and fault not in FAULTS:
        known = sorted(f.name for f in FAULTS.values() if f.cloud == args.cloud)
        parser.error(f"--fault {args.fault}: {args.cloud} has {', '.join(known)}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with ExitStack() as stack:
        try:
            box = BOXES[args.cloud](stack)
        except BoxError as err:
            print(f"cloudbox: {err}", file=sys.stderr)
            return 2
        stack.enter_context(lbctl_running(box, args.log, fault=fault))
        print(f"ready {box.lb_class} {' '.join(box.suite_options)}".rstrip(), flush=True)
        stop.wait()
    print("cloudbox: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
