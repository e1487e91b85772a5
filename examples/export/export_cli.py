"""What the export CLIs share: their common flags and the export-and-report driver.

``examples.backend.xnnpack_examples`` (XNNPACK fp32/q8) and ``examples.backend.export_example``
(portable) both call :func:`run_export`; it checks the user's input before doing anything
slow, prints progress lines, the delegation summary (the lowered graph too with --print_graph or
--verbose) and what was written. A user model's file carries its module and function
(``my_pkg.models:factory`` -> ``my_pkg_models_factory_xnnpack_fp32.pte``), and a program whose
card names another model is never overwritten.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from absl import flags

from examples.common import cli

FLAGS = flags.FLAGS

WEIGHTS_HELP = (
    "Weights: 'auto' (pretrained if torchvision's checkpoint is already in the torch hub cache "
    "$TORCH_HOME/hub/checkpoints, else random with a warning), 'pretrained' (cached checkpoint "
    "only; never downloads), 'random', or a PATH to a state_dict file (.pt/.pth)."
)


def define_common_flags() -> None:
    """Flags every export CLI has (idempotent: safe when two CLIs are imported in one process)."""
    if "model_name" in FLAGS:
        return
    flags.DEFINE_string("model_name", None, "Zoo model (see --list_models) or my_pkg.my_module:factory.")
    flags.DEFINE_string("output_dir", ".", "Folder the .pte file is written to (default: current folder).")
    flags.DEFINE_string("weights", "auto", WEIGHTS_HELP)
    flags.DEFINE_string("etrecord", None, "Also write an ETRecord (for the devtools Inspector) to this path.")
    flags.DEFINE_bool("bundle", False, "Also write <program>.bpte: an ExecuTorch BundledProgram with reference "
                      "inputs/outputs from eager (check: python -m examples.backend.inspect_program X.bpte "
                      "--check_reference).")
    flags.DEFINE_string("sign_key", None, "Sign the program and its card (and the bundle) with this EC private key "
                        "(PEM; OpenSSF model-signing, offline): writes <program>.sig.")
    flags.DEFINE_bool("list_models", False, "Print the model zoo and exit.")
    flags.DEFINE_bool("print_graph", False, "Also print the lowered graph (edge dialect) before the delegation "
                      "summary (--verbose prints it too).")
    flags.DEFINE_bool("verbose", False, "Show third-party output and warnings, and tracebacks of unexpected errors.")


@dataclass
class ExportRequest:
    model_name: str
    output_dir: str = "."
    weights: str = "auto"
    delegate: bool = True
    quantize: bool = False
    calibration_data: str | None = None
    num_calibration_samples: int | None = None
    etrecord: str | None = None
    quant_recipe: str | None = None  # None: the zoo's recipe for the model
    max_subgraphs: int | None = None  # --fail_on_fragmentation: fail when more delegated subgraphs
    max_seq_len: int | None = None  # one program for every sequence length 1..max_seq_len
    bundle: bool = False  # also write a BundledProgram with eager reference IO
    sign_key: str | None = None  # EC private key: sign program + card (model-signing)
    verbose: bool = False
    print_graph: bool = False  # print the lowered graph too (always with verbose)
    # Called with the loaded model before the slow export, to reject input that needs the model
    # to be judged (a text --eval_data whose tokenizer does not fit it); raises a CliError.
    check_loaded: Callable | None = None


class ExportFailed(cli.CliError):
    """torch.export / quantization / lowering raised: reported as one line, exit 1."""


class Console:
    """Prints to the terminal's stdout even while third-party output is being swallowed."""

    def __init__(self):
        sys.stdout.flush()
        try:
            self._fd = os.dup(sys.stdout.fileno())
        except (AttributeError, OSError, ValueError):  # stdout is not a real file (captured)
            self._fd = None

    def line(self, text: str = "") -> None:
        if self._fd is None:
            print(text, flush=True)
        else:
            sys.stdout.flush()
            os.write(self._fd, (text + "\n").encode())

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def check_quant_recipe(name: str | None) -> None:
    """A --quant_recipe value that names no recipe: one line, exit 2, before anything slow."""
    if name:
        from examples.quantization.recipes import get_recipe

        try:
            get_recipe(name)
        except ValueError as error:
            raise cli.UsageError(f"--quant_recipe: {error}") from None


