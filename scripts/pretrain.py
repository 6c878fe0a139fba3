"""Pretrain BERT from raw text (MLM + NSP). With no arguments: a tiny BERT on the corpus shipped with bertjax.

    python scripts/pretrain.py
    python scripts/pretrain.py --config configs/bert-base-phase1.yaml data.corpus=my_corpus/ train.batch_size=64
    python scripts/pretrain.py --tfds wikipedia/20230601.en model.preset=bert-mini

A restart with the same output folder resumes from its latest checkpoint.
"""

import sys

from bertjax.runs.cli import run_script
from bertjax.runs.pretraining import PretrainingConfig, run_pretraining

if __name__ == "__main__":
    sys.exit(run_script(PretrainingConfig, run_pretraining, __doc__, shorthands={
        "--tfds": ("data.tfds", "a tensorflow-datasets text data set to pretrain on"),
        "--corpus": ("data.corpus", "a text file, folder or glob"),
        "--output-dir": ("train.output_dir", "the run folder (resumes if it has checkpoints)"),
    }))
