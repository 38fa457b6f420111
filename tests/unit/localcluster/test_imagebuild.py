"""The daemonless image builder's pure parts: inputs, digests, command lines, Dockerfiles."""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from localcluster import imagebuild
from localcluster.imagebuild import (
    AGNHOST_DOCKERFILE,
    CA_SECRET_ID,
    REPO_ROOT,
    ROOT_DOCKERFILE,
    Buildah,
    IgnoreRules,
    Recipe,
    bud_args,
    context_files,
    dockerfile_instructions,
    external_bases,
    image_size,
    input_key,
    name_archive,
    push_args,
    slim_rootfs,
)
from localcluster.images import ImageSpec, Layer, build_image
from localcluster.versions import (
    AGNHOST_IMAGE,
    DEBIAN_BASE_IMAGE,
    LBCTL_IMAGE,
    NODEPROXY_IMAGE,
)

pytestmark = pytest.mark.unit

DOCKERFILES = {"root": ROOT_DOCKERFILE, "agnhost": AGNHOST_DOCKERFILE}


# --- the input digest ------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A small build context shaped like the repository's."""
    root = tmp_path / "ctx"
    (root / "app").mkdir(parents=True)
    (root / "app" / "__pycache__").mkdir()
    (root / "tests").mkdir()
    (root / "requirements").mkdir()
    (root / "Dockerfile").write_text("FROM base\nCOPY app /app\n")
    (root / ".dockerignore").write_text("*\n!app\n!requirements\n**/__pycache__\n")
    (root / "app" / "main.py").write_text("print('hi')\n")
    (root / "app" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    (root / "requirements" / "core.txt").write_text("six==1.17.0 --hash=sha256:00\n")
    (root / "tests" / "test_main.py").write_text("def test(): pass\n")
    (root / "notes.md").write_text("notes\n")
    return root


def _recipe(root: Path, **changes: object) -> Recipe:
    fields: dict[str, object] = {
        "name": "app",
        "reference": "lbctl.local/app:0.1.0",
        "dockerfile": root / "Dockerfile",
        "context": root,
        "target": "app",
        "build_args": {},
    }
    fields.update(changes)
    return Recipe(**fields)  # type: ignore[arg-type]


def _append(rel: str, text: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        with (root / rel).open("a") as handle:
            handle.write(text)

    return edit


def _chmod_x(rel: str) -> Callable[[Path], None]:
    return lambda root: (root / rel).chmod(0o755)


def _touch(rel: str) -> Callable[[Path], None]:
    return lambda root: os.utime(root / rel, (1, 1))


def _create(rel: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        (root / rel).write_text("new\n")

    return edit


@pytest.mark.parametrize(
    ("edit", "changes"),
    [
        pytest.param(_append("Dockerfile", "RUN true\n"), True, id="dockerfile-edited"),
        pytest.param(_append("app/main.py", "#\n"), True, id="copied-source-edited"),
        pytest.param(_create("app/extra.py"), True, id="copied-source-added"),
        pytest.param(lambda r: (r / "app/main.py").unlink(), True, id="copied-source-removed"),
        pytest.param(_chmod_x("app/main.py"), True, id="copied-source-mode-changed"),
        pytest.param(_append("requirements/core.txt", "#\n"), True, id="lock-file-edited"),
        pytest.param(_append(".dockerignore", "!notes.md\n"), True, id="context-widened"),
        pytest.param(_append("tests/test_main.py", "#\n"), False, id="ignored-test-edited"),
        pytest.param(_append("notes.md", "more\n"), False, id="ignored-file-edited"),
        pytest.param(_create("app/__pycache__/x.pyc"), False, id="bytecode-added"),
        pytest.param(_touch("app/main.py"), False, id="mtime-only"),
        pytest.param(lambda r: None, False, id="nothing"),
    ],
)
def test_input_key_changes_with_inputs_only(
    project: Path, edit: Callable[[Path], None], changes: bool
) -> None:
    before = input_key(_recipe(project), base_id="base1")
    edit(project)
    after = input_key(_recipe(project), base_id="base1")
    assert (before != after) is changes


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"target": "other"}, id="target"),
        pytest.param({"build_args": {"X": "1"}}, id="build-arg"),
        pytest.param({"reference": "lbctl.local/app:0.2.0"}, id="reference"),
    ],
)
def test_input_key_covers_recipe_fields(project: Path, changes: dict[str, object]) -> None:
    assert input_key(_recipe(project), base_id="b") != input_key(
        _recipe(project, **changes), base_id="b"
    )


