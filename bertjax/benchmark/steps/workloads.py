"""What the benchmark runs: model architectures by name, each family's pretraining objective, and identical synthetic
batches for both frameworks."""

from __future__ import annotations

import dataclasses

import numpy as np

from bertjax.benchmark.steps.flops import WORKLOAD_HEADS
from bertjax.errors import ConfigError
from bertjax.model import PRESETS, BertConfig, ModelConfig, ModernBertConfig, preset

WORKLOADS = tuple(WORKLOAD_HEADS)
# Architectures the benchmark knows besides the presets: MiniLM-L6-H384 (all-MiniLM-L6-v2's encoder), and the
# shapes of Ettin's 68M encoder (one rotary base, mean pooling) and ModernBERT-base (the config's defaults).
EXTRA_MODELS: dict[str, ModelConfig] = {
    "minilm": BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
    "ettin-68m": ModernBertConfig(hidden_size=512, intermediate_size=768, num_hidden_layers=19,
                                  num_attention_heads=8, global_rope_theta=160000.0, local_rope_theta=160000.0,
                                  classifier_pooling="mean"),
    "modernbert-base": ModernBertConfig(),
}
NUM_LABELS = 2
FIRST_REGULAR_TOKEN = 1000  # ids below are special or unused in BERT vocabularies


@dataclasses.dataclass(frozen=True)
class PretrainingObjective:
    """How a family is pretrained: its head (`bertjax.model.HEADS`), the share of tokens masked, its [MASK] id."""

    head: str
    masked_fraction: float
    mask_token_id: int


# BERT's recipe: masked LM at 15% plus next-sentence prediction. The modern recipe (ModernBERT, Ettin): masked LM only,
# at 30%.
PRETRAINING_OBJECTIVES = {
    "bert": PretrainingObjective("pretraining", 0.15, 103),  # [MASK] in the BERT vocabularies
    "modernbert": PretrainingObjective("masked_lm", 0.30, 50284),  # <mask> in ModernBERT's
}


def model_config(name: str) -> ModelConfig:
    """A preset (`bert-mini`, `bert-base`, ...) or one of `EXTRA_MODELS`, with a two-label classifier."""
    if name in EXTRA_MODELS:
        config = EXTRA_MODELS[name]
    elif name in PRESETS:
        config = preset(name)
    else:
        raise ConfigError(f"unknown benchmark model {name!r}; choose {', '.join(sorted(EXTRA_MODELS))} or a preset: "
                          f"{', '.join(sorted(PRESETS))}")
    return config.with_labels([f"LABEL_{index}" for index in range(NUM_LABELS)])


def pretraining_objective(config: ModelConfig) -> PretrainingObjective:
    """How the config's family is pretrained (`PRETRAINING_OBJECTIVES`)."""
    return PRETRAINING_OBJECTIVES[config.architecture.family]


def predictions_per_sequence(config: ModelConfig, seq_len: int) -> int:
    """Predicted positions per sequence (max_predictions_per_seq): the family's masked share of the tokens (BERT's 20
    at 128, ModernBERT's 38), never [CLS] or the final [SEP]."""
    fraction = pretraining_objective(config).masked_fraction
    return min(max(1, round(fraction * seq_len)), seq_len - 2)


def synthetic_batch(config: ModelConfig, workload: str, batch_size: int, seq_len: int, seed: int = 0
                    ) -> dict[str, np.ndarray]:
    """A full-length batch in the project's conventions, deterministic for `seed`.

    All workloads: `input_ids`, `token_type_ids` (second half of each sequence is segment B), `attention_mask`
    int32 [batch, seq]. `pretrain` adds `masked_lm_positions`, `masked_lm_ids` int32 and `masked_lm_weights`
    float32 [batch, predictions] and, for a family pretrained with NSP, `next_sentence_labels` int32 [batch]; the
    others add `labels` int32 [batch].
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
    objective = pretraining_objective(config)
    predictions = predictions_per_sequence(config, seq_len)
    # Sorted distinct positions between [CLS] and the final [SEP].
    positions = np.sort(np.argsort(rng.random((batch_size, seq_len - 2)), axis=1)[:, :predictions] + 1, axis=1)
    batch["masked_lm_positions"] = positions.astype(np.int32)
    batch["masked_lm_ids"] = np.take_along_axis(batch["input_ids"], positions, axis=1)
    np.put_along_axis(batch["input_ids"], positions, objective.mask_token_id % config.vocab_size, axis=1)
    batch["masked_lm_weights"] = np.ones((batch_size, predictions), np.float32)
    if objective.head == "pretraining":
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
