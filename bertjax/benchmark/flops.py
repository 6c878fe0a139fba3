"""Model FLOPs of a BERT step, counted from the config, and model FLOPs utilisation (MFU).

Per sequence of S tokens, with L layers, hidden H, intermediate I, vocabulary V, P predicted (masked) positions
and C classifier outputs, a forward pass costs 2 FLOPs (multiply + add) per dense weight per token it touches:

    encoder dense    2 * S * L * (4 H^2 + 2 H I)      query, key, value, attention output; FFN in and out
    attention        4 * S^2 * L * H                  scores Q K^T and the weighted sum P V, over all heads
    pooler           2 * H^2                          first token only
    NSP classifier   2 * 2 H
    MLM head         2 * P * (H^2 + H V)              transform and the tied vocabulary projection, only at the P
                                                      positions predicted (the useful work, whatever an
                                                      implementation computes)
    classifier       2 * H C

Training (forward + backward) costs 3x the forward. Per token this is the familiar 6 N + 12 L H S (2 N + 4 L H S
for inference), N being the dense weights a token touches: L (4 H^2 + 2 H I) plus its share of the heads.
Embedding lookups, biases, LayerNorm, softmax and the optimizer are not counted (they are not matmuls).
"""

from __future__ import annotations

from bertjax.errors import ConfigError
from bertjax.model import BertConfig

# pretrain-corpus: pretraining on real sequences of the built-in corpus, with their padding, one a row or packed.
WORKLOAD_HEADS = {"pretrain": "pretraining", "pretrain-corpus": "pretraining", "finetune": "classification",
                  "inference": "classification"}
TRAINING_WORKLOADS = ("pretrain", "pretrain-corpus", "finetune")


def dense_parameters_per_layer(config: BertConfig) -> int:
    """Weights of one encoder layer's matmuls: 4 H^2 (attention) + 2 H I (feed-forward)."""
    hidden = config.hidden_size
    return 4 * hidden * hidden + 2 * hidden * config.intermediate_size


def forward_flops_per_sequence(config: BertConfig, workload: str, seq_len: int, predictions: int = 0) -> int:
    """Matmul FLOPs of one forward pass over one sequence of `seq_len` tokens (see the module docstring).

    workload: `pretrain` or `pretrain-corpus` (MLM at `predictions` positions + NSP), `finetune` or `inference`
    (pooled classifier). A row is counted whole, padding included: packing fills it with more real tokens.
    """
    if workload not in WORKLOAD_HEADS:
        raise ConfigError(f"workload is {workload!r}; choose one of {', '.join(WORKLOAD_HEADS)}")
    hidden, layers = config.hidden_size, config.num_hidden_layers
    encoder = 2 * seq_len * layers * dense_parameters_per_layer(config)
    attention = 4 * seq_len * seq_len * layers * hidden
    pooler = 2 * hidden * hidden
    if WORKLOAD_HEADS[workload] == "pretraining":
        head = 2 * 2 * hidden + 2 * predictions * (hidden * hidden + hidden * config.vocab_size)
    else:
        head = 2 * hidden * config.num_labels
    return encoder + attention + pooler + head


def flops_per_sequence(config: BertConfig, workload: str, seq_len: int, predictions: int = 0) -> int:
    """Model FLOPs of one sequence's step: 3x the forward when training (forward + backward), 1x for inference."""
    multiplier = 3 if workload in TRAINING_WORKLOADS else 1
    return multiplier * forward_flops_per_sequence(config, workload, seq_len, predictions)


def model_flops_utilization(flops_per_second: float, peak_flops_per_second: float | None) -> float | None:
    """Achieved model FLOP/s over the device's peak; None when the peak is unknown."""
    if not peak_flops_per_second:
        return None
    return flops_per_second / peak_flops_per_second
