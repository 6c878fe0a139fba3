"""BertConfig against transformers' BertConfig: config.json round trips, size presets, unsupported values."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import transformers

from bertjax.errors import ConfigError
from bertjax.model import PRESETS, BertConfig, preset

NON_DEFAULT = dict(
    vocab_size=1234, hidden_size=96, num_hidden_layers=3, num_attention_heads=6, intermediate_size=200,
    hidden_act="gelu_new", hidden_dropout_prob=0.05, attention_probs_dropout_prob=0.0, max_position_embeddings=77,
    type_vocab_size=3, initializer_range=0.05, layer_norm_eps=1e-7, pad_token_id=5, classifier_dropout=0.2,
    id2label={0: "negative", 1: "neutral", 2: "positive"}, problem_type="single_label_classification",
    tie_word_embeddings=False,
)


def _modelled_fields(config: object) -> dict:
    # transformers 5 dropped `position_embedding_type` (it computes absolute positions only) but keeps the key.
    values = {field.name: getattr(config, field.name) if field.name != "position_embedding_type"
              else getattr(config, field.name, "absolute") for field in dataclasses.fields(BertConfig)}
    values["id2label"] = {int(index): label for index, label in values["id2label"].items()}
    return values


@pytest.mark.parametrize("values", [{}, NON_DEFAULT], ids=["defaults", "every-field-changed"])
def test_hugging_face_round_trip(values: dict) -> None:
    theirs = transformers.BertConfig(**values)
    ours = BertConfig.from_dict(theirs.to_dict(), source="transformers")
    back = transformers.BertConfig(**ours.to_dict())
    assert _modelled_fields(back) == _modelled_fields(theirs)
    assert back.num_labels == theirs.num_labels == ours.num_labels
    if values:
        assert _modelled_fields(ours) == {**values, "position_embedding_type": "absolute"}


def test_json_file_round_trip(tmp_path: Path) -> None:
    config = BertConfig(**NON_DEFAULT, position_embedding_type="sinusoidal")
    config.to_json_file(tmp_path / "config.json")
    assert BertConfig.from_json_file(tmp_path / "config.json") == config
    # transformers sees learned absolute positions (the table is stored as weights) and ignores our key.
    theirs = transformers.BertConfig.from_json_file(str(tmp_path / "config.json"))
    assert theirs.position_embedding_type == "absolute"


def test_config_files_of_older_transformers_and_sentence_transformers_are_read(tmp_path: Path) -> None:
    """Full dumps of transformers 2.x-4.x (runtime flags, text generation settings) and the keys sentence-transformers'
    CrossEncoder adds: none changes an encoder's computation."""
    written = {**transformers.BertConfig(hidden_size=64, num_attention_heads=2).to_dict(),
               "use_bfloat16": False, "eos_token_ids": None, "_num_labels": 2, "xla_device": None, "do_sample": False,
               "num_beams": 1, "max_length": 20, "bad_words_ids": None, "temperature": 1.0, "top_k": 50,
               "tie_encoder_decoder": False, "sbert_ce_default_activation_function": "torch.nn.modules.linear.Identity",
               "sentence_transformers": {"version": "3.0.1"}}
    (tmp_path / "config.json").write_text(json.dumps(written))
    assert BertConfig.from_json_file(tmp_path / "config.json").hidden_size == 64


def test_pad_token_id_may_be_null() -> None:
    """transformers then has no padding row in the word embeddings, and neither does bertjax's initialisation."""
    import jax
    import numpy as np

    from bertjax.model import BertModel

    config = BertConfig.from_dict({**transformers.BertConfig(vocab_size=50, hidden_size=8, num_attention_heads=2,
                                                             intermediate_size=8, num_hidden_layers=1,
                                                             pad_token_id=None).to_dict()})
    assert config.pad_token_id is None and transformers.BertConfig(**config.to_dict()).pad_token_id is None
    params = BertModel(config).init(jax.random.key(0), np.zeros((1, 4), np.int32))["params"]
    assert np.all(np.abs(params["embeddings"]["word_embeddings"]["embedding"]).sum(-1) > 0)


def test_num_labels_without_id2label() -> None:
    assert BertConfig.from_dict({"num_labels": 5}).num_labels == 5
    assert BertConfig().num_labels == 2
    assert BertConfig().with_labels(["score"]).num_labels == 1


def test_compact_presets_have_turc_sizes() -> None:
    compact = {name: config for name, config in PRESETS.items() if name.startswith("bert-L")}
    assert len(compact) == 24
    for layers in (2, 4, 6, 8, 10, 12):
        for hidden in (128, 256, 512, 768):
            config = compact.pop(f"bert-L{layers}-H{hidden}")
            assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads,
                    config.intermediate_size) == (layers, hidden, hidden // 64, 4 * hidden)
            assert (config.vocab_size, config.max_position_embeddings) == (30522, 512)
    assert not compact


@pytest.mark.parametrize("name, layers, hidden, heads, intermediate", [
    ("bert-tiny", 2, 128, 2, 512), ("bert-mini", 4, 256, 4, 1024), ("bert-small", 4, 512, 8, 2048),
    ("bert-medium", 8, 512, 8, 2048), ("bert-base", 12, 768, 12, 3072), ("bert-large", 24, 1024, 16, 4096),
])
def test_named_presets(name: str, layers: int, hidden: int, heads: int, intermediate: int) -> None:
    config = preset(name)
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads,
            config.intermediate_size) == (layers, hidden, heads, intermediate)


def test_preset_changes_and_unknown_name() -> None:
    assert preset("bert-tiny", vocab_size=100).vocab_size == 100
    with pytest.raises(ConfigError, match="bert-huge.*bert-base"):
        preset("bert-huge")


@pytest.mark.parametrize("change, field", [
    ({"position_embedding_type": "relative_key"}, "position_embedding_type"),
    ({"is_decoder": True}, "is_decoder"),
    ({"add_cross_attention": True}, "add_cross_attention"),
    ({"hidden_act": "mish"}, "hidden_act"),
    ({"hidden_size": 100, "num_attention_heads": 12}, "hidden_size"),
    ({"model_type": "roberta"}, "model_type"),
    ({"vocab_size": 0}, "vocab_size"),
    ({"rotary_base": 10000}, "rotary_base"),
    ({"pad_token_id": 40000}, "pad_token_id"),
    ({"pad_token_id": "0"}, "pad_token_id"),
    ({"hidden_dropout_prob": "0.1"}, "hidden_dropout_prob"),
    ({"layer_norm_eps": "abc"}, "layer_norm_eps"),
    ({"initializer_range": None}, "initializer_range"),
    ({"classifier_dropout": "high"}, "classifier_dropout"),
    ({"id2label": None, "num_labels": "three"}, "num_labels"),
    ({"id2label": {"a": "x"}}, "id2label"),
    ({"id2label": ["x", "y"]}, "id2label"),
])
def test_unsupported_values_name_file_and_field(tmp_path: Path, change: dict, field: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**transformers.BertConfig().to_dict(), **change}))
    with pytest.raises(ConfigError) as caught:
        BertConfig.from_json_file(path)
    assert str(path) in str(caught.value) and field in str(caught.value)


def test_unreadable_config_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        BertConfig.from_json_file(tmp_path / "config.json")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match=f"{tmp_path}.*not valid JSON"):
        BertConfig.from_json_file(tmp_path / "config.json")
