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
    # Its own module when the export package ships one, else the XNNPACK example's CLI,
    # which exports without delegation unless --delegate is given.
    has_own = len(native.glob(["export_example.py"])) > 0
    native.python_binary(
        name = "export_example",
        main_module = "examples.export.export_example" if has_own else "examples.backend.xnnpack_examples",
        deps = [":export"] if has_own else ["//examples/backend:backend"],
        visibility = ["PUBLIC"],
    )
