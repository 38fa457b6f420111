"""What both clouds' boxes share: the cluster, providerIDs, the lbctl process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client, config

from localcluster.state import ClusterRecord, state_dir

LBCTL = Path(sys.executable).with_name("lbctl")
ROOT = Path(__file__).resolve().parents[2]


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


def serves_no_cloud_yet() -> bool:
    """A ready local cluster runs and none of its Nodes has a providerID, so any
    cloud's box may use it (a cluster serves one cloud: providerID is set once)."""
    try:
        kubeconfig, _ = running_cluster()
    except BoxError:
        return False
    api = config.new_client_from_config(config_file=kubeconfig)
    try:
        return not any(n.spec.provider_id for n in client.CoreV1Api(api).list_node().items)
    finally:
        api.close()


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


@dataclass(frozen=True)
class Box:
    """A cloud set up on the local cluster, before lbctl: what lbctl and the suite need."""

    cloud: str
    kubeconfig: str
    #: the loadBalancerClass lbctl serves for this cloud
    lb_class: str
    lbctl_flags: tuple[str, ...]
    lbctl_env: Mapping[str, str] = field(default_factory=dict)
    #: the suite's options this cloud needs beyond the class (LB-2's address)
    suite_options: tuple[str, ...] = ()


@contextmanager
def lbctl_running(box: Box, log: Path, *, fault: str | None = None) -> Iterator[None]:
    """lbctl as a host process with the box's provider, logging to `log`; with
    `fault` (a name in tests.cloudbox.faults) its provider is broken so."""
    command = [sys.executable, "-m", "tests.cloudbox.faults", fault] if fault else [str(LBCTL)]
    argv = [
        *command,
        "run",
        f"--kubeconfig={box.kubeconfig}",
        "--metrics-addr=127.0.0.1:0",
        *box.lbctl_flags,
    ]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **box.lbctl_env},
            cwd=ROOT,  # where `-m tests.cloudbox.faults` imports from
        )
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
