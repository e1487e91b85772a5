"""Static Buck2 checker: evaluates the repo's build files and .bzl files with starlark-pyo3
(the starlark-rust engine Buck2 is built on) in Buck2's dialects, with the prelude's rules
stubbed by recorders, then cross-checks the recorded targets against the file tree,
CMakeLists.txt and README.md.

Targeted Buck2 release: 2026-08-22 (attribute list in data/prelude_rule_attrs_2026-08-22.json).
"""

from __future__ import annotations

import fnmatch
import functools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import starlark as sl

TARGET_RELEASE = "2026-08-22"
DATA_DIR = Path(__file__).resolve().parent / "data"

# Attributes buck2 itself adds to every rule.
COMMON_ATTRS = {
    "name", "visibility", "within_view", "metadata", "tests", "modifiers",
    "target_compatible_with", "compatible_with", "exec_compatible_with",
    "default_target_platform",
}
# Attributes whose string values are source files of the package.
SOURCE_ATTRS = {
    "srcs", "headers", "exported_headers", "raw_headers", "resources", "main",
    "shared_lib", "static_lib", "static_pic_lib", "header_dirs", "type_stubs",
}
# Attributes whose values are target labels.
DEP_ATTRS = {
    "deps", "exported_deps", "actual", "preload_deps", "executable_deps",
    "link_group_deps", "tests", "exe", "repl_only_deps",
}
# Directories never walked (outputs, environments) besides [project] ignore.
ALWAYS_SKIP = {".git", ".venv", "buck-out", "__pycache__", ".pytest_cache", "node_modules",
               ".cache"}
BUILDFILE_LIKE = {"BUCK", "TARGETS", "BUCK.v2", "TARGETS.v2", "BUILD", "BUILD.bazel"}
PROF_DEFINES = ("EXECUTORCH_PROF_ENABLED", "EXECUTORCH_PROF_BUF_SIZE", "EXECUTORCH_NUM_PROF_BLOCKS")
RUNNER_PKG = "runtime/executor_runner"
RUNNER_TARGET = "//runtime/executor_runner:xnn_executor_runner"

# Source of the stub module that every evaluated file implicitly loads: Buck2 natives built
# from Python callables (added to the stub module before this runs).
_NATIVE_STUB = """
def host_info():
    return struct(
        os = struct(is_linux = True, is_macos = False, is_windows = False, is_freebsd = False),
        arch = struct(is_x86_64 = True, is_aarch64 = False, is_arm = False, is_i386 = False),
    )

native = struct(
    glob = glob,
    package_name = package_name,
    read_config = read_config,
    select = select,
    host_info = host_info,
    %(rules)s
)
"""
_STUB_ID = "@@buck2_check//:natives.bzl"
_STUB_SYMBOLS = ("native", "host_info")


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


class _EvalError(Exception):
    pass


class _Select:
    """Opaque value standing for select(); its branches are checked like plain values."""

    def __init__(self, branches):
        self.branches = branches


def parse_buckconfig(text: str) -> dict:
    """Buck's INI dialect: [section], key = value, indented or backslash continuation lines."""
    cfg: dict[str, dict[str, str]] = {}
    section = None
    last_key = None
    pending = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if pending:
            line = pending + " " + line.strip()
            pending = ""
        if line.endswith("\\"):
            pending = line[:-1].rstrip()
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        m = re.match(r"^\[([^\]]+)\]$", stripped)
        if m:
            section = m.group(1).strip()
            cfg.setdefault(section, {})
            last_key = None
            continue
        if section is None:
            continue
        if "=" in stripped:
            k, v = stripped.split("=", 1)
            last_key = k.strip()
            cfg[section][last_key] = v.strip()
        elif last_key and raw[:1].isspace():
            cfg[section][last_key] += " " + stripped
    return cfg


def split_list(value: str) -> list[str]:
    return [v.strip() for v in re.split(r"[,\s]+", value or "") if v.strip()]


