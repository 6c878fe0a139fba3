"""Convert BERT or ModernBERT weights between a Hugging Face folder and a bertjax model folder.

    python scripts/convert.py hf-to-bertjax HF_DIR OUT_DIR --head pretraining
    python scripts/convert.py bertjax-to-hf BERTJAX_DIR OUT_DIR

Without --head, hf-to-bertjax takes the head named by the folder's config.json `architectures`. Tokenizer files
(tokenizer.json or vocab.txt) are carried along.
"""

import argparse
import sys
from pathlib import Path

from bertjax.convert import (HF_CLASS_NAMES, head_for_architectures, hf_class_name, load_model_dir,
                             load_pretrained, save_model_dir, save_pretrained)
from bertjax.convert.files import read_config, read_tokenizer
from bertjax.error_report import report_errors


def hf_to_bertjax(source: Path, output: Path, head: str | None) -> list[str]:
    if head is None:
        head = head_for_architectures(read_config(source)[1], str(source / "config.json"))
    config, params, report = load_pretrained(source, head)
    save_model_dir(output, config, params, head, tokenizer=read_tokenizer(source))
    return [*report.describe(),
            f"wrote the {head} head ({hf_class_name(config, head)}) as a bertjax model folder {output}: "
            f"{_listing(output)}"]


def bertjax_to_hf(source: Path, output: Path) -> list[str]:
    config, head, params = load_model_dir(source)
    save_pretrained(output, config, params, head, tokenizer=read_tokenizer(source))
    return [f"wrote the {head} head as a Hugging Face {hf_class_name(config, head)} folder {output}: "
            f"{_listing(output)}"]


def _listing(directory: Path) -> str:
    return ", ".join(sorted(path.name for path in directory.iterdir()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True)
    to_bertjax = commands.add_parser("hf-to-bertjax", help="Hugging Face folder -> bertjax model folder")
    to_bertjax.add_argument("source", type=Path, metavar="HF_DIR")
    to_bertjax.add_argument("output", type=Path, metavar="OUT_DIR")
    to_bertjax.add_argument("--head", choices=list(HF_CLASS_NAMES),
                            help="the head to load (default: from config.json architectures)")
    to_hf = commands.add_parser("bertjax-to-hf", help="bertjax model folder -> Hugging Face folder")
    to_hf.add_argument("source", type=Path, metavar="BERTJAX_DIR")
    to_hf.add_argument("output", type=Path, metavar="OUT_DIR")
    for command in (to_bertjax, to_hf):
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show the full traceback of an error")
    arguments = parser.parse_args(argv)
    lines: list[str] = []

    def convert() -> None:
        if arguments.command == "hf-to-bertjax":
            lines.extend(hf_to_bertjax(arguments.source, arguments.output, arguments.head))
        else:
            lines.extend(bertjax_to_hf(arguments.source, arguments.output))

    status = report_errors(convert, arguments.debug)
    if status == 0:
        print("\n".join(lines))
    return status

if __name__ == "__main__":
    sys.exit(main())
