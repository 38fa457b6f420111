"""`python -m tests.cloudbox gce|aws [--log PATH]`: see tests/cloudbox/__init__.py."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from contextlib import ExitStack
from pathlib import Path

from tests.cloudbox import aws, gce
from tests.cloudbox.base import BoxError

BOXES = {"gce": gce.open_box, "aws": aws.open_box}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.cloudbox")
    parser.add_argument("cloud", choices=sorted(BOXES))
    parser.add_argument("--log", type=Path, default=Path("cloudbox-lbctl.log"))
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with ExitStack() as stack:
        try:
            lb_class = BOXES[args.cloud](stack, args.log)
        except BoxError as err:
            print(f"cloudbox: {err}", file=sys.stderr)
            return 2
        print(f"ready {lb_class}", flush=True)
        stop.wait()
    print("cloudbox: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
