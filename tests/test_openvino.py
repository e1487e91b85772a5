"""OpenVINO as a backend (ExecuTorch + OpenVINO delegate, run by the native runner) and as a
peer (native OpenVINO in its own process), on toy models exported once per session."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from examples.common.metrics import compare
from examples.runner import client

pytestmark = pytest.mark.skipif(importlib.util.find_spec("openvino") is None,
                                reason="openvino not installed (./setup.sh installs it)")


class ToyNet(torch.nn.Module):
    """A conv and a Linear with 1.6 MB of weights: big enough that a delegate blob freed after
    init is unmapped (the runner must keep OpenVINO programs' bytes alive)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.fc = torch.nn.Linear(8 * 14 * 14, 256)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def toy_inputs(seed: int = 1) -> tuple[torch.Tensor]:
    return (torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(seed)),)


@pytest.fixture(scope="session")
def toy_model() -> ToyNet:
    return ToyNet().eval()


@pytest.fixture(scope="session")
def runner_path() -> Path:
    try:
        return client.find_runner()
    except client.RunnerNotBuilt as error:
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def ov_programs(tmp_path_factory, toy_model) -> dict[str, Path]:
    """The toy exported once as OpenVINO fp32 and int8 programs (with their cards)."""
    from examples.export.names import pte_filename
    from examples.export.openvino_lowering import export_openvino_program, file_precision, save_openvino_program

    folder = tmp_path_factory.mktemp("openvino_programs")
    calibration = [toy_inputs(seed) for seed in range(4)]
    paths = {}
    for quantize in (False, True):
        result, card = export_openvino_program(toy_model, toy_inputs(), quantize=quantize, calibration=calibration)
        paths["int8" if quantize else "fp32"] = save_openvino_program(
            result, card, folder / pte_filename("toy", "openvino", file_precision(quantize=quantize)))
    return paths


def run_toy(runner: Path, program: Path, workdir: Path, threads: int = 1, iters: int = 3):
    inputs = client.write_input_files(toy_inputs(), workdir / "inputs")
    return client.run_program(runner, program, iters=iters, warmup=1, threads=threads, inputs=inputs,
                              output_path=workdir / "out")


def eager_reference(model) -> list[np.ndarray]:
    with torch.no_grad():
        return [model(*toy_inputs()).numpy()]


@pytest.mark.slow
def test_fp32_program_runs_in_native_runner_like_eager(ov_programs, runner_path, toy_model, tmp_path):
    measured = run_toy(runner_path, ov_programs["fp32"], tmp_path)
    assert compare(eager_reference(toy_model), measured.outputs)["sqnr_db"] > 60


