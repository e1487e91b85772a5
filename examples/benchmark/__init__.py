"""The side-by-side benchmark (issue 5): ExecuTorch portable / XNNPACK fp32 / XNNPACK q8 /
OpenVINO fp32 / int8 through the native runner, next to ONNX Runtime fp32 / int8, native
OpenVINO (default precision, f32, int8) and eager PyTorch.

The runner is driven through :mod:`examples.runner.client`; statistics come from
:mod:`examples.common.stats`, SQNR from :mod:`examples.common.metrics`.

Modules (each small, each with one job):

* :mod:`.backends`    the catalog of backends and how many iterations each one runs;
* :mod:`.cache`       exported ``.pte`` / ``.onnx`` files, reused while their inputs are unchanged;
* :mod:`.peers`       converting the model for ONNX Runtime / OpenVINO, measuring peers in a fresh subprocess;
* :mod:`.openvino_backend` the OpenVINO rows: ExecuTorch + OpenVINO programs and native OpenVINO peers;
* :mod:`.peer_worker` that subprocess (``python -m examples.benchmark.peer_worker``);
* :mod:`.machine`     CPU model, ISA flags, cores, package versions;
* :mod:`.report`      Markdown, JSON and PNG writers; :mod:`.harness` runs the grid.
"""
