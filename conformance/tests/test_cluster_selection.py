"""A cluster that cannot run here skips every test with its reason printed; a
local cluster that cannot start makes every test error with the cause.

None of these tests starts a cluster: the local adapter is stopped at its
first check (root) or given a fake `LocalCluster` that fails to come up.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from conformance.cluster import ClusterStartError, ClusterUnavailableError, open_cluster
from conformance.cluster import local as local_adapter
from conformance.cluster.kind import docker_missing_reason
from conformance.settings import ClusterMode, settings_from

pytestmark = pytest.mark.unit


def test_kind_without_docker_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert docker_missing_reason() == "kind needs a Docker engine: no `docker` CLI on PATH"


def test_missing_kubeconfig_is_unavailable(tmp_path: Path) -> None:
    settings = settings_from({"conformance_kubeconfig": str(tmp_path / "nope")}, {})
    assert settings.mode is ClusterMode.KUBECONFIG
    with pytest.raises(ClusterUnavailableError, match="does not exist"), open_cluster(settings):
        pass


def test_every_test_skips_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    module = tmp_path / "test_needs_kind.py"
    module.write_text(
        textwrap.dedent(
            """
            import pytest
            from conformance.conftest import cluster, suite_settings  # noqa: F401

            @pytest.mark.conformance("CIP-1")
            def test_one(cluster):
                pass

            @pytest.mark.conformance("LB-1")
            def test_two(cluster):
                pass
            """
        )
    )
    code = pytest.main(
        [
            str(module),
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "-rs",
            "--conformance-cluster=kind",
            f"--rootdir={tmp_path}",
            f"--conformance-report-dir={tmp_path / 'out'}",
        ]
    )
    out = capsys.readouterr().out
    # every selected id skipped: the run verified nothing, so it fails
    assert code == pytest.ExitCode.TESTS_FAILED
    assert "2 skipped" in out
    reason = "--conformance-cluster=kind: kind needs a Docker engine: no `docker` CLI on PATH"
    # twice in -rs, once in the matrix, once under "every selected id was skipped"
    assert out.count(reason) >= 4, out
    assert reason in (tmp_path / "out" / "conformance.md").read_text()


class _LocalClusterThatFails:
    """Stands in for `localcluster.cluster.LocalCluster`; its `up` fails at once."""

    def __init__(self, workers: int, *, detached: bool) -> None:
        del workers, detached

    def up(self) -> None:
        raise RuntimeError("etcd did not answer within 60s")


def test_a_local_cluster_that_fails_to_start_is_a_start_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("localcluster.cluster.LocalCluster", _LocalClusterThatFails)
    with pytest.raises(ClusterStartError, match="did not start: etcd did not answer") as caught:
        local_adapter._start_cluster()
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert not issubclass(ClusterStartError, ClusterUnavailableError)


def test_local_without_root_is_a_start_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # the adapter checks root first
    settings = settings_from({"conformance_cluster": "local"}, {})
    with pytest.raises(ClusterStartError, match="needs root"), open_cluster(settings):
        pass


def test_a_local_cluster_that_cannot_start_errors_every_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not a skip of the whole suite: every test errors, naming the cause."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # the adapter checks root first
    module = tmp_path / "test_needs_local.py"
    module.write_text(
        textwrap.dedent(
            """
            import pytest
            from conformance.conftest import cluster, suite_settings  # noqa: F401

            @pytest.mark.conformance("CIP-1")
            def test_one(cluster):
                pass

            @pytest.mark.conformance("LB-1")
            def test_two(cluster):
                pass
            """
        )
    )
    code = pytest.main(
        [
            str(module),
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "-rA",
            "--conformance-cluster=local",
            f"--rootdir={tmp_path}",
            f"--conformance-report-dir={tmp_path / 'out'}",
        ]
    )
    out = capsys.readouterr().out
    assert code == pytest.ExitCode.TESTS_FAILED
    assert "2 errors" in out
    assert "skipped" not in out
    cause = "--conformance-cluster=local: the local cluster needs root (namespaces, mounts)"
    assert out.count(cause) >= 3, out  # in -rA and in the matrix
    rows = [line for line in out.splitlines() if line.startswith(("CIP-1 ", "LB-1 "))]
    assert len(rows) == 2
    assert all(" fail " in row and "needs root" in row for row in rows), rows
    assert "needs root" in (tmp_path / "out" / "conformance.md").read_text()
