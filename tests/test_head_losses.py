"""Each fine-tuning objective's loss equals transformers' PyTorch loss on the same weights and batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from bertjax.convert import load_pretrained
from bertjax.model import HEADS
from bertjax.tasks.finetuning import OBJECTIVES
from bertjax.train.losses import total_loss

BATCH, CHOICES, SEQ, VOCAB = 3, 4, 8, 64


def _torch_model(model_class: type, tmp_path: Path, num_labels: int) -> Path:
    """A tiny random transformers model without dropout, saved to tmp_path."""
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=64, max_position_embeddings=32, hidden_dropout_prob=0.0,
                                     attention_probs_dropout_prob=0.0, num_labels=num_labels)
    model_class(config).save_pretrained(tmp_path)
    return tmp_path


def _inputs(shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    attention_mask = np.ones(shape, np.int32)
    attention_mask[..., -2:] = 0  # padding at the end of every sequence
    attention_mask[0, ..., -3:] = 0
    return {"input_ids": rng.integers(5, VOCAB, shape).astype(np.int32), "attention_mask": attention_mask,
            "token_type_ids": (np.arange(SEQ) >= SEQ // 2).astype(np.int32) * np.ones(shape, np.int32)}


def _compare(tmp_path: Path, objective: str, model_class: type, num_labels: int, inputs: dict[str, np.ndarray],
             labels: dict[str, np.ndarray]) -> float:
    """Our loss on our logits minus transformers' loss, for the same saved weights."""
    folder = _torch_model(model_class, tmp_path, num_labels)
    head = OBJECTIVES[objective].head
    config, params, report = load_pretrained(folder, head)
    assert not report.missing and not report.unexpected
    logits = HEADS[head](config).apply({"params": params}, inputs["input_ids"], inputs["attention_mask"],
                                       inputs["token_type_ids"], deterministic=True)
    terms, _ = OBJECTIVES[objective].loss(logits, {**inputs, **labels})
    ours = total_loss(terms)
    reference = model_class.from_pretrained(folder).eval()
    with torch.no_grad():
        theirs = reference(**{key: torch.tensor(value, dtype=torch.long) for key, value in inputs.items()},
                           **{key: torch.tensor(value) for key, value in labels.items()}).loss
    assert np.isfinite(float(ours)) and float(theirs) > 0
    return abs(float(ours) - float(theirs))


def test_sequence_classification(tmp_path: Path) -> None:
    labels = {"labels": np.array([0, 2, 1], np.int64)}
    assert _compare(tmp_path, "classification", transformers.BertForSequenceClassification, 3,
                    _inputs((BATCH, SEQ)), labels) < 1e-5


def test_regression_with_one_label(tmp_path: Path) -> None:
    labels = {"labels": np.array([0.5, -1.25, 2.0], np.float32)}
    assert _compare(tmp_path, "regression", transformers.BertForSequenceClassification, 1,
                    _inputs((BATCH, SEQ)), labels) < 1e-5


def test_token_classification_ignores_minus_100(tmp_path: Path) -> None:
    inputs = _inputs((BATCH, SEQ))
    tags = np.random.default_rng(2).integers(0, 5, (BATCH, SEQ))
    tags[inputs["attention_mask"] == 0] = -100
    tags[:, 0] = -100  # [CLS]
    tags[1, 3] = -100  # a word's second sub-token
    assert _compare(tmp_path, "token_classification", transformers.BertForTokenClassification, 5, inputs,
                    {"labels": tags}) < 1e-5


def test_token_classification_loss_depends_on_the_ignored_positions(tmp_path: Path) -> None:
    """The check above can fail: counting the -100 positions as class 0 changes the loss."""
    inputs = _inputs((BATCH, SEQ))
    tags = np.random.default_rng(2).integers(1, 5, (BATCH, SEQ))
    ignored = tags.copy()
    ignored[:, :3] = -100
    as_class_zero = np.where(ignored == -100, 0, ignored)
    folder = _torch_model(transformers.BertForTokenClassification, tmp_path, 5)
    config, params, _ = load_pretrained(folder, "token_classification")
    logits = HEADS["token_classification"](config).apply({"params": params}, inputs["input_ids"],
                                                         inputs["attention_mask"], inputs["token_type_ids"])
    def loss(labels: np.ndarray) -> float:
        return float(total_loss(OBJECTIVES["token_classification"].loss(logits, {"labels": labels})[0]))

    assert abs(loss(ignored) - loss(as_class_zero)) > 1e-3


@pytest.mark.parametrize("positions", [
    {"start_positions": [1, 4, 2], "end_positions": [2, 6, 5]},
    {"start_positions": [1, 20, 2], "end_positions": [3, 30, SEQ]},  # the second and last are outside: ignored
])
def test_question_answering(tmp_path: Path, positions: dict[str, list[int]]) -> None:
    labels = {key: np.array(value, np.int64) for key, value in positions.items()}
    assert _compare(tmp_path, "question_answering", transformers.BertForQuestionAnswering, 2,
                    _inputs((BATCH, SEQ)), labels) < 1e-5


def test_multiple_choice(tmp_path: Path) -> None:
    labels = {"labels": np.array([3, 0, 1], np.int64)}
    assert _compare(tmp_path, "multiple_choice", transformers.BertForMultipleChoice, 2,
                    _inputs((BATCH, CHOICES, SEQ)), labels) < 1e-5
