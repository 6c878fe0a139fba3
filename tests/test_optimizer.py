"""AdamW chain: schedule, weight-decay mask, layer-wise decay, freezing, clipping — against torch/hand math."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from bertjax.errors import ConfigError
from bertjax.model import BertForSequenceClassification, preset
from bertjax.model.layout import stack_layers
from bertjax.train.optimizer import (OptimizerConfig, clip_by_global_norm, learning_rate_schedule, make_optimizer,
                                     update_scales, weight_decay_mask)


@pytest.fixture(scope="module")
def params() -> dict:
    model = BertForSequenceClassification(preset("bert-tiny", vocab_size=50, hidden_size=16, num_attention_heads=2,
                                                 intermediate_size=32, num_hidden_layers=3))
    return model.init(jax.random.key(0), jnp.ones((1, 4), jnp.int32))["params"]


def test_linear_warmup_then_linear_decay() -> None:
    schedule = learning_rate_schedule(OptimizerConfig(learning_rate=1e-3, warmup_fraction=0.1), total_steps=100)
    assert float(schedule(0)) == 0.0
    np.testing.assert_allclose(float(schedule(5)), 5e-4, rtol=1e-6)
    np.testing.assert_allclose(float(schedule(10)), 1e-3, rtol=1e-6)
    np.testing.assert_allclose(float(schedule(55)), 5e-4, rtol=1e-6)
    np.testing.assert_allclose(float(schedule(100)), 0.0, atol=1e-12)


def test_cosine_decay_and_explicit_warmup_steps() -> None:
    schedule = learning_rate_schedule(OptimizerConfig(learning_rate=2.0, schedule="cosine", warmup_steps=4), 44)
    np.testing.assert_allclose(float(schedule(2)), 1.0, rtol=1e-6)
    np.testing.assert_allclose(float(schedule(24)), 1.0, rtol=1e-5)  # half way through the cosine


def test_weight_decay_skips_biases_and_layer_norm(params: dict) -> None:
    mask = weight_decay_mask(params)
    assert mask["bert"]["encoder"]["layer_0"]["attention"]["self"]["query"]["kernel"] is True
    assert mask["bert"]["encoder"]["layer_0"]["attention"]["self"]["query"]["bias"] is False
    assert mask["bert"]["embeddings"]["LayerNorm"]["scale"] is False
    assert mask["bert"]["embeddings"]["word_embeddings"]["embedding"] is True
    assert mask["classifier"]["bias"] is False


def test_one_adamw_step_matches_torch() -> None:
    """Our chain without clipping is torch.optim.AdamW with BERT's epsilon, on decayed and undecayed tensors."""
    kernel = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    bias = np.array([0.5, -0.5, 0.25], np.float32)
    grads = {"dense": {"kernel": kernel * 0.3 + 0.1, "bias": bias * -2.0}}
    params = {"dense": {"kernel": kernel, "bias": bias}}
    config = OptimizerConfig(learning_rate=0.01, schedule="constant", warmup_steps=0, max_grad_norm=None)
    optimizer, _ = make_optimizer(config, params, total_steps=10, num_layers=0)
    state = optimizer.init(params)
    ours = params
    for _ in range(3):
        updates, state = optimizer.update(grads, state, ours)
        ours = optax.apply_updates(ours, updates)
    torch_kernel, torch_bias = torch.tensor(kernel, requires_grad=True), torch.tensor(bias, requires_grad=True)
    reference = torch.optim.AdamW([{"params": [torch_kernel], "weight_decay": 0.01},
                                   {"params": [torch_bias], "weight_decay": 0.0}], lr=0.01, eps=1e-6)
    for _ in range(3):
        torch_kernel.grad = torch.tensor(grads["dense"]["kernel"])
        torch_bias.grad = torch.tensor(grads["dense"]["bias"])
        reference.step()
    np.testing.assert_allclose(ours["dense"]["kernel"], torch_kernel.detach().numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ours["dense"]["bias"], torch_bias.detach().numpy(), rtol=1e-6, atol=1e-7)


