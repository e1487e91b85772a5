"""Regressions for what a new user hit: a user module importing torchvision at its top, and
runner outputs of integer dtypes read back as float32 by the evaluation."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from examples.runner import client

USER_MODULE = textwrap.dedent("""
    import torch
    import torchvision  # at the top, before the toolkit could apply its CUDA-build fix


    def make():
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(),
                                    torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 4))
        return model.eval(), (torch.randn(1, 3, 16, 16),)
""")


@pytest.mark.slow
def test_user_module_importing_torchvision_exports_and_runs(tmp_path, python_env, repo_root):
    (tmp_path / "my_tv_models.py").write_text(USER_MODULE)
    env = dict(python_env, PYTHONPATH=f"{tmp_path}:{python_env['PYTHONPATH']}")
    out = tmp_path / "out"
    # The quantized export (the longer flow: quantizer, calibration, lowering) is the one run; the
    # file name is the module and the function.
    for extra, name in ((["--quantize"], "my_tv_models_make_xnnpack_q8.pte"),):
        done = subprocess.run([sys.executable, "-m", "examples.backend.xnnpack_examples",
                               "--model_name", "my_tv_models:make", "--delegate", "--output_dir", str(out), *extra],
                              capture_output=True, text=True, cwd=repo_root, env=env, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "torchvision::nms" not in done.stderr
        program = out / name
        assert program.is_file()
        runner = client.find_runner()
        measured = client.run_program(runner, program, iters=1, warmup=0, threads=1,
                                      inputs=client.write_input_files([torch.randn(1, 3, 16, 16)], tmp_path / name),
                                      output_path=tmp_path / f"{name}.out")
        assert measured.outputs[0].shape == (1, 4) and np.isfinite(measured.outputs[0]).all()


class IntegerOutput(torch.nn.Module):
    def forward(self, x):
        return (x * 10).to(torch.int64)


def test_evaluation_reads_integer_outputs_by_manifest(tmp_path):
    from examples.evaluation.accuracy import NativeRunnerProgram
    from examples.export.lowering import export_program, save_program

    x = torch.tensor([[0.5, -1.2, 3.3, 7.9]])
    program = save_program(export_program(IntegerOutput().eval(), (x,), delegate=False), tmp_path / "int.pte")
    engine = NativeRunnerProgram(program, client.find_runner())
    try:
        actual = engine(x)
    finally:
        engine.close()
    assert actual.dtype == torch.int64
    torch.testing.assert_close(actual.reshape(1, 4), IntegerOutput()(x))
