"""Building a run's model: fresh from a preset, loaded from a checkpoint, or cut to its first K layers."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from bertjax.convert import save_pretrained
from bertjax.data.tokenizer import train_bpe
from bertjax.errors import ConfigError
from bertjax.model import ModernBertConfig
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


def test_a_fresh_model_takes_its_special_token_ids_from_the_tokenizer(tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    """ModernBERT's config names [PAD], [CLS], [SEP] and the beginning and end of a sequence by their ids in its
    50,368-token vocabulary (50281...); a fresh model on a small trained vocabulary gets that vocabulary's ids (bertjax
    trains no [BOS]/[EOS]: [CLS] and [SEP] are, as in ModernBERT's), so its export loads in transformers without the
    warning of ids outside the vocabulary."""
    tokenizer = train_bpe(["the river runs to the sea", "a cold wind from the north"] * 10, vocab_size=300)
    shape = {"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 48, "num_hidden_layers": 2}
    built = build_model(ModelSection(preset="ettin-17m", changes=shape), "masked_lm", seed=0, tokenizer=tokenizer)
    assert isinstance(built.config, ModernBertConfig) and built.config.vocab_size == len(tokenizer) < 300
    ids = {name: getattr(built.config, f"{name}_token_id") for name in ("pad", "cls", "sep", "bos", "eos")}
    assert ids == {"pad": 0, "cls": 2, "sep": 3, "bos": 2, "eos": 3} == {
        "pad": tokenizer.pad_token_id, "cls": tokenizer.cls_token_id, "sep": tokenizer.sep_token_id,
        "bos": tokenizer.cls_token_id, "eos": tokenizer.sep_token_id}
    save_pretrained(tmp_path, built.config, built.params, "masked_lm", tokenizer=tokenizer)
    transformers.utils.logging.warning_once.cache_clear()  # a warning given before would not be given again
    library_logger = logging.getLogger("transformers")
    library_logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger="transformers"):
            model = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path)
    finally:
        library_logger.removeHandler(caplog.handler)
    assert not [record.getMessage() for record in caplog.records if "token_id" in record.getMessage()]
    assert (model.config.pad_token_id, model.config.cls_token_id, model.config.sep_token_id) == (0, 2, 3)
    bert = build_model(ModelSection(), "masked_lm", seed=0, tokenizer=tokenizer).config  # BERT's config: pad only
    assert (bert.vocab_size, bert.pad_token_id) == (len(tokenizer), 0)
