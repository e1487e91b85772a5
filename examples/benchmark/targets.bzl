def define_common_targets():
    native.python_library(
        name = "benchmark",
        srcs = native.glob(["**/*.py"], exclude = ["__init__.py", "machine.py"]),
        deps = [
            ":machine",
            "//:package_roots",
            "//examples/common:common",
            "//examples/evaluation:evaluation",
            "//examples/export:export",
            "//examples/generation:generation",
            "//examples/integrity:integrity",
            "//examples/models:models",
            "//examples/quantization:quantization",
            "//examples/results:results",
            "//examples/runner:runner",
            "//runtime/profiler:profiler",
        ],
        visibility = ["PUBLIC"],
    )

    # Machine facts alone (py-cpuinfo): examples/quantization (cpu_caps) reads CPU flags through
    # it, and the benchmark depends on quantization, so it is its own target (no cycle).
    native.python_library(
        name = "machine",
        srcs = ["__init__.py", "machine.py"],
        deps = ["//:package_roots"],
        visibility = ["PUBLIC"],
    )