def test_input_key_covers_base_version(project: Path) -> None:
    recipe = _recipe(project)
    assert input_key(recipe, base_id="sha-a") != input_key(recipe, base_id="sha-b")


def test_input_key_is_independent_of_where_the_context_lives(project: Path, tmp_path: Path) -> None:
    moved = shutil.copytree(project, tmp_path / "elsewhere")
    assert input_key(_recipe(project), base_id="b") == input_key(_recipe(moved), base_id="b")


# --- .dockerignore and the repository's context -----------------------------------------


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        ("lbctl/cli.py", False),
        ("nodeproxy/nft.py", False),
        ("lbcommon/informer.py", False),
        ("pyproject.toml", False),
        ("requirements/core.txt", False),
        ("requirements/build.in", True),
        ("lbctl/__pycache__/cli.cpython-311.pyc", True),
        ("localcluster/imagebuild.py", True),
        ("conformance/plugin.py", True),
        ("tests/conftest.py", True),
        ("Dockerfile", True),
        (".git/HEAD", True),
        (".venv/bin/python", True),
    ],
)
def test_repository_dockerignore(path: str, ignored: bool) -> None:
    rules = IgnoreRules.for_context(REPO_ROOT)
    assert rules.ignored(path) is ignored


def test_repository_context_holds_the_three_packages_only() -> None:
    files = context_files(REPO_ROOT)
    tops = {f.split("/", 1)[0] for f in files}
    assert tops == {"lbctl", "nodeproxy", "lbcommon", "requirements", "pyproject.toml", "README.md"}
    assert "lbctl/cli.py" in files
    assert "nodeproxy/cli.py" in files
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*", "a", True),
        ("*", "a/b", True),  # a matched directory takes its contents along
        ("*.txt", "a.txt", True),
        ("*.txt", "d/a.txt", False),
        ("**/*.txt", "d/e/a.txt", True),
        ("**/*.txt", "a.txt", True),
        ("a/?", "a/b", True),
        ("a/?", "a/bc", False),
        ("[ab].py", "b.py", True),
    ],
)
def test_ignore_patterns_follow_go_match(pattern: str, path: str, matches: bool) -> None:
    assert IgnoreRules.parse(pattern).ignored(path) is matches


# --- command lines ---------------------------------------------------------------------


def test_bud_builds_in_a_chroot_from_local_images_with_the_ca_as_a_secret(tmp_path: Path) -> None:
    recipe = Recipe("nodeproxy", NODEPROXY_IMAGE, ROOT_DOCKERFILE, REPO_ROOT, target="nodeproxy")
    bundle = tmp_path / "ca.crt"
    args = bud_args(recipe, tag="localhost/lbctl-build/nodeproxy:k", ca_bundle=bundle)
    assert args[0] == "bud"
    assert "--isolation=chroot" in args
    assert "--pull=never" in args
    assert "--layers" in args
    assert "--target=nodeproxy" in args
    assert f"--file={ROOT_DOCKERFILE}" in args
    assert f"--secret=id={CA_SECRET_ID},src={bundle}" in args
    assert args[-1] == str(REPO_ROOT)
    # The bundle is named once, as the secret's source, and nowhere else.
    assert [a for a in args if str(bundle) in a] == [f"--secret=id=ca,src={bundle}"]
    assert not [a for a in args if a.startswith(("--build-arg", "--env", "--volume", "-v"))]


