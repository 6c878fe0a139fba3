"""Model FLOPs of a step of BERT or ModernBERT, counted from the config, and model FLOPs utilisation (MFU).

Per sequence of S tokens, with L layers, hidden H, intermediate I, vocabulary V, P predicted (masked) positions
and C classifier outputs, a forward pass costs 2 FLOPs (multiply + add) per dense weight per token it touches:

    encoder dense    2 * S * L * (4 H^2 + 2 H I)      query, key, value, attention output; FFN in and out
                     (4 H^2 + 3 H I with a gated MLP:  ModernBERT's GeGLU, whose Wi is H x 2I and Wo I x H)
    attention        4 * A * H per layer              scores Q K^T and the weighted sum P V, over all heads, for the
                                                      A query-key pairs the layer attends: S^2 in a global layer,
                                                      those at most w tokens apart in a local one of window +-w
    pooled dense     2 * H^2                          BERT's pooler (for its classifiers and NSP), or the prediction
                                                      head that ModernBERT's classifiers read the pooled state through
    NSP classifier   2 * 2 H                          BERT's pretraining only (ModernBERT's is masked LM only)
    MLM head         2 * P * (H^2 + H V)              prediction head and the tied vocabulary projection, only at the
                                                      P positions predicted (the useful work, whatever an
                                                      implementation computes)
    classifier       2 * H C

Training (forward + backward) costs 3x the forward. Per token this is the familiar 6 N + 12 L H S (2 N + 4 L H S
for inference), N being the dense weights a token touches: L (4 H^2 + 2 H I) plus its share of the heads.
Embedding lookups, biases, norms, activations, softmax, rotary positions, mean pooling and the optimizer are not
counted (they are not matmuls).
"""

from __future__ import annotations

from bertjax.errors import ConfigError
from bertjax.model import ModelConfig

# pretrain-corpus: pretraining on real sequences of the built-in corpus, with their padding, one a row or packed.
WORKLOAD_HEADS = {"pretrain": "pretraining", "pretrain-corpus": "pretraining", "finetune": "classification",
                  "inference": "classification"}
TRAINING_WORKLOADS = ("pretrain", "pretrain-corpus", "finetune")


def dense_parameters_per_layer(config: ModelConfig) -> int:
    """Weights of one encoder layer's matmuls: 4 H^2 (attention) + 2 H I (feed-forward), 3 H I if it is gated."""
    hidden = config.hidden_size
    feed_forward = 3 if config.architecture.gated_mlp else 2
    return 4 * hidden * hidden + feed_forward * hidden * config.intermediate_size


def attended_pairs(seq_len: int, window: int | None) -> int:
    """Query-key pairs of a sequence that attention computes: all S^2, or those at most `window` tokens apart."""
    if window is None or window >= seq_len - 1:
        return seq_len * seq_len
    # The diagonal, then for each distance d <= window its S - d pairs on either side.
    return seq_len + 2 * (window * seq_len - window * (window + 1) // 2)


def forward_flops_per_sequence(config: ModelConfig, workload: str, seq_len: int, predictions: int = 0) -> int:
    """Matmul FLOPs of one forward pass over one sequence of `seq_len` tokens (see the module docstring).

    workload: `pretrain` or `pretrain-corpus` (MLM at `predictions` positions, + NSP for BERT), `finetune` or
    `inference` (pooled classifier). A row is counted whole, padding included: packing fills it with more real
    tokens (and a packed row's attention is counted as one sequence's: an upper bound of its useful work).
    """
    if workload not in WORKLOAD_HEADS:
        raise ConfigError(f"workload is {workload!r}; choose one of {', '.join(WORKLOAD_HEADS)}")
    architecture, hidden = config.architecture, config.hidden_size
    encoder = 2 * seq_len * config.num_hidden_layers * dense_parameters_per_layer(config)
    attention = sum(4 * attended_pairs(seq_len, window) * hidden for window in architecture.windows)
    pooled_dense = 2 * hidden * hidden
    if WORKLOAD_HEADS[workload] != "pretraining":
        head = pooled_dense + 2 * hidden * config.num_labels
    else:
        head = 2 * predictions * (hidden * hidden + hidden * config.vocab_size)
        if architecture.pooling == "pooler":  # BERT pretrains next-sentence prediction too, on the pooled [CLS]
            head += pooled_dense + 2 * 2 * hidden
    return encoder + attention + head


def flops_per_sequence(config: ModelConfig, workload: str, seq_len: int, predictions: int = 0) -> int:
    """Model FLOPs of one sequence's step: 3x the forward when training (forward + backward), 1x for inference."""
    multiplier = 3 if workload in TRAINING_WORKLOADS else 1
    return multiplier * forward_flops_per_sequence(config, workload, seq_len, predictions)


def model_flops_utilization(flops_per_second: float, peak_flops_per_second: float | None) -> float | None:
    """Achieved model FLOP/s over the device's peak; None when the peak is unknown."""
    if not peak_flops_per_second:
        return None
    return flops_per_second / peak_flops_per_second
