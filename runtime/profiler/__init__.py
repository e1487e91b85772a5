"""Decode ETDump profiles written by the profiling runner (or the Python bindings).

* :mod:`runtime.profiler.decode`: ETDump / Inspector -> :class:`ProfileReport` (pure functions).
* :mod:`runtime.profiler.formatting`: report -> text table, JSON, CSV.
* :mod:`runtime.profiler.profiler_results_cli`: the command line tool.
"""