def test_bud_without_a_bundle_passes_no_secret() -> None:
    recipe = Recipe("lbctl", LBCTL_IMAGE, ROOT_DOCKERFILE, REPO_ROOT, target="lbctl")
    args = bud_args(recipe, tag="t", ca_bundle=None, no_cache=True)
    assert not [a for a in args if a.startswith("--secret")]
    assert "--no-cache" in args


def test_push_writes_an_uncompressed_oci_archive_named_by_reference(tmp_path: Path) -> None:
    args = push_args("localhost/lbctl-build/agnhost:k", tmp_path / "a.tar", AGNHOST_IMAGE)
    assert args[:2] == ["push", "--quiet"]
    assert args[-1] == f"oci-archive:{tmp_path / 'a.tar'}:{AGNHOST_IMAGE}"


def test_buildah_storage_stays_under_the_given_directory(tmp_path: Path) -> None:
    argv = Buildah.under(tmp_path).argv("images")
    assert argv[0] == "buildah"
    assert f"--root={tmp_path / 'storage'}" in argv
    assert f"--runroot={tmp_path / 'run'}" in argv
    assert argv[-1] == "images"


# --- the Dockerfiles -------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", DOCKERFILES.values(), ids=DOCKERFILES.keys())
def test_dockerfiles_build_from_the_pinned_base_only(dockerfile: Path) -> None:
    assert external_bases(dockerfile.read_text()) == [DEBIAN_BASE_IMAGE]
    assert re.search(r":bookworm-\d{8}-slim$", DEBIAN_BASE_IMAGE)


_CA_WORDS = re.compile(r"ca-certificates\.crt|/run/secrets|/etc/ssl|\bca\.crt|\bcacert", re.I)


@pytest.mark.parametrize("dockerfile", DOCKERFILES.values(), ids=DOCKERFILES.keys())
def test_dockerfiles_take_the_ca_as_a_secret_mount_only(dockerfile: Path) -> None:
    for word, args in dockerfile_instructions(dockerfile.read_text()):
        if word in {"COPY", "ADD", "ENV", "ARG", "LABEL", "VOLUME"}:
            assert not _CA_WORDS.search(args), (word, args)
        if word == "RUN" and "/run/secrets/ca" in args:
            assert "--mount=type=secret,id=ca" in args.split(" ", 1)[0], args
            # Only pip reads it, through PIP_CERT exported inside the step.
            assert not re.search(r"(cp|mv|cat|tee|ln)\s+\S*/run/secrets", args), args


def test_every_download_step_can_have_the_ca() -> None:
    for word, args in dockerfile_instructions(ROOT_DOCKERFILE.read_text()):
        if word == "RUN" and "pip" in args and "install" in args and "--no-index" not in args:
            assert args.startswith("--mount=type=secret,id=ca "), args
            assert "export PIP_CERT=/run/secrets/ca" in args


def _stage(text: str, name: str) -> list[tuple[str, str]]:
    """The instructions that make stage `name`, its parent stages' first."""
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for word, args in dockerfile_instructions(text):
        if word == "FROM":
            current = []
            stages[args.split()[-1]] = current
        current.append((word, args))
    parent = stages[name][0][1].split()[0]
    return (_stage(text, parent) if parent in stages else []) + stages[name]


@pytest.mark.parametrize("target", ["lbctl", "lbctl-gce", "lbctl-aws", "lbctl-all"])
def test_lbctl_runs_as_a_numeric_non_root_user(target: str) -> None:
    lbctl = _stage(ROOT_DOCKERFILE.read_text(), target)
    users = [args for word, args in lbctl if word == "USER"]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    assert ("ENTRYPOINT", '["lbctl"]') in lbctl


