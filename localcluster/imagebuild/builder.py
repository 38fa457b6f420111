"""buildah, run as the local cluster's daemonless image builder.

Guarantees:
- every build is `buildah bud --isolation chroot --pull=never --layers` FROM
  the locally made base, which is committed under exactly the name the
  Dockerfiles' FROM uses (versions.DEBIAN_BASE_IMAGE): no registry is ever
  contacted, and a Dockerfile FROM any other image is refused up front;
- the host's CA bundle reaches the build only as the build secret `ca`
  (`--secret id=ca,src=BUNDLE`, mounted at /run/secrets/ca for the RUN steps
  that ask for it): never copied into a context, set in ENV or passed as a
  build argument, so it is in no layer;
- archives are cached under the cache root by input digest (context.py); a
  hit builds nothing, a changed input rebuilds with buildah's layer cache
  keeping the steps before the change; an interrupted build leaves no archive
  that looks complete; one build per recipe at a time (file lock);
- buildah's storage (base, layers, images) lives under the cache root, never
  in system-wide locations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from localcluster.build import cache_root
from localcluster.filelock import file_lock
from localcluster.imagebuild.archive import image_size, name_archive
from localcluster.imagebuild.base import BASE_LABEL, base_recipe_digest, slim_rootfs
from localcluster.imagebuild.context import (
    ImageBuildError,
    Recipe,
    external_bases,
    input_key,
)
from localcluster.versions import DEBIAN_BASE_IMAGE, DEBIAN_MIRROR, DEBIAN_SUITE

#: The host's CA bundle: it holds the CA of the TLS proxy downloads pass through.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


#: The id under which Dockerfiles mount the CA bundle (`--mount=type=secret,id=ca`).
CA_SECRET_ID = "ca"


#: Archives kept per image: the newest few, so the cache does not grow per edit.
KEEP_ARCHIVES = 3

_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Buildah:
    """buildah with its storage under `root` (images, layers) and `runroot` (locks)."""

    root: Path
    runroot: Path
    driver: str = "overlay"
    executable: str = "buildah"

    @classmethod
    def under(cls, directory: Path) -> Buildah:
        return cls(root=directory / "storage", runroot=directory / "run")

    def argv(self, *args: str) -> list[str]:
        return [
            self.executable,
            f"--root={self.root}",
            f"--runroot={self.runroot}",
            f"--storage-driver={self.driver}",
            *args,
        ]


def bud_args(
    recipe: Recipe, *, tag: str, ca_bundle: Path | None, no_cache: bool = False
) -> list[str]:
    """`buildah bud` arguments: chroot isolation, local images only, CA as a secret."""
    args = [
        "bud",
        "--isolation=chroot",
        "--pull=never",
        "--layers",
        "--format=oci",
        f"--file={recipe.dockerfile}",
        f"--tag={tag}",
    ]
    if recipe.target:
        args.append(f"--target={recipe.target}")
    for key, value in sorted(recipe.build_args.items()):
        args.append(f"--build-arg={key}={value}")
    if ca_bundle is not None:
        args.append(f"--secret=id={CA_SECRET_ID},src={ca_bundle}")
    if no_cache:
        args.append("--no-cache")
    args.append(str(recipe.context))
    return args


def push_args(tag: str, archive: Path, reference: str) -> list[str]:
    """`buildah push` of `tag` to an OCI archive naming the image `reference`.

    Layers are gzip-compressed: buildah 1.28 ignores --disable-compression when
    pushing from its storage, so the archive says so rather than pretending.
    """
    return ["push", "--quiet", tag, f"oci-archive:{archive}:{reference}"]


def build_tag(recipe: Recipe, key: str) -> str:
    """The name the image has in buildah's storage: unique per input digest."""
    return f"localhost/lbctl-build/{recipe.name}:{key[:16]}"


@dataclass(frozen=True)
class Built:
    """A built (or cached) image archive."""

    name: str
    reference: str
    archive: Path
    key: str
    cached: bool
    seconds: float
    size: int


