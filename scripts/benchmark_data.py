"""How many pretraining rows per second the host assembles (masking and row building), on the built-in corpus.

    python scripts/benchmark_data.py                              # batch 256 x 128 tokens, four variants
    python scripts/benchmark_data.py --variants packed --json data.json
"""

import argparse
import sys

from bertjax.benchmark.data.batch_assembly import VARIANTS, AssemblySettings, environment, format_table, measure, write_json


def main(argv: list[str] | None = None) -> int:
    defaults = AssemblySettings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(defaults.variants),
                        help=f"comma-separated subset of {','.join(VARIANTS)}")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--seq-len", type=int, default=defaults.seq_len)
    parser.add_argument("--repeats", type=int, default=defaults.repeats, help="copies of the built-in corpus")
    parser.add_argument("--steps", type=int, default=defaults.steps, help="timed batches per round")
    parser.add_argument("--rounds", type=int, default=defaults.rounds)
    parser.add_argument("--json", metavar="FILE", help="also write the numbers to FILE")
    arguments = parser.parse_args(argv)
    variants = tuple(name.strip() for name in arguments.variants.split(",") if name.strip())
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    settings = AssemblySettings(batch_size=arguments.batch_size, seq_len=arguments.seq_len, repeats=arguments.repeats,
                                steps=arguments.steps, rounds=arguments.rounds, variants=variants)
    rows = measure(settings)
    print(f"{environment()['cpu']}, {environment()['cpu_threads']} threads")
    print(format_table(rows))
    if arguments.json:
        write_json(settings, rows, arguments.json)
        print(f"numbers written to {arguments.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
