"""The runners' 2 MiB page backing (runtime/executor_runner/huge_pages.h): checked against the
kernel's own accounting by tests/native/huge_pages_check.cpp (built with the runner), and end to
end through text_generation_runner's report."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.helpers_runner import BUILD_DIR, ensure_runner


def _thp_mode() -> str:
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return "absent"
    return text[text.index("[") + 1:text.index("]")]


@pytest.mark.slow
def test_fully_resident_ranges_are_collapsed_and_partial_ones_left_alone():
    ensure_runner(BUILD_DIR)  # brings the check up to date with huge_pages.cpp
    done = subprocess.run([str(BUILD_DIR / "huge_pages_check")], capture_output=True, text=True, timeout=60)
    # exit 3 means this kernel cannot collapse (no MADV_COLLAPSE, or no THP): not a pass here,
    # where the product's measurements were taken with 2 MiB pages
    assert _thp_mode() in ("always", "madvise"), "this kernel gives no 2 MiB pages"
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the half resident one left alone" in done.stdout


def test_the_4k_row_runs_the_same_program_with_the_backing_off():
    from examples.benchmark.generation_runs import VARIANTS, plan_for
    from examples.runner.text_generation_client import command

    variant = VARIANTS["8da4w-4k"]
    assert variant.artifact == VARIANTS["8da4w"].artifact and not variant.judged
    artifacts = {"8da4w": Path("p.pte")}
    assert [v for _, v, _ in plan_for(artifacts, "native", ["8da4w", "8da4w-4k"])] == ["8da4w", "8da4w-4k"]
    assert [v for _, v, _ in plan_for(artifacts, "python-standin", ["8da4w", "8da4w-4k"])] == ["8da4w"]
    cmd = command("native", Path("p.pte"), [1, 2], max_new_tokens=4, binary=Path(__file__),
                  extra_flags=variant.native_flags)
    assert "--huge_pages=false" in cmd and cmd[-1] == "--json"
