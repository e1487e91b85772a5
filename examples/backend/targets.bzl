# The command line tools of this package (examples/backend/<name>.py), e.g.
# buck2 run examples/backend:xnnpack_examples -- --model_name mv2 --delegate
# buck2 run examples/backend:compare -- old/benchmark.json new/benchmark.json --fail_on_regression 10
CLIS = [
    "xnnpack_examples",
    "openvino_examples",
    "inspect_program",
    "benchmark",
    "compare",
    "publish",
    "tune",
    "generate",
    "export_example",
    "train_tokenizer",
    "token_runner",
    "step_profile",
    "gemm_probe",
    "decode_probe",
    "cache_sweep",
    "generation_bench",
    "cpu_caps",
]

def define_common_targets():
    native.python_library(
        name = "backend",
        srcs = native.glob(["**/*.py"]),
        deps = [
            "//:package_roots",
            "//examples/benchmark:benchmark",
            "//examples/common:common",
            "//examples/evaluation:evaluation",
            "//examples/export:export",
            "//examples/generation:generation",
            "//examples/integrity:integrity",
            "//examples/models:models",
            "//examples/quantization:quantization",
            "//examples/results:results",
            "//examples/runner:runner",
            "//examples/tune:tune",
            "//runtime/profiler:profiler",
        ],
        visibility = ["PUBLIC"],
    )

    # One binary per command line tool: buck2 run examples/backend:<name> -- <flags>
    for name in CLIS:
        native.python_binary(
            name = name,
            main_module = "examples.backend." + name,
            deps = [":backend"],
            visibility = ["PUBLIC"],
        )

    # buck2 run examples/backend:xnn_executor_runner -- --model_path x.pte
    native.alias(
        name = "xnn_executor_runner",
        actual = "//runtime/executor_runner:xnn_executor_runner",
        visibility = ["PUBLIC"],
    )

    # buck2 run examples/backend:profiler_results_cli -- --prof_results_bin=prof_result.bin
    native.alias(
        name = "profiler_results_cli",
        actual = "//runtime/profiler:profiler_results_cli",
        visibility = ["PUBLIC"],
    )
