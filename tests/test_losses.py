"""Losses against PyTorch's functional losses on the same numbers."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from bertjax.train.losses import Mean, classification_loss, masked_lm_loss, regression_loss, span_loss, total_loss

RNG = np.random.default_rng(0)


def test_classification_loss_ignores_minus_100() -> None:
    logits = RNG.normal(size=(3, 5, 7)).astype(np.float32)
    labels = RNG.integers(0, 7, size=(3, 5))
    labels[0, :2] = -100
    loss, accuracy = classification_loss(logits, labels)
    expected = F.cross_entropy(torch.tensor(logits).reshape(-1, 7), torch.tensor(labels).reshape(-1),
                               ignore_index=-100)
    np.testing.assert_allclose(float(loss.value), expected.item(), rtol=1e-6)
    kept = labels != -100
    assert float(loss.count) == kept.sum() == float(accuracy.count)
    np.testing.assert_allclose(float(accuracy.value), np.mean(logits.argmax(-1)[kept] == labels[kept]), rtol=1e-6)


def test_masked_lm_loss_weights_padding_predictions_out() -> None:
    logits = RNG.normal(size=(2, 4, 11)).astype(np.float32)
    ids = RNG.integers(0, 11, size=(2, 4))
    weights = np.array([[1, 1, 1, 0], [1, 0, 0, 0]], np.float32)
    loss, _ = masked_lm_loss(logits, ids, weights)
    masked = torch.tensor(np.where(weights > 0, ids, -100))
    expected = F.cross_entropy(torch.tensor(logits).reshape(-1, 11), masked.reshape(-1), ignore_index=-100)
    np.testing.assert_allclose(float(loss.value), expected.item(), rtol=1e-6)
    assert float(loss.count) == 4


def test_regression_loss_is_mse() -> None:
    logits = RNG.normal(size=(6, 1)).astype(np.float32)
    targets = RNG.normal(size=6).astype(np.float32)
    expected = F.mse_loss(torch.tensor(logits).squeeze(), torch.tensor(targets))
    np.testing.assert_allclose(float(regression_loss(logits, targets).value), expected.item(), rtol=1e-6)


def test_span_loss_clamps_positions_outside_the_sequence() -> None:
    start, end = RNG.normal(size=(2, 3, 9)).astype(np.float32)
    start_positions, end_positions = np.array([1, 20, 0]), np.array([4, 30, 8])
    loss = span_loss(start, end, start_positions, end_positions)
    ignored = 9
    torch_start = torch.tensor(start_positions).clamp(0, ignored)
    torch_end = torch.tensor(end_positions).clamp(0, ignored)
    expected = (F.cross_entropy(torch.tensor(start), torch_start, ignore_index=ignored)
                + F.cross_entropy(torch.tensor(end), torch_end, ignore_index=ignored)) / 2
    np.testing.assert_allclose(float(total_loss(loss)), expected.item(), rtol=1e-6)


def test_means_of_parts_combine_into_the_mean_of_the_whole() -> None:
    """Sums and counts add over parts with different counts (micro-batches), where averaging the means would not."""
    logits = RNG.normal(size=(4, 6, 11)).astype(np.float32)
    ids = RNG.integers(0, 11, size=(4, 6))
    weights = (np.arange(6)[None] < np.array([[6], [1], [3], [2]])).astype(np.float32)  # parts of 7 and 5
    whole, _ = masked_lm_loss(logits, ids, weights)
    parts = [masked_lm_loss(logits[rows], ids[rows], weights[rows])[0] for rows in (slice(0, 2), slice(2, 4))]
    combined = Mean(sum(part.total for part in parts), sum(part.count for part in parts))
    np.testing.assert_allclose(float(combined.value), float(whole.value), rtol=1e-6)
    assert abs(np.mean([float(part.value) for part in parts]) - float(whole.value)) > 1e-3
    assert float(Mean(np.float32(0), np.float32(0)).value) == 0.0
