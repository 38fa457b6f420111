"""The images the project builds: its two programs and upstream's agnhost.

Guarantees:
- lbctl and nodeproxy come from the root Dockerfile, one target each, plus
  the lbctl variants with a cloud SDK (`-gce`, `-aws`, `-all` tags);
- agnhost comes from localcluster/agnhost.Dockerfile, in a context staged
  under the cache root from the agnhost binary that build.py builds from the
  pinned Kubernetes release and porter's test certificate from the same
  release's sources; it is named as upstream names it (AGNHOST_IMAGE).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from localcluster.build import cache_root
from localcluster.imagebuild.context import Recipe, file_digest
from localcluster.versions import AGNHOST_IMAGE, LBCTL_IMAGE, NODEPROXY_IMAGE

#: The repository root: the build context of the root Dockerfile.
REPO_ROOT = Path(__file__).resolve().parents[2]


ROOT_DOCKERFILE = REPO_ROOT / "Dockerfile"


AGNHOST_DOCKERFILE = Path(__file__).resolve().parents[1] / "agnhost.Dockerfile"


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
        if target.exists() and file_digest(target) == file_digest(source):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        shutil.copyfile(source, target)
    # As upstream's build context has them (the module cache's copies are read-only).
    modes = {"agnhost": 0o755, "porter/localhost.crt": 0o644, "porter/localhost.key": 0o644}
    for rel, mode in modes.items():
        (directory / rel).chmod(mode)
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
