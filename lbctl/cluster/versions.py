"""The pinned versions of every upstream component the local cluster builds.

One place, so that a version bump is one reviewed line and every cache path
derived from it changes with it. docs/kubernetes-version.md says why each pin
was chosen.
"""

from __future__ import annotations

from typing import Final

#: Kubernetes release built from the k8s.io/kubernetes Go module.
KUBERNETES_VERSION: Final = "v1.37.2"

#: etcd release built from the go.etcd.io/etcd/server/v3 Go module. Kubernetes
#: v1.37 is built against the etcd v3.7 client.
ETCD_VERSION: Final = "v3.7.3"


def staging_version(kubernetes_version: str) -> str:
    """Return the published version of the k8s.io staging modules for a release.

    Upstream publishes each staging module (k8s.io/api, k8s.io/client-go, ...)
    as v0.<minor>.<patch> for Kubernetes v1.<minor>.<patch>.
    """
    major, _, rest = kubernetes_version.lstrip("v").partition(".")
    if major != "1" or not rest:
        raise ValueError(f"unsupported Kubernetes version {kubernetes_version!r}: want v1.X.Y")
    return f"v0.{rest}"
