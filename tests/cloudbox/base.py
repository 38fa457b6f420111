"""What both clouds' boxes share: providerIDs, the lbctl process, the cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config

from localcluster.state import ClusterRecord, state_dir

LBCTL = Path(sys.executable).with_name("lbctl")


class BoxError(RuntimeError):
    """The box cannot be set up; the message says why."""


@dataclass(frozen=True)
class ClusterNode:
    name: str
    address: str


def running_cluster() -> tuple[str, list[ClusterNode]]:
    """The ready local cluster's kubeconfig and nodes."""
    record = ClusterRecord.load(state_dir())
    if record is None or not record.ready:
        raise BoxError("no ready local cluster: run `localcluster up` first")
    return record.kubeconfig, [ClusterNode(n.name, n.address) for n in record.nodes]


def set_provider_ids(kubeconfig: str, ids: Mapping[str, str]) -> None:
    """Give each Node its providerID (node name -> providerID), once."""
    api = config.new_client_from_config(config_file=kubeconfig)
    try:
        core = client.CoreV1Api(api)
        for name, wanted in ids.items():
            have = core.read_node(name).spec.provider_id
            if have == wanted:
                continue
            if have:
                raise BoxError(
                    f"{name} already has providerID {have} (immutable): boot a fresh cluster "
                    "for this cloud (localcluster down && localcluster up)"
                )
            core.patch_node(name, {"spec": {"providerID": wanted}})
    finally:
        api.close()


def start_lbctl(
    kubeconfig: str, flags: Sequence[str], log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """lbctl as a host process with the given provider flags, logging to `log`."""
    argv = [str(LBCTL), "run", f"--kubeconfig={kubeconfig}", "--metrics-addr=127.0.0.1:0", *flags]
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
