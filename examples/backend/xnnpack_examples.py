"""Export a model to an XNNPACK-delegated ExecuTorch program (fp32, or int8 with --quantize).

    python3 -m examples.backend.xnnpack_examples --model_name mv2 --delegate            # mv2_xnnpack_fp32.pte
    python3 -m examples.backend.xnnpack_examples --model_name mv2 --quantize --delegate # mv2_xnnpack_q8.pte
    python3 -m examples.backend.xnnpack_examples --model_name mv2 --nodelegate          # mv2.pte (portable)
    python3 -m examples.backend.xnnpack_examples --list_models
"""

from __future__ import annotations

from absl import flags

from examples.common import cli
from examples.export import export_cli

export_cli.define_common_flags()
flags.adopt_module_key_flags(export_cli)  # --help lists the shared flags too
flags.DEFINE_bool("quantize", False, "Quantize to int8 with the model's recipe (PT2E, XNNPACKQuantizer).")
flags.DEFINE_string("quant_recipe", None, "Override the model's quantization recipe (with --quantize); one of: "
                    "static_per_channel, static_per_tensor, static_per_channel_fp32_dw, dynamic_per_channel, "
                    "dynamic_per_channel_linear. Default: the zoo's; for your own model, chosen from its graph.")
flags.DEFINE_bool("delegate", True, "Lower to the XNNPACK delegate; --nodelegate writes a portable program.")
flags.DEFINE_integer("num_calibration_samples", None,
                     "Calibration samples: caps those taken from --calibration_data (default all); "
                     "without data, the number of random inputs (default 8).")
flags.DEFINE_string("calibration_data", None,
                    "Folder of images (resized, center-cropped, normalised as the model expects) or a .pt file "
                    "holding an N x C x H x W tensor or a list of input tuples. Default: random inputs.")
flags.DEFINE_integer("fail_on_fragmentation", None,
                     "Fail (exit 1, nothing written) when the program has more than this many delegated subgraphs.")
flags.DEFINE_integer("max_seq_len", None,
                     "The longest sequence the program accepts: one program for every length 1..N of the "
                     "token inputs (batch x sequence integer inputs; default: the example inputs' fixed shape); "
                     "for language models the KV cache length, prompt + generated tokens (default 128).")
# --eval_data / --eval_limit / --eval_engine / --tokenizer: classification accuracy on images or
# labelled texts (examples/evaluation).
from examples.evaluation import cli_hooks as eval_hooks  # noqa: E402

eval_hooks.define_eval_flags(text=True)
# --group_size / --max_seq_len / --quantize_kv_cache: language models (stories15m, ...) take
# ExecuTorch's LLM exporter.
from examples.generation import export_hooks as llm_hooks  # noqa: E402

llm_hooks.define_llm_flags()
flags.adopt_module_key_flags(llm_hooks)

FLAGS = flags.FLAGS


def main(argv):
    if export_cli.listed_models_or_check_args(argv, FLAGS):
        return 0
    if llm_hooks.is_llm(FLAGS.model_name):
        llm_hooks.export_from_flags(FLAGS)
        return 0
    llm_hooks.reject_llm_flags(FLAGS)
    # before the slow export
    eval_hooks.check_eval_data(FLAGS.eval_data, FLAGS.eval_limit, tokenizer=FLAGS.tokenizer, text=True)
    export_cli.check_quant_recipe(FLAGS.quant_recipe)
    path = export_cli.run_export(export_cli.ExportRequest(
        model_name=FLAGS.model_name,
        output_dir=FLAGS.output_dir,
        weights=FLAGS.weights,
        delegate=FLAGS.delegate,
        quantize=FLAGS.quantize,
        calibration_data=FLAGS.calibration_data,
        num_calibration_samples=FLAGS.num_calibration_samples,
        etrecord=FLAGS.etrecord,
        bundle=FLAGS.bundle,
        sign_key=FLAGS.sign_key,
        quant_recipe=FLAGS.quant_recipe,
        max_subgraphs=FLAGS.fail_on_fragmentation,
        max_seq_len=FLAGS.max_seq_len,
        verbose=FLAGS.verbose,
        print_graph=FLAGS.print_graph,
        check_loaded=eval_hooks.text_model_check(FLAGS.eval_data, FLAGS.tokenizer, FLAGS.max_seq_len),
    ))
    if FLAGS.eval_data:  # accuracy of eager fp32 and the program just written
        name = ("q8" if FLAGS.quantize else "fp32") if FLAGS.delegate else ("portable_q8" if FLAGS.quantize else "portable")
        eval_hooks.evaluate_export(FLAGS.model_name, FLAGS.weights, {name: path}, FLAGS.eval_data,
                                   limit=FLAGS.eval_limit, engine=FLAGS.eval_engine, verbose=FLAGS.verbose,
                                   tokenizer=FLAGS.tokenizer, max_seq_len=FLAGS.max_seq_len)
    return 0


if __name__ == "__main__":
    cli.run(main)