def test_layerwise_decay_and_freezing_scales(params: dict) -> None:
    config = OptimizerConfig(layerwise_lr_decay=0.5, freeze_layers=1)
    scales = update_scales(params, config, num_layers=3)
    assert float(scales["classifier"]["kernel"]) == 1.0
    assert float(scales["bert"]["pooler"]["dense"]["kernel"]) == 1.0
    assert float(scales["bert"]["encoder"]["layer_2"]["output"]["dense"]["kernel"]) == 0.5
    assert float(scales["bert"]["encoder"]["layer_1"]["output"]["dense"]["kernel"]) == 0.25
    assert float(scales["bert"]["encoder"]["layer_0"]["output"]["dense"]["kernel"]) == 0.0  # frozen
    assert float(scales["bert"]["embeddings"]["word_embeddings"]["embedding"]) == 0.5 ** 4
    stacked = update_scales(stack_layers(params), config, num_layers=3)
    np.testing.assert_array_equal(stacked["bert"]["encoder"]["layer"]["output"]["dense"]["kernel"][:, 0, 0],
                                  [0.0, 0.25, 0.5])
    # Stacked from the second layer on, as a ModernBERT's layers are (its first has no attention norm).
    later = update_scales(stack_layers(params, first_stacked=1), config, num_layers=3)
    assert float(later["bert"]["encoder"]["layer_0"]["output"]["dense"]["kernel"]) == 0.0
    np.testing.assert_array_equal(later["bert"]["encoder"]["layer"]["output"]["dense"]["kernel"][:, 0, 0],
                                  [0.25, 0.5])


def test_frozen_parameters_do_not_move(params: dict) -> None:
    config = OptimizerConfig(learning_rate=0.1, warmup_steps=0, freeze_embeddings=True, freeze_layers=2)
    optimizer, _ = make_optimizer(config, params, total_steps=5, num_layers=3)
    grads = jax.tree.map(jnp.ones_like, params)
    updates, _ = optimizer.update(grads, optimizer.init(params), params)
    moved = optax.apply_updates(params, updates)
    for frozen in (("embeddings",), ("encoder", "layer_0"), ("encoder", "layer_1")):
        before, after = params["bert"], moved["bert"]
        for key in frozen:
            before, after = before[key], after[key]
        jax.tree.map(np.testing.assert_array_equal, before, after)
    assert not np.array_equal(params["bert"]["encoder"]["layer_2"]["output"]["dense"]["kernel"],
                              moved["bert"]["encoder"]["layer_2"]["output"]["dense"]["kernel"])


@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clipping_by_global_norm_matches_optax(max_norm: float) -> None:
    """Above the limit every gradient is scaled by max_norm / norm (to rounding), below it they pass unchanged."""
    rng = np.random.default_rng(0)
    grads = {"kernel": rng.standard_normal((8, 4)).astype(np.float32),
             "bias": rng.standard_normal(4).astype(np.float32)}
    ours, _ = clip_by_global_norm(max_norm).update(grads, optax.EmptyState())
    reference, _ = optax.clip_by_global_norm(max_norm).update(grads, optax.EmptyState())
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=0), ours, reference)
    norm = float(optax.tree.norm(ours))
    assert norm == pytest.approx(min(max_norm, float(optax.tree.norm(grads))), rel=1e-6)
    if max_norm > float(optax.tree.norm(grads)):
        jax.tree.map(np.testing.assert_array_equal, ours, grads)


def test_the_chain_clips_before_adamw() -> None:
    """With beta1 = beta2 = 0 and epsilon 1, AdamW's step is -g / (|g| + 1): it shows the gradient's scale."""
    params = {"weight": np.zeros(4, np.float32)}
    config = OptimizerConfig(learning_rate=1.0, schedule="constant", warmup_steps=0, max_grad_norm=1.0,
                             weight_decay=0.0, adam_beta1=0.0, adam_beta2=0.0, adam_epsilon=1.0)
    grads = {"weight": np.array([30.0, -40.0, 0.0, 0.0], np.float32)}
    for max_grad_norm, seen in ((1.0, np.array([0.6, -0.8, 0.0, 0.0])), (None, grads["weight"])):
        optimizer = make_optimizer(OptimizerConfig(**{**config.__dict__, "max_grad_norm": max_grad_norm}),
                                   params, 1, 0)[0]
        updates, _ = optimizer.update(grads, optimizer.init(params), params)
        np.testing.assert_allclose(updates["weight"], -seen / (np.abs(seen) + 1.0), rtol=1e-6)


def test_bad_settings_are_named() -> None:
    with pytest.raises(ConfigError, match="schedule"):
        OptimizerConfig(schedule="exponential")
    with pytest.raises(ConfigError, match="layerwise_lr_decay"):
        OptimizerConfig(layerwise_lr_decay=1.5)


