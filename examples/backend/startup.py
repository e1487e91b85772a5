"""What the model commands (benchmark, tune) do first, in one place: no stray arguments,
``--list_models``, flag bounds, the calibration data and the output and cache folders, all
checked before anything slow."""

from __future__ import annotations

from pathlib import Path

from examples.common import cli


def listed_models(argv, list_models: bool) -> bool:
    """Refuses positional arguments; True (the zoo printed) when ``--list_models`` was given."""
    if len(argv) > 1:
        raise cli.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if list_models:
        from examples.models.zoo import describe_zoo

        print(describe_zoo())
    return list_models


def check_at_least(flag_values, minimum: int, *names: str) -> None:
    for name in names:
        if flag_values[name].value < minimum:
            raise cli.UsageError(f"--{name} must be at least {minimum}, got {flag_values[name].value}")


def check_calibration(calibration_data: str | None, num_calibration_samples: int | None) -> None:
    if calibration_data and not Path(calibration_data).exists():
        raise cli.UsageError(f"calibration data not found: {calibration_data}")
    if num_calibration_samples is not None and num_calibration_samples < 1:
        raise cli.UsageError(f"--num_calibration_samples must be at least 1, got {num_calibration_samples}")


def output_and_cache(output_dir: str, cache_dir: str | None) -> tuple[Path, Path]:
    """The output folder and the programs cache (default ``<output_dir>/programs``), both writable."""
    output = cli.writable_dir(output_dir)
    return output, cli.writable_dir(cache_dir or str(output / "programs"))


def quiet_imports(verbose: bool) -> None:
    from examples.common.quiet import import_quietly

    import_quietly(verbose)
