def define_common_targets():
    native.python_library(
        name = "export",
        srcs = native.glob(["**/*.py"]),
        deps = [
            "//:package_roots",
            "//examples/common:common",
            "//examples/integrity:integrity",
            "//examples/models:models",
            "//examples/quantization:quantization",
            "//runtime/profiler:profiler",
        ],
        visibility = ["PUBLIC"],
    )

    # buck2 run examples/export:export_example -- --model_name mv2   (portable, no delegate)
    native.python_binary(
        name = "export_example",
        main_module = "examples.export.export_example",
        deps = [":export"],
        visibility = ["PUBLIC"],
    )
