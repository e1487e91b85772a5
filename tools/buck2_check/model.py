"""What the checker knows about a repo: findings, recorded targets, packages, the parsed
.buckconfig, and the small helpers every check shares (paths, labels, attribute values)."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path

from .config import split_list

# Directories never walked (outputs, environments) besides [project] ignore.
ALWAYS_SKIP = {".git", ".venv", "buck-out", "__pycache__", ".pytest_cache", "node_modules",
               ".cache"}


@dataclass
class Finding:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class Target:
    package: str
    name: str
    rule: str
    attrs: dict
    buildfile: str

    @property
    def label(self) -> str:
        return f"//{self.package}:{self.name}"


class Select:
    """Opaque value standing for select(); its branches are checked like plain values."""

    def __init__(self, branches):
        self.branches = branches


def iter_values(v):
    """Every string inside an attribute value (lists, dicts' values, select() branches)."""
    if isinstance(v, Select):
        for b in v.branches.values():
            yield from iter_values(b)
    elif isinstance(v, dict):
        for x in v.values():
            yield from iter_values(x)
    elif isinstance(v, (list, tuple)):
        for x in v:
            yield from iter_values(x)
    elif isinstance(v, str):
        yield v


def _is_flagged_source(v) -> bool:
    return isinstance(v, (list, tuple)) and len(v) == 2 and isinstance(v[0], str) and isinstance(v[1], (list, tuple))


def iter_sources(v):
    """The source paths of a srcs-like value (a list, or a select() of lists): as
    :func:`iter_values`, except that an element ``(path, [flags])`` (a source compiled with its
    own flags; starlark-pyo3 hands tuples over as lists) yields only its path."""
    if isinstance(v, Select):
        for b in v.branches.values():
            yield from iter_sources(b)
    elif isinstance(v, dict):
        for x in v.values():
            yield from iter_sources(x)
    elif isinstance(v, (list, tuple)):
        for x in v:
            if _is_flagged_source(x):
                yield x[0]
            else:
                yield from iter_values(x)
    elif isinstance(v, str):
        yield v


def root_label(ref: str, pkg: str) -> str | None:
    """Normalises a target reference to //pkg:name, or None when it points outside the root
    cell (prelude, toolchains are checked separately)."""
    ref = ref.split("[", 1)[0]
    if ref.startswith(":"):
        return f"//{pkg}:{ref[1:]}"
    if ref.startswith("@"):
        ref = ref[1:]
    if ref.startswith("root//"):
        ref = ref[4:]
    if ref.startswith("//"):
        body = ref[2:]
        if ":" not in body:
            body = f"{body}:{body.rsplit('/', 1)[-1]}"
        return "//" + body
    return None


@dataclass
class RepoState:
    """The repo under check and everything found so far."""

    root: Path
    overrides: dict = field(default_factory=dict)
    cfg: dict = field(default_factory=dict)
    buildfiles: list[str] = field(default_factory=list)
    packages: dict[str, str] = field(default_factory=dict)  # package -> build file rel path
    cells: dict[str, str] = field(default_factory=dict)
    targets: dict[str, Target] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def add(self, path, message):
        self.findings.append(Finding(str(path), message))

    def rel(self, p: Path) -> str:
        return p.resolve().relative_to(self.root).as_posix()

    def read_config(self, section, key, default=None):
        if f"{section}.{key}" in self.overrides:
            return self.overrides[f"{section}.{key}"]
        return self.cfg.get(section, {}).get(key, default)

    def ignored(self, rel: str) -> bool:
        for p in split_list(self.cfg.get("project", {}).get("ignore", "")):
            p = p.rstrip("/")
            if rel == p or rel.startswith(p + "/") or fnmatch.fnmatch(rel, p):
                return True
        return False

    def skipped(self, rel: str) -> bool:
        return any(part in ALWAYS_SKIP for part in rel.split("/")) or self.ignored(rel)

    def package_of(self, rel_file: str) -> str | None:
        parts = rel_file.split("/")[:-1]
        while True:
            cand = "/".join(parts)
            if cand in self.packages:
                return cand
            if not parts:
                return None
            parts.pop()

    def walk(self):
        """(repo-relative folder, file names) for every folder buck2 would look at."""
        for dirpath, dirnames, filenames in os.walk(self.root):
            d = Path(dirpath)
            rel_dir = "" if d == self.root else self.rel(d)
            dirnames[:] = sorted(n for n in dirnames if n not in ALWAYS_SKIP
                                 and not self.ignored(f"{rel_dir}/{n}".lstrip("/")))
            if rel_dir and self.ignored(rel_dir):
                continue
            yield rel_dir, sorted(filenames)
