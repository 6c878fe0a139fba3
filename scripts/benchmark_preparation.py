"""Pretraining data preparation: MiB/s and peak memory beside tokenizers' own batch encoding and the Hugging Face
`datasets` recipe, a restarted run's seconds to its first batch, and batch assembly on the prepared corpus.

    python scripts/benchmark_preparation.py      # 100 MiB, 1 GiB and 4 GiB corpora (about an hour on 2 cores)
    python scripts/benchmark_preparation.py --sizes 100 --json preparation.json
    python scripts/benchmark_preparation.py --sizes 20 --methods bertjax,tokenizers --text chinese.txt \
        --word-segmenter jieba                   # Chinese words found by jieba, beside tokenizing alone

The `datasets` comparison needs the bench extra: pip install -e ".[bench]".
"""

import argparse
import dataclasses
import sys

from bertjax.benchmark.data.preparation import METHODS, PreparationBenchSettings, run


def main(argv: list[str] | None = None) -> int:
    defaults = PreparationBenchSettings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, defaults.sizes_mb)), help="corpus sizes in MiB")
    parser.add_argument("--methods", default=",".join(defaults.methods), help=f"a subset of {','.join(METHODS)}")
    parser.add_argument("--reference-max", type=int, default=defaults.reference_max_mb,
                        help="tokenizers runs on corpora up to this many MiB")
    parser.add_argument("--datasets-max", type=int, default=defaults.datasets_max_mb,
                        help="datasets runs on corpora up to this many MiB")
    parser.add_argument("--restart", type=int, default=defaults.restart_mb, help="the corpus size a restart reads")
    parser.add_argument("--assembly", type=int, default=defaults.assembly_mb,
                        help="the corpus size batch assembly is timed on")
    parser.add_argument("--vocabulary", type=int, default=defaults.vocabulary_mb,
                        help="the corpus size a vocabulary is learnt from a sample of")
    parser.add_argument("--text", metavar="FILE", help="a text file repeated to each size instead of the built-in "
                                                       "corpus (one sentence a line, a blank line between documents)")
    parser.add_argument("--tokenizer-type", choices=("wordpiece", "bpe"), default=defaults.tokenizer_type,
                        help="the vocabulary every method shares")
    parser.add_argument("--word-segmenter", choices=("jieba",), help="bertjax finds words with this segmenter")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers to FILE")
    arguments = parser.parse_args(argv)
    methods = tuple(name.strip() for name in arguments.methods.split(",") if name.strip())
    if set(methods) - set(METHODS):
        parser.error(f"unknown methods {', '.join(sorted(set(methods) - set(METHODS)))}; choose from "
                     f"{', '.join(METHODS)}")
    settings = dataclasses.replace(defaults, sizes_mb=tuple(int(size) for size in arguments.sizes.split(",")),
                                   methods=methods, reference_max_mb=arguments.reference_max,
                                   datasets_max_mb=arguments.datasets_max,
                                   restart_mb=arguments.restart, assembly_mb=arguments.assembly,
                                   vocabulary_mb=arguments.vocabulary, text=arguments.text,
                                   tokenizer_type=arguments.tokenizer_type, word_segmenter=arguments.word_segmenter)
    run(settings, arguments.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
