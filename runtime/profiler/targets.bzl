def define_common_targets():
    native.python_library(
        name = "profiler",
        srcs = native.glob(["**/*.py"]),
        deps = [
            "//:package_roots",
            "//examples/common:common",
            "//examples/integrity:integrity",
        ],
        visibility = ["PUBLIC"],
    )

    # buck2 run runtime/profiler:profiler_results_cli -- --prof_results_bin=prof_result.bin
    native.python_binary(
        name = "profiler_results_cli",
        main_module = "runtime.profiler.profiler_results_cli",
        deps = [":profiler"],
        visibility = ["PUBLIC"],
    )
