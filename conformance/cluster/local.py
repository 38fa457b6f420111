"""`--conformance-cluster=local`: our own multi-node cluster from `localcluster`.

The runner's probes come from the outside world: while the suite holds the
cluster, the pytest thread runs in the local cluster's client network
(`localcluster.outside`, 198.19.100.10), one routed hop away from the nodes,
so node and load-balancer addresses are reachable the way a real client
reaches them (and kube-proxy sees an external source); the guard keeps
every runner probe inside 198.18.0.0/15. The LoadBalancer provider is lbctl
(local provider, pool 198.18.0.200-250) with one nodeproxy per node, both
running in the cluster from their images as the cluster deploys them
(`localcluster.incluster`: the lbctl Deployment, the nodeproxy DaemonSet).

Guarantees:
- one cluster serves every pytest process of the run (xdist workers): a
  file lock orders them, a share file lists the pids of the pytest
  processes using it, and the last one out stops what the run started;
- a cluster that was already up (`localcluster up`) is used and left
  running (its in-cluster load balancing is applied again, which changes
  nothing when it is there); a cluster this adapter started is torn down at
  the end;
- without root, without the `localcluster` package, or when the cluster
  cannot start, `ClusterStartError` carries the cause: the local cluster is
  the one place the suite knows what must be there, so every test errors
  (the run fails loudly) rather than skipping.
"""

from __future__ import annotations

import fcntl
import gc
import json
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from conformance.cluster import procs
from conformance.cluster.base import ClusterHandle, ClusterStartError
from conformance.guard import DestinationGuard
from conformance.settings import SuiteSettings

SHARE_DIR = Path("/run/lbctl-conformance")
WORKERS = 2


@dataclass
class Share:
    """Who uses the run's cluster and what the run started."""

    users: list[int] = field(default_factory=list)
    owned: bool = False
    kubeconfig: str = ""

    @classmethod
    def load(cls) -> Share:
        try:
            share = cls(**json.loads((SHARE_DIR / "share.json").read_text()))
        except (OSError, ValueError, TypeError):
            return cls()
        share.users = [pid for pid in share.users if procs.alive(pid)]
        return share

    def save(self) -> None:
        partial = SHARE_DIR / "share.json.partial"
        partial.write_text(json.dumps(asdict(self)))
        partial.rename(SHARE_DIR / "share.json")


@contextmanager
def _locked() -> Iterator[None]:
    SHARE_DIR.mkdir(parents=True, exist_ok=True)
    with (SHARE_DIR / "lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _running_cluster() -> Path | None:
    """The kubeconfig of a ready local cluster, if one is up."""
    from localcluster.state import ClusterRecord, state_dir

    record = ClusterRecord.load(state_dir())
    if record is None or not record.ready:
        return None
    if not all(procs.alive(pid) for pid in record.pids.values()):
        return None
    return Path(record.kubeconfig)


#: the LocalCluster this process started: kept so its Popen objects are not
#: collected while the (detached) daemons run
_STARTED: list[object] = []


def _start_cluster() -> Path:
    from localcluster.cluster import LocalCluster

    cluster = LocalCluster(WORKERS, detached=True)
    try:
        cluster.up()
    except Exception as err:
        raise ClusterStartError(f"the local cluster did not start: {err}") from err
    finally:
        _collect_quietly()
    _STARTED.append(cluster)
    return cluster.kubeconfig


def _stop_cluster() -> None:
    from localcluster.cluster import LocalCluster, down

    started = [c for c in _STARTED if isinstance(c, LocalCluster)]
    if started:
        started[0].down()
    else:
        down()
    _STARTED.clear()
    _collect_quietly()


def _collect_quietly() -> None:
    """Collect garbage localcluster left (API clients with open sockets) without
    turning its ResourceWarnings into failures of whichever test runs next."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def _ensure_load_balancing(kubeconfig: Path) -> None:
    """lbctl and nodeproxy in-cluster on a cluster started without them."""
    from localcluster import incluster
    from localcluster.state import ClusterRecord, state_dir

    record = ClusterRecord.load(state_dir())
    nodes = len(record.nodes) if record else WORKERS + 1
    try:
        incluster.deploy(kubeconfig, nodes=nodes)
    except incluster.InClusterError as err:
        raise ClusterStartError(f"lbctl and nodeproxy did not start in-cluster: {err}") from err


def _attach() -> Share:
    share = Share.load()
    kubeconfig = _running_cluster()
    if kubeconfig is None:
        kubeconfig, share.owned = _start_cluster(), True
    elif not share.users:
        _ensure_load_balancing(kubeconfig)
    share.kubeconfig = str(kubeconfig)
    share.users.append(os.getpid())
    share.save()
    return share


def _detach() -> None:
    share = Share.load()
    share.users = [pid for pid in share.users if pid != os.getpid()]
    if share.users:
        share.save()
        return
    if share.owned:
        _stop_cluster()
    (SHARE_DIR / "share.json").unlink(missing_ok=True)


@contextmanager
def local_cluster(settings: SuiteSettings) -> Iterator[ClusterHandle]:
    """Use (or start) the local cluster with lbctl and nodeproxy for the session."""
    del settings
    if os.geteuid() != 0:
        raise ClusterStartError("the local cluster needs root (namespaces, mounts)")
    try:
        import localcluster.cluster  # noqa: F401
    except ImportError as err:
        raise ClusterStartError(
            f"the local cluster needs the lbctl-localcluster distribution: {err}"
        ) from None
    from localcluster import outside

    with _locked():
        share = _attach()
    try:
        if not outside.exists():
            raise ClusterStartError(
                f"the local cluster has no client network ({outside.CLIENT_NETNS}): "
                "it was started by an older localcluster; run `localcluster down` first"
            )
        with outside.entered():
            yield ClusterHandle(
                name="local",
                kubeconfig=Path(share.kubeconfig),
                guard=DestinationGuard.local(),
                runner_on_node_network=True,
                lb_provider_is_lbctl=True,
            )
    finally:
        with _locked():
            _detach()
