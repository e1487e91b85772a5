"""The runners' 2 MiB page backing (runtime/executor_runner/huge_pages.h): checked against the
kernel's own accounting by tests/native/huge_pages_check.cpp (built with the runner), and end to
end through text_generation_runner's report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers_runner import BUILD_DIR, ensure_runner

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_fully_resident_ranges_are_collapsed_and_partial_ones_left_alone():
    ensure_runner(BUILD_DIR)  # brings the check up to date with huge_pages.cpp
    done = subprocess.run([str(BUILD_DIR / "huge_pages_check")], capture_output=True, text=True, timeout=60)
    # exit 3 means this kernel cannot collapse (no MADV_COLLAPSE, or no THP): not a pass here,
    # where the product's measurements were taken with 2 MiB pages (MADV_COLLAPSE does not
    # depend on the THP mode, so a kernel in "never" mode may still pass)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the half resident and the zero-page ones left alone" in done.stdout


def test_the_2m_row_runs_the_same_program_with_the_backing_on():
    from examples.benchmark.generation_runs import plan_for
    from examples.benchmark.generation_variants import VARIANTS
    from examples.runner.text_generation_client import command

    variant = VARIANTS["8da4w-2m"]
    assert variant.artifact == VARIANTS["8da4w"].artifact and not variant.judged
    artifacts = {"8da4w": Path("p.pte")}
    assert [v for _, v, _ in plan_for(artifacts, "native", ["8da4w", "8da4w-2m"])] == ["8da4w", "8da4w-2m"]
    assert [v for _, v, _ in plan_for(artifacts, "python-standin", ["8da4w", "8da4w-2m"])] == ["8da4w"]
    cmd = command("native", Path("p.pte"), [1, 2], max_new_tokens=4, binary=Path(__file__),
                  extra_flags=variant.native_flags)
    assert "--huge_pages=true" in cmd and cmd[-1] == "--json"


def test_a_native_only_row_with_the_python_runner_is_one_error_line():
    done = subprocess.run([sys.executable, "-m", "examples.backend.generation_bench", "--models", "stories15m",
                           "--runner", "python-standin", "--variants", "8da4w,8da4w-2m"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("error:") == 1 and "8da4w-2m" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
