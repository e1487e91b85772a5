"""The opt-in runner build whose XNNPACK delegate comes from an ExecuTorch checkout, with AMX
kernels (cmake/xnnpack_from_source.cmake). Building it needs that checkout, so here only its
configure-time checks; its numerics: tests/test_runner_cli.py (when cmake-out-amx/ is built)."""

from __future__ import annotations

import subprocess

from tests.helpers_runner import REPO, build_tools


def test_an_incomplete_checkout_fails_configure_with_what_is_missing(tmp_path):
    cmake, env = build_tools()
    checkout = tmp_path / "executorch"
    (checkout / "backends" / "xnnpack" / "runtime").mkdir(parents=True)
    proc = subprocess.run([cmake, "-S", str(REPO), "-B", str(tmp_path / "b"), "-G", "Ninja",
                           f"-DEXECUTORCH_SOURCE_DIR={checkout}", "-DBUILD_TEXT_GENERATION_RUNNER=OFF"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode != 0
    message = " ".join(proc.stderr.split())  # CMake wraps the message
    assert "lacks backends/xnnpack/runtime/XNNCompiler.cpp" in message
    assert "git clone --recursive" in message