def test_nodeproxy_carries_nft_and_ip() -> None:
    nodeproxy = _stage(ROOT_DOCKERFILE.read_text(), "nodeproxy")
    installs = " ".join(args for word, args in nodeproxy if word == "RUN")
    assert "nftables" in installs and "iproute2" in installs
    assert ("ENTRYPOINT", '["nodeproxy"]') in nodeproxy


def test_no_image_copies_the_local_cluster_or_the_suite() -> None:
    for word, args in dockerfile_instructions(ROOT_DOCKERFILE.read_text()):
        if word in {"COPY", "ADD"}:
            assert "localcluster" not in args and "conformance" not in args


def test_agnhost_keeps_upstreams_entrypoint_and_tools() -> None:
    instructions = dockerfile_instructions(AGNHOST_DOCKERFILE.read_text())
    assert ("ENTRYPOINT", '["/agnhost"]') in instructions
    assert ("CMD", '["pause"]') in instructions
    installs = " ".join(args for word, args in instructions if word == "RUN")
    for package in ("bind9-dnsutils", "curl", "netcat-openbsd", "iproute2", "iperf", "socat"):
        assert package in installs


def test_project_images_are_tagged_with_the_distribution_version() -> None:
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert LBCTL_IMAGE.endswith(f":{version}")
    assert NODEPROXY_IMAGE.endswith(f":{version}")


# --- lock files --------------------------------------------------------------------------


@pytest.mark.parametrize("lock", ["core.txt", "gce.txt", "aws.txt", "all.txt", "build.txt"])
def test_lock_files_pin_every_package_with_hashes(lock: str) -> None:
    text = (REPO_ROOT / "requirements" / lock).read_text()
    entries = re.split(r"\n(?=\S)", text)
    pins = [e for e in entries if re.match(r"[A-Za-z0-9_.-]+==", e)]
    assert pins
    for entry in pins:
        assert "--hash=sha256:" in entry, entry.splitlines()[0]
    assert not re.search(r"^[A-Za-z0-9_.-]+\s*(>=|<|~=|$)", text, re.MULTILINE)


def test_lock_files_follow_pyproject() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    core = (REPO_ROOT / "requirements" / "core.txt").read_text()
    full = (REPO_ROOT / "requirements" / "all.txt").read_text()
    for requirement in project["dependencies"]:
        name = re.split(r"[<>=!~ ]", requirement, maxsplit=1)[0]
        assert re.search(rf"^{re.escape(name)}==", core, re.MULTILINE | re.IGNORECASE)
    for extra in ("gce", "aws"):
        for requirement in project["optional-dependencies"][extra]:
            name = re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0]
            assert re.search(rf"^{re.escape(name)}==", full, re.MULTILINE | re.IGNORECASE)
            assert not re.search(rf"^{re.escape(name)}==", core, re.MULTILINE | re.IGNORECASE)


# --- the base's slim rules ------------------------------------------------------------------


