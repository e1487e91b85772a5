"""Evaluates build files and .bzl files with starlark-pyo3 (the starlark-rust engine Buck2 is
built on) in Buck2's dialects. The prelude's rules are recorders: each call is validated
against the attribute list and stored as a Target in the repo state."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import starlark as sl

from .model import RepoState, Select, Target
from .rules import rule_call_problems

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


class EvalError(Exception):
    pass


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


def describe(e: Exception) -> str:
    """One line for an evaluation error, with the file:line of the user's source."""
    text = _err_text(e)
    if "not found" in text and text.startswith("Variable"):
        return f"unknown rule or name: {text}"
    return text


class Evaluator:
    def __init__(self, state: RepoState, rule_attrs: dict, toolchain_attrs: dict):
        self.state = state
        self.rule_attrs = rule_attrs
        self.toolchain_attrs = toolchain_attrs
        self._bzl_cache: dict[str, object] = {}
        self._bzl_loading: set[str] = set()
        self._stub_cache: dict[str, object] = {}
        self._current_pkg: str | None = None
        self._current_file: str = ""

    # ------------------------------------------------------------------ natives
    def _glob(self, include, exclude=None, **_kw):
        pkg = self._current_pkg
        if pkg is None:
            raise EvalError("glob() called outside a build file evaluation")
        base = self.state.root / pkg if pkg else self.state.root
        out = set()
        for pat in include:
            # pathlib's trailing `**` matches folders only; buck2's matches every file below.
            for p in base.glob(pat + "/*" if pat == "**" or pat.endswith("/**") else pat):
                if not p.is_file():
                    continue
                r = p.relative_to(base).as_posix()
                full = f"{pkg}/{r}".lstrip("/")
                if self.state.skipped(full) or self.state.package_of(full) != pkg:
                    continue  # globs never cross into sub-packages
                if any(fnmatch_path(r, e) for e in exclude or []):
                    continue
                out.add(r)
        return sorted(out)

    def _package_name(self):
        if self._current_pkg is None:
            raise EvalError("package_name() called outside a build file evaluation")
        return self._current_pkg

    def _read_config(self, section, key, default=None):
        return self.state.read_config(section, key, default)

    def _select(self, branches):
        return sl.OpaquePythonObject(Select(branches))

    def _recorder(self, rule, spec, rule_desc):
        def record(*args, **kwargs):
            if args:
                raise EvalError(f"{rule}() takes keyword arguments only")
            self._record(rule, spec, rule_desc, kwargs)
        return record

    def _record(self, rule, spec, rule_desc, kwargs):
        where, pkg = self._current_file, self._current_pkg
        if pkg is None:
            raise EvalError(f"{rule}() called at .bzl load time (outside a build file)")
        name = kwargs.get("name")
        if not isinstance(name, str) or not name:
            self.state.add(where, f"{rule}(): missing required attribute `name`")
            return
        label = f"//{pkg}:{name}"
        for problem in rule_call_problems(label, rule_desc, spec, kwargs):
            self.state.add(where, problem)
        if label in self.state.targets:
            self.state.add(where, f"duplicate target {label}")
            return
        self.state.targets[label] = Target(pkg, name, rule, dict(kwargs), where)

    def _install_natives(self, m, rules: bool):
        m.add_callable("glob", self._glob)
        m.add_callable("package_name", self._package_name)
        m.add_callable("read_config", self._read_config)
        m.add_callable("read_root_config", self._read_config)
        m.add_callable("select", self._select)
        if rules:
            for r, spec in self.rule_attrs.items():
                m.add_callable(r, self._recorder(r, spec, f"prelude rule {r}"))

    def _stub_module(self):
        if "natives" not in self._stub_cache:
            m = sl.Module()
            self._install_natives(m, rules=True)
            src = _NATIVE_STUB % {"rules": "\n    ".join(f"{r} = {r}," for r in sorted(self.rule_attrs))}
            sl.eval(m, sl.parse(_STUB_ID, src, _dialect(False)), _globals())
            self._stub_cache["natives"] = m.freeze()
        return self._stub_cache["natives"]

    # ------------------------------------------------------------------ loading
    def resolve_load(self, module_id: str, from_rel: str) -> tuple[str, str]:
        """Returns (kind, key): kind 'repo' with a repo-relative path, or 'prelude' with
        the prelude file id. Raises EvalError on a bad load."""
        mid = module_id[1:] if module_id.startswith("@") else module_id
        if "//" not in mid:
            if not mid.startswith(":"):
                raise EvalError(f"bad load `{module_id}`: use `//pkg:file.bzl` or `:file.bzl`")
            pkg_dir = Path(from_rel).parent.as_posix()
            return "repo", f"{'' if pkg_dir == '.' else pkg_dir}/{mid[1:]}".lstrip("/")
        cell, rest = mid.split("//", 1)
        if ":" not in rest:
            raise EvalError(f"bad load `{module_id}`: missing `:` before the file name")
        d, f = rest.split(":", 1)
        if cell in ("prelude", "config", "ovr_config"):
            return "prelude", f"@prelude//{d}:{f}"
        if cell in ("", "root"):
            return "repo", f"{d}/{f}".lstrip("/")
        cells = self.state.cells
        if cell in cells:
            base = cells[cell].strip("./") if cells[cell] not in (".", "./") else ""
            return "repo", "/".join(x for x in (base, d, f) if x)
        raise EvalError(f"bad load `{module_id}`: unknown cell `{cell}`")

    def _prelude_module(self, pid: str):
        if pid in self._stub_cache:
            return self._stub_cache[pid]
        if pid not in self.toolchain_attrs:
            raise EvalError(f"bad load `{pid}`: the checker knows no such prelude file "
                            f"(known: {', '.join(sorted(self.toolchain_attrs))})")
        m = sl.Module()
        for r, spec in self.toolchain_attrs[pid].items():
            m.add_callable(r, self._recorder(r, spec, f"{pid} rule {r}"))
        self._stub_cache[pid] = m.freeze()
        return self._stub_cache[pid]

    def _loader(self, from_rel: str):
        def load(module_id):
            if module_id == _STUB_ID:
                return self._stub_module()
            try:
                kind, key = self.resolve_load(module_id, from_rel)
                return self._prelude_module(key) if kind == "prelude" else self.load_bzl(key)
            except EvalError as e:
                raise RuntimeError(str(e)) from None
        return sl.FileLoader(load)

    @staticmethod
    def _prepare(src: str) -> str:
        # The implicit natives load takes one extra first line; describe() shifts reported
        # line numbers back.
        syms = ", ".join(f'"{s}"' for s in _STUB_SYMBOLS)
        return f'load("{_STUB_ID}", {syms})\n' + src

    def load_bzl(self, rel: str):
        if rel in self._bzl_cache:
            return self._bzl_cache[rel]
        p = self.state.root / rel
        if not rel.endswith(".bzl"):
            raise EvalError(f"bad load `{rel}`: buck2 only loads .bzl files")
        if not p.is_file():
            raise EvalError(f"bad load: `{rel}` does not exist")
        if rel in self._bzl_loading:
            raise EvalError(f"load cycle through `{rel}`")
        self._bzl_loading.add(rel)
        try:
            m = sl.Module()
            self._install_natives(m, rules=False)
            sl.eval(m, sl.parse(rel, self._prepare(p.read_text()), _dialect(False)), _globals(),
                    self._loader(rel))
            fz = m.freeze()
        finally:
            self._bzl_loading.discard(rel)
        self._bzl_cache[rel] = fz
        return fz

    def bzl_value(self, rel: str, symbol: str):
        """The value `symbol` has after loading the .bzl file `rel` (as a Python value)."""
        self.load_bzl(rel)
        m = sl.Module()
        ast = sl.parse("probe.bzl", f'load("//{Path(rel).parent.as_posix()}:{Path(rel).name}", '
                       f'"{symbol}")\ndef value():\n    return {symbol}\n', _dialect(False))
        sl.eval(m, ast, _globals(), self._loader("probe.bzl"))
        return m.freeze().call("value")

    # ------------------------------------------------------------------ evaluation
    def evaluate_packages(self):
        for pkg, bf in sorted(self.state.packages.items()):
            self._current_pkg, self._current_file = pkg, bf
            try:
                m = sl.Module()
                self._install_natives(m, rules=True)
                ast = sl.parse(bf, self._prepare((self.state.root / bf).read_text()), _dialect(True))
                sl.eval(m, ast, _globals(), self._loader(bf))
            except Exception as e:  # noqa: BLE001 - every evaluation error is a finding
                self.state.add(bf, describe(e))
            finally:
                self._current_pkg = None

    def evaluate_all_bzl(self):
        """.bzl files no build file loads still have to parse and evaluate."""
        for rel_dir, filenames in self.state.walk():
            for f in filenames:
                rel = f"{rel_dir}/{f}".lstrip("/")
                if f.endswith(".bzl") and rel not in self._bzl_cache:
                    try:
                        self.load_bzl(rel)
                    except Exception as e:  # noqa: BLE001
                        self.state.add(rel, describe(e))


def fnmatch_path(rel: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(rel, pattern) or Path(rel).match(pattern)
