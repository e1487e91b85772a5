"""A program's card: ``<program>.card.json`` beside a ``.pte`` whose delegate compiled code for
the exporting CPU (OpenVINO). It records that CPU's class and the precision the program really
runs in; a program is refused, with one line, on a CPU of another class.

The wheel's OpenVINO delegate imports its compiled blob with no properties: the CPU plugin's
defaults on the running machine decide threads and precision, and the blob's kernels were
selected for the exporting CPU's instruction set.
"""

from __future__ import annotations

import json
from pathlib import Path

from examples.common.atomic_write import write_text_atomic

CARD_SUFFIX = ".card.json"


class WrongCpu(RuntimeError):
    """The program was compiled for another CPU class."""


def card_path(program: str | Path) -> Path:
    program = Path(program)
    return program.with_name(program.name + CARD_SUFFIX)


def write_card(program: str | Path, card: dict) -> Path:
    return write_text_atomic(card_path(program), json.dumps(card, indent=2, sort_keys=True))


def read_card(program: str | Path) -> dict | None:
    """The card, or None when the program has none (XNNPACK and portable programs)."""
    path = card_path(program)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        raise WrongCpu(f"{path} is not a readable program card; re-export the program") from None


def check_runs_here(program: str | Path, cpu_class: str) -> dict | None:
    """Raise :class:`WrongCpu` when the program's card names another CPU class than ``cpu_class``
    (this machine's: ``examples.quantization.cpu_caps.detect().cpu_class``)."""
    card = read_card(program)
    if card is None or "cpu_class" not in card:
        return card
    if card["cpu_class"] != cpu_class:
        raise WrongCpu(f"{Path(program).name} was compiled by OpenVINO for CPU class '{card['cpu_class']}'; "
                       f"this CPU is '{cpu_class}': re-export it on this machine")
    return card
