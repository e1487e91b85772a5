"""Shared CLI plumbing: a known error becomes one ``error: ...`` line on stderr and an exit code.

Every command line tool of the toolkit runs its absl ``main`` through :func:`run`::

    from examples.common import cli

    def main(argv):
        ...
        raise cli.UsageError("--model_name is required")

    if __name__ == "__main__":
        cli.run(main)

Exit codes: 0 success, 1 failure (:class:`CliError`, an export that failed, a file that could
not be written), 2 usage error (bad flag, :class:`UsageError`, unknown model, unusable
weights or calibration data), 130 interrupted (Ctrl-C). No traceback is shown unless the
tool was started with ``--verbose`` (then unexpected errors show theirs).
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A failure to report as one line; ``exit_code`` says how the process ends."""

    exit_code = EXIT_FAILURE


class UsageError(CliError):
    """The user asked for something that cannot work (bad flag value, missing input)."""

    exit_code = EXIT_USAGE


# Error classes raised by the toolkit's libraries for bad user input, by module and class
# name, so this module need not import torch. They are looked up only in modules that are
# already imported (an error class of a module nobody imported cannot have been raised).
_USAGE_ERROR_CLASSES = {
    "examples.models.zoo": ("ModelLookupError",),
    "examples.models.weights": ("WeightsError",),
    "examples.quantization.calibration": ("CalibrationError",),
    "examples.models.preprocessing": ("NotAnImageModel",),
}


def register_usage_errors(module: str, *class_names: str) -> None:
    """Let another tool add its own bad-input error classes (they exit with code 2)."""
    _USAGE_ERROR_CLASSES[module] = tuple(_USAGE_ERROR_CLASSES.get(module, ())) + class_names


def _usage_error_types() -> tuple[type, ...]:
    found = []
    for module, names in _USAGE_ERROR_CLASSES.items():
        loaded = sys.modules.get(module)
        found.extend(getattr(loaded, name) for name in names if loaded is not None and hasattr(loaded, name))
    return tuple(found)


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}: {error.filename}" if error.filename else error.strerror
    line = text.splitlines()[0].strip() if text else ""
    return line or type(error).__name__


def error_line(message: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()


def given_flags(flag_values, names, *, switches_on_only: bool = False) -> list[str]:
    """``--name`` for each of ``names`` the command line gave (absl's ``present``: a default in
    effect is not given); ``switches_on_only``: a boolean turned off (``--nobundle``) asks for nothing."""
    return [f"--{name}" for name in names if flag_values[name].present
            and not (switches_on_only and flag_values[name].value is False)]


def refuse_flags(flag_values, names, context: str) -> None:
    """One ``error:`` line (exit 2) when any of ``names`` was given: they do not apply to ``context``."""
    given = given_flags(flag_values, names)
    if given:
        raise UsageError(f"{', '.join(given)} do{'es' if len(given) == 1 else ''} not apply to {context}")


def warning_line(message: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()


def exit_code_for(error: BaseException) -> int | None:
    """The exit code of a known error; ``None`` for an unexpected one."""
    if isinstance(error, CliError):
        return error.exit_code
    if isinstance(error, _usage_error_types()):
        return EXIT_USAGE
    if isinstance(error, OSError):
        return EXIT_FAILURE
    return None


@contextlib.contextmanager
def handle_errors(verbose: bool = False):
    """Turn an exception leaving the block into one stderr line and ``SystemExit``."""
    try:
        yield
    except SystemExit:
        raise
    except KeyboardInterrupt:
        error_line("interrupted")
        raise SystemExit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:
        # The reader went away (`... | head`): not an error. Point stdout at /dev/null so the
        # interpreter's final flush does not complain again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(EXIT_OK) from None
    except Exception as error:  # noqa: BLE001 - this is the top-level handler
        code = exit_code_for(error)
        if code is None:
            if verbose:
                traceback.print_exc()
            error_line(f"unexpected {type(error).__name__}: {first_line(error)}"
                       + ("" if verbose else " (run with --verbose for the traceback)"))
            raise SystemExit(EXIT_FAILURE) from None
        error_line(first_line(error))
        raise SystemExit(code) from None


def _parse_flags(argv):
    from absl import flags

    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        error_line(f"{first_line(error)} (see --help)")
        raise SystemExit(EXIT_USAGE) from None
    except SystemExit as done:
        # absl exits 1 after printing --help; asking for help is not a failure.
        if done.code == 1 and any(a.split("=")[0] in _HELP_FLAGS for a in argv[1:]):
            raise SystemExit(EXIT_OK) from None
        raise


_HELP_FLAGS = ("-h", "-?", "--help", "--helpshort", "--helpfull", "--helpxml")


def list_every_flag_in_help() -> None:
    """Make ``--help`` list every flag the command accepts. absl's ``--help`` shows only the
    main module's key flags, so flags defined in shared modules (the sampling flags, the
    evaluation flags, ...) were missing; absl's own flags stay under ``--helpfull``."""
    from absl import flags

    main_module = sys.argv[0]  # absl's name for ``__main__`` (see FlagValues.get_key_flags_for_module)
    for module, defined in list(flags.FLAGS.flags_by_module_dict().items()):
        if module == main_module or module.split(".")[0] == "absl":
            continue
        for flag in defined:
            flags.FLAGS.register_key_flag_for_module(main_module, flag)


def run(main, argv=None, verbose_flag: str = "verbose") -> None:
    """``absl.app.run(main)`` with one-line errors: flag errors exit 2, see the module doc."""
    from absl import app, flags

    list_every_flag_in_help()

    def wrapped(args):
        verbose = verbose_flag in flags.FLAGS and bool(flags.FLAGS[verbose_flag].value)
        with handle_errors(verbose):
            return main(args)

    app.run(wrapped, argv=argv, flags_parser=_parse_flags)


def positive_int_list(text: str, flag: str) -> list[int]:
    """``--threads 1,2,4`` style values: comma-separated integers >= 1, duplicates dropped, sorted."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--{flag} must be comma-separated integers, got '{text}'") from None
    if not values or any(v < 1 for v in values):
        raise UsageError(f"--{flag} must list integers >= 1, got '{text}'")
    return sorted(dict.fromkeys(values))


def one_program_argument(argv, usage: str):
    """The one program file a command takes as its argument (``argv`` as absl passes it):
    anything else is a usage error; ``usage`` is the command line to show, e.g.
    ``python -m tools.fuzz_programs PROGRAM --count N``."""
    from pathlib import Path

    if len(argv) != 2:
        raise UsageError(f"give one program: {usage}")
    program = Path(argv[1])
    if not program.is_file():
        raise UsageError(f"no such program: {program}")
    return program


def writable_dir(path: str):
    """The output folder, created if missing; fails early (before any slow work) if it cannot be written."""
    import tempfile
    from pathlib import Path

    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"output dir {folder} is not a directory")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise UsageError(f"output dir {folder} is not writable: {error.strerror or error}") from None
    return folder
