"""The controller depends on Protocols, never on the Kubernetes client (not even indirectly)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "module",
    [
        "lbctl.controller.service_controller",
        "lbctl.controller.reconcile",
        "lbctl.controller.nodesync",
        "lbctl.controller.events",
        "lbctl.providers.local",
    ],
)
def test_module_does_not_load_the_kubernetes_client(module: str) -> None:
    code = f"import sys, {module}; sys.exit('kubernetes' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
