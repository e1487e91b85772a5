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

    # buck2 run examples/backend:xnnpack_examples -- --model_name mv2 --delegate
    native.python_binary(
        name = "xnnpack_examples",
        main_module = "examples.backend.xnnpack_examples",
        deps = [":backend"],
        visibility = ["PUBLIC"],
    )

    # buck2 run examples/backend:openvino_examples -- --model_name mv2 [--quantize]
    native.python_binary(
        name = "openvino_examples",
        main_module = "examples.backend.openvino_examples",
        deps = [":backend"],
        visibility = ["PUBLIC"],
    )

    # buck2 run examples/backend:inspect_program -- mv2_xnnpack_q8.pte
    native.python_binary(
        name = "inspect_program",
        main_module = "examples.backend.inspect_program",
        deps = [":backend"],
        visibility = ["PUBLIC"],
    )

    # buck2 run examples/backend:benchmark -- --models mv2
    native.python_binary(
        name = "benchmark",
        main_module = "examples.backend.benchmark",
        deps = [":backend"],
        visibility = ["PUBLIC"],
    )

    # buck2 run examples/backend:compare -- old/benchmark.json new/benchmark.json --fail_on_regression 10
    native.python_binary(
        name = "compare",
        main_module = "examples.backend.compare",
        deps = [":backend"],
        visibility = ["PUBLIC"],
    )

    # buck2 run examples/backend:publish -- --check
    native.python_binary(
        name = "publish",
        main_module = "examples.backend.publish",
        deps = [":backend"],
        visibility = ["PUBLIC"],
    )

    # buck2 run examples/backend:tune -- --model_name mv2 --threads 1,2
    native.python_binary(
        name = "tune",
        main_module = "examples.backend.tune",
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
