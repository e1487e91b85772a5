"""A decode step's time per operator, from the ETDump trace of a prefill and decode steps (the
devtools ``Inspector``'s events): the library part of :mod:`examples.generation.step_profile`."""

from __future__ import annotations

import re

from examples.common import cli

# Containers, not operators: their time is the operators' inside them.
CONTAINERS = {"Method::execute", "DELEGATE_CALL", "OPERATOR_CALL"}
INSTANCE = re.compile(r" #\d+$")  # XNNPACK numbers the instances of one operator kind


def step_profiles(inspector, steps: int) -> list[dict]:
    """``[{"execute_ms", "operators": {name: ms}, "delegate_ms"}]`` per ``execute``, in order. Each
    method's runs are one event block, in the order the methods first ran: a program's prefill
    method (its one run) comes before forward's steps."""
    profiles = []
    for block in inspector.event_blocks:
        execute = next((e for e in block.events if e.name == "Method::execute"), None)
        if execute is None or execute.perf_data is None:
            continue  # loading, not running
        runs = len(execute.perf_data.raw)
        block_profiles = [{"execute_ms": ms, "operators": {}, "delegate_ms": 0.0} for ms in execute.perf_data.raw]
        for event in block.events:
            if event.perf_data is None or len(event.perf_data.raw) != runs or event.name == "Method::execute":
                continue
            for i, ms in enumerate(event.perf_data.raw):
                if event.name == "DELEGATE_CALL":
                    block_profiles[i]["delegate_ms"] += ms
                elif event.name not in CONTAINERS:
                    name = INSTANCE.sub("", event.name)
                    block_profiles[i]["operators"][name] = block_profiles[i]["operators"].get(name, 0.0) + ms
        profiles += block_profiles
    if len(profiles) < steps:
        raise cli.CliError("the trace holds no Method::execute event per step (was ETDump enabled?)")
    return profiles[:steps]


def summarize(profiles: list[dict]) -> dict:
    """The prefill (first step) and the mean decode step."""
    prefill, decode = profiles[0], profiles[1:]
    names = set().union(*(p["operators"] for p in decode))
    mean = {n: sum(p["operators"].get(n, 0.0) for p in decode) / len(decode) for n in names}
    return {
        "prefill": {"execute_ms": prefill["execute_ms"], "delegate_ms": prefill["delegate_ms"],
                    "operators": prefill["operators"]},
        "decode_step": {"execute_ms": sum(p["execute_ms"] for p in decode) / len(decode),
                        "delegate_ms": sum(p["delegate_ms"] for p in decode) / len(decode), "operators": mean},
    }
