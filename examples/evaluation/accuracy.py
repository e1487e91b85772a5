"""Classification accuracy of the eager model and its .pte programs on labelled data.

:func:`evaluate` runs every image of a labelled folder (batch 1, the model's preprocessing)
through the eager fp32 model and each program, and reports top-1 / top-5 and the agreement of
each program with the eager model (the fraction of samples whose top-1 class is the same).
:func:`evaluate_samples` is the loop and the report for any labelled model inputs (the text
path, :mod:`examples.evaluation.text_eval`, feeds it token ids and masks). Programs run either
in the native runner (``cmake-out/xnn_executor_runner``; one process per sample, since the
runner reads one set of inputs per run) or in ExecuTorch's Python runtime (``executorch.runtime``, one
loaded method per program). ``engine="auto"`` picks the native runner when it is built.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import torch

from examples.common import cli
from examples.evaluation.dataset import DatasetError, ImageFolderDataset, NotAnImageModel, Preprocess
from examples.runner import client as runner_client

DEFAULT_RUNNER = runner_client.DEFAULT_RUNNER
ENGINES = ("auto", "runner", "python")
ENGINE_LABELS = {"eager": "torch eager", "runner": "native runner", "python": "python runtime"}


class EvaluationError(cli.CliError):
    """A program that cannot be evaluated (runner missing or failing, bad output): exit 1 in the CLIs."""


cli.register_usage_errors("examples.evaluation.dataset", "DatasetError")


@dataclass
class Accuracy:
    name: str  # "eager", or the program's name ("fp32", "q8", ...)
    engine: str  # "eager", "runner" or "python"
    samples: int
    top1: float  # fractions in [0, 1]
    top5: float
    agreement: float | None  # top-1 identical to eager; None for eager itself
    seconds: float
    path: str | None = None

    @property
    def engine_label(self) -> str:
        return ENGINE_LABELS.get(self.engine, self.engine)


@dataclass
class EvalReport:
    dataset: str
    samples: int
    classes: int
    topk: int
    results: list[Accuracy] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unit: str = "images"  # what a sample is, for the table's title

    def __getitem__(self, name: str) -> Accuracy:
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(name)

    def drop(self, name: str, reference: str = "fp32") -> float:
        """Top-1 drop of ``name`` against ``reference`` in percentage points (positive: worse)."""
        return 100.0 * (self[reference].top1 - self[name].top1)

    def fp32_reference(self) -> str | None:
        """The float program the others are compared with: ``fp32``, else a name ending in ``fp32``."""
        names = [r.name for r in self.results if r.name != "eager"]
        if "fp32" in names:
            return "fp32"
        return next((n for n in names if n.endswith("fp32")), None)

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset, "samples": self.samples, "classes": self.classes, "topk": self.topk,
            "results": [{**asdict(r), "engine_label": r.engine_label} for r in self.results],
            "notes": list(self.notes), "unit": self.unit,
        }

    def format(self) -> str:
        """The table the CLIs print."""
        rows = [("program", "engine", "top-1", f"top-{self.topk}", "agree w/ eager", "time")]
        for r in self.results:
            agree = "-" if r.agreement is None else f"{100 * r.agreement:.1f}%"
            rows.append((r.name, r.engine_label, f"{100 * r.top1:.2f}%", f"{100 * r.top5:.2f}%", agree,
                         f"{r.seconds:.1f}s"))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [f"accuracy on {self.dataset} ({self.samples} {self.unit}, {self.classes} classes, batch 1)"]
        for row in rows:
            lines.append("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w)
                                   for i, (cell, w) in enumerate(zip(row, widths))).rstrip())
        reference = self.fp32_reference()
        if reference is not None:
            for r in self.results:
                if r.name not in ("eager", reference):
                    lines.append(f"{r.name} top-1 drop vs {reference}: {self.drop(r.name, reference):+.2f} points")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Engines: something that maps the model's input tensors (batch 1) to a logits tensor.


class PythonRuntimeProgram:
    """A program loaded once in ExecuTorch's Python runtime."""

    engine = "python"

    def __init__(self, path: str | Path):
        from executorch.runtime import Runtime

        from examples.common.quiet import quiet_stdio
        from examples.integrity.verify import read_verified

        # In-process loading only for trusted programs (a card whose digest matches): a corrupt
        # program can crash or hang this process; untrusted ones go through the native runner.
        # The runtime gets the very bytes that were checked, never the path again.
        _, data = read_verified(path, "require")

        try:
            import executorch.kernels.quantized  # noqa: F401  (portable q8 programs call these ops)
        except Exception:  # noqa: BLE001 - only needed by non-delegated quantized programs
            pass
        try:
            with quiet_stdio():  # the runtime logs its CPU probing on first use
                # The Program holds the bytes the runtime reads: it must live as long as the method.
                self._program = Runtime.get().load_program(data)
                self._method = self._program.load_method("forward")
        except Exception as error:  # the runtime raises RuntimeError/ValueError with long text
            raise EvaluationError(f"cannot load {path} in the ExecuTorch runtime: "
                                  f"{str(error).splitlines()[0] if str(error) else type(error).__name__}") from None

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self._method.execute([x.contiguous() for x in inputs])[0]

    def close(self) -> None:
        self._method = self._program = None


