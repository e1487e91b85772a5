"""Mutation campaigns against programs: what each trust layer (card, runtime checks, reference
IO) catches. ``python -m tools.fuzz_programs PROGRAM --count N --seed S --out REPORT.json``."""
