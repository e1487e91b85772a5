"""A test under `buck2 test` (a binary under `buck2 run`) runs from what its target packs
(its srcs and resources, and those of its python deps), not from the checkout. So every
first-party module it needs (imports, `importlib.import_module("...")`, `[..., "-m",
"pkg.mod"]` command lines; followed through helper modules and conftest.py) and every
tests/fixtures path it names must be packed into its target; and no module may import a
test file (tests/test_*.py)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import PurePosixPath

from .model import RepoState, Target, iter_values
from .references import packed_path, python_deps

FIXTURES = "fixtures"
TESTS_DIR = "tests/"


@dataclass(frozen=True)
class Use:
    kind: str  # "module" or "fixture"
    name: str  # module name, or the fixture path as written
    path: str  # repo-relative file (module) or file/folder (fixture)


def is_test_file(rel: str) -> bool:
    name = PurePosixPath(rel).name
    return name.startswith("test_") and name.endswith(".py")


class UseScanner:
    """Finds the first-party modules and fixture files one Python file uses."""

    def __init__(self, s: RepoState):
        self.s = s
        self._cache: dict[str, list[Use]] = {}

    def uses(self, rel: str) -> list[Use]:
        if rel not in self._cache:
            try:
                tree = ast.parse((self.s.root / rel).read_text(), rel)
            except (SyntaxError, OSError, UnicodeDecodeError) as e:
                self.s.add(rel, f"cannot read as Python: {e}")
                tree = ast.Module(body=[], type_ignores=[])
            self._cache[rel] = self._scan(rel, tree)
        return self._cache[rel]

    # ------------------------------------------------------------------ modules
    def module_file(self, name: str) -> str | None:
        base = name.replace(".", "/")
        for cand in (f"{base}.py", f"{base}/__init__.py"):
            if (self.s.root / cand).is_file() and not self.s.skipped(cand):
                return cand
        return None

    def _module_uses(self, name: str) -> list[Use]:
        """The module and the existing __init__.py of each package above it."""
        out = []
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            sub = ".".join(parts[:i])
            f = self.module_file(sub)
            if f and (i == len(parts) or f.endswith("__init__.py")):
                out.append(Use("module", sub, f))
        return out

    def _from_import(self, rel: str, node: ast.ImportFrom) -> list[Use]:
        if node.level:
            pkg = PurePosixPath(rel).parent.parts
            pkg = pkg[:len(pkg) - (node.level - 1)]
            base = ".".join([*pkg, *([node.module] if node.module else [])])
        else:
            base = node.module or ""
        out = []
        for alias in node.names:
            full = f"{base}.{alias.name}" if base else alias.name
            out += self._module_uses(full if self.module_file(full) else base)
        return out

    def _scan(self, rel: str, tree: ast.AST) -> list[Use]:
        out: list[Use] = []
        docstrings = {id(n.value) for n in ast.walk(tree)
                      if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
        inner: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    out += self._module_uses(alias.name)
            elif isinstance(node, ast.ImportFrom):
                out += self._from_import(rel, node)
            elif isinstance(node, ast.Call) and _call_name(node) in ("import_module", "__import__") \
                    and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                out += self._module_uses(node.args[0].value)
            elif isinstance(node, (ast.List, ast.Tuple)):
                for a, b in zip(node.elts, node.elts[1:]):
                    if _const(a) == "-m" and isinstance(_const(b), str):
                        out += self._module_uses(_const(b))
            if id(node) in inner or not rel.startswith(TESTS_DIR):
                continue  # fixture paths: only in the tests' own modules
            if _is_path_join(node):
                parts = _path_parts(node, inner)
                out += self._fixture_uses(rel, parts)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and id(node) not in docstrings and _looks_like_fixture_path(node.value):
                out += self._fixture_uses(rel, [node.value])
        return list(dict.fromkeys(out))

    # ------------------------------------------------------------------ fixtures
    def _fixture_uses(self, rel: str, parts: list[str | None]) -> list[Use]:
        segs: list[str | None] = []
        for p in parts:
            segs += [x for x in p.split("/") if x not in ("", ".")] if isinstance(p, str) else [None]
        if FIXTURES not in segs:
            return []
        i = segs.index(FIXTURES)
        start = i
        while start > 0 and segs[start - 1] is not None:
            start -= 1
        end = i + 1
        while end < len(segs) and segs[end] is not None:
            end += 1
        written = "/".join(segs[start:end])
        if written.startswith(TESTS_DIR):
            path = written
        else:
            path = str(PurePosixPath(rel).parent / written)
        return [Use("fixture", written, path)]


def _const(node):
    return node.value if isinstance(node, ast.Constant) else None


def _call_name(node: ast.Call) -> str | None:
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None


def _is_path_join(node) -> bool:
    return (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)) or \
        (isinstance(node, ast.Call) and _call_name(node) in ("join", "joinpath"))


def _path_parts(node, inner: set[int]) -> list[str | None]:
    """`a / "b" / "c"`, `os.path.join(a, "b")`, `p.joinpath("b")` as [None, "b", "c"]."""
    if _is_path_join(node):
        inner.add(id(node))
        if isinstance(node, ast.BinOp):
            return _path_parts(node.left, inner) + _path_parts(node.right, inner)
        head = _path_parts(node.func.value, inner) if _call_name(node) == "joinpath" else []
        return head + [x for a in node.args for x in _path_parts(a, inner)]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        inner.add(id(node))
        return [node.value]
    return [None]


def _looks_like_fixture_path(text: str) -> bool:
    segs = [x for x in text.split("/") if x not in ("", ".")]
    return "/" in text and FIXTURES in segs[:2] and all(
        x.replace(".", "").replace("_", "").replace("-", "").isalnum() for x in segs)


def packed_files(s: RepoState, label: str) -> set[str]:
    """Every file the target puts in its Python tree, its python deps' included."""
    out = set()
    for t in python_deps(s, label):
        for attr in ("srcs", "resources"):
            value = t.attrs.get(attr, [])
            names = value.keys() if isinstance(value, dict) else iter_values(value)
            out |= {packed_path(t, v) for v in names if isinstance(v, str)}
    return out


