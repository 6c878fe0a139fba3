"""What the benchmark runs: model architectures by name and identical synthetic batches for both frameworks."""

from __future__ import annotations

import numpy as np

from bertjax.benchmark.flops import WORKLOAD_HEADS
from bertjax.errors import ConfigError
from bertjax.model import PRESETS, BertConfig, preset

WORKLOADS = tuple(WORKLOAD_HEADS)
# Architectures the benchmark knows besides the presets: MiniLM-L6-H384 (all-MiniLM-L6-v2's encoder).
EXTRA_MODELS = {"minilm": BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                                     intermediate_size=1536)}
MASKED_FRACTION = 0.15
NUM_LABELS = 2
FIRST_REGULAR_TOKEN = 1000  # ids below are special or unused in BERT vocabularies
MASK_TOKEN_ID = 103  # [MASK] in the BERT vocabularies


def model_config(name: str) -> BertConfig:
    """A preset (`bert-mini`, `bert-base`, ...) or `minilm`, with a two-label classifier."""
    if name in EXTRA_MODELS:
        config = EXTRA_MODELS[name]
    elif name in PRESETS:
        config = preset(name)
    else:
        raise ConfigError(f"unknown benchmark model {name!r}; choose `minilm` or a preset: {', '.join(sorted(PRESETS))}")
    return config.with_labels([f"LABEL_{index}" for index in range(NUM_LABELS)])


def predictions_per_sequence(seq_len: int) -> int:
    """BERT's max_predictions_per_seq: 15% of the tokens (20 at 128), never [CLS] or the final [SEP]."""
    return min(max(1, round(MASKED_FRACTION * seq_len)), seq_len - 2)


def synthetic_batch(config: BertConfig, workload: str, batch_size: int, seq_len: int, seed: int = 0
                    ) -> dict[str, np.ndarray]:
    """A full-length batch in the project's conventions, deterministic for `seed`.

    All workloads: `input_ids`, `token_type_ids` (second half of each sequence is segment B), `attention_mask`
    int32 [batch, seq]. `pretrain` adds `masked_lm_positions`, `masked_lm_ids` int32 and `masked_lm_weights`
    float32 [batch, predictions] and `next_sentence_labels` int32 [batch]; the others add `labels` int32 [batch].
    """
    if workload not in WORKLOADS:
        raise ConfigError(f"workload is {workload!r}; choose one of {', '.join(WORKLOADS)}")
    if seq_len > config.max_position_embeddings:
        raise ConfigError(f"seq_len={seq_len} exceeds the model's max_position_embeddings "
                          f"({config.max_position_embeddings}); use a shorter --seq-len")
    if seq_len < 3:
        raise ConfigError(f"seq_len={seq_len} leaves no room for [CLS], a token and [SEP]; use at least 3")
    rng = np.random.default_rng(seed)
    shape = (batch_size, seq_len)
    low = min(FIRST_REGULAR_TOKEN, config.vocab_size - 1)
    batch = {
        "input_ids": rng.integers(low, config.vocab_size, size=shape).astype(np.int32),
        "token_type_ids": np.broadcast_to(np.arange(seq_len) >= seq_len // 2, shape).astype(np.int32),
        "attention_mask": np.ones(shape, np.int32),
    }
    if WORKLOAD_HEADS[workload] != "pretraining":
        batch["labels"] = rng.integers(0, config.num_labels, size=batch_size).astype(np.int32)
        return batch
    predictions = predictions_per_sequence(seq_len)
    # Sorted distinct positions between [CLS] and the final [SEP].
    positions = np.sort(np.argsort(rng.random((batch_size, seq_len - 2)), axis=1)[:, :predictions] + 1, axis=1)
    batch["masked_lm_positions"] = positions.astype(np.int32)
    batch["masked_lm_ids"] = np.take_along_axis(batch["input_ids"], positions, axis=1)
    np.put_along_axis(batch["input_ids"], positions, MASK_TOKEN_ID % config.vocab_size, axis=1)
    batch["masked_lm_weights"] = np.ones((batch_size, predictions), np.float32)
    batch["next_sentence_labels"] = rng.integers(0, 2, size=batch_size).astype(np.int32)
    return batch


def masked_lm_labels(batch: dict[str, np.ndarray]) -> np.ndarray:
    """The MLM targets as Hugging Face takes them: [batch, seq] int64, the original id at masked positions, -100
    elsewhere (and at padding predictions)."""
    labels = np.full(batch["input_ids"].shape, -100, np.int64)
    rows = np.arange(labels.shape[0])[:, None]
    targets = np.where(batch["masked_lm_weights"] > 0, batch["masked_lm_ids"], -100)
    labels[rows, batch["masked_lm_positions"]] = targets
    return labels
