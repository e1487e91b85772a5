"""Quantization numerics, calibration data loading, atomic saving and the report helpers."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from examples.export.lowering import export_program, save_program
from examples.models.zoo import MODELS
from examples.models.preprocessing import Preprocess
from examples.quantization.calibration import CalibrationError, load_calibration
from examples.quantization.recipes import get_recipe
from examples.common.metrics import sqnr_db
from tests.export_helpers import small_conv_net


def _randn(seed, *shape):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_programs_use_the_callers_input_memory():
    """Inputs are left out of memory planning (set_input shares the caller's tensor, no copy
    per call); outputs stay planned."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    result = export_program(small_conv_net(), (_randn(0, 1, 3, 16, 16),), delegate=True)
    program = deserialize_pte_binary(result.buffer)
    plan = getattr(program, "program", program).execution_plan[0]
    assert [plan.values[i].val.allocation_info for i in plan.inputs] == [None]
    assert all(plan.values[i].val.allocation_info is not None for i in plan.outputs)


@pytest.mark.slow
def test_q8_small_conv_net_sqnr(tmp_path):
    """int8 (static per channel, XNNPACK) stays within 20 dB SQNR of fp32 on its calibration distribution."""
    model = small_conv_net()
    calibration = [(_randn(100 + i, 1, 3, 32, 32),) for i in range(32)]
    result = export_program(model, calibration[0], recipe=get_recipe("static_per_channel"), calibration=calibration)
    assert result.calibration_batches == 32
    path = save_program(result, tmp_path / "small_q8.pte")

    from executorch.runtime import Runtime

    method = Runtime.get().load_program(path).load_method("forward")
    tests = [_randn(200 + i, 1, 3, 32, 32) for i in range(8)]
    with torch.no_grad():
        expected = torch.cat([model(x) for x in tests])
    actual = torch.cat([method.execute([x])[0] for x in tests])
    assert sqnr_db(expected, actual) > 20.0
    assert (actual.argmax(1) == expected.argmax(1)).float().mean() >= 0.75


def test_save_program_interrupted_leaves_no_file(tmp_path, monkeypatch):
    import examples.common.atomic_write as atomic_write

    target = tmp_path / "model.pte"

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic_write.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_program(SimpleNamespace(buffer=b"x" * 1000), target)
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temp file

    monkeypatch.undo()
    atomic_write.write_bytes_atomic(target, b"old")  # an earlier program (its card does not matter here)
    monkeypatch.setattr(atomic_write.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_program(SimpleNamespace(buffer=b"new program"), target)
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target]


def _images(folder: Path, sizes):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, size in enumerate(sizes):
        Image.new("RGB", size, (255, 255, 255)).save(folder / f"img{i}.png")


def test_calibration_image_folder(tmp_path):
    _images(tmp_path / "calib" / "class_a", [(300, 240), (224, 224)])
    _images(tmp_path / "calib" / "class_b", [(120, 500)])
    (tmp_path / "calib" / "notes.txt").write_text("not an image")
    spec = MODELS["mv2"]
    calib = load_calibration(spec, (torch.zeros(1, 3, 224, 224),), tmp_path / "calib")
    assert not calib.random and len(calib.batches) == 3 and "3 images" in calib.source
    white = torch.tensor([(1 - m) / s for m, s in zip(spec.mean, spec.std)]).view(1, 3, 1, 1)
    for (batch,) in calib.batches:
        assert batch.shape == (1, 3, 224, 224)
        torch.testing.assert_close(batch, white.expand_as(batch))
    assert len(load_calibration(spec, (torch.zeros(1, 3, 224, 224),), tmp_path / "calib", 2).batches) == 2


def test_preprocess_center_crops():
    from PIL import Image

    image = Image.new("RGB", (40, 20), (0, 0, 0))
    image.paste((255, 255, 255), (15, 0, 25, 20))  # a white band in the middle
    tensor = Preprocess(8, (0, 0, 0), (1, 1, 1))(image).unsqueeze(0)
    assert tensor.shape == (1, 3, 8, 8)
    assert tensor[0, :, :, 3:5].min() > 0.9 and tensor[0, :, :, 0].max() < 0.1


