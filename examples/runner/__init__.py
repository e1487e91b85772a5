"""The one client of the native runner (``cmake-out/xnn_executor_runner``): :mod:`.client`."""