def _conftests(s: RepoState, rel: str) -> list[str]:
    """conftest.py files pytest loads for a test file: its folder's and every parent's."""
    out = []
    for d in PurePosixPath(rel).parents:
        cand = "conftest.py" if str(d) == "." else f"{d}/conftest.py"
        if (s.root / cand).is_file():
            out.append(cand)
    return out


def _roots(s: RepoState, t: Target) -> list[str]:
    """The files a target runs first: a binary's main module; a test's test files and
    the conftest.py files pytest loads for them."""
    if t.rule == "python_binary":
        mm = t.attrs.get("main_module")
        path = mm.replace(".", "/") + ".py" if isinstance(mm, str) else None
        return [path] if path and (s.root / path).is_file() else []
    tests = [f"{t.package}/{v}".lstrip("/") for v in iter_values(t.attrs.get("srcs", []))
             if v.endswith(".py") and is_test_file(v)]
    return tests + [c for f in tests for c in _conftests(s, f)]


def check_packing(s: RepoState):
    """Follows each python_test's and python_binary's uses and checks them against what
    the target packs."""
    scanner = UseScanner(s)
    reported: set[tuple] = set()

    def once(path, message):
        if (path, message) not in reported:
            reported.add((path, message))
            s.add(path, message)

    runnable = (t for t in s.targets.values() if t.rule in ("python_test", "python_binary"))
    for t in sorted(runnable, key=lambda t: t.label):
        packed = packed_files(s, t.label)
        roots = _roots(s, t)
        for c in roots:
            if c.endswith("conftest.py") and c not in packed:
                once(t.buildfile, f"{t.label}: {c} is not packed in the target, but pytest "
                                  "loads it for the test (add it to srcs)")
        queue, seen = list(roots), set(roots)
        while queue:
            rel = queue.pop(0)
            for use in scanner.uses(rel):
                if use.kind == "module":
                    _check_module_use(t, rel, use, packed, once)
                    if use.path not in seen:
                        seen.add(use.path)
                        queue.append(use.path)
                else:
                    _check_fixture_use(s, t, rel, use, packed, once)


def _check_module_use(t: Target, rel: str, use: Use, packed: set[str], once):
    if is_test_file(use.path) and use.path != rel:
        once(rel, f"imports test module `{use.name}` ({use.path}): a test file must not "
                  "import another test file (each python_test packs only its own); move the "
                  "shared code to a helper module (tests/helpers_*.py)")
    elif use.path not in packed:
        once(t.buildfile, f"{t.label}: {rel} imports `{use.name}`, but {use.path} is not "
                          "packed in the target (add it to srcs or to a python dep)")


def _check_fixture_use(s: RepoState, t: Target, rel: str, use: Use, packed: set[str], once):
    p = s.root / use.path
    if p.is_file():
        files = [use.path]
    elif p.is_dir():
        files = sorted(s.rel(f) for f in p.rglob("*") if f.is_file() and not s.skipped(s.rel(f)))
    else:
        once(rel, f"reads `{use.name}` ({use.path}), which does not exist")
        return
    missing = [f for f in files if f not in packed]
    if missing:
        what = f"{use.path} is" if missing == [use.path] else \
            f"{len(missing)} file(s) under {use.path} are (e.g. {missing[0]})"
        once(t.buildfile, f"{t.label}: {rel} reads `{use.name}`, but {what} not packed in the "
                          "target (add to resources)")