def test_warmup_stable_decay_holds_the_peak_then_decays() -> None:
    config = OptimizerConfig(learning_rate=1.0, schedule="warmup_stable_decay", warmup_steps=10, decay_fraction=0.2,
                             end_learning_rate_fraction=0.1)
    linear = learning_rate_schedule(config, total_steps=110)
    np.testing.assert_allclose([float(linear(step)) for step in (5, 10, 60, 88, 99, 110)],
                               [0.5, 1.0, 1.0, 1.0, 0.55, 0.1], rtol=1e-6)
    one_minus_sqrt = learning_rate_schedule(dataclasses.replace(config, decay_shape="1-sqrt"), total_steps=110)
    np.testing.assert_allclose([float(one_minus_sqrt(step)) for step in (88, 93.5, 110)],
                               [1.0, 0.1 + 0.9 * (1 - np.sqrt(0.25)), 0.1], rtol=1e-6)


def test_decoupled_weight_decay_is_relative_to_the_peak() -> None:
    """With zero gradients only the decay moves a parameter: by weight_decay x lr / peak, not weight_decay x lr."""
    params = {"dense": {"kernel": np.full((2, 2), 3.0, np.float32)}}
    config = OptimizerConfig(learning_rate=0.5, schedule="constant", warmup_steps=0, max_grad_norm=None,
                             weight_decay=1e-3, decoupled_weight_decay=True)
    optimizer, _ = make_optimizer(config, params, total_steps=10, num_layers=0)
    updates, _ = optimizer.update(jax.tree.map(np.zeros_like, params), optimizer.init(params), params)
    np.testing.assert_allclose(np.asarray(updates["dense"]["kernel"]), -3.0 * 1e-3, rtol=1e-6)


def _optimi_stable_adamw(params: dict, grads_per_step: list[dict], decays: dict, lr: float, betas: tuple,
                         eps: float, weight_decay: float) -> dict:
    """optimi's StableAdamW (ModernBERT's optimizer) step by step as its foreach code does it: debiased betas,
    RMS-stabilised learning rate per tensor, fully decoupled weight decay (decouple_lr with max_lr = lr)."""
    def debias(beta: float, step: int) -> float:
        return (beta ** step - beta) / (beta ** step - 1)

    params = {name: value.astype(np.float64) for name, value in params.items()}
    first = {name: np.zeros_like(value) for name, value in params.items()}
    second = {name: np.zeros_like(value) for name, value in params.items()}
    for step, grads in enumerate(grads_per_step, start=1):
        beta1_comp, beta2_hat = 1 - debias(betas[0], step), debias(betas[1], step)
        for name, grad in grads.items():
            first[name] += beta1_comp * (grad - first[name])
            second[name] = second[name] * beta2_hat + (1 - beta2_hat) * grad * grad
            rms = np.sqrt(np.mean(grad ** 2 / np.maximum(second[name], eps ** 2)))
            neg_lr = -lr / max(1.0, rms)
            if decays[name]:
                params[name] *= 1 + (neg_lr / lr) * weight_decay
            params[name] += neg_lr * first[name] / (np.sqrt(second[name]) + eps)
    return params


def test_update_clipping_matches_optimi_stable_adamw() -> None:
    rng = np.random.default_rng(0)
    params = {"kernel": rng.normal(size=(4, 3)).astype(np.float32), "bias": rng.normal(size=3).astype(np.float32)}
    grads_per_step = [{name: rng.normal(scale=0.1, size=value.shape).astype(np.float32)
                       for name, value in params.items()} for _ in range(4)]
    grads_per_step[2] = {name: grad * 50.0 for name, grad in grads_per_step[2].items()}  # a spike: RMS far above 1
    config = OptimizerConfig(learning_rate=0.01, schedule="constant", warmup_steps=0, max_grad_norm=None,
                             adam_beta1=0.9, adam_beta2=0.98, weight_decay=1e-2, decoupled_weight_decay=True,
                             update_clipping=True)
    optimizer, _ = make_optimizer(config, params, total_steps=10, num_layers=0)
    state, ours = optimizer.init(params), params
    for grads in grads_per_step:
        updates, state = optimizer.update(grads, state, ours)
        ours = optax.apply_updates(ours, updates)
    reference = _optimi_stable_adamw(params, grads_per_step, {"kernel": True, "bias": False}, lr=0.01,
                                     betas=(0.9, 0.98), eps=1e-6, weight_decay=1e-2)
    for name in params:
        np.testing.assert_allclose(np.asarray(ours[name]), reference[name], rtol=1e-5, atol=1e-7)


def test_norms_of_any_name_are_not_decayed() -> None:
    mask = weight_decay_mask({"layer_0": {"attn_norm": {"scale": 1.0}, "mlp": {"Wi": {"kernel": 1.0}}},
                              "final_norm": {"scale": 1.0}})
    assert mask == {"layer_0": {"attn_norm": {"scale": False}, "mlp": {"Wi": {"kernel": True}}},
                    "final_norm": {"scale": False}}
