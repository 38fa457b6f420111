"""Benchmark: build each image with the daemonless builder, cold and warm.

For each image: cold (every Dockerfile step run again: `buildah bud
--no-cache`, only the debootstrap base reused) and warm (the same inputs
again: the archive cache hit, which costs hashing the inputs) build times,
the uncompressed size (the sum of the layer tars, what containerd unpacks)
and the archive's size on disk (gzip layers). The baseline, measured in the
same run, is the Debian base every image starts from: its size is the floor of
every image, and with --cold-base (an empty cache: a scratch storage, the base
made by debootstrap first) its time is measured too.
Target: each of lbctl and nodeproxy at most 150 MB uncompressed.

    .venv/bin/python bench/images.py [--cold-base] [--images nodeproxy lbctl agnhost]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from localcluster.build import cache_root
from localcluster.imagebuild import (
    ImageBuilder,
    Recipe,
    context_files,
    layer_sizes,
    project_recipes,
)

RESULTS = Path(__file__).parent / "results"
TARGET_BYTES = 150_000_000
TARGETED = {"lbctl", "nodeproxy"}


@dataclass(frozen=True)
class Row:
    name: str
    reference: str
    size_bytes: int
    archive_bytes: int
    cold_s: float
    warm_s: float


def _recipes(names: list[str]) -> dict[str, Recipe]:
    if "agnhost" in names:
        from localcluster.imagebuild import all_recipes

        return all_recipes()
    return project_recipes()


def snapshot(recipe: Recipe, directory: Path) -> Recipe:
    """`recipe` with its context copied: edits elsewhere in the tree during the
    run (other people work in it) cannot change the inputs between builds."""
    context = directory / recipe.name
    for rel in [*context_files(recipe.context), ".dockerignore"]:
        source = recipe.context / rel
        if source.exists():
            (context / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, context / rel, follow_symlinks=False)
    dockerfile = context / f".{recipe.dockerfile.name}"
    shutil.copy2(recipe.dockerfile, dockerfile)
    return replace(recipe, context=context, dockerfile=dockerfile)


def measure(builder: ImageBuilder, recipe: Recipe) -> Row:
    started = time.monotonic()
    cold = builder.build(recipe, no_cache=True)
    cold_s = time.monotonic() - started
    started = time.monotonic()
    warm = builder.build(recipe)
    warm_s = time.monotonic() - started
    assert warm.cached and warm.archive == cold.archive
    return Row(
        recipe.name, recipe.reference, cold.size, cold.archive.stat().st_size, cold_s, warm_s
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--images", nargs="+", default=["nodeproxy", "lbctl", "agnhost"], metavar="NAME"
    )
    parser.add_argument(
        "--cold-base",
        action="store_true",
        help="start from an empty cache: debootstrap the base too, timed (scratch storage)",
    )
    args = parser.parse_args()
    recipes = _recipes(args.images)
    with tempfile.TemporaryDirectory(prefix="lbctl-bench-images-", dir=cache_root()) as scratch:
        # --cold-base: a builder of its own (storage, base, archives) in a
        # scratch directory, so the shared cache is neither used nor disturbed.
        builder = ImageBuilder(directory=Path(scratch)) if args.cold_base else ImageBuilder()
        base_s: float | None = None
        started = time.monotonic()
        builder.ensure_base()
        if args.cold_base:
            base_s = time.monotonic() - started
        snapshots = {
            name: snapshot(recipes[name], Path(scratch) / "contexts") for name in args.images
        }
        rows = [measure(builder, snapshots[name]) for name in args.images]
        base_bytes = layer_sizes(builder.build(snapshots[args.images[0]]).archive)[0]
        if args.cold_base:
            subprocess.run(
                builder.buildah.argv("rmi", "--all", "--force"), capture_output=True, check=False
            )

    print(f"{'image':12} {'size MB':>8} {'archive MB':>10} {'cold s':>7} {'warm s':>7}  target")
    base_time = "" if base_s is None else f"{base_s:7.1f}"
    print(f"{'base':12} {base_bytes / 1e6:8.1f} {'':>10} {base_time:>7} {'':>7}  (baseline)")
    for row in rows:
        verdict = ""
        if row.name in TARGETED:
            verdict = "met" if row.size_bytes <= TARGET_BYTES else "MISSED"
        print(
            f"{row.name:12} {row.size_bytes / 1e6:8.1f} {row.archive_bytes / 1e6:10.1f} "
            f"{row.cold_s:7.1f} {row.warm_s:7.2f}  {verdict}"
        )
    for row in rows:
        print(
            f"{row.name}: {row.size_bytes / base_bytes:.2f}x the base, "
            f"+{(row.size_bytes - base_bytes) / 1e6:.1f} MB over it"
        )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "images.json"
    out.write_text(
        json.dumps(
            {
                "base": {"size_bytes": base_bytes, "cold_s": base_s},
                "images": [asdict(row) for row in rows],
                "target_bytes": TARGET_BYTES,
            },
            indent=2,
        )
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
