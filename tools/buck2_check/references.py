"""What targets point at: source files that exist in the target's own package, dependencies
and $(location ...) macros that name declared targets, main modules packed in the binary."""

from __future__ import annotations

import re

from .model import RepoState, Target, iter_sources, iter_values, root_label
from .rules import DEP_ATTRS, SOURCE_ATTRS

_KNOWN_EXTERNAL_CELLS = ("prelude", "config", "ovr_config", "fbcode", "fbsource", "buck")
_MACRO = re.compile(r"\$\((?:location|exe|exe_target|query_outputs)\s+([^)\s]+)\)")


def check_targets(s: RepoState):
    for label, t in s.targets.items():
        pkg_dir = s.root / t.package if t.package else s.root
        for attr, value in t.attrs.items():
            if attr in SOURCE_ATTRS:
                for v in iter_sources(value):
                    if v.startswith((":", "@")) or "$(" in v or "//" in v:
                        check_ref(s, t, attr, v)
                        continue
                    full = f"{t.package}/{v}".lstrip("/")
                    if not (pkg_dir / v).exists():
                        s.add(t.buildfile, f"{label}: {attr} file `{v}` does not exist")
                    elif s.package_of(full) != t.package:
                        s.add(t.buildfile, f"{label}: {attr} file `{v}` belongs to package "
                                           f"//{s.package_of(full)}")
            elif attr in DEP_ATTRS:
                for v in iter_values(value):
                    check_ref(s, t, attr, v)
            for v in iter_values(value):
                for m in _MACRO.finditer(v):
                    check_ref(s, t, attr, m.group(1))
        mm = t.attrs.get("main_module")
        if isinstance(mm, str):
            _check_main_module(s, t, mm)
        if t.rule == "python_binary" and not mm and "main" not in t.attrs \
                and "main_function" not in t.attrs:
            s.add(t.buildfile, f"{label}: python_binary without main_module/main")


def check_ref(s: RepoState, t: Target, attr: str, ref: str):
    lab = root_label(ref, t.package)
    if lab is not None:
        if lab not in s.targets:
            s.add(t.buildfile, f"{t.label}: {attr} `{ref}` is not a declared target")
        return
    cell = ref.lstrip("@").split("//", 1)[0] if "//" in ref else ""
    if cell and cell not in s.cells and cell not in _KNOWN_EXTERNAL_CELLS:
        s.add(t.buildfile, f"{t.label}: {attr} `{ref}` names unknown cell `{cell}`")
    elif cell == "toolchains":
        name = ref.split("//", 1)[1].split("[", 1)[0]
        tc_pkg = s.cells.get("toolchains", "toolchains").strip("/")
        if f"//{tc_pkg}{'/' if name.split(':')[0] else ''}{name}" not in s.targets:
            s.add(t.buildfile, f"{t.label}: {attr} `{ref}` is not a declared target")


def python_deps(s: RepoState, label: str, seen: set | None = None) -> list[Target]:
    """The target and every root-cell target it depends on through `deps`, each once."""
    seen = set() if seen is None else seen
    if label in seen or label not in s.targets:
        return []
    seen.add(label)
    t = s.targets[label]
    out = [t]
    for d in iter_values(t.attrs.get("deps", [])):
        lab = root_label(d, t.package)
        if lab:
            out += python_deps(s, lab, seen)
    return out


def packed_path(t: Target, src: str) -> str:
    """Where a file of the target lands in the Python tree (base_module, else the package)."""
    base = t.attrs.get("base_module")
    if isinstance(base, str):
        return "/".join(x for x in (base.replace(".", "/"), src) if x)
    return f"{t.package}/{src}".lstrip("/")


def python_srcs(s: RepoState, label: str) -> set[str]:
    return {packed_path(t, v) for t in python_deps(s, label)
            for v in iter_values(t.attrs.get("srcs", [])) if v.endswith(".py")}


def _check_main_module(s: RepoState, t: Target, mm: str):
    path = mm.replace(".", "/") + ".py"
    if not (s.root / path).is_file():
        s.add(t.buildfile, f"{t.label}: main_module `{mm}` has no file `{path}`")
    elif path not in python_srcs(s, t.label):
        s.add(t.buildfile, f"{t.label}: main_module `{mm}` ({path}) is not in the srcs "
                           "of the target or its python deps")
