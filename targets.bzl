"""Root package //: the prebuilt ExecuTorch wheel libraries, gflags, the `examples` and
`runtime` package roots and the Buck2 checker. buck2 reads the root's TARGETS; BUCK beside
it is the identical call (ExecuTorch keeps both). Buck2 open-source prelude, no fbcode shims.

Where the wheel is found: the genrule `executorch_wheel` copies lib/*.so and include/ out of
the installed `executorch` Python package. By default it asks the interpreter named by
`-c executorch.python=` (python3 on PATH: the user's pip-installed executorch) for the
location; `-c executorch.prefix=/…/site-packages/executorch` names it directly instead.
The copies land in buck-out, and buck2 links the runner against them and puts them, through
its shared-library symlink tree and rpath, next to the binary, so they resolve at run time.
After reinstalling executorch, run `buck2 clean` (the genrule's command text is unchanged).
"""

# Shared libraries the runner uses, with the libraries each one needs (DT_NEEDED).
EXECUTORCH_LIBS = {
    "executorch": ["executorch_threadpool"],
    "executorch_threadpool": [],
    "executorch_backend_xnnpack": ["executorch", "executorch_threadpool"],
    "executorch_kernels_optimized": ["executorch", "executorch_threadpool"],
    "executorch_kernels_quantized": ["executorch"],
    "executorch_etdump": ["executorch"],
}

def _wheel_cmd():
    prefix = read_config("executorch", "prefix", "")
    python = read_config("executorch", "python", "python3")
    if prefix:
        find = "P='{}'".format(prefix)
    else:
        find = "P=$({} -c 'import executorch, os; print(executorch.__path__[0])')".format(python)
    return " && ".join([
        find,
        "test -d \"$P/lib\" || { echo \"executorch wheel not found (got '$P'); pip install executorch or set -c executorch.prefix=\" >&2; exit 1; }",
        "mkdir -p $OUT/lib",
        " ".join(["cp -L \"$P/lib/lib{}.so\" $OUT/lib/ &&".format(lib) for lib in EXECUTORCH_LIBS]) + " true",
        "cp -RL \"$P/include\" $OUT/include",
    ])

def define_common_targets():
    outs = {
        "c10_include": ["include/executorch/runtime/core/portable_type/c10"],
        "include": ["include"],
    }
    for lib in EXECUTORCH_LIBS:
        outs["lib{}.so".format(lib)] = ["lib/lib{}.so".format(lib)]

    native.genrule(
        name = "executorch_wheel",
        outs = outs,
        cmd = _wheel_cmd(),
        labels = ["executorch_wheel"],
        visibility = ["PUBLIC"],
    )

    for lib, needs in EXECUTORCH_LIBS.items():
        native.prebuilt_cxx_library(
            name = lib,
            shared_lib = ":executorch_wheel[lib{}.so]".format(lib),
            soname = "lib{}.so".format(lib),
            header_dirs = [
                ":executorch_wheel[include]",
                ":executorch_wheel[c10_include]",
            ] if lib == "executorch" else [],
            # The definitions the wheel's CMake package puts on executorch::runtime.
            exported_preprocessor_flags = [
                "-DC10_USING_CUSTOM_GENERATED_MACROS",
                "-DET_EVENT_TRACER_ENABLED",
                "-DET_USE_THREADPOOL",
            ] if lib == "executorch" else [],
            preferred_linkage = "shared",
            exported_deps = [":" + n for n in needs],
            visibility = ["PUBLIC"],
        )

    # The runner's flags library, from the system (libgflags-dev, installed by setup.sh).
    native.prebuilt_cxx_library(
        name = "gflags",
        exported_linker_flags = ["-lgflags"],
        header_only = True,
        visibility = ["PUBLIC"],
    )

    # examples/__init__.py and runtime/__init__.py live in folders without a build file, so
    # they belong to this package; every Python library depends on this one.
    native.python_library(
        name = "package_roots",
        srcs = native.glob(["examples/__init__.py", "runtime/__init__.py"]),
        visibility = ["PUBLIC"],
    )

    native.python_library(
        name = "buck2_check_lib",
        srcs = native.glob(["tools/buck2_check/**/*.py"]),
        resources = native.glob(["tools/buck2_check/data/*.json"]),
        # The CLI reports errors through examples/common/cli.py.
        deps = [":package_roots", "//examples/common:common"],
        visibility = ["PUBLIC"],
    )

    # python -m tools.fuzz_programs PROGRAM --count N --out REPORT.json (mutation campaigns)
    native.python_library(
        name = "fuzz_programs_lib",
        srcs = native.glob(["tools/fuzz_programs/**/*.py"]),
        deps = [
            ":package_roots",
            "//examples/common:common",
            "//examples/integrity:integrity",
            "//examples/runner:runner",
        ],
        visibility = ["PUBLIC"],
    )

    native.python_binary(
        name = "fuzz_programs",
        main_module = "tools.fuzz_programs.__main__",
        deps = [":fuzz_programs_lib"],
        visibility = ["PUBLIC"],
    )

    # python -m tools.verification_cost PROGRAM --out F.json (time to first result, card check on/off)
    native.python_library(
        name = "verification_cost_lib",
        srcs = native.glob(["tools/verification_cost/**/*.py"]),
        deps = [
            ":package_roots",
            "//examples/common:common",
            "//examples/runner:runner",
        ],
        visibility = ["PUBLIC"],
    )

    native.python_binary(
        name = "verification_cost",
        main_module = "tools.verification_cost.__main__",
        deps = [":verification_cost_lib"],
        visibility = ["PUBLIC"],
    )

    # python -m tools.memory_cost PROGRAM... (peak RSS growth of the loaders against the constant segment)
    native.python_library(
        name = "memory_cost_lib",
        srcs = native.glob(["tools/memory_cost/**/*.py"]),
        deps = [
            ":package_roots",
            "//examples/common:common",
            "//examples/integrity:integrity",
            "//examples/runner:runner",
        ],
        visibility = ["PUBLIC"],
    )

    native.python_binary(
        name = "memory_cost",
        main_module = "tools.memory_cost.__main__",
        deps = [":memory_cost_lib"],
        visibility = ["PUBLIC"],
    )

    # python -m tools.seed_build SOURCE FRESH (a fresh build folder reuses another's objects)
    native.python_library(
        name = "seed_build_lib",
        srcs = native.glob(["tools/seed_build/**/*.py"]),
        deps = [":package_roots"],
        visibility = ["PUBLIC"],
    )

    native.python_binary(
        name = "seed_build",
        main_module = "tools.seed_build.__main__",
        deps = [":seed_build_lib"],
        visibility = ["PUBLIC"],
    )

    native.python_binary(
        name = "buck2_check",
        main_module = "tools.buck2_check.__main__",
        deps = [":buck2_check_lib"],
        visibility = ["PUBLIC"],
    )