def check_overwrite(path: Path, model: str) -> None:
    """Never replace another model's program silently: a program whose card names another
    model is refused (before the slow export); one without a card gets a warning line."""
    if not path.exists():
        return
    from examples.integrity.card import CardError, read_card

    try:
        card = read_card(path)
    except CardError:
        card = None
    if card is None:
        cli.warning_line(f"overwriting {path} (no program card says which model it holds)")
    elif card.get("model") not in (None, model):
        raise cli.UsageError(f"{path} holds another model's program ('{card['model']}'), not '{model}': "
                             "not overwriting it; remove it or pick another --output_dir")


def print_report(console: Console, result, show_graph: bool, backend: str = "XNNPACK") -> None:
    """The delegation summary; the lowered graph before it only when asked (--print_graph,
    --verbose): a big model's graph is hundreds of lines."""
    from examples.export.report import delegation_summary, lowered_graph_text

    console.line()
    if show_graph:
        console.line("lowered graph (edge dialect):")
        console.line(lowered_graph_text(result))
        console.line()
    console.line(delegation_summary(result, backend=backend))


def print_list_models() -> None:
    from examples.models.zoo import describe_zoo

    print(describe_zoo())


def listed_models_or_check_args(argv, flag_values) -> bool:
    """The start both export CLIs share: reject stray arguments, answer --list_models
    (returns True: nothing more to do), and require --model_name."""
    if len(argv) > 1:
        raise cli.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if flag_values.list_models:
        print_list_models()
        return True
    if not flag_values.model_name:
        raise cli.UsageError("--model_name is required (see --list_models)")
    return False


def sequence_inputs(loaded, max_seq_len: int | None, console: Console):
    """``(example inputs, dynamic_shapes)``: as loaded, or (--max_seq_len N) with the sequence
    dimension of the token inputs dynamic over 1..N."""
    if max_seq_len is None:
        return tuple(loaded.example_inputs), None
    from examples.models.input_specs import infer_input_specs, sequence_dynamic_shapes

    specs = infer_input_specs(loaded.example_inputs, loaded.model)
    try:
        inputs, shapes = sequence_dynamic_shapes(loaded.example_inputs, max_seq_len, specs)
    except ValueError as error:
        raise cli.UsageError(str(error)) from None
    console.line(f"dynamic sequence length: the program accepts lengths 1..{max_seq_len}")
    return inputs, shapes


def check_fragmentation(result, name: str, max_subgraphs: int | None, console: Console) -> None:
    """--fail_on_fragmentation N: more than N delegated subgraphs fails the export (exit 1,
    nothing written), so that CI can hold a model to the fragmentation it reached."""
    if max_subgraphs is None:
        return
    from examples.export.report import delegation_summary, fragmentation

    subgraphs, crossings = fragmentation(result)
    if subgraphs > max_subgraphs:
        console.line(delegation_summary(result))
        raise ExportFailed(f"'{name}' is cut into {subgraphs} delegated subgraphs ({crossings} tensors crossing "
                           f"their boundaries), more than --fail_on_fragmentation {max_subgraphs}; nothing written")