class NativeRunnerProgram:
    """A program run by the native runner through the one runner client: one process per input
    (the runner reads one input set); outputs are read back by their manifest's dtype and shape."""

    engine = "runner"

    def __init__(self, path: str | Path, runner: str | Path = DEFAULT_RUNNER, num_threads: int = 1):
        self.path = Path(path)
        self.runner = Path(runner)
        self.num_threads = num_threads
        if not (self.runner.is_file() and os.access(self.runner, os.X_OK)):
            raise EvaluationError(f"native runner not found at {self.runner} (build it, or use engine 'python')")
        if not self.path.is_file():
            raise EvaluationError(f"program not found: {self.path}")
        from examples.integrity.verify import verify_program

        verify_program(self.path, "auto")
        self._tmp = tempfile.TemporaryDirectory(prefix="xnn_eval_")

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        tmp = Path(self._tmp.name)
        inputs = runner_client.write_input_files(list(inputs), tmp)
        try:
            measured = runner_client.run_program(self.runner, self.path, iters=1, warmup=0, threads=self.num_threads,
                                                 inputs=inputs, output_path=tmp / "out")
        except runner_client.RunnerFailed as error:
            raise EvaluationError(f"native runner failed on {self.path.name}: {error}") from None
        return torch.from_numpy(measured.outputs[0].copy())

    def close(self) -> None:
        self._tmp.cleanup()


def runner_available(runner: str | Path = DEFAULT_RUNNER) -> bool:
    runner = Path(runner)
    return runner.is_file() and os.access(runner, os.X_OK)


def resolve_engine(engine: str, runner: str | Path = DEFAULT_RUNNER) -> str:
    if engine not in ENGINES:
        raise ValueError(f"unknown engine '{engine}' (known: {', '.join(ENGINES)})")
    if engine == "auto":
        return "runner" if runner_available(runner) else "python"
    return engine


def open_program(path: str | Path, engine: str, *, runner: str | Path = DEFAULT_RUNNER, num_threads: int = 1):
    engine = resolve_engine(engine, runner)
    if engine == "runner":
        return NativeRunnerProgram(path, runner, num_threads)
    return PythonRuntimeProgram(path)


# ----------------------------------------------------------------------------------------------


class _Tally:
    def __init__(self, topk: int):
        self.topk = topk
        self.top1 = self.topk_hits = self.agree = self.count = 0
        self.predictions: list[int] = []
        self.seconds = 0.0

    def add(self, logits: torch.Tensor, label: int, eager_top1: int | None) -> int:
        logits = logits.reshape(-1).float()
        k = min(self.topk, logits.numel())
        top = torch.topk(logits, k).indices.tolist()
        self.count += 1
        self.top1 += top[0] == label
        self.topk_hits += label in top
        if eager_top1 is not None:
            self.agree += top[0] == eager_top1
        self.predictions.append(top[0])
        return top[0]


