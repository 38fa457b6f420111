"""What each controller and agent costs with nothing to do: CPU seconds per minute.

    cd bench && ../.venv/bin/python -m metallb.idle [--seconds 60]

Run beside `python -m metallb.serve` on a settled cluster. Measures, over the
same window, lbctl's leader and each nodeproxy (found as procstat.py finds
them) and MetalLB's controller and each speaker (found by their binaries'
paths under the build cache), and prints CPU seconds per minute and peak
RSS. This is the floor under the burst's CPU figures: the burst window of
compare_metallb.py includes that much idle work per minute it lasts.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from localcluster import incluster
from localcluster.state import ClusterRecord, state_dir
from metallb import lbctl_side, procstat
from metallb.build import metallb_module


def _metallb_pids() -> dict[str, int]:
    binaries = metallb_module().bin_dir
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        program = Path(argv[0].decode(errors="replace"))
        if program.parent != binaries:
            continue
        node = next(
            (a.split(b"=", 1)[1].decode() for a in argv if a.startswith(b"--node-name=")), ""
        )
        found[f"metallb {program.name}{'/' + node if node else ''}"] = int(entry.name)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    record = ClusterRecord.load(state_dir())
    if record is None:
        raise SystemExit("idle: no local cluster")
    tool = incluster.kubectl(Path(record.kubeconfig))
    nodes = [n.name for n in record.nodes]
    pids = {"lbctl controller": lbctl_side.leader_pid(tool)}
    pids |= {f"lbctl nodeproxy/{n}": p for n, p in lbctl_side.wait_agents(nodes).items()}
    pids |= _metallb_pids()
    window = procstat.Window(pids, lambda name: None)
    window.start()
    time.sleep(args.seconds)
    usage = window.stop()
    print(f"{'process':<40} {'CPU s/min':>10} {'peak MiB':>9}")
    for name, use in sorted(usage.items()):
        rate = use.cpu_seconds * 60 / args.seconds
        print(f"{name:<40} {rate:>10.2f} {use.peak_mib:>9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
