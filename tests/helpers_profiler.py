"""Shared code of the profiler tests: synthetic ETDumps, the toy model and its profiles, CLI calls.

Synthetic ETDumps are written with ExecuTorch's own ETDump serializer in the shape the
profiling runner writes (docs/PROFILE_FORMAT.md), so the "run model" path is covered with
exact, known times even where the profiling runner is not built.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import NamedTuple, Optional

CLI = [sys.executable, "-m", "runtime.profiler.profiler_results_cli"]
PYBINDINGS_ITERATIONS = 6  # Python-bindings runs per ETDump (fewer than the default 10 warm-up)


class Ev(NamedTuple):
    """One profile event as ETDumpGen writes it (times in ns)."""

    name: Optional[str]
    chain: int
    instruction: int
    start: int
    end: int
    delegate_id: Optional[str] = None  # set for a delegate's own per-operator events


def synthetic_iteration(t0: int, *, scale: int = 1, run_model: bool = True, xnn_ops: bool = True) -> list[Ev]:
    """One iteration: a delegate call with two XNNPACK operators (300 and 90 ns), a portable
    mean (OPERATOR_CALL 115 ns), a second delegate call without operator events (15 ns) and
    Method::execute (600 ns) inside "run model" (640 ns); all times times ``scale``."""
    s = scale
    events = []
    if xnn_ops:
        events += [Ev(None, 0, 0, t0 + 10, t0 + 10 + 300 * s, "Convolution (NHWC, F32) IGEMM #1"),
                   Ev(None, 0, 0, t0 + 310 * s, t0 + 400 * s, "Convolution (NHWC, F32) IGEMM #2")]
    events += [Ev("DELEGATE_CALL", 0, 0, t0 + 5, t0 + 5 + 445 * s),
               Ev("native_call_mean.out", 0, 1, t0 + 460 * s, t0 + 560 * s),
               Ev("OPERATOR_CALL", 0, 1, t0 + 455 * s, t0 + 570 * s),
               Ev("DELEGATE_CALL", 0, 2, t0 + 575 * s, t0 + 590 * s),
               Ev("Method::execute", -1, 0, t0, t0 + 600 * s)]
    if run_model:
        events.append(Ev("run model", -1, 0, t0 - 20, t0 + 620 * s))
    return events


LOAD_BLOCK = ("Default", [Ev("Program::load_method", -1, 0, 0, 2000), Ev("Method::init", -1, 0, 100, 1900)])


def synthetic_blocks(iterations: int, **kwargs) -> list[tuple[str, list[Ev]]]:
    """A load block, then one Execute block per iteration; the first iteration is 5x slower."""
    return [LOAD_BLOCK] + [("Execute", synthetic_iteration(100_000 * (i + 1), scale=5 if i == 0 else 1, **kwargs))
                           for i in range(iterations)]


def etdump_bytes(blocks: list[tuple[str, list[Ev]]]) -> bytes:
    """Serialize ``[(block name, [Ev, ...]), ...]`` with ExecuTorch's ETDump serializer."""
    from examples.common.quiet import quiet_stdio
    from executorch.devtools.etdump import schema_flatcc as s
    from executorch.devtools.etdump.serialize import serialize_to_etdump_flatcc

    def event(e: Ev):
        return s.Event(s.ProfileEvent(e.name, e.chain, e.instruction, -1, e.delegate_id, None, e.start, e.end),
                       None, None)

    runs = [s.RunData(name, -1, None, [event(e) for e in events]) for name, events in blocks]
    with quiet_stdio():
        data = serialize_to_etdump_flatcc(s.ETDumpFlatCC(version=0, run_data=runs))
    # ETDumpGen (the runner) writes size-prefixed buffers; flatc's compile does not.
    return len(data).to_bytes(4, "little") + data


def write_etdump(path: Path, blocks) -> Path:
    path.write_bytes(etdump_bytes(blocks))
    return path


def report_for(path: Path, etrecord: Optional[Path] = None, **kwargs):
    from runtime.profiler.etdump_reader import open_inspector
    from runtime.profiler.report import build_report

    return build_report(open_inspector(path, etrecord), source=str(path),
                        etrecord=str(etrecord) if etrecord else None, **kwargs)


