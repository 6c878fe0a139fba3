"""bertjax against Hugging Face PyTorch BERT and ModernBERT (eager and torch.compile), side by side in one process.

    python scripts/benchmark.py                                   # bert-mini and bert-base, 128 tokens
    python scripts/benchmark.py --models minilm --workloads finetune --json results.json
    python scripts/benchmark.py --models bert-base --dtype bfloat16 --batch-size 64 --no-compile
    python scripts/benchmark.py --models minilm --workloads pipeline    # 1,000 texts: bertjax vs transformers.pipeline
    python scripts/benchmark.py --models ettin-68m,modernbert-base --no-compile   # against transformers' ModernBERT

Prints sequences/s, tokens/s, memory, first-step (compile) time, speed-up over PyTorch eager and MFU per row.
"""

import sys

from bertjax.benchmark.cli import main

if __name__ == "__main__":
    sys.exit(main())
