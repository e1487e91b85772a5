"""Export a model to an OpenVINO-delegated ExecuTorch program (fp32, or int8 with --quantize).

    python3 -m examples.backend.openvino_examples --model_name mv2              # mv2_openvino_fp32.pte
    python3 -m examples.backend.openvino_examples --model_name mv2 --quantize   # mv2_openvino_int8.pte
    python3 -m examples.backend.openvino_examples --model_name mv2 --precision bf16  # mv2_openvino_bf16.pte (BF16 CPUs)

Beside each program goes its program card, ``<program>.json`` (section ``extra.compiled_for``): the CPU class it was compiled for
(the native runner's client refuses it on another) and the precision it really runs in.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from absl import flags

from examples.common import cli
from examples.export import export_cli

export_cli.define_common_flags()
flags.adopt_module_key_flags(export_cli)
flags.DEFINE_bool("quantize", False, "Quantize to int8 with OpenVINOQuantizer (NNCF: symmetric int8; its transformer "
                  "scheme for models with attention).")
flags.DEFINE_enum("precision", "f32", ["f32", "bf16", "f16"],
                  "INFERENCE_PRECISION_HINT the program asks OpenVINO for (with --quantize: for what is not int8). "
                  "bf16 / f16 only on CPUs that compute in them natively (AVX512_BF16 / AMX).")
flags.DEFINE_integer("num_calibration_samples", None,
                     "Calibration samples: caps those taken from --calibration_data (default all); "
                     "without data, the number of random inputs (default 8).")
flags.DEFINE_string("calibration_data", None,
                    "Folder of images or a .pt file (as for xnnpack_examples). Default: random inputs.")

FLAGS = flags.FLAGS
INSTALL_HINT = "pip install openvino==2026.4.1 nncf==3.4.0 (./setup.sh installs them)"


def check_installed(quantize: bool) -> None:
    need = ["openvino"] + (["nncf"] if quantize else [])
    missing = [name for name in need if importlib.util.find_spec(name) is None]
    if missing:
        raise cli.CliError(f"{' and '.join(missing)} not installed: {INSTALL_HINT}")


def check_flags(spec) -> Path:
    """The flags, checked before the slow part: the program's path."""
    output_dir = cli.writable_dir(FLAGS.output_dir)
    if FLAGS.num_calibration_samples is not None and FLAGS.num_calibration_samples < 1:
        raise cli.UsageError(f"--num_calibration_samples must be at least 1, got {FLAGS.num_calibration_samples}")
    for name in ("calibration_data", "num_calibration_samples"):
        if FLAGS[name].value is not None and not FLAGS.quantize:
            cli.warning_line(f"--{name} is only used with --quantize; ignored")
    if FLAGS.etrecord:
        cli.warning_line("--etrecord is not supported for OpenVINO programs; ignored")
    if FLAGS.bundle:  # a bundle's tolerances come from running the program in the Python runtime
        raise cli.UsageError("--bundle is not supported for OpenVINO programs: ExecuTorch's Python runtime "
                             "has no OpenVINO backend to run them")
    if FLAGS.sign_key and not Path(FLAGS.sign_key).is_file():
        raise cli.UsageError(f"--sign_key: no such file: {FLAGS.sign_key}")
    check_installed(FLAGS.quantize)
    from examples.export.names import pte_filename
    from examples.export.openvino_lowering import check_precision, file_precision

    try:
        check_precision(FLAGS.precision)
    except ValueError as error:
        raise cli.UsageError(f"--precision {FLAGS.precision}: {error}") from None
    target = output_dir / pte_filename(spec.name, "openvino", file_precision(quantize=FLAGS.quantize,
                                                                           precision=FLAGS.precision))
    export_cli.check_overwrite(target, FLAGS.model_name)
    return target


def main(argv):
    if export_cli.listed_models_or_check_args(argv, FLAGS):
        return 0
    from examples.models.zoo import resolve_model

    spec = resolve_model(FLAGS.model_name)
    target = check_flags(spec)

    from examples.common.quiet import import_quietly, quiet_stdio, silence_third_party

    silence_third_party(FLAGS.verbose)
    console = export_cli.Console()
    try:
        console.line(f"loading {spec.name} (weights: {FLAGS.weights})...")
        from examples.models.weights import load_eager

        loaded = load_eager(spec, FLAGS.weights, FLAGS.verbose)
        calibration = None
        if FLAGS.quantize:
            from examples.quantization.calibration import load_calibration

            calibration = load_calibration(spec, loaded.example_inputs, FLAGS.calibration_data,
                                           FLAGS.num_calibration_samples)
            console.line(f"calibrating on {calibration.source}")
        import_quietly(FLAGS.verbose)
        from examples.export.openvino_lowering import export_openvino_program, save_openvino_program
        from examples.export.report import human_size

        mode = "OpenVINO " + (f"int8 (rest {FLAGS.precision})" if FLAGS.quantize else FLAGS.precision)
        stage = {"stage": "exporting"}

        def progress(name: str) -> None:
            stage["stage"] = name
            console.line({"quantizing": "quantizing with OpenVINOQuantizer (NNCF)...",
                          "lowering": "lowering to OpenVINO (compiling for this CPU)..."}.get(name, f"{name}..."))

        console.line(f"exporting {spec.name} as {mode}")
        try:
            with quiet_stdio(FLAGS.verbose):
                result, card = export_openvino_program(loaded.model, loaded.example_inputs, quantize=FLAGS.quantize,
                                                       calibration=calibration.batches if calibration else None,
                                                       progress=progress, precision=FLAGS.precision)
        except (KeyboardInterrupt, SystemExit, cli.CliError):
            raise
        except Exception as error:  # noqa: BLE001 - any export failure is one line for the user
            raise export_cli.ExportFailed(f"{stage['stage']} '{spec.name}' failed: "
                                          f"{type(error).__name__}: {cli.first_line(error)}") from None
        if FLAGS.quantize:
            console.line(f"  calibration samples used: {result.calibration_batches}; "
                         f"OpenVINOQuantizer mode: {card.get('quantization_mode')}")
        path = save_openvino_program(result, card, target, model=FLAGS.model_name)
        if FLAGS.sign_key:
            from examples.integrity.signing import sign_program

            console.line(f"signed {path.name} and its card: {sign_program(path, FLAGS.sign_key).resolve()}")
        export_cli.print_report(console, result, FLAGS.print_graph or FLAGS.verbose, backend="OpenVINO")
        console.line(f"compiled for CPU class '{card['cpu_class']}'; runs in {card['inference_precision']} "
                     f"(OpenVINO {card['openvino'].split('-')[0]})")
        console.line(f"wrote {path.resolve()} ({human_size(path.stat().st_size)}, {mode}) in {result.seconds:.1f} s "
                     f"and its card {path.name}.json")
    finally:
        console.close()
    return 0


if __name__ == "__main__":
    cli.run(main)
