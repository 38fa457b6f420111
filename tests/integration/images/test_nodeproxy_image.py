"""The nodeproxy image, really built here by buildah from the root Dockerfile.

One build (a cache hit when nothing changed since the last run; the debootstrap
base is cached either way), then the archive is checked as containerd would
get it: taken back into buildah from the OCI archive itself, run with
`--isolation chroot`, and its files searched for the host's CA.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcluster.imagebuild import HOST_CA_BUNDLE, ImageBuilder, project_recipes
from localcluster.versions import NODEPROXY_IMAGE

pytestmark = pytest.mark.integration

MOZILLA_CERTS = Path("/usr/share/ca-certificates/mozilla")


def _pem_bodies(text: str) -> list[str]:
    """The base64 bodies of the PEM certificates in `text`, one line each."""
    bodies = []
    for block in text.split("-----BEGIN CERTIFICATE-----")[1:]:
        body = block.split("-----END CERTIFICATE-----", 1)[0]
        bodies.append("".join(body.split()))
    return bodies


def host_only_certificates() -> list[bytes]:
    """Certificates in the host's bundle that Debian's ca-certificates does not ship
    (the TLS proxy's CA among them), as DER bytes."""
    shipped = {b for f in MOZILLA_CERTS.glob("*.crt") for b in _pem_bodies(f.read_text())}
    extra = [b for b in _pem_bodies(HOST_CA_BUNDLE.read_text()) if b not in shipped]
    return [base64.b64decode(b) for b in extra]


@pytest.fixture(scope="module")
def builder() -> ImageBuilder:
    return ImageBuilder()


@pytest.fixture(scope="module")
def archive(builder: ImageBuilder) -> Path:
    built = builder.build(project_recipes()["nodeproxy"])
    assert built.reference == NODEPROXY_IMAGE
    return built.archive


@pytest.fixture(scope="module")
def container(builder: ImageBuilder, archive: Path) -> Iterator[str]:
    """A working container made from the archive (not from buildah's own copy)."""
    buildah = builder.buildah
    proc = subprocess.run(
        buildah.argv("from", "--pull=never", f"oci-archive:{archive}"),
        capture_output=True,
        text=True,
        check=True,
    )
    name = proc.stdout.strip().splitlines()[-1]
    image = json.loads(
        subprocess.run(
            buildah.argv("inspect", "--type=container", name),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )["FromImageID"]
    try:
        yield name
    finally:
        subprocess.run(buildah.argv("rm", name), capture_output=True, check=False)
        subprocess.run(buildah.argv("rmi", image), capture_output=True, check=False)


def _run(builder: ImageBuilder, container: str, *command: str) -> str:
    proc = subprocess.run(
        builder.buildah.argv("run", "--isolation=chroot", container, "--", *command),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, f"{command}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def test_archive_is_an_oci_layout_named_for_containerd(archive: Path) -> None:
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        index_file = tar.extractfile("index.json")
        assert index_file is not None
        index = json.loads(index_file.read())
    assert "oci-layout" in names
    [manifest] = index["manifests"]
    assert manifest["annotations"]["io.containerd.image.name"] == NODEPROXY_IMAGE
    assert f"blobs/sha256/{manifest['digest'].split(':')[1]}" in names


def test_nft_and_ip_are_in_the_image(builder: ImageBuilder, container: str) -> None:
    assert "nftables" in _run(builder, container, "nft", "--version")
    assert "iproute2" in _run(builder, container, "ip", "-V")


def test_nodeproxy_runs(builder: ImageBuilder, container: str) -> None:
    assert "usage: nodeproxy" in _run(builder, container, "nodeproxy", "--help")
    # The zipped kubernetes client imports, as the agent needs it.
    code = "import kubernetes.client, nodeproxy.agent; print(kubernetes.client.__name__)"
    assert "kubernetes.client" in _run(builder, container, "python3.11", "-c", code)


def test_image_runs_as_root_with_nodeproxy_as_entrypoint(
    builder: ImageBuilder, container: str
) -> None:
    config = json.loads(
        subprocess.run(
            builder.buildah.argv("inspect", "--type=container", container),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )["OCIv1"]["config"]
    assert config["Entrypoint"] == ["nodeproxy"]
    assert config.get("User", "0:0") in {"0:0", "0", ""}


def host_ca_traces(root: Path) -> list[str]:
    """Files under `root` equal to the host's CA bundle or holding a certificate
    that only the host trusts (the TLS proxy's CA among them)."""
    extra = host_only_certificates()
    markers = [base64.b64encode(der)[:60] for der in extra] + [der[:60] for der in extra]
    bundle = HOST_CA_BUNDLE.read_bytes()
    bundle_digest = hashlib.sha256(bundle).digest()
    traces = []
    for path in root.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        rel = f"/{path.relative_to(root)}"
        if len(data) == len(bundle) and hashlib.sha256(data).digest() == bundle_digest:
            traces.append(f"{rel} is the host's CA bundle")
        elif any(marker in data for marker in markers):
            traces.append(f"{rel} holds a certificate only the host trusts")
    return traces


def test_the_ca_search_finds_the_host_bundle(tmp_path: Path) -> None:
    assert host_only_certificates(), "the host bundle has no certificate of its own"
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "bundle.crt").write_bytes(HOST_CA_BUNDLE.read_bytes())
    (tmp_path / "one.pem").write_text(
        "-----BEGIN CERTIFICATE-----\n"
        + base64.encodebytes(host_only_certificates()[0]).decode()
        + "-----END CERTIFICATE-----\n"
    )
    assert len(host_ca_traces(tmp_path)) == 2


def test_the_host_ca_is_not_in_the_image(builder: ImageBuilder, container: str) -> None:
    mount = subprocess.run(
        builder.buildah.argv("mount", container), capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        root = Path(mount)
        assert sum(1 for _ in root.rglob("*")) > 1000
        assert host_ca_traces(root) == []
    finally:
        subprocess.run(builder.buildah.argv("umount", container), capture_output=True, check=False)