class ToyAttention(torch.nn.Module):
    """One self-attention layer: what makes a graph "a transformer" to NNCF."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.qkv = torch.nn.Linear(16, 48)
        self.out = torch.nn.Linear(16, 16)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return self.out(torch.nn.functional.scaled_dot_product_attention(q, k, v))


@pytest.mark.slow
def test_int8_mode_follows_the_graph(ov_programs, runner_path, tmp_path):
    """Symmetric int8 for a conv net; NNCF's transformer scheme (softmax and the attention matmuls
    left out of int8) for a graph with attention, as the native OpenVINO peer is quantized."""
    from examples.export.openvino_lowering import export_openvino_program, save_openvino_program

    cards = {name: json.loads(path.with_name(path.name + ".json").read_text()) for name, path in ov_programs.items()}
    assert json.dumps(cards["int8"]).count('"quantization_mode": "int8_sym"') == 1
    assert "quantization_mode" not in json.dumps(cards["fp32"])
    model = ToyAttention().eval()
    batches = [(torch.randn(1, 8, 16, generator=torch.Generator().manual_seed(s)),) for s in range(4)]
    result, card = export_openvino_program(model, batches[0], quantize=True, calibration=batches)
    assert card["quantization_mode"] == "int8_transformer"
    program = save_openvino_program(result, card, tmp_path / "attention_openvino_int8.pte")
    inputs = client.write_input_files(batches[1], tmp_path / "inputs")
    measured = client.run_program(runner_path, program, iters=2, warmup=1, threads=1, inputs=inputs,
                                  output_path=tmp_path / "out")
    with torch.no_grad():
        assert compare([model(*batches[1]).numpy()], measured.outputs)["sqnr_db"] > 15


@pytest.mark.slow
def test_int8_program_runs_close_to_eager(ov_programs, runner_path, toy_model, tmp_path):
    measured = run_toy(runner_path, ov_programs["int8"], tmp_path)
    sqnr = compare(eager_reference(toy_model), measured.outputs)["sqnr_db"]
    assert 15 < sqnr < 60  # quantized: close, but not bit-exact


@pytest.mark.slow
def test_card_records_cpu_class_and_real_precision(ov_programs):
    from examples.export.openvino_lowering import default_precision
    from examples.integrity.card import read_card
    from examples.quantization.cpu_caps import detect

    fp32, int8 = (read_card(ov_programs[k])["extra"]["compiled_for"] for k in ("fp32", "int8"))
    assert read_card(ov_programs["fp32"])["backend"] == "openvino"
    assert fp32["cpu_class"] == int8["cpu_class"] == detect().cpu_class
    # The programs ask for f32 whatever the plugin's default (bf16 on BF16 CPUs) is.
    assert fp32["requested"] == int8["requested"] == {"INFERENCE_PRECISION_HINT": "f32"}
    assert fp32["inference_precision"] == "f32"
    assert int8["inference_precision"] == "int8 + f32"


@pytest.mark.slow
@pytest.mark.parametrize("threads", [1, 2])
def test_runner_reports_what_the_imported_model_runs_in(ov_programs, runner_path, tmp_path, threads):
    """The source-built delegate sets the program's precision and the runner's thread count on
    OpenVINO before the import, then reads them back from the compiled model."""
    measured = run_toy(runner_path, ov_programs["fp32"], tmp_path, threads=threads)
    [model] = measured.raw["delegate_models"]
    assert model["backend"] == "openvino" and model["device"] == "CPU"
    assert model["requested"] == {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": str(threads)}
    assert model["precision"] == "f32" and model["num_threads"] == str(threads)


@pytest.mark.slow
def test_program_properties_reach_openvino(toy_model, runner_path, tmp_path, monkeypatch):
    """A property value OpenVINO refuses is one error line at init, naming it: the program's
    ``ov:`` compile specs are not dropped on the way (the wheel's delegate ignored them)."""
    from executorch.exir.backend.backend_details import CompileSpec

    from examples.export import openvino_lowering

    monkeypatch.setattr(openvino_lowering, "property_specs",
                        lambda precision: [CompileSpec("ov:INFERENCE_PRECISION_HINT", b"no_such_type")])
    result, card = openvino_lowering.export_openvino_program(toy_model, toy_inputs())
    program = openvino_lowering.save_openvino_program(result, card, tmp_path / "toy_openvino_fp32.pte")
    with pytest.raises(client.RunnerFailed) as error:
        run_toy(runner_path, program, tmp_path)
    message = str(error.value)
    assert error.value.exit_code == 1 and "INFERENCE_PRECISION_HINT=no_such_type" in message, message


@pytest.mark.slow
def test_the_runners_thread_count_replaces_the_programs(toy_model, runner_path, tmp_path, monkeypatch):
    """A program that asks for 2 threads runs with the runner's 1: one entry per key, the host's."""
    from executorch.exir.backend.backend_details import CompileSpec

    from examples.export import openvino_lowering

    monkeypatch.setattr(openvino_lowering, "property_specs", lambda precision: [
        CompileSpec("ov:INFERENCE_PRECISION_HINT", precision.encode()), CompileSpec("ov:INFERENCE_NUM_THREADS", b"2")])
    result, card = openvino_lowering.export_openvino_program(toy_model, toy_inputs())
    program = openvino_lowering.save_openvino_program(result, card, tmp_path / "toy_openvino_fp32.pte")
    [model] = run_toy(runner_path, program, tmp_path, threads=1).raw["delegate_models"]
    assert model["requested"] == {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": "1"}
    assert model["num_threads"] == "1"


def test_reduced_precisions_are_offered_only_where_native():
    """bf16 / f16 programs only on CPUs that compute in them; asking for one elsewhere is an error
    rather than a program that silently runs f32."""
    from examples.export.openvino_lowering import check_precision, supported_precisions
    from examples.quantization.cpu_caps import detect
    from examples.tune.candidates import openvino_candidates

    flags = detect().flags
    supported = supported_precisions()
    assert supported[0] == "f32" and ("bf16" in supported) == ("avx512_bf16" in flags or "amx_bf16" in flags)
    assert "f16" not in supported or "amx_fp16" in flags  # AVX512-FP16 alone: f16 slower, not applied at import
    names = {c.name for c in openvino_candidates()}
    assert {"openvino_fp32", "openvino_int8"} <= names
    assert ("openvino_bf16" in names) == ("bf16" in supported) == ("openvino_int8_bf16" in names)
    for precision in ("bf16", "f16"):
        if precision not in supported:
            with pytest.raises(ValueError, match=f"no native {precision}"):
                check_precision(precision)
    with pytest.raises(ValueError, match="unknown"):
        check_precision("fp8")


def test_default_precision_follows_the_cpu():
    """OpenVINO's CPU plugin computes in bf16 by default only on CPUs with AVX512_BF16 or AMX."""
    from examples.export.openvino_lowering import default_precision
    from examples.quantization.cpu_caps import detect

    flags = detect().flags
    bf16_capable = "avx512_bf16" in flags or "amx_bf16" in flags
    assert default_precision() == ("bf16" if bf16_capable else "f32")


def test_program_for_another_cpu_class_is_refused(tmp_path):
    """In-process loads (the Python check); the runner's own check: tests/test_integrity.py."""
    from examples.integrity.card import make_card, write_card
    from examples.integrity.verify import ProgramVerificationFailed, verify_program

    program = tmp_path / "m_openvino_fp32.pte"
    program.write_bytes(b"not run: the card check comes first")
    write_card(program, make_card(program, backend="openvino",
                                  extra={"compiled_for": {"cpu_class": "x86_64 avx2 avx512f amx_bf16"}}))
    with pytest.raises(ProgramVerificationFailed) as error:
        verify_program(program, "auto")
    message = str(error.value)
    assert "\n" not in message and "x86_64 avx2 avx512f amx_bf16" in message and "re-export" in message
    assert error.value.exit_code == 5


@pytest.mark.slow
def test_missing_openvino_runtime_is_one_clear_error(ov_programs, runner_path, tmp_path):
    cmd = client.command(runner_path, ov_programs["fp32"], iters=1, warmup=0, threads=1)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, OPENVINO_LIB_PATH=str(tmp_path / "libopenvino_c.so")))
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 1
    assert lines[0].startswith("error:") and "OpenVINO runtime" in lines[0] and "openvino==2026.4.1" in lines[0]


