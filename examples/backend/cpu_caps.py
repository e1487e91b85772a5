"""Which int8 instructions this CPU has (facts only: :mod:`examples.quantization.cpu_caps`).

    python -m examples.backend.cpu_caps [--json]
"""

from __future__ import annotations

from absl import flags

from examples.common import cli

flags.DEFINE_bool("json", False, "Print the facts as one JSON object instead of the text lines.")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise cli.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    import json

    from examples.quantization.cpu_caps import detect

    caps = detect()
    print(json.dumps(caps.as_dict()) if FLAGS.json else caps.describe())
    return 0


if __name__ == "__main__":
    cli.run(main)
