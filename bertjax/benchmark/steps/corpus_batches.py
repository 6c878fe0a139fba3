"""Real pretraining batches for the benchmark: the built-in corpus cut as the pretraining run cuts it, one sequence a
row (with the padding real data has) and packed, so that what packing saves shows in tokens per second."""

from __future__ import annotations

import dataclasses

import numpy as np

from bertjax.benchmark.steps.workloads import pretraining_objective
from bertjax.data.builtin import builtin_corpus
from bertjax.data.pretraining.corpus.documents import read_documents
from bertjax.data.pretraining.dataset import PretrainingDataset, PretrainingOptions
from bertjax.data.tokenizer import train_wordpiece
from bertjax.errors import ConfigError
from bertjax.model import ModelConfig

CORPUS_VOCAB_SIZE = 8000  # as the built-in pretraining run


@dataclasses.dataclass(frozen=True)
class CorpusBatch:
    batch: dict[str, np.ndarray]
    filled: float  # the share of token slots that hold tokens, over all the corpus's rows (steps cost the same
    # whatever a row holds, so real tokens per second is slots per second times this)


def corpus_batches(config: ModelConfig, batch_size: int, seq_len: int, max_predictions: int, seed: int
                   ) -> tuple[CorpusBatch, CorpusBatch]:
    """The first training batch of the built-in corpus one sequence a row, and packed, for the family's objective:
    BERT's MLM at 15% + NSP, or the modern MLM only at 30% (whose rows run on across documents, unpacked).

    The WordPiece vocabulary is learnt from the corpus with at most the model's vocabulary size, so every id fits.
    """
    documents = read_documents(builtin_corpus())
    tokenizer = train_wordpiece((sentence for document in documents for sentence in document),
                                vocab_size=min(CORPUS_VOCAB_SIZE, config.vocab_size))
    objective = pretraining_objective(config)
    options = PretrainingOptions(max_seq_length=seq_len, max_predictions_per_seq=max_predictions,
                                 masked_lm_prob=objective.masked_fraction,
                                 next_sentence=objective.head == "pretraining", eval_fraction=0, seed=seed)
    datasets = [PretrainingDataset.from_documents(documents, tokenizer, dataclasses.replace(options, packing=packing))
                for packing in (False, True)]
    for dataset in datasets:
        if dataset.batches_per_epoch(batch_size) == 0:
            raise ConfigError(f"the built-in corpus makes {len(dataset.train_rows)} rows of {seq_len} tokens, fewer "
                              f"than --batch-size {batch_size}")
    plain, packed = (CorpusBatch(dataset.train_batch(0, batch_size), 1.0 - dataset.padding_fraction())
                     for dataset in datasets)
    return plain, packed
