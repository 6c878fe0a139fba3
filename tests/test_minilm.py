"""Real weights: the all-MiniLM-L6-v2 sentence encoder converted to bertjax against transformers' PyTorch model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from bertjax.convert import ENCODER, head_module, load_pretrained

SENTENCES = [
    "A man is playing a guitar on the stage.",
    "Someone performs music with a guitar in front of an audience.",
    "The central bank raised interest rates again after inflation figures came out higher than expected.",
    "Cats sleep.",
    "How can I bake bread at home without a bread machine?",
]


def mean_pooled(hidden_states: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """The sentence-transformers pooling: the average of real tokens' states, L2-normalised: [batch, hidden]."""
    weights = attention_mask[..., None].astype(np.float64)
    pooled = (hidden_states * weights).sum(1) / weights.sum(1)
    return pooled / np.linalg.norm(pooled, axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def hidden_states(minilm_dir: Path) -> dict[str, np.ndarray]:
    tokenizer = transformers.BertTokenizerFast.from_pretrained(minilm_dir)
    batch = dict(tokenizer(SENTENCES, padding=True, return_tensors="np"))
    assert len(set(batch["attention_mask"].sum(1))) == len(SENTENCES)  # every length differs: padding everywhere
    config, params, report = load_pretrained(minilm_dir, ENCODER)
    assert report.missing == report.unexpected == ()  # position_ids, a buffer, is not a weight
    ours = head_module(ENCODER, config).apply({"params": params}, batch["input_ids"], batch["attention_mask"],
                                              batch["token_type_ids"])
    with torch.no_grad():
        theirs = transformers.BertModel.from_pretrained(minilm_dir).eval()(
            **{name: torch.from_numpy(array) for name, array in batch.items()})
    return {"ours": np.asarray(ours.last_hidden_state, np.float64), "attention_mask": batch["attention_mask"],
            "theirs": theirs.last_hidden_state.numpy().astype(np.float64)}


def test_last_hidden_state_matches_pytorch(hidden_states: dict[str, np.ndarray]) -> None:
    np.testing.assert_allclose(hidden_states["ours"], hidden_states["theirs"], rtol=0, atol=1e-4)


def test_sentence_embeddings_match_and_rank_paraphrases(hidden_states: dict[str, np.ndarray]) -> None:
    mask = hidden_states["attention_mask"]
    ours, theirs = mean_pooled(hidden_states["ours"], mask), mean_pooled(hidden_states["theirs"], mask)
    assert np.max(1.0 - np.sum(ours * theirs, axis=-1)) < 1e-5
    similarity = ours @ ours.T
    paraphrase = similarity[0, 1]
    assert paraphrase > 0.5 and all(paraphrase > similarity[0, other] + 0.2 for other in (2, 3, 4))