def buildfile_names(cfg: dict) -> list[str]:
    """buck2 semantics: name_v2 wins outright; else each `name` entry N gives N.v2, N;
    else the default BUCK.v2, BUCK. In a directory the first existing name is the build file."""
    bf = cfg.get("buildfile", {})
    if "name_v2" in bf:
        return split_list(bf["name_v2"])
    if "name" in bf:
        out = []
        for n in split_list(bf["name"]):
            out += [n + ".v2", n]
        return out
    return ["BUCK.v2", "BUCK"]


@functools.lru_cache(maxsize=4)
def _read_json(path: str) -> dict:
    return json.loads(Path(path).read_text())


def load_rule_attrs(release: str = TARGET_RELEASE, path: Path | None = None) -> dict:
    p = path or DATA_DIR / f"prelude_rule_attrs_{release}.json"
    return _read_json(str(p))


def load_toolchain_attrs() -> dict:
    d = json.loads((DATA_DIR / "toolchain_rule_attrs.json").read_text())
    d.pop("_comment", None)
    return d


def _dialect(build_file: bool) -> sl.Dialect:
    d = sl.Dialect.extended()
    d.enable_f_strings = True
    if build_file:
        d.enable_def = False
        d.enable_top_level_stmt = False
        d.enable_types = sl.DialectTypes.DISABLE
    else:
        d.enable_types = sl.DialectTypes.ENABLE
    return d


def _globals() -> sl.Globals:
    return sl.Globals.extended_by([
        sl.LibraryExtension.StructType, sl.LibraryExtension.Print, sl.LibraryExtension.Json,
        sl.LibraryExtension.Map, sl.LibraryExtension.Filter, sl.LibraryExtension.Partial,
        sl.LibraryExtension.Typing,
    ])


def _err_text(e: Exception) -> str:
    text = str(e).strip()
    msg = None
    for ln in text.splitlines():
        i = ln.find("error:")
        if i >= 0:
            msg = ln[i + len("error:"):].strip()
            break
    if msg is None:
        msg = text.splitlines()[-1] if text else repr(e)
    while True:
        new = re.sub(r"^(?:StarlarkError|RuntimeError|error):\s*", "", msg)
        if new == msg:
            break
        msg = new
    m = re.search(r"-->\s*(\S+?):(\d+):(\d+)", text)
    if m:
        line = max(1, int(m.group(2)) - 1)  # the implicit natives load is line 1
        msg = f"{m.group(1)}:{line}: {msg}"
    return msg


