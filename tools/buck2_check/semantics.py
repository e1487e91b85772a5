"""Checks of what the build means rather than how it is written: the runner's sources agree
between sources.bzl, Buck2 and CMake; README's buck2 commands name real targets; the
profiling switches put CMake's defines on the runner and fail as CMake does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from .model import RepoState, Target, iter_values, root_label

PROF_DEFINES = ("EXECUTORCH_PROF_ENABLED", "EXECUTORCH_PROF_BUF_SIZE", "EXECUTORCH_NUM_PROF_BLOCKS")
RUNNER_PKG = "runtime/executor_runner"
RUNNER_TARGET = "//runtime/executor_runner:xnn_executor_runner"
# The core both runners link (RUNNER_SHARED_SRCS): the runner's sources are its own and these.
RUNNER_SHARED_TARGET = "//runtime/executor_runner:runner_shared"


def check_runner_sources(s: RepoState, runner_srcs: list[str] | None):
    """`runner_srcs`: RUNNER_SRCS from sources.bzl, or None when it cannot be read."""
    rdir = s.root / RUNNER_PKG
    if not rdir.is_dir():
        return
    buck = set()
    t = s.targets.get(RUNNER_TARGET)
    if t is None:
        s.add(RUNNER_PKG, f"{RUNNER_TARGET} is not declared")
    else:
        buck = set(iter_values(t.attrs.get("srcs", [])))
        shared = s.targets.get(RUNNER_SHARED_TARGET)
        if shared is not None and f":{RUNNER_SHARED_TARGET.split(':')[1]}" in set(iter_values(t.attrs.get("deps", []))):
            buck |= set(iter_values(shared.attrs.get("srcs", [])))
    cm = s.root / "CMakeLists.txt"
    cm_text = cm.read_text() if cm.is_file() else ""
    cmake = set(runner_srcs) if "sources.bzl" in cm_text and runner_srcs is not None else set()
    cmake |= set(re.findall(r"runtime/executor_runner/([\w./-]+\.(?:cpp|cc|c))", cm_text))
    if runner_srcs is not None and t is not None and set(runner_srcs) != buck:
        s.add(t.buildfile, f"{RUNNER_TARGET} srcs differ from RUNNER_SRCS in sources.bzl")
    on_disk = {p.relative_to(rdir).as_posix() for p in rdir.rglob("*")
               if p.suffix in (".cpp", ".cc", ".c") and "test" not in p.name}
    for src in sorted(on_disk | buck | cmake):
        where = [n for n, listed in (("CMake", cmake), ("Buck2", buck)) if src not in listed]
        if where and cm_text:
            s.add(f"{RUNNER_PKG}/{src}", f"runner source not listed in {' and '.join(where)}")
        if not (rdir / src).is_file():
            s.add(f"{RUNNER_PKG}/{src}", "runner source listed but missing on disk")


def check_readme(s: RepoState):
    """Buck2 commands in README.md and docs/*.md name declared targets."""
    for doc in [s.root / "README.md", *sorted((s.root / "docs").glob("*.md"))]:
        if doc.is_file():
            _check_commands(s, doc)


def _check_commands(s: RepoState, doc: Path):
    for m in re.finditer(r"buck2\s+(?:run|build|test)\b((?:\s+(?:-c\s+\S+|--?[\w-]+(?:=\S+)?))*)"
                         r"\s+([^\s`'\"]+)", doc.read_text()):
        ref = m.group(2)
        if ref.startswith("-") or ref.endswith("/..."):
            continue
        lab = root_label(ref if ref.startswith(("//", "root//")) else "//" + ref, "")
        if lab is not None and lab not in s.targets:
            s.add(str(doc.relative_to(s.root)), f"Buck2 command names `{ref}`, which is not a declared target")


def check_profiling(s: RepoState, evaluate: Callable[[dict], RepoState]):
    """-c executorch.prof_enabled=true must put the defines on the runner; without it none;
    prof_buf_size alone must fail with CMake's message. `evaluate(overrides)` re-evaluates
    the build files under extra -c settings."""
    if RUNNER_TARGET not in s.targets:
        return
    if any(d in PROF_DEFINES for d in defines(s.targets[RUNNER_TARGET])):
        s.add(RUNNER_TARGET, "profiling defines present without -c executorch.prof_enabled")
    cases = [
        ({"executorch.prof_enabled": "true"}, {"EXECUTORCH_PROF_ENABLED": "1"}),
        ({"executorch.prof_enabled": "true", "executorch.prof_buf_size": "8096",
          "executorch.num_prof_blocks": "61"},
         {"EXECUTORCH_PROF_ENABLED": "1", "EXECUTORCH_PROF_BUF_SIZE": "8096",
          "EXECUTORCH_NUM_PROF_BLOCKS": "61"}),
    ]
    for overrides, want in cases:
        flags = " ".join(f"-c {k}={v}" for k, v in overrides.items())
        on = evaluate(overrides)
        t_on = on.targets.get(RUNNER_TARGET)
        if on.findings or t_on is None:
            s.add(RUNNER_TARGET, f"evaluation with {flags} failed: "
                  + "; ".join(str(f) for f in on.findings[:3]))
            continue
        got = defines(t_on)
        for k, v in want.items():
            if got.get(k) != v:
                s.add(RUNNER_TARGET, f"{flags} does not define {k}={v} on the runner")
    bad = evaluate({"executorch.prof_buf_size": "1024"})
    if not bad.findings:
        s.add(RUNNER_TARGET, "-c executorch.prof_buf_size without prof_enabled does not fail")
        return
    cm_msg = cmake_prof_message(s.root)
    if cm_msg and cm_msg not in " ".join(f.message for f in bad.findings):
        s.add(RUNNER_TARGET, f"prof_buf_size-alone failure message differs from CMake's: expected `{cm_msg}`")


def defines(t: Target) -> dict:
    out = {}
    for attr in ("preprocessor_flags", "compiler_flags", "exported_preprocessor_flags"):
        for f in t.attrs.get(attr, []) or []:
            if isinstance(f, str) and f.startswith("-D"):
                k, _, v = f[2:].partition("=")
                out[k] = v
    return out


def cmake_prof_message(root: Path) -> str | None:
    cm = root / "CMakeLists.txt"
    if not cm.is_file():
        return None
    text = cm.read_text()
    for m in re.finditer(r'message\s*\(\s*FATAL_ERROR\s+"([^"]*)"', text):
        msg = m.group(1)
        var = re.fullmatch(r"\$\{(\w+)\}", msg)
        if var:  # message(FATAL_ERROR "${_msg}") with set(_msg "...") earlier
            sm = re.search(r"set\s*\(\s*%s\s+\"([^\"]*)\"" % var.group(1), text)
            msg = sm.group(1) if sm else msg
        low = msg.lower()
        if "prof" in low and ("buf" in low or "block" in low):
            return msg
    return None