def check_request(request: ExportRequest):
    """Everything the user gave, checked before the slow part (the heavy imports included):
    ``(spec, recipe or None, whether the recipe is chosen from the graph later, target path)``."""
    from examples.export.names import pte_filename
    from examples.models.zoo import resolve_model
    from examples.quantization.recipes import recipe_for

    spec = resolve_model(request.model_name)
    output_dir = cli.writable_dir(request.output_dir)
    if request.etrecord:
        cli.writable_dir(str(Path(request.etrecord).expanduser().parent or "."))
    if request.sign_key and not Path(request.sign_key).is_file():
        raise cli.UsageError(f"--sign_key: no such file: {request.sign_key}")
    if request.num_calibration_samples is not None and request.num_calibration_samples < 1:
        raise cli.UsageError(f"--num_calibration_samples must be at least 1, got {request.num_calibration_samples}")
    choose_later = request.quantize and not (request.quant_recipe or spec.quant_recipe)
    recipe = recipe_for(spec, request.quant_recipe) if request.quantize and not choose_later else None
    if request.max_seq_len is not None and request.max_seq_len < 1:
        raise cli.UsageError(f"--max_seq_len must be at least 1, got {request.max_seq_len}")
    if request.max_subgraphs is not None and request.max_subgraphs < 0:
        raise cli.UsageError(f"--fail_on_fragmentation must be at least 0, got {request.max_subgraphs}")
    for flag, given in (("calibration_data", request.calibration_data), ("quant_recipe", request.quant_recipe),
                        ("num_calibration_samples", request.num_calibration_samples is not None)):
        if given and not request.quantize:
            cli.warning_line(f"--{flag} is only used with --quantize; ignored")
    target = output_dir / pte_filename(spec.name, "xnnpack" if request.delegate else "portable",
                                       "q8" if request.quantize else "fp32")
    check_overwrite(target, request.model_name)
    return spec, recipe, choose_later, target


def _loaded_model(request: ExportRequest, spec, console: Console):
    """The eager model and its weights' source line; checked by ``request.check_loaded``."""
    from examples.models.weights import load_eager

    console.line(f"loading {spec.name} (weights: {request.weights})...")
    loaded = load_eager(spec, request.weights, request.verbose)
    source = loaded.weights
    if "user" in spec.tags and source == "random":
        source = "as built by the factory"
    console.line(f"  weights: {source}")
    if request.check_loaded is not None:
        request.check_loaded(loaded)
    return loaded


def _recipe_and_calibration(request: ExportRequest, spec, recipe, choose_later: bool, loaded, example_inputs,
                            console: Console):
    """The quantization recipe (chosen from the graph when the user's model names none) and the
    calibration it needs (None: float, or activations quantized at run time)."""
    from examples.quantization.calibration import load_calibration

    if choose_later:
        from examples.quantization.recipe_choice import choose_recipe

        try:
            choice = choose_recipe(loaded.model, example_inputs)
        except Exception as error:  # noqa: BLE001 - torch.export of a user's model can raise anything
            raise ExportFailed(f"choosing a quantization recipe for '{spec.name}' failed (pass --quant_recipe): "
                               f"{type(error).__name__}: {cli.first_line(error)}") from None
        recipe = choice.recipe
        console.line(f"quantization recipe: {recipe.name}, chosen from the graph ({choice.reason}); "
                     "--quant_recipe overrides it")
    if recipe is None:
        return None, None
    if not recipe.needs_calibration:
        if request.calibration_data:
            console.line(f"recipe {recipe.name} quantizes activations at run time: calibration data not needed")
        return recipe, None
    calibration = load_calibration(spec, example_inputs, request.calibration_data,
                                   request.num_calibration_samples, model=loaded.model)
    if calibration.random:
        console.line(f"no calibration data given: calibrating on {calibration.source} "
                     "(pass --calibration_data for meaningful activation ranges)")
    else:
        console.line(f"calibrating on {calibration.source}")
    return recipe, calibration


