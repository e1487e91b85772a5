"""Fast checks of the evaluation module: folder loading, preprocessing, scoring, report."""

from __future__ import annotations

import pytest
import torch

from examples.evaluation import accuracy
from examples.evaluation.dataset import DatasetError, ImageFolderDataset, NotAnImageModel, Preprocess


def _folder(root, classes=("a", "b", "c"), per_class=2, size=(40, 30)):
    from PIL import Image

    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", size, (60 * label, 10 * i, 200)).save(root / name / f"{i}.png")
    (root / "a" / "notes.txt").write_text("not an image")
    return root


def test_preprocess_shape_and_normalization():
    from PIL import Image

    pre = Preprocess(16, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    out = pre(Image.new("RGB", (50, 20), (255, 0, 255)))
    assert out.shape == (3, 16, 16)
    assert torch.allclose(out[0], torch.ones(16, 16)) and torch.allclose(out[1], -torch.ones(16, 16))
    assert pre.resize == 18  # 16 / 0.875


def test_preprocess_for_spec():
    from examples.models.zoo import resolve_model

    pre = Preprocess.for_spec(resolve_model("ic3"))
    assert (pre.image_size, pre.mean) == (299, (0.5, 0.5, 0.5))
    with pytest.raises(NotAnImageModel, match="not an image classifier"):
        Preprocess.for_spec(resolve_model("add"))
    user = resolve_model("examples.evaluation.digits:digits_cnn")
    _, inputs = user.factory(None)
    assert Preprocess.for_spec(user, inputs).image_size == 16


def test_image_folder_layout(tmp_path):
    data = ImageFolderDataset(_folder(tmp_path / "d"), Preprocess(8))
    assert data.classes == ["a", "b", "c"]
    assert len(data) == 6 and [label for _, label in data.samples] == [0, 0, 1, 1, 2, 2]
    image, label = data[5]
    assert image.shape == (3, 8, 8) and label == 2
    limited = ImageFolderDataset(tmp_path / "d", Preprocess(8), limit=3)
    assert sorted({label for _, label in limited.samples}) == [0, 1, 2]  # spread, not the first class
    assert len(data.calibration_batches(2)) == 2 and data.calibration_batches(2)[0][0].shape == (1, 3, 8, 8)


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing", "not found"),
    (lambda p: p, "no class sub-folders"),
    (lambda p: (p / "cls").mkdir() or p, "holds no images"),
])
def test_bad_folders(tmp_path, make, message):
    with pytest.raises(DatasetError, match=message):
        ImageFolderDataset(make(tmp_path), Preprocess(8))


PLAIN = Preprocess(8, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


class _Fixed(torch.nn.Module):
    """Predicts class 1 when the mean of the red channel is > 0.1, else class 0; 3 outputs."""

    def forward(self, x):
        red = x[:, 0].mean(dim=(1, 2)) - 0.1
        return torch.stack([-red, red, red * 0.0 - 10.0], dim=1)


def test_evaluate_eager_only_and_report(tmp_path):
    folder = _folder(tmp_path / "d")
    report = accuracy.evaluate(PLAIN, _Fixed(), {}, folder)
    eager = report["eager"]
    # red 0, 60, 120 of 255: a predicts 0 (right), b and c predict 1 (b right, c wrong).
    assert eager.samples == 6 and eager.top1 == pytest.approx(4 / 6)
    assert eager.top5 == 1.0 and report.topk == 5
    text = report.format()
    assert "eager" in text and "66.67%" in text and "6 images, 3 classes" in text
    assert report.notes == []


def test_evaluate_python_program_matches_eager(tmp_path):
    from examples.export.lowering import export_program, save_program

    folder = _folder(tmp_path / "d")
    model = _Fixed()
    program = save_program(export_program(model, (torch.zeros(1, 3, 8, 8),)), tmp_path / "fixed.pte")
    report = accuracy.evaluate(PLAIN, model, {"fp32": program}, folder, engine="python")
    assert report["fp32"].top1 == report["eager"].top1 and report["fp32"].agreement == 1.0
    assert report.drop("fp32", "eager") == 0.0
    assert "fp32" in report.format() and "python runtime" in report.format()


def test_engine_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown engine"):
        accuracy.resolve_engine("gpu")
    with pytest.raises(accuracy.EvaluationError, match="native runner not found"):
        accuracy.open_program(tmp_path / "x.pte", "runner", runner=tmp_path / "no_runner")
    assert accuracy.resolve_engine("auto", runner=tmp_path / "no_runner") == "python"
    bad = tmp_path / "bad.pte"
    bad.write_bytes(b"not a program")
    from examples.integrity.card import make_card, write_card
    from examples.integrity.verify import ProgramVerificationFailed

    with pytest.raises(ProgramVerificationFailed, match="no program card"):  # in-process: trusted files only
        accuracy.open_program(bad, "python")
    write_card(bad, make_card(bad))
    with pytest.raises(accuracy.EvaluationError, match="cannot load"):
        accuracy.open_program(bad, "python")


def test_report_drop_lines():
    rows = [accuracy.Accuracy("eager", "eager", 10, 0.9, 1.0, None, 0.1),
            accuracy.Accuracy("xnnpack_fp32", "runner", 10, 0.9, 1.0, 1.0, 0.1),
            accuracy.Accuracy("xnnpack_q8", "runner", 10, 0.8, 1.0, 0.9, 0.1)]
    report = accuracy.EvalReport("d", 10, 3, 5, rows)
    assert report.fp32_reference() == "xnnpack_fp32"
    assert "xnnpack_q8 top-1 drop vs xnnpack_fp32: +10.00 points" in report.format()


@pytest.mark.parametrize("cli_module", ["examples.backend.xnnpack_examples", "examples.backend.benchmark"])
def test_cli_rejects_bad_eval_data(tmp_path, python_env, repo_root, cli_module):
    import subprocess
    import sys

    model_flags = ["--model_name=add"] if cli_module.endswith("xnnpack_examples") else ["--models=add", "--backends=eager"]
    done = subprocess.run([sys.executable, "-m", cli_module, *model_flags, f"--eval_data={tmp_path / 'nope'}",
                           f"--output_dir={tmp_path / 'out'}"],
                          capture_output=True, text=True, env=python_env, cwd=repo_root, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [f"error: --eval_data: evaluation folder not found: {tmp_path / 'nope'}"]
    assert "Traceback" not in done.stderr


def test_eval_flags_without_eval_data_are_ignored_with_a_warning(tmp_path, python_env, repo_root):
    """Warned before anything slow (the weights that do not fit fail right after), like --tokenizer."""
    import subprocess
    import sys

    torch.save({"linear.weight": torch.zeros(3, 3), "linear.bias": torch.zeros(3)}, tmp_path / "bad.pt")
    done = subprocess.run([sys.executable, "-m", "examples.backend.xnnpack_examples", "--model_name=linear",
                           f"--weights={tmp_path / 'bad.pt'}", "--eval_limit=3", "--eval_engine=python",
                           "--tokenizer=t.json", f"--output_dir={tmp_path / 'out'}"],
                          capture_output=True, text=True, env=python_env, cwd=repo_root, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[:-1] == ["warning: --tokenizer is only used with a text --eval_data (.csv or .jsonl); ignored",
                          "warning: --eval_limit is only used with --eval_data; ignored",
                          "warning: --eval_engine is only used with --eval_data; ignored"], done.stderr
    assert lines[-1].startswith("error: weights file") and "does not fit 'linear'" in lines[-1], done.stderr
