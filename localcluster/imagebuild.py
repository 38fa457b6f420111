"""Build the project's Dockerfiles here, without a Docker daemon or a registry.

Guarantees:
- images are built by buildah (`bud --isolation chroot --pull=never`) FROM a
  Debian base that `debootstrap --variant=minbase` makes on this machine and
  commits under exactly the name the Dockerfiles' FROM uses
  (versions.DEBIAN_BASE_IMAGE), so no registry is ever contacted;
- the host's CA bundle reaches the build only as the build secret `ca`, which
  buildah mounts at /run/secrets/ca for the RUN steps that ask for it; it is
  never copied into a build context, set in ENV or passed as a build argument,
  so it is in no layer;
- each result is an OCI archive (gzip layers) whose index names the
  image by its full reference (`io.containerd.image.name` and
  `org.opencontainers.image.ref.name`), so `ctr images import` takes it exactly
  as it takes the tarballs of images.py;
- archives are cached under the cache root, keyed by a digest of every input:
  the Dockerfile, each file of the build context that .dockerignore admits
  (path, content, executable bit), the target stage, the build arguments and
  the base image's id. A hit builds nothing; a changed input rebuilds, and
  buildah's layer cache keeps the steps before the change;
- buildah's storage (base, layers, images) lives under the cache root, never
  in system-wide locations; an interrupted build leaves no archive that looks
  complete.

The pure parts (context listing, input digest, command lines, the slim rules
of the base) are separate functions so tests can check them without building.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from localcluster.build import cache_root
from localcluster.versions import (
    AGNHOST_IMAGE,
    DEBIAN_BASE_IMAGE,
    DEBIAN_MIRROR,
    DEBIAN_SUITE,
    LBCTL_IMAGE,
    NODEPROXY_IMAGE,
)

log = logging.getLogger(__name__)

#: The repository root: the build context of the root Dockerfile.
REPO_ROOT = Path(__file__).resolve().parent.parent
ROOT_DOCKERFILE = REPO_ROOT / "Dockerfile"
AGNHOST_DOCKERFILE = Path(__file__).resolve().parent / "agnhost.Dockerfile"

#: The host's CA bundle: it holds the CA of the TLS proxy downloads pass through.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
#: The id under which Dockerfiles mount the CA bundle (`--mount=type=secret,id=ca`).
CA_SECRET_ID = "ca"

#: Bump to remake the base image when the way it is made changes.
BASE_RECIPE_REVISION = 1
BASE_LABEL = "lbctl.base.recipe"

_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# What Debian's official slim images leave out (their dpkg.cfg.d/docker), so
# that packages installed on top of the local base stay as small as on Docker's.
_DPKG_SLIM = """\
# Written by localcluster.imagebuild, as in Debian's official slim images.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
"""

_APT_RM = (
    '"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb'
    ' /var/cache/apt/*.bin || true"'
)
_APT_CLEAN = (
    "# Written by localcluster.imagebuild, as in Debian's official images.\n"
    f"DPkg::Post-Invoke {{ {_APT_RM}; }};\n"
    f"APT::Update::Post-Invoke {{ {_APT_RM}; }};\n"
    'Dir::Cache::pkgcache "";\n'
    'Dir::Cache::srcpkgcache "";\n'
    'Acquire::Languages "none";\n'
)


def debian_sources(suite: str = DEBIAN_SUITE, mirror: str = DEBIAN_MIRROR) -> str:
    """The deb822 sources of Debian's official images: release, updates, security."""
    security = mirror.rstrip("/") + "-security"
    return (
        f"Types: deb\nURIs: {mirror}\nSuites: {suite} {suite}-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        f"Types: deb\nURIs: {security}\nSuites: {suite}-security\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )


#: Trees emptied after debootstrap, as the slim rules would have kept them empty.
_SLIM_PRUNE = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/groff",
    "usr/share/lintian",
    "var/cache/apt",
    "var/lib/apt/lists",
    "var/log",
    "dev",
    "tmp",
)


class ImageBuildError(RuntimeError):
    """A buildah or debootstrap step failed; the message carries its output tail."""


@dataclass(frozen=True)
class Recipe:
    """One image: a Dockerfile, its context and target, and the name it gets."""

    name: str
    reference: str
    dockerfile: Path
    context: Path
    target: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)