# --- The toy model: Conv, Mul, Add, ReLU, Hardtanh (delegated), mean (portable: XNNPACK does
# not take a 2-axis mean), Linear (delegated). Exported and profiled once per test process. ----------------------

_TOY: dict = {}


def toy_model():
    import torch

    class Toy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3)
            self.fc = torch.nn.Linear(8, 4)

        def forward(self, x):
            # Five source ops in the first delegate call (the Inspector's table shortens such lists).
            y = torch.nn.functional.hardtanh(torch.relu(self.conv(x) * 2.0 + 1.0))
            return self.fc(y.mean((2, 3)))

    torch.manual_seed(0)
    return Toy().eval(), (torch.randn(1, 3, 32, 32),)


def run_with_etdump(pte: Path, inputs, out: Path, iterations: int = PYBINDINGS_ITERATIONS) -> Path:
    from examples.common.quiet import quiet_stdio
    from executorch.extension.pybindings.portable_lib import _load_for_executorch

    with quiet_stdio():
        module = _load_for_executorch(str(pte), enable_etdump=True)
        for _ in range(iterations):
            module.forward(inputs)
        module.write_etdump_result_to_file(str(out))
    return out


def toy_profile(tmp_path_factory) -> dict:
    """The toy program, its ETRecord and an ETDump written by the Python bindings (no
    "run model" events)."""
    if not _TOY:
        from examples.export.lowering import export_program, save_program

        folder = tmp_path_factory.mktemp("profiler_toy")
        model, inputs = toy_model()
        result = export_program(model, inputs, delegate=True, want_etrecord=True)
        pte = save_program(result, folder / "toy_xnnpack_fp32.pte")
        result.etrecord.save(str(folder / "toy_etrecord.bin"))
        _TOY.update(pte=pte, inputs=inputs, etrecord=folder / "toy_etrecord.bin", dir=folder,
                    etdump=run_with_etdump(pte, inputs, folder / "prof_result.bin"))
    return _TOY


def other_etrecord(tmp_path_factory) -> Path:
    """The ETRecord of another program (Linear + ReLU): it does not fit the toy's ETDump."""
    if "other_etrecord" not in _TOY:
        import torch

        from examples.export.lowering import export_program

        other = export_program(torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU()).eval(),
                               (torch.randn(2, 16),), delegate=True, want_etrecord=True)
        path = tmp_path_factory.mktemp("profiler_other") / "other_etrecord.bin"
        other.etrecord.save(str(path))
        _TOY["other_etrecord"] = path
    return _TOY["other_etrecord"]


# --- The CLI: as a subprocess (the real entry point; the checks before torch is imported), or
# in this process (no interpreter start and torch import per call) -----------------------------


def cli_in_process(args, capfd) -> subprocess.CompletedProcess:
    """``profiler_results_cli`` run through ``cli.run`` here; returns what a subprocess would
    (``capfd`` also catches what native code such as flatc writes to the file descriptors)."""
    from absl import flags

    from examples.common import cli
    from runtime.profiler import profiler_results_cli

    flags.FLAGS.unparse_flags()  # absl keeps the values of an earlier parse otherwise
    capfd.readouterr()
    try:
        cli.run(profiler_results_cli.main, argv=["profiler_results_cli", *[str(a) for a in args]])
        code = 0
    except SystemExit as done:
        code = done.code or 0
    captured = capfd.readouterr()
    return subprocess.CompletedProcess(args, code, captured.out, captured.err)


def run_cli(args, repo_root, env, cwd=None, timeout=300):
    return subprocess.run(CLI + [str(a) for a in args], cwd=cwd or repo_root, env=env, capture_output=True,
                          text=True, timeout=timeout)


def assert_one_line_error(proc, *needles, code=2):
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert proc.stdout == ""


# --- Two fully delegated CNNs (``module:factory`` references for the export CLI's driver): an
# ETRecord of either must not label the other's profile. -------------------------------------------


def conv_relu_conv():
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 3))
    return model.eval(), (torch.randn(1, 3, 16, 16),)


def conv_pool_conv():
    import torch

    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                torch.nn.Conv2d(8, 4, 3))
    return model.eval(), (torch.randn(1, 3, 16, 16),)
