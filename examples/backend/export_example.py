"""Export a model to a portable (non-delegated, fp32) ExecuTorch program: ``<model>.pte``.

    python3 -m examples.backend.export_example --model_name mv2      # writes mv2.pte
    python3 -m examples.backend.export_example --list_models
"""

from __future__ import annotations

from absl import flags

from examples.common import cli
from examples.export import export_cli

export_cli.define_common_flags()
flags.adopt_module_key_flags(export_cli)  # --help lists the shared flags too
FLAGS = flags.FLAGS


def main(argv):
    if export_cli.listed_models_or_check_args(argv, FLAGS):
        return 0
    export_cli.run_export(export_cli.ExportRequest(
        model_name=FLAGS.model_name,
        output_dir=FLAGS.output_dir,
        weights=FLAGS.weights,
        delegate=False,
        quantize=False,
        etrecord=FLAGS.etrecord,
        bundle=FLAGS.bundle,
        sign_key=FLAGS.sign_key,
        verbose=FLAGS.verbose,
        print_graph=FLAGS.print_graph,
    ))
    return 0


if __name__ == "__main__":
    cli.run(main)
