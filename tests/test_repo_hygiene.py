"""The README's two commands and CI's script must stay in step."""

from __future__ import annotations

import re
import subprocess

FENCE = re.compile(r"```bash\n(.*?)\n```", re.S)


def readme_commands(repo_root):
    return [block.strip() for block in FENCE.findall((repo_root / "README.md").read_text())]


def test_readme_opens_with_main_job_and_test_commands(repo_root):
    main_job, tests = readme_commands(repo_root)[:2]
    assert main_job.startswith("./setup.sh && ") and "examples.backend.benchmark" in main_job
    assert tests.startswith("./setup.sh && ") and "pytest" in tests


def test_ci_runs_the_readme_test_command(repo_root):
    test_command = readme_commands(repo_root)[1]
    ci_lines = [line.strip() for line in (repo_root / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines


def test_ci_turns_pytest_no_tests_into_failure(repo_root, tmp_path):
    # Replay .ci/run's exit-code handling with a stand-in pytest that collects nothing.
    script = (repo_root / ".ci" / "run").read_text()
    test_command = readme_commands(repo_root)[1]
    fake = script.replace('cd "$(dirname "$0")/.."', f'cd "{tmp_path}"').replace(test_command, "(exit 5)")
    assert fake != script
    result = subprocess.run(["bash", "-c", fake], capture_output=True, text=True)
    assert result.returncode != 0 and "no tests" in result.stderr


def test_no_build_outputs_tracked(repo_root):
    tracked = subprocess.run(["git", "ls-files"], cwd=repo_root, capture_output=True, text=True).stdout.split()
    bad = [p for p in tracked if p.endswith((".pte", ".so", ".etdp")) or p.startswith((".venv/", "cmake-out"))]
    assert not bad


def test_readme_fits_on_a_few_screens(repo_root):
    assert len((repo_root / "README.md").read_text().splitlines()) <= 200


def test_layouts_name_every_package_and_tool(repo_root):
    """README's layout paragraph and CONTRIBUTING.md's table name every package and tool."""
    folders = [f"examples/{p.name}" for p in (repo_root / "examples").iterdir()
               if p.is_dir() and (p / "__init__.py").exists()]
    folders += [f"tools/{p.name}" for p in (repo_root / "tools").iterdir() if p.is_dir() and not p.name.startswith("_")]
    folders += ["third-party", "runtime/executor_runner", "runtime/profiler"]
    readme = (repo_root / "README.md").read_text()
    contributing = (repo_root / "CONTRIBUTING.md").read_text()
    for folder in folders:
        short = folder.split("/", 1)[1] if folder.startswith("tools/") else folder
        assert folder in readme or f"`{short}`" in readme, f"README layout misses {folder}"
        assert f"`{folder}" in contributing, f"CONTRIBUTING.md misses {folder}"


def test_the_zoo_listing_in_the_docs_is_the_commands_output(repo_root):
    import sys

    done = subprocess.run([sys.executable, "-m", "examples.backend.xnnpack_examples", "--list_models"],
                          cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    text = (repo_root / "docs" / "EXPORT.md").read_text()
    block = text.split("The zoo (`--list_models`):\n\n```\n", 1)[1].split("```", 1)[0]
    assert block == done.stdout


def test_readme_commands_name_real_modules_and_binaries(repo_root):
    """Every `python -m MODULE` in README is a module of the tree (each one's --help is run by
    tests/test_cli_common.py) and every runner binary it names is a CMake target."""
    import importlib.util
    import re

    readme = (repo_root / "README.md").read_text()
    modules = set(re.findall(r"python -m ([\w.]+)", readme)) - {"pytest"}
    assert len(modules) >= 6
    assert [m for m in modules if importlib.util.find_spec(m) is None] == []
    cmake = (repo_root / "CMakeLists.txt").read_text()
    for binary in set(re.findall(r"cmake-out(?:-prof)?/(\w+)", readme)):
        assert f"add_executable({binary}" in cmake, binary


# Modules the docs may name with `python -m` that are not user commands, with the reason.
INTERNAL_MODULES = {"examples.benchmark.peer_worker": "the benchmark's worker process for a peer engine"}


def test_every_documented_command_lives_in_examples_backend(repo_root):
    """One home for commands: what README and docs tell a user to run is examples/backend/<name>."""
    import re

    texts = [repo_root / "README.md", repo_root / "CONTRIBUTING.md", *sorted((repo_root / "docs").glob("*.md")),
             *sorted(repo_root.glob("results/*/generation/NOTES.md"))]
    named = {m for path in texts for m in re.findall(r"python3? -m (examples\.[\w.]+)", path.read_text())}
    assert len(named) >= 8
    elsewhere = sorted(m for m in named if not m.startswith("examples.backend.") and m not in INTERNAL_MODULES)
    assert elsewhere == []


def test_no_test_imports_a_module_that_defines_command_line_flags(repo_root):
    """pytest-xdist runs several test files in one process, and absl refuses a flag defined
    twice (two CLIs both with --json): tests run a CLI in a subprocess and import its library
    module, never the module that defines the flags."""
    # at import: flags.DEFINE_... or a helper that defines them (export_cli.define_common_flags())
    defines = re.compile(r"^(?:flags\.DEFINE_|[\w.]*define_\w*flags\()", re.M)
    flag_modules = {".".join(p.relative_to(repo_root).with_suffix("").parts)
                    for folder in ("examples", "runtime") for p in (repo_root / folder).glob("**/*.py")
                    if defines.search(p.read_text())}
    assert {"examples.generation.step_profile", "examples.backend.xnnpack_examples"} <= flag_modules  # both kinds
    imports = re.compile(r"^\s*(?:from ([\w.]+) import ([\w, ]+)|import ([\w.]+))", re.M)

    def imported(match) -> set[str]:  # "from a.b import c, d" may import modules a.b.c, a.b.d
        if match.group(3):
            return {match.group(3)}
        return {match.group(1)} | {f"{match.group(1)}.{name.strip()}" for name in match.group(2).split(",")}

    # The one exception: the profiler CLI's tests run it in their process (no interpreter start
    # and torch import per call); with it the only flag module a test imports, none collides.
    allowed = {"helpers_profiler.py: runtime.profiler.profiler_results_cli"}
    offenders = sorted({f"{test.name}: {module}" for test in (repo_root / "tests").glob("*.py")
                        for m in imports.finditer(test.read_text()) for module in imported(m) & flag_modules} - allowed)
    assert not offenders, offenders


def test_no_result_file_names_a_machine_path(repo_root):
    """Result files are committed: the commands they record name files, not the measuring
    machine's folders (examples.common.machine.portable_command; publish drops output folders)."""
    import json

    absolute = re.compile(r"^(--[\w-]+=)?/[^\s]*/")

    def strings(value):
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            for item in value:
                yield from strings(item)
        elif isinstance(value, str):
            yield value

    found = {str(path.relative_to(repo_root)): hits for path in sorted((repo_root / "results").rglob("*.json"))
             if (hits := [s for s in strings(json.loads(path.read_text())) if absolute.match(s)])}
    assert found == {}