# --- the build context and the input digest (pure) ---------------------------


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate a .dockerignore pattern (Go filepath.Match plus `**`)."""
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i)
            if end < 0:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("^"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z")


@dataclass(frozen=True)
class IgnoreRules:
    """A parsed .dockerignore: ordered (exclude?, pattern) rules, last match wins."""

    rules: tuple[tuple[bool, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> IgnoreRules:
        rules = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            include = line.startswith("!")
            pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
            rules.append((not include, pattern))
        return cls(tuple(rules))

    @classmethod
    def for_context(cls, context: Path) -> IgnoreRules:
        path = context / ".dockerignore"
        return cls.parse(path.read_text()) if path.exists() else cls()

    def ignored(self, rel: str) -> bool:
        """Whether the context path `rel` (or a directory above it) is excluded."""
        candidates = [rel]
        parts = rel.split("/")
        candidates += ["/".join(parts[:n]) for n in range(1, len(parts))]
        verdict = False
        for exclude, pattern in self.rules:
            regex = _glob_regex(pattern)
            if any(regex.match(c) for c in candidates):
                verdict = exclude
        return verdict

    def may_reinclude_below(self, rel: str) -> bool:
        """Whether an exception rule could admit something under directory `rel`."""
        return any(
            not exclude and (pattern.startswith(rel + "/") or pattern.startswith("*"))
            for exclude, pattern in self.rules
        )


def context_files(context: Path) -> list[str]:
    """The files (and symlinks) of `context` that its .dockerignore admits, sorted."""
    rules = IgnoreRules.for_context(context)
    found: list[str] = []
    for top, dirs, files in os.walk(context):
        rel_top = os.path.relpath(top, context)
        prefix = "" if rel_top == "." else rel_top + "/"
        kept = []
        for name in sorted(dirs):
            rel = prefix + name
            if (context / rel).is_symlink():
                files.append(name)
            elif not rules.ignored(rel) or rules.may_reinclude_below(rel):
                kept.append(name)
        dirs[:] = kept
        found += [prefix + n for n in files if not rules.ignored(prefix + n)]
    return sorted(found)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def input_key(recipe: Recipe, *, base_id: str) -> str:
    """A digest of everything the image is built from: equal inputs, equal key."""
    files = {}
    for rel in context_files(recipe.context):
        path = recipe.context / rel
        if path.is_symlink():
            files[rel] = "link:" + os.readlink(path)
        else:
            executable = "x" if os.access(path, os.X_OK) else "-"
            files[rel] = f"{executable}:{_file_digest(path)}"
    spec = {
        "reference": recipe.reference,
        "dockerfile": _file_digest(recipe.dockerfile),
        "target": recipe.target,
        "build_args": dict(sorted(recipe.build_args.items())),
        "base": base_id,
        "files": files,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile: continuations joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        if whole:
            word, _, rest = whole.partition(" ")
            instructions.append((word.upper(), " ".join(rest.split())))
    return instructions


def external_bases(text: str) -> list[str]:
    """The images a Dockerfile's FROM lines name that are not its own stages."""
    stages: set[str] = set()
    bases = []
    for word, args in dockerfile_instructions(text):
        if word != "FROM":
            continue
        parts = [p for p in args.split() if not p.startswith("--")]
        if parts[0].lower() not in stages:
            bases.append(parts[0])
        if len(parts) == 3 and parts[1].upper() == "AS":
            stages.add(parts[2].lower())
    return bases


