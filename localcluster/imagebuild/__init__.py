"""Build the project's Dockerfiles here, without a Docker daemon or a registry.

Guarantees (each module states its part):
- images are built by buildah with `--isolation chroot`, FROM a Debian base
  that `debootstrap --variant=minbase` makes on this machine and commits
  under exactly the name the Dockerfiles' FROM uses, so no registry is
  contacted (builder.py, base.py);
- the host's CA bundle, which downloads through this machine's TLS proxy
  need, reaches the build only as the build secret `ca`, never a layer
  (builder.py);
- each image is an OCI archive named by its full reference, which `ctr images
  import` takes as it takes the tarballs of images.py (archive.py);
- archives are cached under the cache root by a digest of every input: the
  Dockerfile, the context files .dockerignore admits, target, build
  arguments and base image (context.py).

The images: lbctl and nodeproxy from the root Dockerfile, and upstream's
agnhost rebuilt on Debian (recipes.py). `python -m localcluster.imagebuild`
builds them and prints the archives.
"""

from __future__ import annotations

from localcluster.imagebuild.archive import image_size, layer_sizes, name_archive
from localcluster.imagebuild.base import base_recipe_digest, debian_sources, slim_rootfs
from localcluster.imagebuild.builder import (
    CA_SECRET_ID,
    HOST_CA_BUNDLE,
    Buildah,
    Built,
    ImageBuilder,
    bud_args,
    build_tag,
    push_args,
)
from localcluster.imagebuild.context import (
    IgnoreRules,
    ImageBuildError,
    Recipe,
    context_files,
    dockerfile_instructions,
    external_bases,
    input_key,
)
from localcluster.imagebuild.recipes import (
    AGNHOST_DOCKERFILE,
    REPO_ROOT,
    ROOT_DOCKERFILE,
    agnhost_recipe,
    all_recipes,
    project_recipes,
)

__all__ = [
    "AGNHOST_DOCKERFILE",
    "CA_SECRET_ID",
    "HOST_CA_BUNDLE",
    "REPO_ROOT",
    "ROOT_DOCKERFILE",
    "Buildah",
    "Built",
    "IgnoreRules",
    "ImageBuildError",
    "ImageBuilder",
    "Recipe",
    "agnhost_recipe",
    "all_recipes",
    "base_recipe_digest",
    "bud_args",
    "build_tag",
    "context_files",
    "debian_sources",
    "dockerfile_instructions",
    "external_bases",
    "image_size",
    "input_key",
    "layer_sizes",
    "name_archive",
    "project_recipes",
    "push_args",
    "slim_rootfs",
]
