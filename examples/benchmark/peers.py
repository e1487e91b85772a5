"""The peers: ONNX Runtime fp32 / int8 (QDQ static), native OpenVINO (default precision, f32,
NNCF int8) and eager PyTorch.

Conversion happens here, in the benchmark's process, with the results cached like the
``.pte`` files; measuring happens in a fresh ``python -m examples.benchmark.peer_worker``
subprocess per run, so that each peer's peak RSS is its own.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
ONNX_OPSET = 18
ONNX_FALLBACK_OPSET = 17


class PeerFailed(RuntimeError):
    """A peer's conversion or run failed (reported as one line on its row)."""


def missing_packages(backend: str) -> list[str]:
    """Packages a peer needs that are not installed (empty: it can run)."""
    need = {"ort_fp32": ("onnxruntime", "onnx", "onnxscript"),
            "ort_int8": ("onnxruntime", "onnx", "onnxscript"),
            "ov_default": ("openvino", "onnx", "onnxscript"),
            "ov_f32": ("openvino", "onnx", "onnxscript"),
            "ov_int8": ("openvino", "nncf", "onnx", "onnxscript"),
            "eager": ("torch",)}.get(backend, ())
    return [name for name in need if importlib.util.find_spec(name) is None]


def input_names(count: int) -> list[str]:
    return [f"input_{i}" for i in range(count)]


def export_onnx(model, example_inputs: tuple, path: Path) -> dict:
    """fp32 ONNX via ``torch.onnx.export`` (dynamo exporter, opset 18; the TorchScript exporter,
    opset 17, if that fails). Returns the settings used, for the report."""
    import torch

    from examples.common.quiet import quiet_stdio

    names = input_names(len(example_inputs))
    tmp = path.with_name(f".{path.name}.tmp")
    attempts = (
        ("torch.onnx.export(dynamo=True, external_data=False)", ONNX_OPSET, dict(dynamo=True, external_data=False)),
        ("torch.onnx.export(dynamo=False)", ONNX_FALLBACK_OPSET, dict(dynamo=False)),
    )
    errors = []
    for exporter, opset, kwargs in attempts:
        try:
            with quiet_stdio(), torch.no_grad():
                torch.onnx.export(model.eval(), tuple(example_inputs), str(tmp), input_names=names,
                                  opset_version=opset, **kwargs)
            os.replace(tmp, path)
            return {"exporter": exporter, "opset": opset, "input_names": names, "dynamic_shapes": False,
                    "fallback_reason": errors[0] if errors else None}
        except Exception as error:  # noqa: BLE001 - try the next exporter
            errors.append(f"{exporter}: {str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__}")
        finally:
            if tmp.exists():
                tmp.unlink()
    raise PeerFailed(f"ONNX export failed: {errors[-1]}")


