"""`python -m localcluster.imagebuild [--no-cache] [--new-base] [NAME ...]`: build images."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from localcluster.imagebuild.builder import ImageBuilder
from localcluster.imagebuild.recipes import all_recipes, project_recipes


def main(argv: Sequence[str] | None = None) -> int:
    """Build the named images (default lbctl, nodeproxy, agnhost); print their archives."""
    parser = argparse.ArgumentParser(prog="python -m localcluster.imagebuild")
    parser.add_argument(
        "names",
        nargs="*",
        help="lbctl, nodeproxy, agnhost, lbctl-gce, lbctl-aws, lbctl-all (default: first three)",
    )
    parser.add_argument("--no-cache", action="store_true", help="rebuild every step")
    parser.add_argument(
        "--new-base", action="store_true", help="debootstrap the base again (Debian updates)"
    )
    args = parser.parse_args(argv)
    names = args.names or ["lbctl", "nodeproxy", "agnhost"]
    recipes = all_recipes() if "agnhost" in names else project_recipes()
    unknown = sorted(set(names) - set(recipes))
    if unknown:
        print(f"imagebuild: no image named {', '.join(unknown)}", file=sys.stderr)
        return 2
    builder = ImageBuilder()
    if args.new_base:
        builder.remove_base()
    for name in names:
        built = builder.build(recipes[name], no_cache=args.no_cache)
        print(f"{built.reference}\t{built.size / 1e6:.1f} MB\t{built.archive}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
