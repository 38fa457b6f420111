"""A cluster that cannot run here skips every test with its reason printed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conformance.cluster import ClusterUnavailableError, open_cluster
from conformance.cluster.kind import docker_missing_reason
from conformance.settings import ClusterMode, settings_from

pytestmark = pytest.mark.unit


def test_kind_without_docker_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert docker_missing_reason() == "kind needs a Docker engine: no `docker` CLI on PATH"


def test_missing_kubeconfig_is_unavailable(tmp_path: Path) -> None:
    settings = settings_from({"kubeconfig": str(tmp_path / "nope")}, {})
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
            "--cluster=kind",
            f"--rootdir={tmp_path}",
            f"--conformance-report-dir={tmp_path / 'out'}",
        ]
    )
    out = capsys.readouterr().out
    assert code == pytest.ExitCode.OK
    assert "2 skipped" in out
    reason = "--cluster=kind: kind needs a Docker engine: no `docker` CLI on PATH"
    assert out.count(reason) >= 3, out  # twice in -rs, once in the matrix at least
    assert reason in (tmp_path / "out" / "conformance.md").read_text()
