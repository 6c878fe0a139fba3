"""FLOPs formula against XLA's own count of the compiled model, MFU, and device peaks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from bertjax.benchmark.steps.flops import flops_per_sequence, forward_flops_per_sequence, model_flops_utilization
from bertjax.benchmark.peak import measure_matmul_peak, table_peak
from bertjax.benchmark.steps.workloads import model_config, predictions_per_sequence, pretraining_objective, synthetic_batch
from bertjax.errors import ConfigError
from bertjax.model import HEADS, BertForSequenceClassification, ModernBertConfig, preset
from bertjax.tasks.finetuning import OBJECTIVES, finetuning_loss
from bertjax.tasks.pretraining import pretraining_loss
from bertjax.train.losses import total_loss


def test_bert_base_forward_flops_by_hand() -> None:
    config = preset("bert-base")
    layer = 4 * 768 * 768 + 2 * 768 * 3072
    encoder = 2 * 128 * 12 * layer
    attention = 4 * 128 * 128 * 12 * 768
    pooler = 2 * 768 * 768
    assert forward_flops_per_sequence(config, "inference", 128) == encoder + attention + pooler + 2 * 768 * 2
    mlm = 2 * 20 * (768 * 768 + 768 * 30522)
    assert forward_flops_per_sequence(config, "pretrain", 128, 20) == encoder + attention + pooler + 4 * 768 + mlm
    assert flops_per_sequence(config, "finetune", 128) == 3 * flops_per_sequence(config, "inference", 128)
    # The familiar per-token form: 6 N + 12 L H S, N the encoder's dense weights (heads are per sequence).
    per_token = (flops_per_sequence(config, "finetune", 128) - 3 * (pooler + 2 * 768 * 2)) / 128
    assert per_token == 6 * 12 * layer + 12 * 12 * 768 * 128


def test_ettin_68m_forward_flops_by_hand() -> None:
    """ModernBERT: GeGLU (3 H I), no pooler and no NSP in pretraining, the prediction head before the tied decoder and
    before the classifier, and local layers attending within +-64 tokens only."""
    config = model_config("ettin-68m")
    layer = 4 * 512 * 512 + 3 * 512 * 768
    encoder = 2 * 128 * 19 * layer
    local_pairs = 128 + 2 * sum(128 - distance for distance in range(1, 65))  # |i - j| <= 64 of 128 tokens
    assert local_pairs == 12352
    attention = 7 * 4 * 128 * 128 * 512 + 12 * 4 * local_pairs * 512  # global layers 0, 3, ..., 18; the rest local
    mlm = 2 * 38 * (512 * 512 + 512 * 50368)
    assert forward_flops_per_sequence(config, "pretrain", 128, 38) == encoder + attention + mlm
    assert forward_flops_per_sequence(config, "inference", 128) == encoder + attention + 2 * 512 * 512 + 2 * 512 * 2
    # At 64 tokens every pair is within the window: local layers cost what global ones do.
    assert forward_flops_per_sequence(config, "inference", 64) == \
        2 * 64 * 19 * layer + 19 * 4 * 64 * 64 * 512 + 2 * 512 * 512 + 2 * 512 * 2


@pytest.mark.parametrize("family, workload", [("bert", "pretrain"), ("bert", "finetune"), ("modernbert", "pretrain"),
                                              ("modernbert", "finetune")])
def test_formula_matches_xla_cost_analysis(family: str, workload: str) -> None:
    """XLA counts every op of the compiled program; the formula counts matmuls only, so it must come out a little
    lower (elementwise work), but within a few percent: leaving out attention or the MLM head would fail this.
    The ModernBERT model's window spans the sequence (XLA computes a local layer's masked pairs too)."""
    if family == "bert":
        config = preset("bert-L2-H256", vocab_size=8000, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    else:
        config = ModernBertConfig(vocab_size=8000, pad_token_id=0, bos_token_id=1, cls_token_id=1, eos_token_id=2,
                                  sep_token_id=2, hidden_size=256, intermediate_size=384, num_hidden_layers=2,
                                  num_attention_heads=4, local_attention=256)
    config = config.with_labels(["no", "yes"])
    batch_size, seq_len = 2, 128
    batch = {key: jnp.asarray(value) for key, value in synthetic_batch(config, workload, batch_size, seq_len).items()}
    if workload == "pretrain":
        model = HEADS[pretraining_objective(config).head](config)
        loss_fn = pretraining_loss(model)
    else:
        model = BertForSequenceClassification(config)
        loss_fn = finetuning_loss(model, OBJECTIVES["classification"])
    params = model.init(jax.random.key(0), batch["input_ids"][:1])["params"]
    key = jax.random.key(1)

    def loss(params: dict) -> jax.Array:
        return total_loss(loss_fn(params, batch, key)[0])

    predictions = predictions_per_sequence(config, seq_len)
    forward = batch_size * forward_flops_per_sequence(config, workload, seq_len, predictions)
    training = batch_size * flops_per_sequence(config, workload, seq_len, predictions)
    for function, formula in ((loss, forward), (jax.grad(loss), training)):
        counted = jax.jit(function).lower(params).compile().cost_analysis()["flops"]
        assert 0.93 * counted <= formula <= counted, formula / counted


def test_unknown_workload_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="workload"):
        flops_per_sequence(preset("bert-tiny"), "training", 128)


def test_model_flops_utilization() -> None:
    assert model_flops_utilization(25e12, 100e12) == pytest.approx(0.25)
    assert model_flops_utilization(25e12, None) is None


@pytest.mark.parametrize("device_kind, dtype, tflops", [
    ("NVIDIA H100 80GB HBM3", "bfloat16", 989.0),
    ("NVIDIA H100 PCIe", "bfloat16", 756.0),
    ("NVIDIA A100-SXM4-40GB", "bfloat16", 312.0),
    ("NVIDIA A100-SXM4-40GB", "float32", 156.0),
    ("Tesla V100-SXM2-16GB", "bfloat16", 125.0),
    ("TPU v4", "bfloat16", 275.0),
    ("TPU v5 lite", "bfloat16", 197.0),
])
def test_table_peak(device_kind: str, dtype: str, tflops: float) -> None:
    assert table_peak(device_kind, dtype).flops_per_second == pytest.approx(tflops * 1e12)


def test_unknown_device_has_no_peak() -> None:
    peak = table_peak("Imaginary Accelerator 9000", "bfloat16")
    assert peak.flops_per_second is None and "Imaginary" in peak.source


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_measured_matmul_peak_is_plausible(dtype: str) -> None:
    peak = measure_matmul_peak(dtype, sizes=(128,), repeats=2)
    assert 1e8 < peak.flops_per_second < 1e15
    assert f"measured {dtype}" in peak.source
