"""Run the pinned kubectl: render a kustomization, apply to a test apiserver.

Never with the user's kubeconfig: without one given, kubectl gets /dev/null.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.unit.deploy.manifests import Obj, load_yaml

KUBECTL_TIMEOUT = 120


def run_kubectl(
    kubectl: Path, *args: str, stdin: str | None = None, kubeconfig: Path | None = None
) -> subprocess.CompletedProcess[str]:
    command = [str(kubectl), f"--kubeconfig={kubeconfig or '/dev/null'}", *args]
    return subprocess.run(
        command, input=stdin, capture_output=True, text=True, timeout=KUBECTL_TIMEOUT, check=False
    )


def render(kubectl: Path, directory: Path) -> list[Obj]:
    """`kubectl kustomize DIRECTORY` as objects; a failure fails the test with its stderr."""
    proc = run_kubectl(kubectl, "kustomize", str(directory))
    assert proc.returncode == 0, f"kubectl kustomize {directory}:\n{proc.stderr}"
    return load_yaml(proc.stdout)