def test_calibration_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CalibrationError, match="no images"):
        load_calibration(MODELS["mv2"], (torch.zeros(1, 3, 224, 224),), tmp_path / "empty")


def test_calibration_tensor_files(tmp_path):
    example = (torch.zeros(1, 3, 8, 8),)
    torch.save(torch.randn(5, 3, 8, 8), tmp_path / "t.pt")
    calib = load_calibration(MODELS["mv2"], example, tmp_path / "t.pt")
    assert len(calib.batches) == 5 and calib.batches[0][0].shape == (1, 3, 8, 8)
    assert len(load_calibration(MODELS["mv2"], example, tmp_path / "t.pt", 2).batches) == 2

    torch.save([(torch.randn(1, 8), torch.randn(1, 8)) for _ in range(3)], tmp_path / "list.pt")
    calib = load_calibration(MODELS["add"], (torch.zeros(1, 8), torch.zeros(1, 8)), tmp_path / "list.pt")
    assert len(calib.batches) == 3 and len(calib.batches[0]) == 2

    torch.save(torch.randn(5, 3, 9, 9), tmp_path / "bad.pt")
    with pytest.raises(CalibrationError, match="does not fit"):
        load_calibration(MODELS["mv2"], example, tmp_path / "bad.pt")
    with pytest.raises(CalibrationError, match="not found"):
        load_calibration(MODELS["mv2"], example, tmp_path / "missing.pt")


def test_calibration_random_default():
    calib = load_calibration(MODELS["add"], (torch.zeros(1, 8), torch.zeros(1, 8)))
    again = load_calibration(MODELS["add"], (torch.zeros(1, 8), torch.zeros(1, 8)))
    assert calib.random and len(calib.batches) == 8 and "8 random inputs" == calib.source
    torch.testing.assert_close(calib.batches[3][1], again.batches[3][1])


def test_program_file_names_users_already_get():
    """One naming scheme (lowering.pte_filename) for every program; no file users had gets a new name."""
    from examples.export.names import pte_filename
    from examples.export.openvino_lowering import file_precision
    from examples.generation.llama_export import LlamaExportOptions, program_filename

    assert pte_filename("mv2", "xnnpack", "fp32") == "mv2_xnnpack_fp32.pte"
    assert pte_filename("mv2", "xnnpack", "q8") == "mv2_xnnpack_q8.pte"
    assert pte_filename("mv2", "portable", "fp32") == "mv2.pte"
    assert pte_filename("mv2", "portable", "q8") == "mv2_portable_q8.pte"
    openvino = {(q, p): pte_filename("mv2", "openvino", file_precision(quantize=q, precision=p))
                for q in (False, True) for p in ("f32", "bf16", "f16")}
    assert openvino == {(False, "f32"): "mv2_openvino_fp32.pte", (False, "bf16"): "mv2_openvino_bf16.pte",
                        (False, "f16"): "mv2_openvino_f16.pte", (True, "f32"): "mv2_openvino_int8.pte",
                        (True, "bf16"): "mv2_openvino_int8.pte", (True, "f16"): "mv2_openvino_int8.pte"}
    assert program_filename("stories15m", LlamaExportOptions()) == "stories15m_xnnpack_fp32.pte"
    assert program_filename("stories15m", LlamaExportOptions(quantize=True)) == "stories15m_xnnpack_8da4w.pte"


class _MaskedByPositions(torch.nn.Module):
    """Hugging Face BERT's mask pattern in small: integer positions ``arange(n) + 0`` index a mask."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)

    def forward(self, x, mask):
        positions = torch.arange(x.shape[1]) + 0
        return self.linear(x) * mask[:, positions].unsqueeze(-1).to(x.dtype)


def test_linear_only_int8_keeps_integer_positions_integer():
    from examples.quantization.quantize import quantize

    model = _MaskedByPositions().eval()
    inputs = (torch.randn(1, 6, 4), torch.ones(1, 6, dtype=torch.long))
    converted, _ = quantize(model, inputs, get_recipe("dynamic_per_channel_linear"))
    with torch.no_grad():
        assert sqnr_db(model(*inputs), converted(*inputs)) > 20