def base_recipe_digest() -> str:
    """A digest of how the base is made; a different recipe remakes the base."""
    spec = {
        "revision": BASE_RECIPE_REVISION,
        "reference": DEBIAN_BASE_IMAGE,
        "suite": DEBIAN_SUITE,
        "mirror": DEBIAN_MIRROR,
        "dpkg": _DPKG_SLIM,
        "apt": _APT_CLEAN,
        "sources": debian_sources(),
        "prune": _SLIM_PRUNE,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


# --- command lines (pure) ----------------------------------------------------


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


# --- the base image ------------------------------------------------------------


def slim_rootfs(root: Path) -> None:
    """Make a debootstrap tree look like Debian's slim image (in place)."""
    (root / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/dpkg/dpkg.cfg.d/docker").write_text(_DPKG_SLIM)
    (root / "etc/apt/apt.conf.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/apt/apt.conf.d/docker-clean").write_text(_APT_CLEAN)
    (root / "etc/apt/sources.list.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/apt/sources.list.d/debian.sources").write_text(debian_sources())
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    # The runtime provides these; the host's copies must not end up in an image.
    for name in ("etc/hostname", "etc/resolv.conf", "etc/hosts"):
        (root / name).unlink(missing_ok=True)
    (root / "etc/machine-id").write_text("")
    for rel in _SLIM_PRUNE:
        directory = root / rel
        if not directory.is_dir():
            continue
        for child in directory.iterdir():
            keep_copyright = rel == "usr/share/doc" and (child / "copyright").exists()
            if keep_copyright and child.is_dir() and not child.is_symlink():
                for item in child.iterdir():
                    if item.name != "copyright":
                        _remove(item)
            elif rel == "usr/share/locale" and child.name == "locale.alias":
                continue
            else:
                _remove(child)
    (root / "tmp").chmod(0o1777)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


# --- running it ------------------------------------------------------------------


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


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


class ImageBuilder:
    """Builds recipes with buildah, caching archives by input digest."""

    def __init__(
        self,
        *,
        directory: Path | None = None,
        ca_bundle: Path | None = HOST_CA_BUNDLE,
        buildah: Buildah | None = None,
    ) -> None:
        self.directory = directory or cache_root() / "imagebuild"
        self.archives = cache_root() / "images" / "oci"
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
        with _locked(self.directory / ".base.lock"):
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
        with _locked(self.archives / f".{recipe.name}.lock"):
            if out.exists() and not no_cache:
                return Built(recipe.name, recipe.reference, out, key, True, 0.0, _size_of(out))
            _progress(f"building image {recipe.reference} ({recipe.name}, {key[:16]})")
            tag = build_tag(recipe, key)
            self._buildah(
                *bud_args(recipe, tag=tag, ca_bundle=self.ca_bundle, no_cache=no_cache),
                logfile=self.directory / "logs" / f"{recipe.name}.log",
            )
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
            _progress(f"built {recipe.name} in {seconds:.0f}s, {size / 1e6:.1f} MB")
            return Built(recipe.name, recipe.reference, out, key, False, seconds, size)

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


# --- the recipes -------------------------------------------------------------------


def project_recipes() -> dict[str, Recipe]:
    """The project's own images, all from the root Dockerfile.

    `lbctl` carries the local provider (the image the local cluster runs);
    each cloud provider's SDK comes in its own variant, tagged `-gce`, `-aws`
    and `-all` (docs/images.md says why not one image for all providers).
    """
    recipes = {
        "lbctl": Recipe("lbctl", LBCTL_IMAGE, ROOT_DOCKERFILE, REPO_ROOT, target="lbctl"),
        "nodeproxy": Recipe(
            "nodeproxy", NODEPROXY_IMAGE, ROOT_DOCKERFILE, REPO_ROOT, target="nodeproxy"
        ),
    }
    for variant in ("gce", "aws", "all"):
        name = f"lbctl-{variant}"
        reference = f"{LBCTL_IMAGE}-{variant}"
        recipes[name] = Recipe(name, reference, ROOT_DOCKERFILE, REPO_ROOT, target=name)
    return recipes


def stage_agnhost_context(directory: Path, *, agnhost: Path, porter: Path) -> Path:
    """Lay out agnhost's build context: the binary and porter's test certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    wanted = {
        "agnhost": agnhost,
        "porter/localhost.crt": porter / "localhost.crt",
        "porter/localhost.key": porter / "localhost.key",
    }
    for rel, source in wanted.items():
        target = directory / rel
        if target.exists() and _file_digest(target) == _file_digest(source):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return directory


def agnhost_recipe(*, agnhost: Path, porter: Path) -> Recipe:
    """Upstream's agnhost image, rebuilt from Debian packages and our agnhost binary."""
    context = stage_agnhost_context(
        cache_root() / "imagebuild" / "contexts" / "agnhost", agnhost=agnhost, porter=porter
    )
    return Recipe("agnhost", AGNHOST_IMAGE, AGNHOST_DOCKERFILE, context)


def upstream_agnhost_sources() -> Path:
    """test/images/agnhost of the pinned Kubernetes module (downloaded by go)."""
    from localcluster.versions import KUBERNETES_VERSION

    out = subprocess.run(
        ["go", "mod", "download", "-json", f"k8s.io/kubernetes@{KUBERNETES_VERSION}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=cache_root(),
        env={**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"},
    ).stdout
    return Path(json.loads(out)["Dir"]) / "test" / "images" / "agnhost"


def all_recipes() -> dict[str, Recipe]:
    """Every image this module builds; agnhost needs its binary built first."""
    from localcluster.build import ensure_named

    agnhost = ensure_named(["agnhost"])["agnhost"]
    porter = upstream_agnhost_sources() / "porter"
    return {**project_recipes(), "agnhost": agnhost_recipe(agnhost=agnhost, porter=porter)}


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m localcluster.imagebuild [--no-cache] [NAME ...]`: build, print archives."""
    parser = argparse.ArgumentParser(prog="python -m localcluster.imagebuild")
    parser.add_argument(
        "names",
        nargs="*",
        help="lbctl, nodeproxy, agnhost, lbctl-gce, lbctl-aws, lbctl-all (default: first three)",
    )
    parser.add_argument("--no-cache", action="store_true", help="rebuild every step")
    args = parser.parse_args(argv)
    names = args.names or ["lbctl", "nodeproxy", "agnhost"]
    recipes = all_recipes() if "agnhost" in names else project_recipes()
    unknown = sorted(set(names) - set(recipes))
    if unknown:
        print(f"imagebuild: no image named {', '.join(unknown)}", file=sys.stderr)
        return 2
    builder = ImageBuilder()
    for name in names:
        built = builder.build(recipes[name], no_cache=args.no_cache)
        print(f"{built.reference}\t{built.size / 1e6:.1f} MB\t{built.archive}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