def test_slim_rootfs_drops_docs_caches_and_host_files(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    for rel in (
        "usr/share/doc/bash/copyright",
        "usr/share/doc/bash/README",
        "usr/share/man/man1/ls.1.gz",
        "usr/share/locale/locale.alias",
        "usr/share/locale/de/LC_MESSAGES/x.mo",
        "var/cache/apt/archives/bash.deb",
        "var/lib/apt/lists/deb.debian.org_dists_bookworm_InRelease",
        "etc/resolv.conf",
        "etc/hostname",
        "etc/apt/sources.list",
        "dev/null",
        "tmp/x",
        "usr/bin/bash",
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    slim_rootfs(root)
    remaining = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert "usr/share/doc/bash/copyright" in remaining
    assert "usr/share/locale/locale.alias" in remaining
    assert "usr/bin/bash" in remaining
    for gone in (
        "usr/share/doc/bash/README",
        "usr/share/man/man1/ls.1.gz",
        "usr/share/locale/de/LC_MESSAGES/x.mo",
        "var/cache/apt/archives/bash.deb",
        "etc/resolv.conf",
        "etc/hostname",
        "etc/apt/sources.list",
        "dev/null",
        "tmp/x",
    ):
        assert gone not in remaining
    sources = (root / "etc/apt/sources.list.d/debian.sources").read_text()
    assert "bookworm-security" in sources and "bookworm-updates" in sources
    assert "path-exclude /usr/share/doc/*" in (root / "etc/dpkg/dpkg.cfg.d/docker").read_text()


# --- archives -----------------------------------------------------------------------------


def test_named_archive_is_importable_like_images_py(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LBCTL_CACHE", str(tmp_path / "cache"))
    built = build_image(
        ImageSpec("example.test/plain:1", [Layer(texts={"etc/hello": "hello\n"})], cmd=["x"])
    )
    out = tmp_path / "named.tar"
    name_archive(built, "lbctl.local/nodeproxy:0.1.0", out)
    with tarfile.open(out) as tar:
        member = tar.extractfile("index.json")
        assert member is not None
        index = json.loads(member.read())
        names = sorted(tar.getnames())
    annotations = index["manifests"][0]["annotations"]
    assert annotations["io.containerd.image.name"] == "lbctl.local/nodeproxy:0.1.0"
    assert annotations["org.opencontainers.image.ref.name"] == "lbctl.local/nodeproxy:0.1.0"
    with tarfile.open(built) as tar:
        assert sorted(tar.getnames()) == names
    assert image_size(out) == image_size(built) > 0


def test_archives_are_cached_under_the_cache_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LBCTL_CACHE", str(tmp_path))
    builder = imagebuild.ImageBuilder(ca_bundle=None)
    recipe = Recipe("nodeproxy", NODEPROXY_IMAGE, ROOT_DOCKERFILE, REPO_ROOT, target="nodeproxy")
    path = builder.archive_path(recipe, "ab" * 32)
    assert path.is_relative_to(tmp_path)
    assert builder.buildah.root.is_relative_to(tmp_path)
    assert path.name == "nodeproxy-" + "ab" * 8 + ".tar"


def _lock_parents(text: str) -> dict[str, set[str]]:
    """package -> the packages the lock says need it ("# via" notes)."""
    parents: dict[str, set[str]] = {}
    current = ""
    for line in text.splitlines():
        pin = re.match(r"([A-Za-z0-9_.-]+)==", line)
        if pin:
            current = pin.group(1).lower()
            parents[current] = set()
            continue
        via = re.match(r"\s+#\s+(?:via\s+)?([A-Za-z0-9_.-]+)\s*$", line)
        if current and via and via.group(1) != "via":
            parents[current].add(via.group(1).lower())
    return parents


@pytest.mark.parametrize("lock", ["core.txt", "gce.txt", "aws.txt", "all.txt"])
def test_pruned_packages_are_needed_by_aiohttp_only(lock: str) -> None:
    script = (REPO_ROOT / "requirements" / "prune-venv.sh").read_text()
    uninstall = re.search(r"uninstall --yes ([^\n]+)", script)
    assert uninstall is not None
    removed = set(uninstall.group(1).split())
    parents = _lock_parents((REPO_ROOT / "requirements" / lock).read_text())
    assert "aiohttp" in removed and parents["aiohttp"] == {"kubernetes"}
    for package in removed - {"aiohttp"}:
        assert parents[package], package
        assert parents[package] <= removed, (package, parents[package] - removed)


def test_cli_refuses_an_unknown_image(capsys: pytest.CaptureFixture[str]) -> None:
    from localcluster.imagebuild.__main__ import main

    assert main(["lbctl", "nginx"]) == 2
    assert "no image named nginx" in capsys.readouterr().err


def test_recipes_name_every_lbctl_target_of_the_dockerfile() -> None:
    recipes = imagebuild.project_recipes()
    targets = {
        args.split()[-1]
        for word, args in dockerfile_instructions(ROOT_DOCKERFILE.read_text())
        if word == "FROM" and args.split()[-1].startswith(("lbctl", "nodeproxy"))
    } - {"lbctl-runtime"}
    assert {r.target for r in recipes.values()} == targets
    assert recipes["lbctl"].reference == LBCTL_IMAGE
    assert recipes["lbctl-gce"].reference == f"{LBCTL_IMAGE}-gce"


def test_older_archives_are_pruned_but_recent_ones_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[list[str]] = []
    monkeypatch.setattr(
        "localcluster.imagebuild.builder.subprocess.run",
        lambda argv, **_: ran.append(list(argv)),
    )
    builder = imagebuild.ImageBuilder(directory=tmp_path, ca_bundle=None)
    builder.archives.mkdir(parents=True)
    now = time.time()
    ages = {"a": 10, "b": 20, "c": 30, "d": 1800, "e": 7200, "f": 9000}
    for letter, age in ages.items():
        path = builder.archives / f"nodeproxy-{letter * 16}.tar"
        path.write_text("x")
        path.with_suffix(".json").write_text("{}")
        os.utime(path, (now - age, now - age))
    other = builder.archives / f"lbctl-{'0' * 16}.tar"
    other.write_text("x")
    os.utime(other, (now - 9000, now - 9000))
    recipe = Recipe("nodeproxy", NODEPROXY_IMAGE, ROOT_DOCKERFILE, REPO_ROOT, target="nodeproxy")
    builder.prune_archives(recipe)
    left = sorted(p.name for p in builder.archives.glob("*.tar"))
    assert left == sorted([f"nodeproxy-{c * 16}.tar" for c in "abcd"] + [f"lbctl-{'0' * 16}.tar"])
    assert not (builder.archives / f"nodeproxy-{'e' * 16}.json").exists()
    # the images the pruned archives came from leave buildah's storage too
    removed = sorted(argv[-1] for argv in ran if "rmi" in argv)
    assert removed == [imagebuild.build_tag(recipe, c * 16) for c in "ef"]


def _flaky_buildah(tmp_path: Path, failures: int, message: str) -> Buildah:
    """A `buildah` that fails its first `failures` runs printing `message`."""
    script = tmp_path / "buildah"
    count = tmp_path / "runs"
    script.write_text(
        "#!/bin/sh\n"
        f"n=$(cat {count} 2>/dev/null || echo 0); echo $((n+1)) > {count}\n"
        f'if [ "$n" -lt {failures} ]; then echo "{message}" >&2; exit 1; fi\n'
    )
    script.chmod(0o755)
    return Buildah(root=tmp_path / "s", runroot=tmp_path / "r", executable=str(script))


def _runs(tmp_path: Path) -> int:
    return int((tmp_path / "runs").read_text())


def test_a_runtime_failure_of_a_step_is_built_again(tmp_path: Path) -> None:
    busy = "Close_Fd sealing memfd copy: Device or resource busy"
    builder = imagebuild.ImageBuilder(directory=tmp_path, buildah=_flaky_buildah(tmp_path, 2, busy))
    recipe = Recipe("lbctl", LBCTL_IMAGE, ROOT_DOCKERFILE, REPO_ROOT, target="lbctl")
    builder._bud(recipe, tag="t", no_cache=False)
    assert _runs(tmp_path) == 3


def test_a_failing_dockerfile_step_is_not_built_again(tmp_path: Path) -> None:
    builder = imagebuild.ImageBuilder(
        directory=tmp_path, buildah=_flaky_buildah(tmp_path, 1, "E: no pkg")
    )
    recipe = Recipe("lbctl", LBCTL_IMAGE, ROOT_DOCKERFILE, REPO_ROOT, target="lbctl")
    with pytest.raises(imagebuild.ImageBuildError, match="no pkg"):
        builder._bud(recipe, tag="t", no_cache=False)
    assert _runs(tmp_path) == 1
