"""OCI image tarballs built locally from static binaries: no registry involved.

Guarantees:
- `build_image` writes an OCI image layout tarball (oci-layout, index.json,
  blobs/sha256/...) that `ctr images import` accepts; the image is named by
  the `io.containerd.image.name` annotation, so it lands under its full
  upstream reference (e.g. registry.k8s.io/pause:3.10.2);
- output is byte-for-byte reproducible for the same inputs (sorted entries,
  zero mtimes, root ownership), and cached under the cache root keyed by a
  digest of the inputs, so a warm boot never rebuilds an image;
- layers are plain (uncompressed) tars.

The images the local cluster needs are described by `cluster_images`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from localcluster.build import cache_root
from localcluster.versions import (
    BUSYBOX_IMAGE,
    COREDNS_IMAGE,
    PAUSE_IMAGE,
)

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"

BUSYBOX_BINARY = Path("/bin/busybox")

_ETC_FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
    "etc/nsswitch.conf": "hosts: files dns\n",
}


@dataclass(frozen=True)
class Layer:
    """Files of one layer: path inside the image -> host file, plus text files."""

    binaries: Mapping[str, Path] = field(default_factory=dict)
    texts: Mapping[str, str] = field(default_factory=dict)
    symlinks: Mapping[str, str] = field(default_factory=dict)
    directories: Sequence[str] = ()

    def key(self) -> str:
        """A digest of the layer's inputs (binaries by content digest)."""
        spec = {
            "binaries": {k: _file_digest(v) for k, v in sorted(self.binaries.items())},
            "texts": dict(sorted(self.texts.items())),
            "symlinks": dict(sorted(self.symlinks.items())),
            "directories": sorted(self.directories),
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class ImageSpec:
    """A single-platform linux/amd64 image: layers bottom-up, entrypoint, cmd."""

    reference: str
    layers: Sequence[Layer]
    entrypoint: Sequence[str] = ()
    cmd: Sequence[str] = ()
    env: Sequence[str] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _info(name: str, kind: bytes, *, mode: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _parents(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def write_layer(layer: Layer, out: Path) -> None:
    """Write `layer` as a reproducible tar at `out`."""
    directories = set(layer.directories)
    for path in [*layer.binaries, *layer.texts, *layer.symlinks]:
        directories.update(_parents(path))
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for directory in sorted(directories):
            mode = 0o1777 if directory == "tmp" else 0o755
            tar.addfile(_info(directory, tarfile.DIRTYPE, mode=mode))
        for name in sorted(layer.binaries):
            source = layer.binaries[name]
            info = _info(name, tarfile.REGTYPE, mode=0o755, size=source.stat().st_size)
            with source.open("rb") as handle:
                tar.addfile(info, handle)
        for name in sorted(layer.texts):
            data = layer.texts[name].encode()
            tar.addfile(_info(name, tarfile.REGTYPE, mode=0o644, size=len(data)), io.BytesIO(data))
        for name in sorted(layer.symlinks):
            info = _info(name, tarfile.SYMTYPE, mode=0o777)
            info.linkname = layer.symlinks[name]
            tar.addfile(info)


def _blob(tar: tarfile.TarFile, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    tar.addfile(
        _info(f"blobs/sha256/{digest}", tarfile.REGTYPE, mode=0o644, size=len(data)),
        io.BytesIO(data),
    )
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _images_dir() -> Path:
    return cache_root() / "images"


def build_image(spec: ImageSpec) -> Path:
    """Return the path of `spec`'s OCI tarball, building it if it is not cached."""
    key_spec = {
        "reference": spec.reference,
        "layers": [layer.key() for layer in spec.layers],
        "entrypoint": list(spec.entrypoint),
        "cmd": list(spec.cmd),
        "env": list(spec.env),
    }
    key = hashlib.sha256(json.dumps(key_spec, sort_keys=True).encode()).hexdigest()[:16]
    safe = spec.reference.rsplit("/", 1)[-1].replace(":", "-")
    out = _images_dir() / f"{safe}-{key}.tar"
    if out.exists():
        return out
    work = _images_dir() / f".{safe}-{key}.{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    try:
        layer_paths = []
        for index, layer in enumerate(spec.layers):
            path = work / f"layer{index}.tar"
            write_layer(layer, path)
            layer_paths.append(path)
        partial = work / "image.tar"
        _write_layout(spec, layer_paths, partial)
        partial.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _write_layout(spec: ImageSpec, layer_paths: Sequence[Path], out: Path) -> None:
    layer_digests = [_file_digest(p) for p in layer_paths]
    config: dict[str, object] = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": list(spec.env),
            "Entrypoint": list(spec.entrypoint) or None,
            "Cmd": list(spec.cmd) or None,
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{d}" for d in layer_digests]},
        "history": [{"created_by": "localcluster.images"} for _ in layer_paths],
    }
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_info("blobs", tarfile.DIRTYPE, mode=0o755))
        tar.addfile(_info("blobs/sha256", tarfile.DIRTYPE, mode=0o755))
        layers = []
        for path, digest in zip(layer_paths, layer_digests, strict=True):
            info = _info(
                f"blobs/sha256/{digest}", tarfile.REGTYPE, mode=0o644, size=path.stat().st_size
            )
            with path.open("rb") as handle:
                tar.addfile(info, handle)
            layers.append(
                {
                    "mediaType": LAYER_MEDIA_TYPE,
                    "digest": f"sha256:{digest}",
                    "size": path.stat().st_size,
                }
            )
        config_desc = _blob(tar, json.dumps(config, sort_keys=True).encode())
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": CONFIG_MEDIA_TYPE, **config_desc},
            "layers": layers,
        }
        manifest_desc = _blob(tar, json.dumps(manifest, sort_keys=True).encode())
        tag = spec.reference.rsplit(":", 1)[-1]
        index = {
            "schemaVersion": 2,
            "mediaType": INDEX_MEDIA_TYPE,
            "manifests": [
                {
                    "mediaType": MANIFEST_MEDIA_TYPE,
                    **manifest_desc,
                    "platform": {"architecture": "amd64", "os": "linux"},
                    "annotations": {
                        "io.containerd.image.name": spec.reference,
                        "org.opencontainers.image.ref.name": tag,
                    },
                }
            ],
        }
        for name, data in (
            ("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
            ("index.json", json.dumps(index, sort_keys=True).encode()),
        ):
            tar.addfile(_info(name, tarfile.REGTYPE, mode=0o644, size=len(data)), io.BytesIO(data))


def busybox_layer(busybox: Path = BUSYBOX_BINARY) -> Layer:
    """A layer with Debian's static busybox, a symlink per applet, and /etc basics."""
    listing = subprocess.run(
        [str(busybox), "--list-full"], capture_output=True, text=True, check=True
    ).stdout.split()
    links = {applet: "/bin/busybox" for applet in listing if applet != "bin/busybox"}
    return Layer(
        binaries={"bin/busybox": busybox},
        texts=_ETC_FILES,
        symlinks=links,
        directories=("tmp", "root", "etc", "proc", "sys", "dev", "var"),
    )


def cluster_images(binaries: Mapping[str, Path]) -> list[ImageSpec]:
    """The images every node imports that need no build tool: pause, busybox, CoreDNS.

    `agnhost pause` stands in for the pause binary. agnhost itself, like
    upstream's image, carries Debian's tools and is built from its Dockerfile
    (localcluster.imagebuild, `agnhost_recipe`).
    """
    agnhost = Layer(binaries={"agnhost": binaries["agnhost"]})
    base = busybox_layer()
    return [
        ImageSpec(PAUSE_IMAGE, [agnhost], entrypoint=["/agnhost", "pause"]),
        ImageSpec(BUSYBOX_IMAGE, [base], cmd=["sh"]),
        ImageSpec(
            COREDNS_IMAGE,
            [Layer(binaries={"coredns": binaries["coredns"]}, directories=("etc",))],
            entrypoint=["/coredns"],
        ),
    ]


def build_cluster_images(binaries: Mapping[str, Path]) -> list[Path]:
    """Build (or find cached) every image the cluster imports; return the tarballs."""
    return [build_image(spec) for spec in cluster_images(binaries)]
