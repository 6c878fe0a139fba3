"""Fine-tune BERT on a labelled task. With no arguments: sentiment classification on the small data set shipped
with bertjax, starting from the default pretraining run's model if there is one (else a fresh tiny BERT).

    python scripts/finetune.py
    python scripts/finetune.py --tfds glue/sst2 model.init_from=path/to/hf-bert task.glue=sst2
    python scripts/finetune.py task.train_file=reviews.csv --predict new_reviews.csv
    python scripts/finetune.py --cross-validate 5

A restart with the same output folder resumes from its latest checkpoint.
"""

import sys

from bertjax.runs.cli import run_script
from bertjax.runs.finetuning import FinetuningConfig, run_finetuning

if __name__ == "__main__":
    sys.exit(run_script(FinetuningConfig, run_finetuning, __doc__, shorthands={
        "--tfds": ("task.tfds", "a tensorflow-datasets data set, e.g. glue/sst2, conll2003, squad/v1.1"),
        "--train-file": ("task.train_file", "training data (CSV, TSV, JSON lines, CoNLL or SQuAD JSON)"),
        "--predict": ("task.predict_file", "write the best model's predictions for this file"),
        "--cross-validate": ("train.cross_validate", "K-fold cross-validation on the training file"),
        "--output-dir": ("train.output_dir", "the run folder (resumes if it has checkpoints)"),
    }))
