"""What bfloat16 costs in accuracy: one fine-tuning run in float32 and the same in bfloat16, side by side.

    python scripts/benchmark_dtype_accuracy.py --data sst2/train.tsv --model all-MiniLM-L6-v2/
    python scripts/benchmark_dtype_accuracy.py --data sst2/train.tsv --model MODEL --train-examples 1000 --json out.json
"""

import argparse
import sys

from bertjax.benchmark.dtype_accuracy import DtypeAccuracySettings, measure, report, write_json
from bertjax.runs.cli import report_errors
from bertjax.train.host_allocator import reuse_freed_host_memory


def main(argv: list[str] | None = None) -> int:
    reuse_freed_host_memory()  # before JAX starts, as in the other scripts
    defaults = DtypeAccuracySettings(data="", model="")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a labelled CSV/TSV/JSON-lines file, e.g. GLUE's SST-2 train.tsv")
    parser.add_argument("--model", required=True, help="the model folder to fine-tune (e.g. all-MiniLM-L6-v2)")
    parser.add_argument("--text-column", default=defaults.text_column)
    parser.add_argument("--label-column", default=defaults.label_column)
    parser.add_argument("--train-examples", type=int, default=defaults.train_examples)
    parser.add_argument("--eval-examples", type=int, default=defaults.eval_examples)
    parser.add_argument("--max-seq-length", type=int, default=defaults.max_seq_length)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--json", metavar="FILE", help="also write the numbers to FILE")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    parser.add_argument("overrides", nargs="*", metavar="section.field=value", help="further settings of both runs")
    arguments = parser.parse_args(argv)

    def run() -> None:
        fields = {name: getattr(arguments, name) for name in DtypeAccuracySettings.__dataclass_fields__
                  if hasattr(arguments, name)}
        settings = DtypeAccuracySettings(**(fields | {"overrides": tuple(arguments.overrides)}))
        values = report(settings, measure(settings))
        print(f"{values['environment']['cpu']}, {values['environment']['cpu_threads']} threads")
        for row in values["runs"]:
            print(f"{row['dtype']:>9}: accuracy {row['accuracy']:.4f} in {row['seconds']:.0f} s")
        print(f"bfloat16 - float32: {values['difference_points']:+.2f} points")
        if arguments.json:
            write_json(values, arguments.json)
            print(f"numbers written to {arguments.json}")

    return report_errors(run, arguments.debug)


if __name__ == "__main__":
    sys.exit(main())
