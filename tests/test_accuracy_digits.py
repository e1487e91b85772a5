"""Accuracy pipeline proven on a real labelled dataset: scikit-learn's handwritten digits.

A small CNN (10 classes, 16x16) is trained briefly on the training split (cached
under .cache/digits by a hash of its configuration), quantized with calibration images from
the training split, exported as XNNPACK fp32 and q8 programs, and evaluated on the test split
written as an ImageFolder of PNGs, the same path a user's --eval_data folder takes. Programs run
in the native runner (skipped when it is not built) and in ExecuTorch's Python runtime.
"""

from __future__ import annotations

import pytest

from examples.evaluation import accuracy

pytestmark = pytest.mark.slow  # trains and exports a model: seconds to tens of seconds

MIN_EAGER_TOP1 = 0.85  # a clearly non-trivial accuracy (chance: 0.10)
FP32_TOLERANCE_POINTS = 0.5  # fp32 program vs eager
Q8_MAX_DROP_POINTS = 2.0  # q8 program vs fp32 program
CALIBRATION_SAMPLES = 128


@pytest.fixture(scope="session")
def digits(tmp_path_factory):
    import torch

    from examples.evaluation.dataset import ImageFolderDataset
    from examples.evaluation.digits import TrainConfig, digits_preprocess, train_digits_classifier, \
        write_digits_imagefolder
    from examples.export.lowering import export_program, save_program
    from examples.quantization.recipes import get_recipe

    root = tmp_path_factory.mktemp("digits")
    folders = write_digits_imagefolder(root / "data")
    config = TrainConfig()
    trained = train_digits_classifier(folders["train"], config)
    preprocess = digits_preprocess(config)
    example = (torch.zeros(1, 3, config.image_size, config.image_size),)
    calibration = ImageFolderDataset(folders["train"], preprocess).calibration_batches(CALIBRATION_SAMPLES)
    fp32 = export_program(trained.model, example)
    q8 = export_program(trained.model, example, recipe=get_recipe("static_per_channel"), calibration=calibration)
    programs = {"fp32": save_program(fp32, root / "digits_cnn_xnnpack_fp32.pte"),
                "q8": save_program(q8, root / "digits_cnn_xnnpack_q8.pte")}
    return {"folders": folders, "trained": trained, "preprocess": preprocess, "programs": programs,
            "calibration_used": q8.calibration_batches}


def _check(report, digits, engine):
    print(f"\n{report.format()}\ncalibration samples used: {digits['calibration_used']}, "
          f"train time: {digits['trained'].train_seconds:.1f}s (cached: {digits['trained'].cached})")
    eager, fp32, q8 = report["eager"], report["fp32"], report["q8"]
    assert report.samples == 360 and report.classes == 10
    assert fp32.engine == q8.engine == engine
    assert eager.top1 > MIN_EAGER_TOP1, f"training reached only {eager.top1:.3f} top-1"
    assert abs(fp32.top1 - eager.top1) * 100 <= FP32_TOLERANCE_POINTS
    assert report.drop("q8") <= Q8_MAX_DROP_POINTS, f"q8 drop {report.drop('q8'):.2f} points"
    assert fp32.agreement >= 0.99
    assert q8.agreement >= 0.95
    assert q8.top5 >= q8.top1 and fp32.top5 >= fp32.top1
    assert digits["calibration_used"] == CALIBRATION_SAMPLES


@pytest.mark.skipif(not accuracy.runner_available(), reason="native runner not built (cmake-out/xnn_executor_runner)")
def test_digits_accuracy_native_runner(digits):
    report = accuracy.evaluate(digits["preprocess"], digits["trained"].model, digits["programs"],
                               digits["folders"]["test"], engine="runner")
    _check(report, digits, "runner")


def test_digits_accuracy_python_runtime(digits):
    report = accuracy.evaluate(digits["preprocess"], digits["trained"].model, digits["programs"],
                               digits["folders"]["test"], engine="python")
    _check(report, digits, "python")
    data = report.to_dict()
    assert [r["name"] for r in data["results"]] == ["eager", "fp32", "q8"]
    assert data["results"][1]["engine_label"] == "python runtime"


def test_export_cli_eval_data(digits, tmp_path, python_env, repo_root):
    """The export CLI's --eval_data: same folder layout, same figures as the library call."""
    import subprocess
    import sys

    trained = digits["trained"]
    assert trained.path is not None and trained.path.is_file()
    done = subprocess.run(
        [sys.executable, "-m", "examples.backend.xnnpack_examples",
         "--model_name=examples.evaluation.digits:digits_cnn", f"--weights={trained.path}",
         f"--eval_data={digits['folders']['test']}", "--eval_limit=60", "--eval_engine=python",
         f"--output_dir={tmp_path}"],
        capture_output=True, text=True, env=python_env, cwd=repo_root, timeout=600)
    assert done.returncode == 0, done.stderr
    table = done.stdout[done.stdout.index("accuracy on"):]
    assert "(60 images, 10 classes, batch 1)" in table
    assert "fp32     python runtime" in table and "100.0%" in table  # fp32 agrees with eager
