"""Building a run's model: fresh from a preset, loaded from a checkpoint, or cut to its first K layers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from bertjax.errors import ConfigError
from bertjax.runs.model_setup import ModelSection, build_model

TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=37,
            max_position_embeddings=64)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(transformers.BertConfig(**TINY, num_labels=3))
    directory = tmp_path_factory.mktemp("hf")
    model.save_pretrained(directory)
    return directory


def test_keep_first_layers_matches_transformers_cut_alike(checkpoint: Path) -> None:
    built = build_model(ModelSection(init_from=str(checkpoint), keep_layers=2), "sequence_classification", seed=0)
    assert built.config.num_hidden_layers == 2
    assert sorted(name for name in built.params["bert"]["encoder"]) == ["layer_0", "layer_1"]
    assert any("first 2 of 3" in note for note in built.notes)
    reference = transformers.BertForSequenceClassification.from_pretrained(checkpoint, num_hidden_layers=2).eval()
    ids = np.array([[2, 5, 7, 9, 3, 0], [2, 8, 3, 0, 0, 0]], np.int32)
    mask = (ids > 0).astype(np.int32)
    ours = built.model.apply({"params": built.params}, ids, mask, np.zeros_like(ids))["logits"]
    with torch.no_grad():
        theirs = reference(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).logits.numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_keep_layers_on_scanned_layers(checkpoint: Path) -> None:
    built = build_model(ModelSection(init_from=str(checkpoint), keep_layers=1, scan_layers=True),
                        "sequence_classification", seed=0)
    kernel = built.params["bert"]["encoder"]["layer"]["attention"]["self"]["query"]["kernel"]
    assert kernel.shape == (1, 32, 32)


def test_keep_layers_out_of_range(checkpoint: Path) -> None:
    with pytest.raises(ConfigError, match="keep_layers"):
        build_model(ModelSection(init_from=str(checkpoint), keep_layers=5), "sequence_classification", seed=0)


def test_fresh_model_with_changes_and_bad_field() -> None:
    built = build_model(ModelSection(changes={"hidden_size": 64, "num_attention_heads": 2, "intermediate_size": 64}),
                        "masked_lm", seed=0, vocab_size=120)
    assert built.config.hidden_size == 64 and built.config.vocab_size == 120
    assert built.params["bert"]["embeddings"]["word_embeddings"]["embedding"].shape == (120, 64)
    with pytest.raises(ConfigError, match="hidden_sizes"):
        build_model(ModelSection(changes={"hidden_sizes": 3}), "masked_lm", seed=0)


def test_attention_chunks_reach_the_model() -> None:
    built = build_model(ModelSection(attention_chunks=2), "masked_lm", seed=0)
    assert built.model.options.attention_chunks == 2
    assert build_model(ModelSection(), "masked_lm", seed=0).model.options.attention_chunks is None
    with pytest.raises(ConfigError, match="attention_chunks"):
        ModelSection(attention_chunks=0).options()
