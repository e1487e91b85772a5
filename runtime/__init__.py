"""Runtime side of the toolkit: the native executor runner and the profiling tools."""
