"""`down` leaves nothing behind (runs last: it takes the session's cluster down).

The snapshot was taken before the session's `up`; after `down`, no process,
network namespace, link, route, mount or netfilter rule of the cluster may
remain, and neither may its state directory or cgroups.
"""

from __future__ import annotations

import pytest

from localcluster import cgroups
from localcluster.cluster import LocalCluster
from localcluster.state import state_dir
from tests.e2e import snapshot

pytestmark = pytest.mark.e2e


def test_down_leaves_nothing_behind(
    local_cluster: LocalCluster, machine_before: snapshot.Snapshot
) -> None:
    during = snapshot.take()
    assert snapshot.leftovers(machine_before, during), "the cluster left no trace while up?"
    local_cluster.down()
    after = snapshot.take()
    assert snapshot.leftovers(machine_before, after) == {}
    assert not state_dir().exists()
    root = cgroups.cluster_root()
    assert [h for h in cgroups.hierarchies() if (h / root.lstrip("/")).exists()] == []
