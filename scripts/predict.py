"""Predict with a trained model: texts one a line (or CSV/TSV/JSON-lines records) in, JSON lines out. The task
comes from the model folder's head (a classifier classifies, a pretraining checkpoint fills [MASK]s, a bare encoder
embeds); --task picks another.

    python scripts/predict.py runs/finetune/best reviews.txt > predictions.jsonl
    echo "The capital of France is [MASK]." | python scripts/predict.py runs/pretrain/hf
    python scripts/predict.py runs/squad/best questions.jsonl --output answers.jsonl
"""

import sys

from bertjax.runs.predict import run_predict

if __name__ == "__main__":
    sys.exit(run_predict(description=__doc__))