def conv_stack() -> tuple[torch.nn.Module, tuple[torch.Tensor]]:
    """~180 MMAC per run: enough work for OpenVINO to spread over every core it may use."""
    torch.manual_seed(0)
    layers, channels = [], 3
    for out in (32, 64, 64):
        layers += [torch.nn.Conv2d(channels, out, 3, padding=1), torch.nn.ReLU()]
        channels = out
    return torch.nn.Sequential(*layers).eval(), (torch.randn(1, 3, 56, 56),)


class ThreadAffinityWatcher(threading.Thread):
    """Samples, while a process whose command line names ``marker`` runs, the CPUs each of its
    threads but the main one may run on (``Cpus_allowed_list``): OpenVINO may pin its threads
    itself. The main thread is skipped: it runs unpinned from exec until the runner pins itself,
    before any other thread exists."""

    def __init__(self, marker: str):
        super().__init__(daemon=True)
        self.marker, self.seen, self.done = marker, set(), threading.Event()

    def run(self):
        while not self.done.is_set():
            for proc in Path("/proc").glob("[0-9]*"):
                try:
                    if self.marker not in (proc / "cmdline").read_bytes().decode(errors="replace"):
                        continue
                    for task in (proc / "task").iterdir():
                        if task.name == proc.name:
                            continue
                        for line in (task / "status").read_text().splitlines():
                            if line.startswith("Cpus_allowed_list:"):
                                self.seen.add(line.split(":", 1)[1].strip())
                except OSError:
                    continue
            time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two usable CPUs")
