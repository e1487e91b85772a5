"""Progress of a long grid (benchmark, tune): a rich progress bar naming the current cell when
stderr is a terminal, plain ``[benchmark] ...`` lines otherwise (logs, CI, tests)."""

from __future__ import annotations

import sys


class GridProgress:
    def __init__(self, prefix: str = "benchmark", stream=None):
        self.prefix = prefix
        self.stream = stream or sys.stderr
        self._bar = None
        self._task = None

    def __enter__(self) -> "GridProgress":
        if self.stream.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=Console(file=self.stream), transient=True)
            self._bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
            self._bar = None

    def start(self, description: str, total: int) -> None:
        """A new phase of ``total`` steps."""
        if self._bar is not None:
            if self._task is not None:
                self._bar.remove_task(self._task)
            self._task = self._bar.add_task(description, total=total)

    def step(self, description: str) -> None:
        """One step of the phase begins: the bar shows what runs now."""
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, description=description, advance=1)
        else:
            self.log(description)

    def log(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(f"[{self.prefix}] {text}", markup=False, highlight=False)
        else:
            sys.stdout.flush()
            self.stream.write(f"[{self.prefix}] {text}\n")
            self.stream.flush()