def quantize_onnx(fp32_path: Path, path: Path, calibration: Sequence[Sequence], names: list[str],
                  per_channel: bool) -> dict:
    """int8 QDQ static quantization (``onnxruntime.quantization.quantize_static``) calibrated on
    ``calibration`` (the batches that calibrate the XNNPACK q8 program)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._batches = iter([{n: t.detach().cpu().numpy() for n, t in zip(names, batch)} for batch in calibration])

        def get_next(self):
            return next(self._batches, None)

    settings = {"quant_format": "QDQ", "activation_type": "QInt8", "weight_type": "QInt8",
                "per_channel": per_channel, "calibrate_method": "MinMax",
                "calibration_batches": len(calibration), "pre_process": "quant_pre_process"}
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        source = Path(tmp) / "pre.onnx"
        try:
            from onnxruntime.quantization.shape_inference import quant_pre_process

            quant_pre_process(str(fp32_path), str(source))
        except Exception:  # noqa: BLE001 - pre-processing is an optimisation, not a need
            source, settings["pre_process"] = fp32_path, "none (quant_pre_process failed)"
        out = Path(tmp) / "int8.onnx"
        try:
            from examples.common.quiet import quiet_stdio

            with quiet_stdio():
                quantize_static(str(source), str(out), Reader(), quant_format=QuantFormat.QDQ,
                                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                                per_channel=per_channel, calibrate_method=CalibrationMethod.MinMax)
        except Exception as error:  # noqa: BLE001
            first = str(error).strip().splitlines()
            raise PeerFailed(f"ONNX Runtime quantization failed: {first[0] if first else type(error).__name__}") from None
        os.replace(out, path)
    return settings


def convert_openvino(onnx_path: Path, path: Path) -> dict:
    """The fp32 ONNX model as OpenVINO IR (``.xml`` + ``.bin``), weights kept in f32 (``save_model``
    would compress them to f16 by default)."""
    import openvino as ov

    tmp = path.with_name(f".{path.stem}.tmp.xml")
    ov.save_model(ov.convert_model(str(onnx_path)), str(tmp), compress_to_fp16=False)
    os.replace(tmp.with_suffix(".bin"), path.with_suffix(".bin"))
    os.replace(tmp, path)
    return {"converter": "openvino.convert_model(onnx)", "weights": "f32", "openvino": ov.get_version()}


ATTENTION_OP_TYPES = ("Softmax", "ScaledDotProductAttention")


def quantize_openvino(fp32_xml: Path, path: Path, calibration: Sequence[Sequence]) -> dict:
    """int8 with NNCF post-training quantization (``nncf.quantize``, preset performance:
    symmetric) of the OpenVINO model, calibrated on the batches that calibrate the other int8 rows."""
    import nncf
    import openvino as ov

    from examples.common.quiet import quiet_stdio

    model = ov.Core().read_model(str(fp32_xml))
    batches = [[t.detach().cpu().numpy() for t in batch] for batch in calibration]
    # Attention (a Softmax, or the fused ScaledDotProductAttention that torch's SDPA converts to:
    # ViT) -> NNCF's transformer scheme; its default one fails on BERT's graph (KeyError on the
    # embedding node) and quantizes the attention internals besides (ViT's outputs then fell to
    # 8 dB SQNR vs eager, far outside any budget).
    transformer = any(op.get_type_name() in ATTENTION_OP_TYPES for op in model.get_ops())
    options = {"model_type": nncf.ModelType.TRANSFORMER} if transformer else {}
    try:
        with quiet_stdio():
            quantized = nncf.quantize(model, nncf.Dataset(batches), subset_size=len(batches), **options)
    except Exception as error:  # noqa: BLE001
        first = str(error).strip().splitlines()
        raise PeerFailed(f"NNCF quantization failed: {first[0] if first else type(error).__name__}") from None
    tmp = path.with_name(f".{path.stem}.tmp.xml")
    ov.save_model(quantized, str(tmp), compress_to_fp16=False)
    os.replace(tmp.with_suffix(".bin"), path.with_suffix(".bin"))
    os.replace(tmp, path)
    return {"quantizer": "nncf.quantize (post-training, symmetric int8"
                         + (", model_type=TRANSFORMER)" if transformer else ")"), "calibration_batches": len(batches),
            "nncf": nncf.__version__}


@dataclass
class PeerResult:
    load_ms: float
    times_ms: list[float]
    peak_rss_bytes: int
    version: str
    outputs: list[np.ndarray]
    extra: dict = field(default_factory=dict)  # engine facts: precision really used, CPU time


def run_worker(request: dict, inputs: Sequence[Path], workdir: Path, timeout: float | None = None) -> PeerResult:
    """Run ``peer_worker`` on ``request`` (plus inputs/outputs paths) in a fresh subprocess."""
    workdir.mkdir(parents=True, exist_ok=True)
    outputs = workdir / f"{request['kind']}_outputs.npz"
    request = dict(request, inputs=[str(p) for p in inputs], outputs=str(outputs))
    request_path = workdir / f"{request['kind']}_request.json"
    request_path.write_text(json.dumps(request))
    env = dict(os.environ)
    # The worker finds the toolkit and a user's module:factory like this process does.
    paths = [str(REPO_ROOT), os.getcwd()] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
    try:
        done = subprocess.run([sys.executable, "-m", "examples.benchmark.peer_worker", str(request_path)],
                              capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise PeerFailed(f"the peer took longer than {timeout:.0f} s") from None
    result = None
    for line in reversed(done.stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                result = json.loads(line)
                break
            except ValueError:
                continue
    if result is None:
        tail = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise PeerFailed(f"peer worker exited with status {done.returncode}: {tail[-1] if tail else 'no output'}")
    if not result.get("ok"):
        raise PeerFailed(result.get("error") or "peer worker failed")
    with np.load(outputs) as data:
        arrays = [data[f"arr_{i}"] for i in range(len(data.files))]
    extra = {k: result[k] for k in ("precision", "cpu_ms", "wall_ms", "engine_threads") if k in result}
    return PeerResult(result["load_ms"], result["times_ms"], result["peak_rss_bytes"], result["version"], arrays, extra)


def save_inputs(tensors, folder: Path) -> list[Path]:
    """The benchmark inputs as ``.npy`` files for the workers."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, tensor in enumerate(tensors):
        path = folder / f"input_{i}.npy"
        np.save(path, tensor.detach().contiguous().cpu().numpy())
        paths.append(path)
    return paths
