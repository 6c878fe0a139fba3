"""Prepare pretraining data ahead, as Google's create_pretraining_data but on every core and in bounded memory: the
vocabulary (trained on a sample spread over the corpus, unless data.tokenizer names one) and the tokenized,
held-out and cut sequences, into a folder that training runs name as data.prepared.

    python scripts/prepare_pretraining_data.py
    python scripts/prepare_pretraining_data.py --config configs/bert-base-phase1.yaml data.corpus=corpus/ \\
        --output-dir data/wiki
    python scripts/pretrain.py --config configs/bert-base-phase1.yaml data.prepared=data/wiki

A pretraining config serves as it is (only its data section is used). Rerunning after a stop finishes the missing
shards; rerunning on a prepared folder checks it and returns at once.
"""

import sys

from bertjax.runs.cli import run_script
from bertjax.runs.prepare_data import PreparationConfig, run_preparation

if __name__ == "__main__":
    sys.exit(run_script(PreparationConfig, run_preparation, __doc__, shorthands={
        "--corpus": ("data.corpus", "a text file, folder or glob"),
        "--tfds": ("data.tfds", "a tensorflow-datasets text data set"),
        "--output-dir": ("prepare.output_dir", "the folder to prepare into"),
        "--processes": ("prepare.processes", "the training run's process count (one share each)"),
    }))
