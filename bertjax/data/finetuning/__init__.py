"""Fine-tuning input: each task's readers (CSV/TSV/JSON lines, GLUE, CoNLL, SQuAD, SWAG) into features and batches."""
