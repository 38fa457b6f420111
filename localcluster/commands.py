"""`localcluster up|down|status`: thin wrappers that print and set exit codes.

`up` leaves the cluster running after the command exits (its processes are
detached and recorded in the state directory); `down` and `status` find it
through that record. Failures the user can act on are one line on stderr
and exit code 2.
"""

from __future__ import annotations

import os
import sys

from kubernetes import client, config

from localcluster import netns
from localcluster.cluster import ClusterBusyError, LocalCluster
from localcluster.cluster import down as teardown_cluster
from localcluster.node import MAX_NODES
from localcluster.state import ClusterRecord, lock, pid_alive, state_dir


def _fail(message: str) -> int:
    print(f"localcluster: {message}", file=sys.stderr)
    return 2


def up(*, workers: int, version: str, load_balancing: bool = True) -> int:
    if os.geteuid() != 0:
        return _fail("cluster up needs root (network namespaces, mounts, cgroups)")
    if not 0 <= workers < MAX_NODES:
        return _fail(f"--workers must be between 0 and {MAX_NODES - 1}")
    try:
        cluster = LocalCluster(
            workers, version=version, detached=True, load_balancing=load_balancing
        ).up()
    except ClusterBusyError as err:
        return _fail(str(err))
    print(cluster.kubeconfig)
    return 0


def down() -> int:
    if os.geteuid() != 0:
        return _fail("cluster down needs root")
    with lock():
        existed = teardown_cluster()
    print(
        "localcluster: cluster removed" if existed else "localcluster: no cluster was running",
        file=sys.stderr,
    )
    return 0


def kubeconfig() -> int:
    """Print the ready cluster's admin kubeconfig path, for scripts; 1 if none."""
    record = ClusterRecord.load(state_dir())
    if record is None or not record.ready:
        print("localcluster: no ready local cluster (localcluster up starts one)", file=sys.stderr)
        return 1
    print(record.kubeconfig)
    return 0


def status() -> int:
    """Print nodes (from the API) and daemons (from the record); 1 if not running."""
    record = ClusterRecord.load(state_dir())
    if record is None:
        print("no local cluster (localcluster up starts one)")
        return 1
    print(f"kubeconfig: {record.kubeconfig}")
    print(f"apiserver:  {record.apiserver} (bridge {netns.BRIDGE})")
    dead = [name for name, pid in record.pids.items() if not pid_alive(pid)]
    print(f"processes:  {len(record.pids) - len(dead)}/{len(record.pids)} running")
    for name in dead:
        print(f"  not running: {name}")
    try:
        api = config.new_client_from_config(config_file=record.kubeconfig)
    except Exception as err:  # a broken kubeconfig is a status, not a crash
        print(f"api:        unusable kubeconfig ({err})")
        return 1
    try:
        nodes = client.CoreV1Api(api).list_node(_request_timeout=5).items
    except Exception as err:
        print(f"api:        not answering ({type(err).__name__})")
        return 1
    finally:
        api.close()
    for node in nodes:
        ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
        address = next(
            (a.address for a in node.status.addresses or [] if a.type == "InternalIP"), "-"
        )
        print(
            f"  {node.metadata.name:<24} {'Ready' if ready else 'NotReady':<9} "
            f"{address:<14} pods {node.spec.pod_cidr or '-'}"
        )
    return 0 if not dead and record.ready else 1