def evaluate(
    preprocess: Preprocess | object,
    model: torch.nn.Module | None,
    programs: Mapping[str, str | Path],
    dataset: str | Path | ImageFolderDataset,
    *,
    engine: str = "auto",
    runner: str | Path = DEFAULT_RUNNER,
    limit: int | None = None,
    num_threads: int = 1,
    topk: int = 5,
    progress=None,
    chunk_size: int = 32,
    eager_threads: int | None = 1,
    example_inputs: tuple | None = None,
) -> EvalReport:
    """Top-1/top-k of ``model`` (eager, if given) and each ``programs`` entry on an image folder.

    ``preprocess``: a :class:`Preprocess` or a zoo ``ModelSpec`` (its image_size/mean/std; for a
    spec without image_size, pass ``example_inputs`` to take the size from them).
    ``programs``: name -> .pte path, e.g. ``{"fp32": "mv2_xnnpack_fp32.pte", "q8": ...}``.
    ``engine``: ``runner`` (native runner), ``python`` (ExecuTorch Python runtime) or ``auto``.
    ``limit``: evaluate an even spread of at most that many images.
    ``progress``: optional callable(done, total) called after each image.
    ``eager_threads``: torch threads for the eager model (1: steady on a busy machine; None: leave).
    """
    if not isinstance(preprocess, Preprocess):
        try:
            preprocess = Preprocess.for_spec(preprocess, example_inputs)
        except NotAnImageModel as error:
            raise DatasetError(f"{error}; cannot evaluate it on an image folder") from None
    if not isinstance(dataset, ImageFolderDataset):
        dataset = ImageFolderDataset(dataset, preprocess, limit=limit)
    samples = (((image.unsqueeze(0),), label) for image, label in dataset)
    return evaluate_samples(
        model, programs, samples, count=len(dataset), dataset_name=str(dataset.root), classes=len(dataset.classes),
        labels_are="the sorted class folder indices, so this only makes sense if the folders follow the "
                   "model's class order",
        engine=engine, runner=runner, num_threads=num_threads, topk=topk, progress=progress,
        chunk_size=chunk_size, eager_threads=eager_threads)


def evaluate_samples(
    model: torch.nn.Module | None,
    programs: Mapping[str, str | Path],
    samples: Iterable[tuple[tuple[torch.Tensor, ...], int]],
    *,
    count: int,
    dataset_name: str,
    classes: int,
    labels_are: str,
    unit: str = "images",
    engine: str = "auto",
    runner: str | Path = DEFAULT_RUNNER,
    num_threads: int = 1,
    topk: int = 5,
    progress=None,
    chunk_size: int = 32,
    eager_threads: int | None = 1,
) -> EvalReport:
    """Top-1/top-k of ``model`` (eager, if given) and each program on ``count`` labelled samples.

    ``samples``: ``(model inputs at batch 1, class id)`` pairs. ``labels_are``: how labels map to
    classes, for the note printed when the model's output count differs from ``classes``.
    The other arguments are :func:`evaluate`'s.
    """
    engine = resolve_engine(engine, runner)
    opened = {}
    try:
        for name, path in programs.items():
            opened[name] = open_program(path, engine, runner=runner, num_threads=num_threads)
        eager = _Tally(topk) if model is not None else None
        tallies = {name: _Tally(topk) for name in opened}
        outputs = None
        if model is not None:
            model = model.eval()
        done = 0
        for chunk in _chunks(samples, chunk_size):
            eager_top1s = [None] * len(chunk)
            if eager is not None:
                # Eager runs a chunk at once (eval mode: the same per-sample results as batch 1).
                batch = [torch.cat(column) for column in zip(*(inputs for inputs, _ in chunk))]
                start = time.perf_counter()
                with torch.no_grad(), _threads(eager_threads):
                    logits = model(*batch)
                eager.seconds += time.perf_counter() - start
                outputs = logits[0].numel()
                eager_top1s = [eager.add(row, label, None) for row, (_, label) in zip(logits, chunk)]
            for i, (inputs, label) in enumerate(chunk):
                for name, program in opened.items():
                    start = time.perf_counter()
                    logits = program(*inputs)
                    tallies[name].seconds += time.perf_counter() - start
                    outputs = logits.numel()
                    tallies[name].add(logits, label, eager_top1s[i])
                done += 1
                if progress is not None:
                    progress(done, count)
    finally:
        for program in opened.values():
            program.close()

    report = EvalReport(dataset_name, count, classes, topk, unit=unit)
    if eager is not None:
        report.results.append(_accuracy("eager", "eager", eager, None, None))
    for name, tally in tallies.items():
        report.results.append(_accuracy(name, engine, tally, eager, str(programs[name])))
    if outputs is not None and outputs != classes:
        report.notes.append(f"the model has {outputs} outputs but the data has {classes} classes; "
                            f"labels are {labels_are}")
    return report


def _chunks(dataset, size: int):
    chunk = []
    for sample in dataset:
        chunk.append(sample)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@contextlib.contextmanager
def _threads(count: int | None):
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _accuracy(name: str, engine: str, tally: _Tally, eager: _Tally | None, path: str | None) -> Accuracy:
    n = max(tally.count, 1)
    agreement = None if eager is None else tally.agree / n
    return Accuracy(name, engine, tally.count, tally.top1 / n, tally.topk_hits / n, agreement, tally.seconds, path)


__all__ = [
    "Accuracy", "DatasetError", "EvalReport", "EvaluationError", "ImageFolderDataset", "Preprocess",
    "evaluate", "evaluate_samples", "open_program", "resolve_engine", "runner_available",
]