def test_openvino_program_stays_on_the_cores_it_is_given(runner_path, tmp_path):
    """Asked for one thread, the runner pins itself to one CPU (and tells OpenVINO to use one
    thread): every thread of the runner may run on that one CPU only, and the measured
    iterations' CPU time cannot exceed their wall time (unpinned, OpenVINO uses every core)."""
    from examples.export.openvino_lowering import export_openvino_program, save_openvino_program

    model, inputs = conv_stack()
    result, card = export_openvino_program(model, inputs)
    program = save_openvino_program(result, card, tmp_path / "convs_openvino_fp32.pte")
    files = client.write_input_files(inputs, tmp_path / "inputs")
    watcher = ThreadAffinityWatcher(program.name)
    watcher.start()
    try:
        measured = client.run_program(runner_path, program, iters=100, warmup=2, threads=1, inputs=files)
    finally:
        watcher.done.set()
        watcher.join()
    assert len(watcher.seen) == 1 and "-" not in next(iter(watcher.seen)) and "," not in next(iter(watcher.seen))
    assert measured.cpu_ms is not None and measured.cpu_ms <= measured.wall_ms * 1.05 + 5


@pytest.fixture(scope="session")
def toy_ir(tmp_path_factory, toy_model) -> Path:
    from examples.benchmark import peers

    folder = tmp_path_factory.mktemp("openvino_ir")
    peers.export_onnx(toy_model, toy_inputs(), folder / "toy.onnx")
    peers.convert_openvino(folder / "toy.onnx", folder / "toy.xml")
    return folder / "toy.xml"


@pytest.mark.slow
@pytest.mark.parametrize("asked", [None, "f32"])
def test_native_openvino_peer_reports_its_precision(toy_ir, toy_model, tmp_path, asked):
    from examples.benchmark import peers
    from examples.export.openvino_lowering import default_precision

    inputs = peers.save_inputs(toy_inputs(), tmp_path / "inputs")
    result = peers.run_worker({"kind": "openvino", "threads": 1, "warmup": 1, "iters": 3, "ir_path": str(toy_ir),
                               "precision": asked}, inputs, tmp_path / "work", timeout=300)
    assert result.extra["precision"] == (asked or default_precision())
    assert len(result.times_ms) == 4 and result.extra["cpu_ms"] > 0
    minimum = 60 if result.extra["precision"] == "f32" else 20  # bf16 rounds activations
    assert compare(eager_reference(toy_model), result.outputs)["sqnr_db"] > minimum


@pytest.mark.slow  # the CLI subprocess imports absl, torch: several seconds on a busy machine
def test_openvino_examples_rejects_bad_input_in_one_line(repo_root, python_env, tmp_path):
    done = subprocess.run([sys.executable, "-m", "examples.backend.openvino_examples", "--model_name", "no_such_model",
                           "--output_dir", str(tmp_path)], cwd=repo_root, env=python_env, capture_output=True,
                          text=True, timeout=120)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:")
    assert not list(tmp_path.iterdir())


