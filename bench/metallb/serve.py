"""Run MetalLB on the local cluster until interrupted (for the conformance suite).

    cd bench && ../.venv/bin/python -m metallb.serve    # Ctrl-C or SIGTERM ends it

Installs MetalLB (hostrun.py), starts its controller and speakers, prints
`ready` with the class to name to the suite, and on SIGINT/SIGTERM stops the
processes and deletes everything it installed. Needs a running local cluster
(`localcluster up`).
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from types import FrameType

from localcluster import incluster
from localcluster.state import ClusterRecord, state_dir
from metallb.hostrun import WORK_DIR, MetalLB, NodeAddress
from metallb.manifests import LB_CLASS, POOL


def main() -> int:
    record = ClusterRecord.load(state_dir())
    if record is None or not record.ready:
        raise SystemExit("metallb: no ready local cluster; run `localcluster up` first")
    tool = incluster.kubectl(Path(record.kubeconfig))
    metallb = MetalLB(tool, [NodeAddress(n.name, n.address) for n in record.nodes])
    stop = threading.Event()

    def finish(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    try:
        metallb.install()
        metallb.start()
        print(f"ready: loadBalancerClass {LB_CLASS}, pool {POOL}, logs in {WORK_DIR}", flush=True)
        while not stop.wait(1.0):
            metallb.check_running()
    finally:
        metallb.stop()
        metallb.uninstall()
        print(f"stopped at {time.strftime('%H:%M:%S')}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
