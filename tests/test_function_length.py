"""Functions stay short enough to read in one screen: at most 80 lines, in first-party Python
(``examples/``, ``tools/``, ``runtime/``) and C++ (``runtime/``). A function that must be longer
goes into ``EXCEPTIONS`` with the reason."""

from __future__ import annotations

import ast
import re
from pathlib import Path

LIMIT = 80
# "path:function" -> why it may be longer than LIMIT lines.
EXCEPTIONS: dict[str, str] = {}


def python_functions(path: Path):
    """``(name, lines)`` of every function and method in a Python file, nested ones too."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node.end_lineno - node.lineno + 1


def _strip_cpp(source: str) -> str:
    """Comments and string / character literals blanked out, line breaks kept."""
    pattern = re.compile(r'//[^\n]*|/\*.*?\*/|R"(\w*)\(.*?\)\1"|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
    return pattern.sub(lambda m: "\n" * m.group(0).count("\n") + ('""' if m.group(0)[0] in "\"R'" else ""), source)


_FUNCTION_HEAD = re.compile(r"\)\s*(const\s*)?(noexcept\s*)?(override\s*)?(->\s*[\w:<>\s*&]+)?$"
                            r"|\)\s*:\s*[\w:]+[({]")  # a parameter list, or a constructor's initializers


def cpp_functions(source: str):
    """``(name, lines)`` of every function body at namespace or class level: a ``{`` whose
    header ends in a parameter list (lambdas and blocks inside a function belong to it)."""
    text, scopes, header_start = _strip_cpp(source), [], 0
    for i, char in enumerate(text):
        if char in ";}" or char == "{":
            header = text[header_start:i].strip()
            header_start = i + 1
        if char == "{":
            kind = "block"
            if all(k in ("namespace", "class") for k in scopes):
                if re.search(r"\bnamespace\b", header) or header.startswith("extern"):
                    kind = "namespace"
                elif re.search(r"\b(class|struct|union|enum)\b", header) and "(" not in header:
                    kind = "class"
                elif _FUNCTION_HEAD.search(header) and not re.match(r"(if|for|while|switch|catch)\b", header):
                    names = re.findall(r"([~\w:]+)\s*\(", header)
                    kind = (names[0] if names else "?", text.count("\n", 0, i) + 1)
            scopes.append(kind)
        elif char == "}" and scopes:
            kind = scopes.pop()
            if isinstance(kind, tuple):
                yield kind[0], text.count("\n", 0, i) + 1 - kind[1] + 1


def long_functions(repo_root: Path) -> dict[str, int]:
    found = {}
    for folder in ("examples", "tools", "runtime"):
        for path in sorted((repo_root / folder).rglob("*.py")):
            for name, lines in python_functions(path):
                if lines > LIMIT:
                    found[f"{path.relative_to(repo_root)}:{name}"] = lines
    for path in sorted((repo_root / "runtime").rglob("*")):
        if path.suffix in (".cpp", ".h", ".cc"):
            for name, lines in cpp_functions(path.read_text()):
                if lines > LIMIT:
                    found[f"{path.relative_to(repo_root)}:{name}"] = lines
    return found


def test_functions_fit_the_limit(repo_root):
    too_long = {name: lines for name, lines in long_functions(repo_root).items() if name not in EXCEPTIONS}
    assert too_long == {}, f"functions over {LIMIT} lines: split them, or add an exception with its reason"


def test_every_exception_is_still_needed(repo_root):
    found = long_functions(repo_root)
    assert [name for name in EXCEPTIONS if name not in found] == []


def test_the_cpp_scan_measures_bodies():
    source = ('namespace x {\nstruct S {\n  int f() const {\n    return 1;\n  }\n};\n'
              'int main(int argc, char** argv) {\n  auto g = [](int a) {\n    return a; // }\n  };\n'
              '  if (argc) {\n    puts("{");\n  }\n  return 0;\n}\n}  // namespace x\n')
    assert list(cpp_functions(source)) == [("f", 3), ("main", 9)]
    assert [n for n, _ in python_functions(Path(__file__))][:2] == ["python_functions", "_strip_cpp"]