@pytest.mark.slow  # a CLI subprocess, as above
def test_openvino_examples_warns_of_calibration_samples_without_quantize(repo_root, python_env, tmp_path):
    done = subprocess.run([sys.executable, "-m", "examples.backend.openvino_examples", "--model_name", "add",
                           "--num_calibration_samples", "4", "--calibration_data", str(tmp_path), "--bundle",
                           "--output_dir", str(tmp_path)],
                          cwd=repo_root, env=python_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [  # both before anything slow
        "warning: --calibration_data is only used with --quantize; ignored",
        "warning: --num_calibration_samples is only used with --quantize; ignored",
        "error: --bundle is not supported for OpenVINO programs: ExecuTorch's Python runtime has no OpenVINO "
        "backend to run them"], done.stderr


@pytest.mark.slow
def test_openvino_examples_writes_program_and_card(repo_root, python_env, tmp_path):
    """The program, its card and, with --sign_key, their signature (the shared export flags do
    what they say here too, or refuse: --bundle)."""
    from examples.integrity.signing import verify_signature
    from tests.helpers_signing import ec_key_pair

    private, public = ec_key_pair(tmp_path)
    command = [sys.executable, "-m", "examples.backend.openvino_examples", "--model_name", "add",
               "--output_dir", str(tmp_path / "out")]
    done = subprocess.run(command + ["--sign_key", str(private)], cwd=repo_root, env=python_env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    program = tmp_path / "out" / "add_openvino_fp32.pte"
    assert program.stat().st_size > 0
    card = json.loads((tmp_path / "out" / "add_openvino_fp32.pte.json").read_text())
    assert card["backend"] == "openvino" and card["extra"]["compiled_for"]["weights"] == "fp32"
    assert "node(s) to OpenVINO" in done.stdout and "signed add_openvino_fp32.pte and its card" in done.stdout
    verify_signature(program, public)  # raises unless the signature covers this program and card
    refused = subprocess.run(command + ["--bundle"], cwd=repo_root, env=python_env, capture_output=True, text=True,
                             timeout=600)
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        "error: --bundle is not supported for OpenVINO programs: ExecuTorch's Python runtime has no OpenVINO "
        "backend to run them"]


def test_every_benchmark_row_states_a_precision():
    """Fixed-precision backends declare it; the OpenVINO rows (and tune's winner) report theirs at run time."""
    from examples.benchmark import openvino_backend
    from examples.benchmark.backends import BACKENDS

    for name, backend in BACKENDS.items():
        assert (backend.precision is None) == (name in openvino_backend.NAMES or name == "tuned"), name


@pytest.mark.slow
def test_native_int8_peer_uses_the_transformer_scheme_on_attention(toy_ir, tmp_path):
    """Whether the OpenVINO model spells attention as Softmax or as the fused
    ScaledDotProductAttention (torch's SDPA: ViT), the native int8 peer gets NNCF's transformer
    scheme, as the ExecuTorch+OpenVINO program does; a conv net keeps the default."""
    import openvino as ov

    from examples.benchmark import peers

    peers.export_onnx(ToyAttention().eval(), (torch.randn(1, 8, 16),), tmp_path / "attention.onnx")
    peers.convert_openvino(tmp_path / "attention.onnx", tmp_path / "attention.xml")
    types = {op.get_type_name() for op in ov.Core().read_model(str(tmp_path / "attention.xml")).get_ops()}
    assert types & set(peers.ATTENTION_OP_TYPES)
    calibration = [(torch.randn(1, 8, 16, generator=torch.Generator().manual_seed(s)),) for s in range(2)]
    info = peers.quantize_openvino(tmp_path / "attention.xml", tmp_path / "attention_int8.xml", calibration)
    assert "model_type=TRANSFORMER" in info["quantizer"]
    info = peers.quantize_openvino(toy_ir, tmp_path / "toy_int8.xml", [toy_inputs(s) for s in range(2)])
    assert "TRANSFORMER" not in info["quantizer"]
