"""The pinned kubectl, and every overlay rendered once per session with it.

kubectl is built from the pinned Kubernetes release (localcluster.build,
cached like the server binaries), so `kubectl kustomize` is the kustomize
that release embeds, whatever kubectl is on PATH.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from localcluster.build import ensure_named
from tests.integration.deploy.kubectl_cli import render
from tests.unit.deploy.manifests import DEPLOY, OVERLAYS, Obj


@pytest.fixture(scope="session")
def kubectl() -> Path:
    return ensure_named(["kubectl"])["kubectl"]


@pytest.fixture(scope="session")
def rendered(kubectl: Path) -> dict[str, list[Obj]]:
    """Overlay name (and "base") -> its rendered objects."""
    result = {name: render(kubectl, DEPLOY / "overlays" / name) for name in OVERLAYS}
    result["base"] = render(kubectl, DEPLOY / "base")
    return result
