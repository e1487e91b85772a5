"""Decode ETDump profiles written by the profiling runner (or the Python bindings).

* :mod:`runtime.profiler.etdump_reader`: input checks, ``executorch.devtools.Inspector`` on the ETDump/ETRecord.
* :mod:`runtime.profiler.report`: Inspector events -> :class:`~runtime.profiler.report.ProfileReport`.
* :mod:`runtime.profiler.formatting`: report -> text table, JSON, CSV.
* :mod:`runtime.profiler.profiler_results_cli`: the command line tool.
"""
