"""The Debian base image: debootstrap's tree, made to look like Debian's slim image.

Guarantees:
- `slim_rootfs` applies to a debootstrap tree what Debian's official slim
  images apply (dpkg path excludes for docs, man pages and locales, apt's
  cache cleaning, deb822 sources with updates and security) and removes what
  the container runtime provides or the host leaked (/dev nodes, resolv.conf,
  hostname, hosts, apt lists and caches);
- `base_recipe_digest` changes whenever any of that changes; the builder
  labels the committed base with it and remakes a base whose label differs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from localcluster.versions import DEBIAN_BASE_IMAGE, DEBIAN_MIRROR, DEBIAN_SUITE

#: Bump to remake the base image when the way it is made changes.
BASE_RECIPE_REVISION = 1


BASE_LABEL = "lbctl.base.recipe"


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