class Checker:
    def __init__(self, root: str | Path, config_overrides: dict | None = None,
                 rule_attrs: dict | None = None, release: str = TARGET_RELEASE):
        self.root = Path(root).resolve()
        self.overrides = dict(config_overrides or {})
        self.release = release
        self.rule_attrs = rule_attrs if rule_attrs is not None else load_rule_attrs(release)
        self.toolchain_attrs = load_toolchain_attrs()
        self.findings: list[Finding] = []
        self.targets: dict[str, Target] = {}
        self.cfg: dict = {}
        self.buildfiles: list[str] = []
        self.packages: dict[str, str] = {}  # package -> build file rel path
        self.cells: dict[str, str] = {}
        self._bzl_cache: dict[str, object] = {}
        self._bzl_loading: set[str] = set()
        self._current_pkg: str | None = None
        self._current_file: str = ""
        self._stub_cache: dict[str, object] = {}

    # ------------------------------------------------------------------ helpers
    def add(self, path, message):
        self.findings.append(Finding(str(path), message))

    def rel(self, p: Path) -> str:
        return p.resolve().relative_to(self.root).as_posix()

    def read_config(self, section, key, default=None):
        ok = f"{section}.{key}"
        if ok in self.overrides:
            return self.overrides[ok]
        return self.cfg.get(section, {}).get(key, default)

    # ------------------------------------------------------------------ config
    def check_buckconfig(self):
        bc = self.root / ".buckconfig"
        if not bc.is_file():
            self.add(".buckconfig", "missing (buck2 needs it at the project root)")
            return
        if not (self.root / ".buckroot").exists():
            self.add(".buckroot", "missing (marks the project root for buck2)")
        self.cfg = parse_buckconfig(bc.read_text())
        cells = self.cfg.get("cells") or self.cfg.get("repositories") or {}
        self.cells = {k: v for k, v in cells.items()}
        for c in ("root", "prelude", "toolchains", "none"):
            if c not in cells:
                self.add(".buckconfig", f"[cells] has no `{c}` cell")
        if cells.get("root", ".") not in (".", "./"):
            self.add(".buckconfig", "[cells] root must be `.`")
        ext = self.cfg.get("external_cells", {})
        if ext.get("prelude") != "bundled":
            self.add(".buckconfig", "[external_cells] prelude = bundled is missing")
        aliases = self.cfg.get("cell_aliases") or self.cfg.get("repository_aliases") or {}
        for a in ("config", "ovr_config", "fbcode", "fbsource", "fbcode_macros", "buck"):
            if a not in aliases:
                self.add(".buckconfig", f"[cell_aliases] has no `{a}` alias (the prelude expects it)")
        if not self.cfg.get("parser", {}).get("target_platform_detector_spec"):
            self.add(".buckconfig", "[parser] target_platform_detector_spec is missing")
        if not self.cfg.get("build", {}).get("execution_platforms"):
            self.add(".buckconfig", "[build] execution_platforms is missing")
        tc = cells.get("toolchains")
        if tc and not (self.root / tc).is_dir():
            self.add(".buckconfig", f"toolchains cell directory `{tc}` does not exist")
        self.buildfiles = buildfile_names(self.cfg)

    def ignored(self, rel: str) -> bool:
        pats = split_list(self.cfg.get("project", {}).get("ignore", ""))
        for p in pats:
            p = p.rstrip("/")
            if rel == p or rel.startswith(p + "/") or fnmatch.fnmatch(rel, p):
                return True
        return False

    # ------------------------------------------------------------------ discovery
    def discover(self):
        """Find packages (per directory, the first existing build-file name) and flag files
        named like build files that buck2 will never read."""
        for dirpath, dirnames, filenames in os.walk(self.root):
            d = Path(dirpath)
            rel_dir = "" if d == self.root else self.rel(d)
            dirnames[:] = sorted(n for n in dirnames if n not in ALWAYS_SKIP
                                 and not self.ignored(f"{rel_dir}/{n}".lstrip("/")))
            if rel_dir and self.ignored(rel_dir):
                continue
            names = set(filenames)
            chosen = next((b for b in self.buildfiles if b in names), None)
            if chosen:
                self.packages[rel_dir] = f"{rel_dir}/{chosen}".lstrip("/")
            for n in sorted(names & (BUILDFILE_LIKE | set(self.buildfiles))):
                if n == chosen:
                    continue
                where = f"{rel_dir}/{n}".lstrip("/")
                if n in self.buildfiles:
                    self.add(where, f"shadowed: buck2 reads `{chosen}` in this folder and "
                                    f"silently ignores `{n}` ([buildfile] name_v2 order)")
                else:
                    self.add(where, f"never read by buck2: `{n}` is not a build-file name "
                                    f"under .buckconfig ({', '.join(self.buildfiles)})")

    def package_of(self, rel_file: str) -> str | None:
        parts = rel_file.split("/")[:-1]
        while True:
            cand = "/".join(parts)
            if cand in self.packages:
                return cand
            if not parts:
                return None
            parts.pop()

    # ------------------------------------------------------------------ natives
    def _glob(self, include, exclude=None, **_kw):
        pkg = self._current_pkg
        if pkg is None:
            raise _EvalError("glob() called outside a build file evaluation")
        base = self.root / pkg if pkg else self.root
        exclude = list(exclude or [])
        out = set()
        for pat in include:
            for p in base.glob(pat):
                if not p.is_file():
                    continue
                r = p.relative_to(base).as_posix()
                full = f"{pkg}/{r}".lstrip("/")
                if any(part in ALWAYS_SKIP for part in r.split("/")):
                    continue
                if self.package_of(full) != pkg or self.ignored(full):
                    continue  # globs never cross into sub-packages
                if any(fnmatch.fnmatchcase(r, e) or Path(r).match(e) for e in exclude):
                    continue
                out.add(r)
        return sorted(out)

    def _package_name(self):
        if self._current_pkg is None:
            raise _EvalError("package_name() called outside a build file evaluation")
        return self._current_pkg

    def _read_config(self, section, key, default=None):
        return self.read_config(section, key, default)

    def _select(self, branches):
        return sl.OpaquePythonObject(_Select(branches))

    def _recorder(self, rule, attrs_spec, rule_desc):
        def record(*args, **kwargs):
            if args:
                raise _EvalError(f"{rule}() takes keyword arguments only")
            self._record(rule, attrs_spec, rule_desc, kwargs)
            return None
        return record

    def _record(self, rule, spec, rule_desc, kwargs):
        where = self._current_file
        pkg = self._current_pkg
        if pkg is None:
            raise _EvalError(f"{rule}() called at .bzl load time (outside a build file)")
        name = kwargs.get("name")
        if not isinstance(name, str) or not name:
            self.add(where, f"{rule}(): missing required attribute `name`")
            return
        for k in kwargs:
            if k in COMMON_ATTRS:
                continue
            if k.startswith("_") or k not in spec:
                self.add(where, f"//{pkg}:{name}: {rule_desc} has no attribute `{k}`")
            elif spec[k].get("default_only"):
                self.add(where, f"//{pkg}:{name}: `{k}` is default_only in {rule_desc}; "
                                "setting it is an error in buck2")
        for k, v in spec.items():
            if v.get("required") and not v.get("default_only") and not k.startswith("_") \
                    and k not in kwargs:
                self.add(where, f"//{pkg}:{name}: {rule_desc} requires attribute `{k}`")
        label = f"//{pkg}:{name}"
        if label in self.targets:
            self.add(where, f"duplicate target {label}")
            return
        self.targets[label] = Target(pkg, name, rule, dict(kwargs), where)

    def _stub_module(self, build_file: bool):
        key = "build" if build_file else "bzl"
        if key in self._stub_cache:
            return self._stub_cache[key]
        m = sl.Module()
        self._install_natives(m, rules=True)
        rules = sorted(self.rule_attrs)
        src = _NATIVE_STUB % {"rules": "\n    ".join(f"{r} = {r}," for r in rules)}
        sl.eval(m, sl.parse(_STUB_ID, src, _dialect(False)), _globals())
        fz = m.freeze()
        self._stub_cache[key] = fz
        return fz

    def _install_natives(self, m, rules: bool):
        m.add_callable("glob", self._glob)
        m.add_callable("package_name", self._package_name)
        m.add_callable("read_config", self._read_config)
        m.add_callable("read_root_config", self._read_config)
        m.add_callable("select", self._select)
        if rules:
            for r, spec in self.rule_attrs.items():
                m.add_callable(r, self._recorder(r, spec, f"prelude rule {r}"))

    # ------------------------------------------------------------------ loading
    def resolve_load(self, module_id: str, from_rel: str) -> tuple[str, str]:
        """Returns (kind, key): kind 'repo' with a repo-relative path, or 'prelude' with
        the prelude file id. Raises _EvalError on a bad load."""
        mid = module_id
        if mid.startswith("@"):
            mid = mid[1:]
        cell = None
        if "//" in mid:
            cell, rest = mid.split("//", 1)
            cell = cell or None
        else:
            rest = None
        if rest is None:
            if not mid.startswith(":"):
                raise _EvalError(f"bad load `{module_id}`: use `//pkg:file.bzl` or `:file.bzl`")
            pkg_dir = str(Path(from_rel).parent.as_posix())
            pkg_dir = "" if pkg_dir == "." else pkg_dir
            path = f"{pkg_dir}/{mid[1:]}".lstrip("/")
            return "repo", path
        if ":" not in rest:
            raise _EvalError(f"bad load `{module_id}`: missing `:` before the file name")
        d, f = rest.split(":", 1)
        if cell in ("prelude", "config", "ovr_config"):
            return "prelude", f"@prelude//{d}:{f}"
        if cell in (None, "root"):
            return "repo", f"{d}/{f}".lstrip("/")
        if cell in self.cells:
            base = self.cells[cell].strip("./") if self.cells[cell] not in (".", "./") else ""
            return "repo", "/".join(x for x in (base, d, f) if x)
        raise _EvalError(f"bad load `{module_id}`: unknown cell `{cell}`")

    def _prelude_module(self, pid: str):
        if pid in self._stub_cache:
            return self._stub_cache[pid]
        if pid not in self.toolchain_attrs:
            raise _EvalError(f"bad load `{pid}`: the checker knows no such prelude file "
                             f"(known: {', '.join(sorted(self.toolchain_attrs))})")
        m = sl.Module()
        for r, spec in self.toolchain_attrs[pid].items():
            m.add_callable(r, self._recorder(r, spec, f"{pid} rule {r}"))
        fz = m.freeze()
        self._stub_cache[pid] = fz
        return fz

    def _loader(self, from_rel: str):
        def load(module_id):
            if module_id == _STUB_ID:
                return self._stub_module(False)
            try:
                kind, key = self.resolve_load(module_id, from_rel)
                if kind == "prelude":
                    return self._prelude_module(key)
                return self.load_bzl(key)
            except _EvalError as e:
                raise RuntimeError(str(e)) from None
        return sl.FileLoader(load)

    def _prepare(self, src: str) -> str:
        # The implicit natives load takes one extra first line; _describe() shifts reported
        # line numbers back.
        syms = ", ".join(f'"{s}"' for s in _STUB_SYMBOLS)
        return f'load("{_STUB_ID}", {syms})\n' + src

    def load_bzl(self, rel: str):
        if rel in self._bzl_cache:
            return self._bzl_cache[rel]
        p = self.root / rel
        if not rel.endswith(".bzl"):
            raise _EvalError(f"bad load `{rel}`: buck2 only loads .bzl files")
        if not p.is_file():
            raise _EvalError(f"bad load: `{rel}` does not exist")
        if rel in self._bzl_loading:
            raise _EvalError(f"load cycle through `{rel}`")
        self._bzl_loading.add(rel)
        try:
            m = sl.Module()
            self._install_natives(m, rules=False)
            ast = sl.parse(rel, self._prepare(p.read_text()), _dialect(False))
            sl.eval(m, ast, _globals(), self._loader(rel))
            fz = m.freeze()
        finally:
            self._bzl_loading.discard(rel)
        self._bzl_cache[rel] = fz
        return fz

    # ------------------------------------------------------------------ evaluation
    def evaluate_packages(self):
        for pkg, bf in sorted(self.packages.items()):
            self._current_pkg = pkg
            self._current_file = bf
            try:
                src = (self.root / bf).read_text()
                m = sl.Module()
                self._install_natives(m, rules=True)
                ast = sl.parse(bf, self._prepare(src), _dialect(True))
                sl.eval(m, ast, _globals(), self._loader(bf))
            except Exception as e:  # noqa: BLE001 - every evaluation error is a finding
                self.add(bf, _describe(e))
            finally:
                self._current_pkg = None

    def evaluate_all_bzl(self):
        for dirpath, dirnames, filenames in os.walk(self.root):
            d = Path(dirpath)
            rel_dir = "" if d == self.root else self.rel(d)
            dirnames[:] = sorted(n for n in dirnames if n not in ALWAYS_SKIP
                                 and not self.ignored(f"{rel_dir}/{n}".lstrip("/")))
            for f in sorted(filenames):
                if f.endswith(".bzl"):
                    rel = f"{rel_dir}/{f}".lstrip("/")
                    if rel in self._bzl_cache:
                        continue
                    try:
                        self.load_bzl(rel)
                    except Exception as e:  # noqa: BLE001
                        self.add(rel, _describe(e))

    # ------------------------------------------------------------------ cross checks
    def _label(self, ref: str, pkg: str) -> str | None:
        """Normalises a target reference to //pkg:name, or None when it points outside
        the root cell (prelude, toolchains are checked separately)."""
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

    def _iter_values(self, v):
        if isinstance(v, sl.OpaquePythonObject):
            return
        if isinstance(v, _Select):
            for b in v.branches.values():
                yield from self._iter_values(b)
        elif isinstance(v, dict):
            for x in v.values():
                yield from self._iter_values(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                yield from self._iter_values(x)
        elif isinstance(v, str):
            yield v

    def check_targets(self):
        for label, t in self.targets.items():
            pkg_dir = self.root / t.package if t.package else self.root
            for attr, value in t.attrs.items():
                if attr in SOURCE_ATTRS:
                    for s in self._iter_values(value):
                        if s.startswith((":", "//", "@", "root//")) or "$(" in s \
                                or "//" in s:
                            self._check_ref(t, attr, s)
                            continue
                        full = f"{t.package}/{s}".lstrip("/")
                        if not (pkg_dir / s).exists():
                            self.add(t.buildfile, f"{label}: {attr} file `{s}` does not exist")
                        elif self.package_of(full) != t.package:
                            self.add(t.buildfile, f"{label}: {attr} file `{s}` belongs to "
                                                  f"package //{self.package_of(full)}")
                elif attr in DEP_ATTRS:
                    for s in self._iter_values(value):
                        self._check_ref(t, attr, s)
                if isinstance(value, (str, list, dict)):
                    for s in self._iter_values(value):
                        for m in re.finditer(r"\$\((?:location|exe|exe_target|query_outputs)"
                                             r"\s+([^)\s]+)\)", s):
                            self._check_ref(t, attr, m.group(1))
            mm = t.attrs.get("main_module")
            if isinstance(mm, str):
                self._check_main_module(t, mm)
            if t.rule in ("python_binary",) and not mm and "main" not in t.attrs \
                    and "main_function" not in t.attrs:
                self.add(t.buildfile, f"{label}: python_binary without main_module/main")

    def _check_ref(self, t: Target, attr: str, ref: str):
        lab = self._label(ref, t.package)
        if lab is None:
            cell = ref.lstrip("@").split("//", 1)[0] if "//" in ref else ""
            if cell and cell not in self.cells and cell not in (
                    "prelude", "config", "ovr_config", "fbcode", "fbsource", "buck"):
                self.add(t.buildfile, f"{t.label}: {attr} `{ref}` names unknown cell `{cell}`")
            elif cell == "toolchains":
                name = ref.split("//", 1)[1].split("[", 1)[0]
                lab2 = f"//{(self.cells.get('toolchains', 'toolchains')).strip('/')}" \
                       f"{'/' if name.split(':')[0] else ''}{name}"
                if lab2 not in self.targets:
                    self.add(t.buildfile, f"{t.label}: {attr} `{ref}` is not a declared target")
            return
        if lab not in self.targets:
            self.add(t.buildfile, f"{t.label}: {attr} `{ref}` is not a declared target")

    def _python_srcs(self, label: str, seen: set) -> set[str]:
        if label in seen or label not in self.targets:
            return set()
        seen.add(label)
        t = self.targets[label]
        out = set()
        base = t.attrs.get("base_module")
        for s in self._iter_values(t.attrs.get("srcs", [])):
            if s.endswith(".py"):
                if base is not None:
                    rel = "/".join(x for x in (base.replace(".", "/"), s) if x)
                else:
                    rel = f"{t.package}/{s}".lstrip("/")
                out.add(rel)
        for d in self._iter_values(t.attrs.get("deps", [])):
            lab = self._label(d, t.package)
            if lab:
                out |= self._python_srcs(lab, seen)
        return out

    def _check_main_module(self, t: Target, mm: str):
        path = mm.replace(".", "/") + ".py"
        if not (self.root / path).is_file():
            self.add(t.buildfile, f"{t.label}: main_module `{mm}` has no file `{path}`")
            return
        if path not in self._python_srcs(t.label, set()):
            self.add(t.buildfile, f"{t.label}: main_module `{mm}` ({path}) is not in the srcs "
                                  "of the target or its python deps")

    def check_python_covered(self, roots=("examples", "runtime", "tools")):
        """Every Python file under the package roots is in some python target's srcs."""
        covered = set()
        for t in self.targets.values():
            if t.rule.startswith("python_"):
                covered |= {f"{t.package}/{s}".lstrip("/")
                            for s in self._iter_values(t.attrs.get("srcs", []))}
        for r in roots:
            base = self.root / r
            if not base.is_dir():
                continue
            for p in sorted(base.rglob("*.py")):
                rel = self.rel(p)
                if any(part in ALWAYS_SKIP for part in rel.split("/")) or self.ignored(rel):
                    continue
                if rel not in covered:
                    self.add(rel, "Python file is in no Buck2 python target (a folder without "
                                  "a TARGETS file?)")

    def check_toolchains(self):
        tc = self.cells.get("toolchains")
        if not tc:
            return
        pkg = tc.strip("./")
        if pkg not in self.packages:
            self.add(tc, "toolchains cell has no build file")
            return
        for n in ("cxx", "python", "python_bootstrap", "genrule", "test", "remote_test_execution"):
            if f"//{pkg}:{n}" not in self.targets:
                self.add(self.packages[pkg], f"toolchains cell lacks the `{n}` toolchain")
        text = (self.root / self.packages[pkg]).read_text()
        if "system_demo_toolchains" in text or "demo.bzl" in text:
            self.add(self.packages[pkg], "demo toolchains are not allowed (they fetch Python)")

    def check_tests_covered(self):
        covered = set()
        for t in self.targets.values():
            if t.rule == "python_test":
                for s in self._iter_values(t.attrs.get("srcs", [])):
                    covered.add(f"{t.package}/{s}".lstrip("/"))
        tests = self.root / "tests"
        if tests.is_dir():
            for p in sorted(tests.glob("test_*.py")):
                rel = self.rel(p)
                if rel not in covered:
                    self.add(rel, "test file has no python_test target")

    def runner_sources(self) -> list[str] | None:
        p = self.root / RUNNER_PKG / "sources.bzl"
        if not p.is_file():
            return None
        try:
            fz = self.load_bzl(f"{RUNNER_PKG}/sources.bzl")
            m = sl.Module()
            ast = sl.parse("probe.bzl", f'load("//{RUNNER_PKG}:sources.bzl", "RUNNER_SRCS")\n'
                           "def srcs():\n    return RUNNER_SRCS\n", _dialect(False))
            del fz
            sl.eval(m, ast, _globals(), self._loader("probe.bzl"))
            return list(m.freeze().call("srcs"))
        except Exception as e:  # noqa: BLE001
            self.add(f"{RUNNER_PKG}/sources.bzl", f"cannot read RUNNER_SRCS: {_describe(e)}")
            return None

    def check_runner_sources(self):
        rdir = self.root / RUNNER_PKG
        if not rdir.is_dir():
            return
        srcs = self.runner_sources()
        buck = set()
        t = self.targets.get(RUNNER_TARGET)
        if t is None:
            self.add(RUNNER_PKG, f"{RUNNER_TARGET} is not declared")
        else:
            buck = set(self._iter_values(t.attrs.get("srcs", [])))
        cmake = set()
        cm = self.root / "CMakeLists.txt"
        cm_text = cm.read_text() if cm.is_file() else ""
        if "sources.bzl" in cm_text and srcs is not None:
            cmake |= set(srcs)
        for m in re.finditer(r"runtime/executor_runner/([\w./-]+\.(?:cpp|cc|c))", cm_text):
            cmake.add(m.group(1))
        if srcs is not None and t is not None and set(srcs) != buck:
            self.add(t.buildfile, f"{RUNNER_TARGET} srcs differ from RUNNER_SRCS in sources.bzl")
        on_disk = {p.relative_to(rdir).as_posix() for p in rdir.rglob("*")
                   if p.suffix in (".cpp", ".cc", ".c") and "test" not in p.name}
        for s in sorted(on_disk | buck | cmake):
            where = []
            if s not in cmake:
                where.append("CMake")
            if s not in buck:
                where.append("Buck2")
            if where and cm_text:
                self.add(f"{RUNNER_PKG}/{s}", f"runner source not listed in {' and '.join(where)}")
            if not (rdir / s).is_file():
                self.add(f"{RUNNER_PKG}/{s}", "runner source listed but missing on disk")

    def check_readme(self):
        readme = self.root / "README.md"
        if not readme.is_file():
            return
        text = readme.read_text()
        for m in re.finditer(r"buck2\s+(?:run|build|test)\b((?:\s+(?:-c\s+\S+|--?[\w-]+(?:=\S+)?))*)"
                             r"\s+([^\s`'\"]+)", text):
            ref = m.group(2)
            if ref.startswith("-") or ref == "--":
                continue
            if ref.endswith("/...") or ref == "//...":
                continue
            r = ref if ref.startswith(("//", "root//")) else "//" + ref
            lab = self._label(r, "")
            if lab is None or ":" not in r:
                if lab is None:
                    continue
            if lab not in self.targets:
                self.add("README.md", f"Buck2 command names `{ref}`, which is not a declared target")

    def check_profiling(self):
        """-c executorch.prof_enabled=true must put the defines on the runner; without it none;
        prof_buf_size alone must fail with CMake's message."""
        if RUNNER_TARGET not in self.targets:
            return
        base = _defines(self.targets[RUNNER_TARGET])
        if any(d in PROF_DEFINES for d in base):
            self.add(RUNNER_TARGET, "profiling defines present without -c executorch.prof_enabled")
        cases = [
            ({"executorch.prof_enabled": "true"}, {"EXECUTORCH_PROF_ENABLED": "1"}),
            ({"executorch.prof_enabled": "true", "executorch.prof_buf_size": "8096",
              "executorch.num_prof_blocks": "61"},
             {"EXECUTORCH_PROF_ENABLED": "1", "EXECUTORCH_PROF_BUF_SIZE": "8096",
              "EXECUTORCH_NUM_PROF_BLOCKS": "61"}),
        ]
        for overrides, want in cases:
            flags = " ".join(f"-c {k}={v}" for k, v in overrides.items())
            on = self.sub_eval(overrides)
            t_on = on.targets.get(RUNNER_TARGET)
            if on.findings or t_on is None:
                self.add(RUNNER_TARGET, f"evaluation with {flags} failed: "
                         + "; ".join(str(f) for f in on.findings[:3]))
                continue
            got = _defines(t_on)
            for k, v in want.items():
                if got.get(k) != v:
                    self.add(RUNNER_TARGET, f"{flags} does not define {k}={v} on the runner")
        bad = self.sub_eval({"executorch.prof_buf_size": "1024"})
        msgs = " ".join(f.message for f in bad.findings)
        if not bad.findings:
            self.add(RUNNER_TARGET, "-c executorch.prof_buf_size without prof_enabled does not fail")
        else:
            cm_msg = cmake_prof_message(self.root)
            if cm_msg and cm_msg not in msgs:
                self.add(RUNNER_TARGET, "prof_buf_size-alone failure message differs from "
                                        f"CMake's: expected `{cm_msg}`")

    def sub_eval(self, overrides: dict) -> "Checker":
        c = Checker(self.root, {**self.overrides, **overrides}, self.rule_attrs, self.release)
        c.cfg, c.buildfiles, c.cells, c.packages = self.cfg, self.buildfiles, self.cells, self.packages
        c.evaluate_packages()
        return c

    # ------------------------------------------------------------------ driver
    def run(self, semantic: bool = True) -> list[Finding]:
        self.check_buckconfig()
        if not self.buildfiles:
            return self.findings
        self.discover()
        self.evaluate_packages()
        self.evaluate_all_bzl()
        self.check_targets()
        self.check_toolchains()
        self.check_tests_covered()
        self.check_python_covered()
        if semantic:
            self.check_runner_sources()
            self.check_readme()
            self.check_profiling()
        return self.findings


def _describe(e: Exception) -> str:
    text = _err_text(e)
    if "not found" in text and text.startswith("Variable"):
        return f"unknown rule or name: {text}"
    return text


def _defines(t: Target) -> dict:
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


def check_repo(root, overrides=None, release=TARGET_RELEASE, rule_attrs=None,
               semantic=True) -> list[Finding]:
    return Checker(root, overrides, rule_attrs, release).run(semantic=semantic)