def _lower(request: ExportRequest, spec, recipe, calibration, loaded, example_inputs, dynamic_shapes,
           console: Console):
    """``export_program`` with a progress line per stage; a failure is one line naming the stage."""
    from examples.common.quiet import quiet_stdio
    from examples.export.lowering import export_program

    stage_text = {
        "quantizing": f"quantizing with recipe {recipe.name if recipe else ''}...",
        "exporting": "exporting (torch.export)...",
        "lowering": "lowering to XNNPACK..." if request.delegate else "lowering to edge dialect (no delegate)...",
        "serializing": "serializing the ExecuTorch program...",
    }
    current = {"stage": "exporting"}

    def progress(stage: str) -> None:
        current["stage"] = stage
        console.line(stage_text.get(stage, f"{stage}..."))

    try:
        with quiet_stdio(request.verbose):
            return export_program(
                loaded.model, example_inputs, dynamic_shapes=dynamic_shapes,
                delegate=request.delegate, recipe=recipe,
                calibration=calibration.batches if calibration else None,
                want_etrecord=bool(request.etrecord), progress=progress,
            )
    except (KeyboardInterrupt, SystemExit, cli.CliError):
        raise
    except Exception as error:  # noqa: BLE001 - any export failure is one line for the user
        what = f"{current['stage']} '{spec.name}'"
        if current["stage"] == "quantizing" and recipe is not None:
            what += f" with recipe {recipe.name}"
        raise ExportFailed(f"{what} failed: {type(error).__name__}: {cli.first_line(error)}") from None


def _write_extras(request: ExportRequest, result, path: Path, loaded, example_inputs, console: Console) -> None:
    """What the flags add beside the program: a bundle (--bundle), signatures (--sign_key), an
    ETRecord (--etrecord); the report comes between the signatures and the ETRecord."""
    from examples.export.report import human_size

    bundled = None
    if request.bundle:
        from examples.integrity.bundle import write_bundle

        bundled = write_bundle(path, loaded.model, [example_inputs])
        console.line(f"wrote bundled program {bundled.resolve()} (reference IO from eager; card {bundled.name}.json)")
    if request.sign_key:
        from examples.integrity.signing import sign_program

        for signed in [path] + ([bundled] if bundled else []):
            console.line(f"signed {signed.name} and its card: {sign_program(signed, request.sign_key).resolve()}")
    print_report(console, result, request.print_graph or request.verbose)
    if request.etrecord:
        from runtime.profiler.etrecord_link import link_path, write_etrecord

        etrecord_path = write_etrecord(result.etrecord, request.etrecord, result.buffer, path, request.model_name,
                                       example_inputs)
        console.line(f"wrote ETRecord {etrecord_path.resolve()} ({human_size(etrecord_path.stat().st_size)}; "
                     f"{link_path(etrecord_path).name} names its program, for profiler_results_cli)")


def run_export(request: ExportRequest) -> Path:
    """Export one model as asked, print the report, return the written .pte path."""
    from examples.common.quiet import import_quietly, silence_third_party

    spec, recipe, choose_later, target = check_request(request)
    silence_third_party(request.verbose)
    console = Console()
    try:
        loaded = _loaded_model(request, spec, console)
        example_inputs, dynamic_shapes = sequence_inputs(loaded, request.max_seq_len, console)
        recipe, calibration = _recipe_and_calibration(request, spec, recipe, choose_later, loaded, example_inputs,
                                                      console)
        # The heavy, chatty imports come after the user's input was checked, so bad input fails fast.
        import_quietly(request.verbose)
        from examples.export.lowering import save_program
        from examples.export.report import human_size

        mode = ("XNNPACK " if request.delegate else "portable (no delegate) ") + ("q8" if recipe else "fp32")
        if not request.delegate:
            console.line("delegation off: writing a non-delegated program that runs on portable kernels")
        console.line(f"exporting {spec.name} as {mode}")
        result = _lower(request, spec, recipe, calibration, loaded, example_inputs, dynamic_shapes, console)
        if calibration is not None:
            console.line(f"  calibration samples used: {result.calibration_batches}")
        check_fragmentation(result, spec.name, request.max_subgraphs, console)
        path = save_program(result, target, model=request.model_name)
        _write_extras(request, result, path, loaded, example_inputs, console)
        steps = ", ".join(f"{k.removesuffix('_s')} {v:.1f} s" for k, v in result.timings.items())
        console.line(f"wrote {path.resolve()} ({human_size(path.stat().st_size)}, {mode}) "
                     f"in {result.seconds:.1f} s ({steps})")
        return path
    finally:
        console.close()
