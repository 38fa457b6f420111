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

#: containerd release built from the github.com/containerd/containerd/v2 Go
#: module. Kubernetes v1.37's kubelet needs containerd 2.x (Debian's 1.6.20 is
#: far below the supported floor); runc stays Debian's.
CONTAINERD_VERSION: Final = "v2.4.2"

#: CoreDNS release built from the github.com/coredns/coredns Go module with a
#: generated main that links only the plugins the local cluster uses.
COREDNS_VERSION: Final = "v1.15.0"

#: Image tags the pinned release's e2e tests expect
#: (test/utils/image/manifest.go and cmd/kubeadm's PauseVersion).
AGNHOST_IMAGE: Final = "registry.k8s.io/e2e-test-images/agnhost:2.66.1"
BUSYBOX_IMAGE: Final = "registry.k8s.io/e2e-test-images/busybox:1.37.0-2"
PAUSE_IMAGE: Final = "registry.k8s.io/pause:3.10.2"
COREDNS_IMAGE: Final = f"registry.k8s.io/coredns/coredns:{COREDNS_VERSION}"


def staging_version(kubernetes_version: str) -> str:
    """Return the published version of the k8s.io staging modules for a release.

    Upstream publishes each staging module (k8s.io/api, k8s.io/client-go, ...)
    as v0.<minor>.<patch> for Kubernetes v1.<minor>.<patch>.
    """
    major, _, rest = kubernetes_version.lstrip("v").partition(".")
    if major != "1" or not rest:
        raise ValueError(f"unsupported Kubernetes version {kubernetes_version!r}: want v1.X.Y")
    return f"v0.{rest}"


#: The Debian base every Dockerfile builds FROM: Debian's slim image of one
#: dated bookworm build (tags `bookworm-YYYYMMDD-slim` are never moved). Here
#: the image of that name is made locally by debootstrap of the same release
#: (localcluster.imagebuild), so the Dockerfiles build without a registry.
DEBIAN_SUITE: Final = "bookworm"
DEBIAN_BASE_IMAGE: Final = "docker.io/library/debian:bookworm-20260824-slim"
DEBIAN_MIRROR: Final = "http://deb.debian.org/debian"

#: The project's own images, as the local cluster imports them.
LBCTL_IMAGE: Final = "lbctl.local/lbctl:0.1.0"
NODEPROXY_IMAGE: Final = "lbctl.local/nodeproxy:0.1.0"
