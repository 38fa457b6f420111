"""What an image is built from, and the digest that caches it.

Guarantees:
- `context_files` lists exactly what `docker build` would send: the files of
  the context that its .dockerignore admits (Go filepath.Match patterns plus
  `**`, `!` exceptions, last match wins, a matched directory takes its
  contents along);
- `input_key` changes when the Dockerfile, an admitted file's path, content or
  permission bits, the target, a build argument, the reference or the base
  image changes, and for nothing else (not mtimes, not ignored files, not
  where the context lives);
- `external_bases` names every image a Dockerfile builds FROM that is not one
  of its own stages, so the builder can refuse what it cannot provide.
All of it is pure: it reads files, runs nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


class ImageBuildError(RuntimeError):
    """A buildah or debootstrap step failed; the message carries its output tail."""


@dataclass(frozen=True)
class Recipe:
    """One image: a Dockerfile, its context and target, and the name it gets."""

    name: str
    reference: str
    dockerfile: Path
    context: Path
    target: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate a .dockerignore pattern (Go filepath.Match plus `**`)."""
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i)
            if end < 0:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("^"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z")


@dataclass(frozen=True)
class IgnoreRules:
    """A parsed .dockerignore: ordered (exclude?, pattern) rules, last match wins."""

    rules: tuple[tuple[bool, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> IgnoreRules:
        rules = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            include = line.startswith("!")
            pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
            rules.append((not include, pattern))
        return cls(tuple(rules))

    @classmethod
    def for_context(cls, context: Path) -> IgnoreRules:
        path = context / ".dockerignore"
        return cls.parse(path.read_text()) if path.exists() else cls()

    def ignored(self, rel: str) -> bool:
        """Whether the context path `rel` (or a directory above it) is excluded."""
        candidates = [rel]
        parts = rel.split("/")
        candidates += ["/".join(parts[:n]) for n in range(1, len(parts))]
        verdict = False
        for exclude, pattern in self.rules:
            regex = _glob_regex(pattern)
            if any(regex.match(c) for c in candidates):
                verdict = exclude
        return verdict

    def may_reinclude_below(self, rel: str) -> bool:
        """Whether an exception rule could admit something under directory `rel`."""
        return any(
            not exclude and (pattern.startswith(rel + "/") or pattern.startswith("*"))
            for exclude, pattern in self.rules
        )


def context_files(context: Path) -> list[str]:
    """The files (and symlinks) of `context` that its .dockerignore admits, sorted."""
    rules = IgnoreRules.for_context(context)
    found: list[str] = []
    for top, dirs, files in os.walk(context):
        rel_top = os.path.relpath(top, context)
        prefix = "" if rel_top == "." else rel_top + "/"
        kept = []
        for name in sorted(dirs):
            rel = prefix + name
            if (context / rel).is_symlink():
                files.append(name)
            elif not rules.ignored(rel) or rules.may_reinclude_below(rel):
                kept.append(name)
        dirs[:] = kept
        found += [prefix + n for n in files if not rules.ignored(prefix + n)]
    return sorted(found)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def input_key(recipe: Recipe, *, base_id: str) -> str:
    """A digest of everything the image is built from: equal inputs, equal key."""
    files = {}
    for rel in context_files(recipe.context):
        path = recipe.context / rel
        if path.is_symlink():
            files[rel] = "link:" + os.readlink(path)
        else:
            mode = path.stat().st_mode & 0o7777
            files[rel] = f"{mode:o}:{file_digest(path)}"
    spec = {
        "reference": recipe.reference,
        "dockerfile": file_digest(recipe.dockerfile),
        "target": recipe.target,
        "build_args": dict(sorted(recipe.build_args.items())),
        "base": base_id,
        "files": files,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile: continuations joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        if whole:
            word, _, rest = whole.partition(" ")
            instructions.append((word.upper(), " ".join(rest.split())))
    return instructions


def external_bases(text: str) -> list[str]:
    """The images a Dockerfile's FROM lines name that are not its own stages."""
    stages: set[str] = set()
    bases = []
    for word, args in dockerfile_instructions(text):
        if word != "FROM":
            continue
        parts = [p for p in args.split() if not p.startswith("--")]
        if parts[0].lower() not in stages:
            bases.append(parts[0])
        if len(parts) == 3 and parts[1].upper() == "AS":
            stages.add(parts[2].lower())
    return bases
