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