#: how often `buildah bud` runs when the runtime, not the Dockerfile, failed
BUD_ATTEMPTS = 3
#: what such failures print (runc/crun's self-copy under load)
TRANSIENT = ("sealing memfd",)


class ImageBuilder:
    """Builds recipes with buildah, caching archives by input digest."""

    def __init__(
        self,
        *,
        directory: Path | None = None,
        ca_bundle: Path | None = HOST_CA_BUNDLE,
        buildah: Buildah | None = None,
    ) -> None:
        # By default storage under the cache root's imagebuild/ and archives
        # beside images.py's; given a directory, everything lives in it.
        self.directory = directory or cache_root() / "imagebuild"
        self.archives = directory / "archives" if directory else cache_root() / "images" / "oci"
        self.ca_bundle = ca_bundle if ca_bundle is not None and ca_bundle.exists() else None
        self.buildah = buildah or Buildah.under(self.directory)

    def _run(self, args: Sequence[str], *, logfile: Path | None = None) -> str:
        proc = subprocess.run(list(args), capture_output=True, text=True, check=False)
        if logfile is not None:
            logfile.parent.mkdir(parents=True, exist_ok=True)
            logfile.write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-40:])
            raise ImageBuildError(f"{' '.join(args[:6])} ... failed:\n{tail}")
        return proc.stdout

    def _buildah(self, *args: str, logfile: Path | None = None) -> str:
        return self._run(self.buildah.argv(*args), logfile=logfile)

    def _bud(self, recipe: Recipe, *, tag: str, no_cache: bool) -> None:
        """`buildah bud`, again (up to BUD_ATTEMPTS) when a RUN step failed for a
        reason of the runtime's, not of the step: under heavy load runc's copy of
        itself can fail to seal its memfd (EBUSY). Finished steps come from the
        layer cache, so a retry redoes only the step that failed."""
        logfile = self.directory / "logs" / f"{recipe.name}.log"
        args = bud_args(recipe, tag=tag, ca_bundle=self.ca_bundle, no_cache=no_cache)
        for attempt in range(1, BUD_ATTEMPTS + 1):
            try:
                self._buildah(*args, logfile=logfile)
                return
            except ImageBuildError as err:
                if attempt == BUD_ATTEMPTS or not any(m in str(err) for m in TRANSIENT):
                    raise
                _progress(f"{recipe.name}: the runtime failed a step ({TRANSIENT[0]}); again")

    def base_id(self) -> str | None:
        """The id of the committed base image if it exists and is current."""
        proc = subprocess.run(
            self.buildah.argv("inspect", "--type=image", DEBIAN_BASE_IMAGE),
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            return None
        info = json.loads(proc.stdout)
        labels = (info.get("OCIv1", {}).get("config", {}) or {}).get("Labels") or {}
        if labels.get(BASE_LABEL) != base_recipe_digest():
            return None
        image_id: str = info["FromImageID"]
        return image_id

    def ensure_base(self) -> str:
        """Make (or find) the Debian base under DEBIAN_BASE_IMAGE; return its id."""
        with file_lock(self.directory / ".base.lock"):
            existing = self.base_id()
            if existing:
                return existing
            _progress(f"making the base {DEBIAN_BASE_IMAGE} with debootstrap {DEBIAN_SUITE}")
            started = time.monotonic()
            container = f"lbctl-base-{os.getpid()}"
            self._buildah("from", f"--name={container}", "scratch")
            try:
                mount = Path(self._buildah("mount", container).strip())
                self._run(
                    ["debootstrap", "--variant=minbase", DEBIAN_SUITE, str(mount), DEBIAN_MIRROR],
                    logfile=self.directory / "logs" / "debootstrap.log",
                )
                slim_rootfs(mount)
                self._buildah("umount", container)
                self._buildah(
                    "config",
                    f"--env={_PATH}",
                    "--cmd=bash",
                    f"--label={BASE_LABEL}={base_recipe_digest()}",
                    "--os=linux",
                    "--arch=amd64",
                    container,
                )
                self._buildah("commit", "--quiet", "--rm", container, DEBIAN_BASE_IMAGE)
            except BaseException:
                subprocess.run(self.buildah.argv("rm", container), capture_output=True, check=False)
                raise
            _progress(f"made the base in {time.monotonic() - started:.0f}s")
            image_id = self.base_id()
            if image_id is None:
                raise ImageBuildError(f"{DEBIAN_BASE_IMAGE} missing right after its commit")
            return image_id

    def archive_path(self, recipe: Recipe, key: str) -> Path:
        return self.archives / f"{recipe.name}-{key[:16]}.tar"

    def build(self, recipe: Recipe, *, no_cache: bool = False) -> Built:
        """Return `recipe`'s archive, building it unless an equal-input one is cached.

        `no_cache` rebuilds every step (buildah's layer cache unused), the
        figure a first build on a machine with only the base would show.
        """
        foreign = set(external_bases(recipe.dockerfile.read_text())) - {DEBIAN_BASE_IMAGE}
        if foreign:
            raise ImageBuildError(
                f"{recipe.dockerfile} builds FROM {', '.join(sorted(foreign))}; "
                f"only {DEBIAN_BASE_IMAGE} is made here"
            )
        base = self.ensure_base()
        key = input_key(recipe, base_id=base)
        out = self.archive_path(recipe, key)
        started = time.monotonic()
        with file_lock(self.archives / f".{recipe.name}.lock"):
            if out.exists() and not no_cache:
                return Built(recipe.name, recipe.reference, out, key, True, 0.0, _size_of(out))
            _progress(f"building image {recipe.reference} ({recipe.name}, {key[:16]})")
            tag = build_tag(recipe, key)
            self._bud(recipe, tag=tag, no_cache=no_cache)
            partial = self.archives / f".{recipe.name}-{key[:16]}.{os.getpid()}"
            pushed = partial.with_suffix(".push")
            try:
                self._buildah(*push_args(tag, pushed, recipe.reference))
                name_archive(pushed, recipe.reference, partial)
                size = image_size(partial)
                seconds = time.monotonic() - started
                meta = {"reference": recipe.reference, "key": key, "size": size, "seconds": seconds}
                out.with_suffix(".json").write_text(json.dumps(meta, sort_keys=True))
                partial.rename(out)
            finally:
                pushed.unlink(missing_ok=True)
                partial.unlink(missing_ok=True)
            self.prune_archives(recipe)
            _progress(f"built {recipe.name} in {seconds:.0f}s, {size / 1e6:.1f} MB")
            return Built(recipe.name, recipe.reference, out, key, False, seconds, size)

    def prune_archives(self, recipe: Recipe) -> None:
        """Drop `recipe`'s older archives and their images in buildah's storage:
        all but the newest KEEP_ARCHIVES, and only those an hour old (a path
        handed out lately may be in use)."""
        archives = sorted(
            self.archives.glob(f"{recipe.name}-" + "[0-9a-f]" * 16 + ".tar"),
            key=lambda path: path.stat().st_mtime,
            reverse=True,
        )
        for old in archives[KEEP_ARCHIVES:]:
            if time.time() - old.stat().st_mtime > 3600:
                old.unlink(missing_ok=True)
                old.with_suffix(".json").unlink(missing_ok=True)
                # and the image it came from, so buildah's storage does not grow
                # by one image per edit (the archive's name carries its key)
                key = old.stem.rsplit("-", 1)[-1]
                subprocess.run(
                    self.buildah.argv("rmi", build_tag(recipe, key)),
                    capture_output=True,
                    check=False,
                )

    def remove_base(self) -> None:
        """Forget the base image (the next build makes it again)."""
        subprocess.run(
            self.buildah.argv("rmi", "--force", DEBIAN_BASE_IMAGE), capture_output=True, check=False
        )


def _size_of(archive: Path) -> int:
    """The uncompressed size recorded beside `archive` (measured if it is not)."""
    meta = archive.with_suffix(".json")
    if meta.exists():
        size: int = json.loads(meta.read_text())["size"]
        return size
    return image_size(archive)


def _progress(message: str) -> None:
    print(f"lbctl: {message}...", file=sys.stderr, flush=True)
