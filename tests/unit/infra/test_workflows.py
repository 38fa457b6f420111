"""The workflows under .github/ keep the rules the issue sets (actionlint checks
the syntax and the scripts; these check the policy):

- every action outside this repository is pinned by a full commit SHA, with
  the version it stands for in a comment beside it;
- `permissions:` at the workflow level and again on every job, and
  `id-token: write` only where a job authenticates to Google Cloud;
- a `concurrency:` group on every workflow;
- e2e-gke runs on manual dispatch only, with no service-account key;
- e2e-kind and e2e-gke run the suite against lbctl's class and upload the report.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.infra.terraform import REPO

pytestmark = pytest.mark.unit

GITHUB = REPO / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
ACTIONS = sorted((GITHUB / "actions").glob("*/action.yml"))
USES = re.compile(r"^\s*(?:-\s*)?uses:\s*(\S+)(.*)$")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"^\s*#\s*v\d+\.\d+\.\d+\s*$")
LBCTL_CLASS = "lbctl.io/lbctl"  # lbctl/settings.py DEFAULT_CLASS, deploy/overlays/kind
GCE_CLASS = "lbctl.io/gce"  # deploy/overlays/gce


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    # YAML 1.1 reads the key `on` as True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def test_there_are_the_three_workflows() -> None:
    assert [p.name for p in WORKFLOWS] == ["ci.yml", "e2e-gke.yml", "e2e-kind.yml"]


@pytest.mark.parametrize("path", [*WORKFLOWS, *ACTIONS], ids=lambda p: p.parent.name + "/" + p.name)
def test_every_action_is_pinned_by_commit_sha(path: Path) -> None:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        found = USES.match(line)
        if not found:
            continue
        target, rest = found.groups()
        if target.startswith("./"):
            assert (REPO / target / "action.yml").is_file(), f"{path.name}:{number}: {target}"
            continue
        where = f"{path.relative_to(REPO)}:{number}: {target}"
        assert PINNED.match(target), f"{where} is not pinned by a full commit SHA"
        assert VERSION_COMMENT.match(rest), f"{where} needs its version in a comment: # vX.Y.Z"


def test_the_same_action_is_pinned_to_the_same_commit_everywhere() -> None:
    seen: dict[str, tuple[str, str]] = {}
    for path in [*WORKFLOWS, *ACTIONS]:
        for line in path.read_text().splitlines():
            found = USES.match(line)
            if found and not found.group(1).startswith("./"):
                action, sha = found.group(1).split("@")
                pin = (sha, found.group(2).strip())
                assert seen.setdefault(action, pin) == pin, (path.name, action)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_permissions_and_concurrency(path: Path) -> None:
    workflow = load(path)
    assert "permissions" in workflow, f"{path.name}: no workflow-level permissions"
    top = workflow["permissions"] or {}
    assert set(top.values()) <= {"read"}, f"{path.name}: the workflow level grants writes"
    assert workflow.get("concurrency", {}).get("group"), f"{path.name}: no concurrency group"
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {name} sets no permissions"
        granted = job["permissions"]
        assert granted.get("contents") == "read", (path.name, name)
        writes = {k for k, v in granted.items() if v == "write"}
        uses_gcp = "gke-terraform" in yaml.safe_dump(job["steps"])
        assert writes == ({"id-token"} if uses_gcp else set()), (path.name, name, writes)


def test_e2e_gke_is_manual_keyless_and_destroys_always() -> None:
    workflow = load(GITHUB / "workflows/e2e-gke.yml")
    assert set(workflow["on"]) == {"workflow_dispatch"}
    text = (GITHUB / "workflows/e2e-gke.yml").read_text()
    action = (GITHUB / "actions/gke-terraform/action.yml").read_text()
    for source in (text, action):
        assert "credentials_json" not in source and "secrets." not in source
    assert "workload_identity_provider:" in action
    jobs = workflow["jobs"]
    assert set(jobs) == {"lbctl", "gke", "destroy"}
    assert jobs["destroy"]["if"] == "always()"
    assert set(jobs["destroy"]["needs"]) == {"lbctl", "gke"}
    destroy_runs = [s.get("run", "") for s in jobs["destroy"]["steps"]]
    assert any("terraform destroy" in run for run in destroy_runs)
    lbctl_runs = "\n".join(s.get("run", "") for s in jobs["lbctl"]["steps"])
    assert '--conformance-lb-class "$LB_CLASS"' in lbctl_runs
    assert jobs["lbctl"]["env"]["LB_CLASS"] == GCE_CLASS
    assert "docker push" in lbctl_runs and "kubectl apply -k ." in lbctl_runs
    assert '--conformance-lb-ip "$TF_OUT_STATIC_IP"' in lbctl_runs
    gke_runs = "\n".join(s.get("run", "") for s in jobs["gke"]["steps"])
    assert "--conformance-lb-class" not in gke_runs, "the comparison run uses GKE's controller"


def test_e2e_kind_runs_the_suite_against_lbctl_and_uploads_the_report() -> None:
    workflow = load(GITHUB / "workflows/e2e-kind.yml")
    assert workflow["env"]["LB_CLASS"] == LBCTL_CLASS
    assert re.fullmatch(r"v\d+\.\d+\.\d+", workflow["env"]["KIND_VERSION"])
    steps = workflow["jobs"]["conformance"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    for needed in (
        "docker build --target lbctl ",
        "docker build --target nodeproxy ",
        "kind load docker-image",
        "REPLACE_WITH_KIND_NETWORK_RANGE",
        "kubectl apply -k deploy/overlays/kind",
        '--conformance-lb-class "$LB_CLASS"',
        "--conformance-report-dir",
    ):
        assert needed in runs, needed
    uploads = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert uploads and uploads[0]["if"] == "always()"


def test_ci_says_what_a_hosted_runner_cannot_run() -> None:
    workflow = load(GITHUB / "workflows/ci.yml")
    steps = workflow["jobs"]["test"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "make test" in runs
    assert "LBCTL_SKIP_LOCAL_CLUSTER" in runs and "cgroup2fs" in runs
    test_sh = (REPO / "hack/test.sh").read_text()
    assert "LBCTL_SKIP_LOCAL_CLUSTER" in test_sh
