"""The native runner's decode attention kernels (one_row_q_at_k / one_row_qk_at_v, local changes in
third-party/executorch_llm_ops) checked directly: the tiny test model's heads are 16 floats wide,
so its end-to-end tests never reach the kernels' 64-float path or most of their tails.
tests/native/one_row_attention_check.cpp is compiled with the kernels' own compile command
(from cmake-out's build.ninja) and run."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.helpers_runner import BUILD_DIR, REPO, build_tools, ensure_runner

CHECK = REPO / "tests" / "native" / "one_row_attention_check.cpp"


def _kernel_compile_command(ninja: str, env: dict) -> list[str]:
    commands = subprocess.run([ninja, "-C", str(BUILD_DIR), "-t", "commands", "llm_custom_ops"], check=True,
                              capture_output=True, text=True, env=env).stdout
    line = next(c for c in commands.splitlines() if " -c " in c and c.rstrip().endswith("op_sdpa.cpp"))
    args, kept = shlex.split(line), []
    skip = 0
    for i, arg in enumerate(args):
        if skip:
            skip -= 1
        elif arg in ("-c", "-o", "-MT", "-MF"):
            skip = 1  # and its value
        elif arg != "-MD":
            kept.append(arg)
    return kept


@pytest.mark.slow
def test_one_row_attention_kernels_match_a_double_reference(tmp_path):
    import executorch

    ensure_runner(BUILD_DIR)  # configured, with the kernels' library
    _, env = build_tools()
    ninja = str(Path(env["PATH"].split(os.pathsep)[0]) / "ninja")
    lib = Path(list(executorch.__path__)[0]) / "lib"
    binary = tmp_path / "one_row_attention_check"
    subprocess.run([*_kernel_compile_command(ninja, env), str(CHECK), "-o", str(binary), f"-L{lib}",
                    "-lexecutorch_kernels_optimized", "-lexecutorch_threadpool", "-lexecutorch",
                    f"-Wl,-rpath,{lib}"], check=True, capture_output=True, env=env, cwd=BUILD_DIR)
    done = subprocess.run([str(binary)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "worst relative error" in done.stdout
