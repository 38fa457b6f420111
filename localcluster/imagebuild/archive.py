"""OCI archives as buildah writes them and containerd imports them.

Guarantees:
- `name_archive` copies an archive with every manifest of its index annotated
  with the full image reference (`io.containerd.image.name`, the annotation
  images.py writes, and `org.opencontainers.image.ref.name`), blobs unchanged;
- `layer_sizes` and `image_size` give the uncompressed size of the layers
  (what containerd unpacks), whether the archive holds gzip or plain tars.
"""

from __future__ import annotations

import io
import json
import tarfile
import zlib
from pathlib import Path
from typing import IO, Any

from localcluster.imagebuild.context import ImageBuildError


def image_size(archive: Path) -> int:
    """Uncompressed size of an OCI archive's image: the sum of its layer tars."""
    return sum(layer_sizes(archive))


def layer_sizes(archive: Path) -> list[int]:
    """Uncompressed size of each layer of an OCI archive's image, bottom up."""
    with tarfile.open(archive) as tar:
        index = _read_json(tar, "index.json")
        manifest_digest = index["manifests"][0]["digest"].split(":", 1)[1]
        manifest = _read_json(tar, f"blobs/sha256/{manifest_digest}")
        sizes = []
        for layer in manifest["layers"]:
            blob = tar.extractfile(f"blobs/sha256/{layer['digest'].split(':', 1)[1]}")
            if blob is None:
                raise ImageBuildError(f"{archive}: layer {layer['digest']} missing")
            if layer["mediaType"].endswith("+gzip"):
                sizes.append(_gunzipped_size(blob))
            elif layer["mediaType"].endswith(".tar"):
                sizes.append(int(layer["size"]))
            else:
                raise ImageBuildError(f"{archive}: layer type {layer['mediaType']}")
        return sizes


def _gunzipped_size(stream: IO[bytes]) -> int:
    inflate = zlib.decompressobj(wbits=31)
    size = 0
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        size += len(inflate.decompress(chunk))
    return size + len(inflate.flush())


def _read_json(tar: tarfile.TarFile, name: str) -> Any:
    """A JSON document of an OCI layout (the format's boundary: plain JSON)."""
    member = tar.extractfile(name)
    if member is None:
        raise ImageBuildError(f"{name} missing from the archive")
    return json.loads(member.read())


def name_archive(archive: Path, reference: str, out: Path) -> None:
    """Copy `archive` to `out`, naming its image `reference` for containerd."""
    with tarfile.open(archive) as src, tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as dst:
        for member in src.getmembers():
            if member.name.lstrip("./") == "index.json":
                continue
            handle = src.extractfile(member) if member.isfile() else None
            dst.addfile(member, handle)
        index = _read_json(src, "index.json")
        for manifest in index["manifests"]:
            annotations = manifest.setdefault("annotations", {})
            annotations["io.containerd.image.name"] = reference
            annotations["org.opencontainers.image.ref.name"] = reference
        data = json.dumps(index, sort_keys=True).encode()
        info = tarfile.TarInfo("index.json")
        info.size = len(data)
        info.mode = 0o644
        dst.addfile(info, io.BytesIO(data))
