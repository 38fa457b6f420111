"""The local cluster's pure parts: node plan, configs, image layout."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from localcluster.containerd import cni_template
from localcluster.images import ImageSpec, Layer, build_image
from localcluster.kubelet import KubeletSettings, kubelet_config
from localcluster.node import node_specs

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("workers", "names", "addresses"),
    [
        (0, ["lbctl-control-plane"], ["198.18.0.10"]),
        (
            2,
            ["lbctl-control-plane", "lbctl-worker-1", "lbctl-worker-2"],
            ["198.18.0.10", "198.18.0.11", "198.18.0.12"],
        ),
    ],
)
def test_nodes_follow_the_address_plan(
    workers: int, names: list[str], addresses: list[str]
) -> None:
    specs = node_specs(workers)
    assert [s.name for s in specs] == names
    assert [s.address for s in specs] == addresses
    assert [s.control_plane for s in specs] == [True] + [False] * workers


@pytest.mark.parametrize("workers", [-1, 40])
def test_node_count_is_bounded_by_the_node_range(workers: int) -> None:
    with pytest.raises(ValueError, match="workers must be between"):
        node_specs(workers)


def test_pods_get_no_default_route() -> None:
    plugins = json.loads(cni_template())["plugins"]
    routes = [r["dst"] for p in plugins for r in p.get("ipam", {}).get("routes", [])]
    assert routes == ["198.18.0.0/15"]
    assert all(p.get("ipMasq", False) is False for p in plugins)


def test_kubelet_config_fits_this_machine(tmp_path: Path) -> None:
    config = kubelet_config(
        KubeletSettings(
            node_name="n1",
            node_ip="198.18.0.11",
            node_dir=tmp_path,
            cgroup_root="/lbctl/n1",
            runtime_endpoint="unix:///x.sock",
            cluster_dns="198.18.16.10",
            ca_file=tmp_path / "ca.crt",
        )
    )
    assert config["failCgroupV1"] is False  # cgroup v1 host, kubelet >= 1.35
    assert config["cgroupRoot"] == "/lbctl/n1"
    assert config["clusterDNS"] == ["198.18.16.10"]
    assert config["address"] == "198.18.0.11"
    assert config["registerWithTaints"] == []


def test_image_is_a_valid_oci_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LBCTL_CACHE", str(tmp_path / "cache"))
    binary = tmp_path / "hello"
    binary.write_bytes(b"\x7fELF not really")
    spec = ImageSpec(
        "registry.example/test/hello:1.0",
        [Layer(binaries={"hello": binary}, texts={"etc/motd": "hi\n"})],
        entrypoint=["/hello"],
    )
    out = build_image(spec)
    assert build_image(spec) == out  # cached by content
    with tarfile.open(out) as tar:
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        manifest_digest = index["manifests"][0]["digest"].split(":")[1]
        assert index["manifests"][0]["annotations"]["io.containerd.image.name"] == spec.reference
        manifest = json.load(tar.extractfile(f"blobs/sha256/{manifest_digest}"))  # type: ignore[arg-type]
        config_digest = manifest["config"]["digest"].split(":")[1]
        config = json.load(tar.extractfile(f"blobs/sha256/{config_digest}"))  # type: ignore[arg-type]
        assert config["config"]["Entrypoint"] == ["/hello"]
        layer = tar.extractfile(f"blobs/sha256/{manifest['layers'][0]['digest'].split(':')[1]}")
        assert layer is not None
        with tarfile.open(fileobj=layer) as inner:
            names = inner.getnames()
    assert "hello" in names and "etc/motd" in names
