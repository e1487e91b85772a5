"""Where build files are and what they cover: the .buckconfig, one build file per folder
(the root's TARGETS and BUCK identical), the toolchains cell, and every Python and test file
inside some target."""

from __future__ import annotations

from .config import buildfile_names
from .config import parse_buckconfig
from .model import RepoState, iter_values

# ExecuTorch's layout: buck2 reads TARGETS first; BUCK serves folders that have only it
# (the toolchains cell). The root keeps both, as the same thin call.
BUILDFILE_ORDER = ["TARGETS", "BUCK"]
BUILDFILE_LIKE = {"BUCK", "TARGETS", "BUCK.v2", "TARGETS.v2", "BUILD", "BUILD.bazel"}
REQUIRED_TOOLCHAINS = ("cxx", "python", "python_bootstrap", "genrule", "test", "remote_test_execution")


def check_buckconfig(s: RepoState):
    bc = s.root / ".buckconfig"
    if not bc.is_file():
        s.add(".buckconfig", "missing (buck2 needs it at the project root)")
        return
    if not (s.root / ".buckroot").exists():
        s.add(".buckroot", "missing (marks the project root for buck2)")
    s.cfg = parse_buckconfig(bc.read_text())
    cells = s.cfg.get("cells") or s.cfg.get("repositories") or {}
    s.cells = dict(cells)
    for c in ("root", "prelude", "toolchains", "none"):
        if c not in cells:
            s.add(".buckconfig", f"[cells] has no `{c}` cell")
    if cells.get("root", ".") not in (".", "./"):
        s.add(".buckconfig", "[cells] root must be `.`")
    if s.cfg.get("external_cells", {}).get("prelude") != "bundled":
        s.add(".buckconfig", "[external_cells] prelude = bundled is missing")
    aliases = s.cfg.get("cell_aliases") or s.cfg.get("repository_aliases") or {}
    for a in ("config", "ovr_config", "fbcode", "fbsource", "fbcode_macros", "buck"):
        if a not in aliases:
            s.add(".buckconfig", f"[cell_aliases] has no `{a}` alias (the prelude expects it)")
    if not s.cfg.get("parser", {}).get("target_platform_detector_spec"):
        s.add(".buckconfig", "[parser] target_platform_detector_spec is missing")
    if not s.cfg.get("build", {}).get("execution_platforms"):
        s.add(".buckconfig", "[build] execution_platforms is missing")
    tc = cells.get("toolchains")
    if tc and not (s.root / tc).is_dir():
        s.add(".buckconfig", f"toolchains cell directory `{tc}` does not exist")
    s.buildfiles = buildfile_names(s.cfg)
    if s.buildfiles != BUILDFILE_ORDER:
        s.add(".buckconfig", f"[buildfile] name_v2 must be `{', '.join(BUILDFILE_ORDER)}` "
                             f"(got `{', '.join(s.buildfiles)}`): TARGETS is the build file, "
                             "BUCK only where a folder has no TARGETS")


def discover(s: RepoState):
    """Find packages (per folder, the first existing build-file name) and flag files named
    like build files that buck2 never reads; the root's second build file must be identical."""
    for rel_dir, filenames in s.walk():
        names = set(filenames)
        chosen = next((b for b in s.buildfiles if b in names), None)
        if chosen:
            s.packages[rel_dir] = f"{rel_dir}/{chosen}".lstrip("/")
        for n in sorted(names & (BUILDFILE_LIKE | set(s.buildfiles))):
            if n == chosen:
                continue
            where = f"{rel_dir}/{n}".lstrip("/")
            if rel_dir == "" and n in s.buildfiles:
                _check_root_twin(s, chosen, n)
            elif n in s.buildfiles:
                s.add(where, f"shadowed: buck2 reads `{chosen}` in this folder and silently "
                             f"ignores `{n}` ([buildfile] name_v2 order); keep one build file")
            else:
                s.add(where, f"never read by buck2: `{n}` is not a build-file name "
                             f"under .buckconfig ({', '.join(s.buildfiles)})")
    if s.buildfiles == BUILDFILE_ORDER:
        for n in BUILDFILE_ORDER:
            if not (s.root / n).is_file():
                s.add(n, f"missing: the root package keeps both {' and '.join(BUILDFILE_ORDER)} "
                         "(the same call of define_common_targets() from targets.bzl)")


def _check_root_twin(s: RepoState, chosen: str, other: str):
    if (s.root / chosen).read_bytes() != (s.root / other).read_bytes():
        s.add(other, f"differs from `{chosen}`: buck2 reads only `{chosen}` at the root, so "
                     f"`{other}` must be an identical copy")


def check_toolchains(s: RepoState):
    tc = s.cells.get("toolchains")
    if not tc:
        return
    pkg = tc.strip("./")
    if pkg not in s.packages:
        s.add(tc, "toolchains cell has no build file")
        return
    for n in REQUIRED_TOOLCHAINS:
        if f"//{pkg}:{n}" not in s.targets:
            s.add(s.packages[pkg], f"toolchains cell lacks the `{n}` toolchain")
    text = (s.root / s.packages[pkg]).read_text()
    if "system_demo_toolchains" in text or "demo.bzl" in text:
        s.add(s.packages[pkg], "demo toolchains are not allowed (they fetch Python)")


def _srcs_of(s: RepoState, rule_pred) -> set[str]:
    covered = set()
    for t in s.targets.values():
        if rule_pred(t.rule):
            covered |= {f"{t.package}/{x}".lstrip("/") for x in iter_values(t.attrs.get("srcs", []))}
    return covered


def check_python_covered(s: RepoState, roots=("examples", "runtime", "tools")):
    """Every Python file under the package roots is in some python target's srcs."""
    covered = _srcs_of(s, lambda rule: rule.startswith("python_"))
    for r in roots:
        base = s.root / r
        if not base.is_dir():
            continue
        for p in sorted(base.rglob("*.py")):
            rel = s.rel(p)
            if not s.skipped(rel) and rel not in covered:
                s.add(rel, "Python file is in no Buck2 python target (a folder without a TARGETS file?)")


def check_tests_covered(s: RepoState):
    covered = _srcs_of(s, lambda rule: rule == "python_test")
    tests = s.root / "tests"
    if tests.is_dir():
        for p in sorted(tests.glob("test_*.py")):
            if s.rel(p) not in covered:
                s.add(s.rel(p), "test file has no python_test target")
