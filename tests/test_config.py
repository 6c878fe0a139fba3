"""Configs against transformers' BertConfig and ModernBertConfig: config.json round trips, size presets, unsupported
values, the family by model_type."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import pytest
import transformers

from bertjax.errors import ConfigError
from bertjax.model import PRESETS, BertConfig, ModernBertConfig, config_from_dict, preset, read_config_file

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


# ModernBERT-base's config.json as transformers 4 wrote it: its layer pattern and rotary bases in version 4's keys,
# and keys that its trainer and transformers 4 added, which change nothing.
MODERNBERT_BASE_FILE = {
    "architectures": ["ModernBertForMaskedLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 50281, "classifier_activation": "gelu", "classifier_bias": False, "classifier_dropout": 0.0,
    "classifier_pooling": "mean", "cls_token_id": 50281, "decoder_bias": True, "deterministic_flash_attn": False,
    "embedding_dropout": 0.0, "eos_token_id": 50282, "global_attn_every_n_layers": 3, "global_rope_theta": 160000.0,
    "gradient_checkpointing": False, "hidden_activation": "gelu", "hidden_size": 768,
    "initializer_cutoff_factor": 2.0, "initializer_range": 0.02, "intermediate_size": 1152, "layer_norm_eps": 1e-05,
    "local_attention": 128, "local_rope_theta": 10000.0, "max_position_embeddings": 8192, "mlp_bias": False,
    "mlp_dropout": 0.0, "model_type": "modernbert", "norm_bias": False, "norm_eps": 1e-05, "num_attention_heads": 12,
    "num_hidden_layers": 22, "pad_token_id": 50283, "position_embedding_type": "absolute", "reference_compile": None,
    "repad_logits_with_grad": False, "sep_token_id": 50282, "sparse_pred_ignore_index": -100,
    "sparse_prediction": False, "torch_dtype": "float32", "transformers_version": "4.48.0", "vocab_size": 50368,
}
MODERNBERT_NON_DEFAULT = dict(
    vocab_size=1234, hidden_size=96, intermediate_size=200, num_hidden_layers=4, num_attention_heads=6,
    hidden_activation="silu", max_position_embeddings=777, initializer_range=0.05, initializer_cutoff_factor=3.0,
    norm_eps=1e-6, norm_bias=True, pad_token_id=5, eos_token_id=6, bos_token_id=7, cls_token_id=8, sep_token_id=9,
    attention_bias=True, attention_dropout=0.1, local_attention=64, embedding_dropout=0.2, mlp_bias=True,
    mlp_dropout=0.3, decoder_bias=False, classifier_pooling="mean", classifier_dropout=0.4, classifier_bias=True,
    classifier_activation="relu", tie_word_embeddings=False, id2label={0: "a", 1: "b", 2: "c"},
    problem_type="single_label_classification",
    layer_types=["sliding_attention", "full_attention", "full_attention", "sliding_attention"],
    rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 12345.0},
                     "sliding_attention": {"rope_type": "default", "rope_theta": 678.0}},
)


def _modernbert_fields(config: object) -> dict:
    """The fields that change a ModernBERT's computation, from either config class."""
    if isinstance(config, transformers.ModernBertConfig):
        layer_types = tuple(config.layer_types)
        thetas = (config.rope_parameters["full_attention"]["rope_theta"],
                  config.rope_parameters["sliding_attention"]["rope_theta"])
    else:
        layer_types, thetas = config.all_layer_types, (config.global_rope_theta, config.local_rope_theta)
    names = [field.name for field in dataclasses.fields(ModernBertConfig)
             if field.name not in ("layer_types", "global_attn_every_n_layers", "global_rope_theta",
                                    "local_rope_theta", "id2label")]
    return {**{name: getattr(config, name) for name in names}, "layer_types": layer_types, "thetas": thetas,
            "num_labels": config.num_labels}


@pytest.mark.parametrize("values", [{}, MODERNBERT_NON_DEFAULT], ids=["defaults", "every-field-changed"])
def test_modernbert_round_trip_with_transformers(values: dict) -> None:
    theirs = transformers.ModernBertConfig(**values)
    ours = ModernBertConfig.from_dict(theirs.to_dict(), source="transformers")
    back = transformers.ModernBertConfig(**ours.to_dict())
    assert _modernbert_fields(ours) == _modernbert_fields(theirs) == _modernbert_fields(back)
    assert ours.id2label == {int(index): label for index, label in theirs.id2label.items()}
    assert ours.layer_types is (None if not values else ours.layer_types)  # the default pattern is kept as such
    assert read_config_file_of(ours.to_dict()) == ours


def read_config_file_of(values: dict) -> object:
    """`read_config_file` on a config.json holding `values`."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "config.json"
        path.write_text(json.dumps(values))
        return read_config_file(path)


def test_modernbert_base_config_of_transformers_4() -> None:
    ours = read_config_file_of(MODERNBERT_BASE_FILE)
    theirs = transformers.ModernBertConfig(**MODERNBERT_BASE_FILE)
    assert isinstance(ours, ModernBertConfig) and _modernbert_fields(ours) == _modernbert_fields(theirs)
    architecture = ours.architecture
    assert architecture.windows == tuple(None if index % 3 == 0 else 64 for index in range(22))
    assert architecture.rope_thetas == tuple(160000.0 if index % 3 == 0 else 10000.0 for index in range(22))
    assert architecture.attention_kinds == ((64, 10000.0), (None, 160000.0))
    assert (architecture.pre_norm, architecture.gated_mlp, architecture.norm_bias, architecture.pooling) == \
        (True, True, False, "mean")
    # Written in both spellings: transformers 5 reads layer_types and rope_parameters, 4 the older keys.
    written = ours.to_dict()
    assert written["global_attn_every_n_layers"] == 3 and written["local_rope_theta"] == 10000.0
    assert written["rope_parameters"]["sliding_attention"]["rope_theta"] == 10000.0


def test_modernbert_layers_kept_with_their_types() -> None:
    config = ModernBertConfig.from_dict(MODERNBERT_NON_DEFAULT)
    assert config.with_first_layers(2).all_layer_types == ("sliding_attention", "full_attention")
    assert ModernBertConfig(num_hidden_layers=7).with_first_layers(4).all_layer_types == (
        "full_attention", "sliding_attention", "sliding_attention", "full_attention")


@pytest.mark.parametrize("change, field", [
    ({"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}, "rope_scaling"),
    ({"rope_parameters": {"full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1.0}}},
     "rope_parameters"),
    ({"layer_types": ["full_attention"] * 3}, "layer_types"),
    ({"layer_types": ["chunked_attention"] * 22}, "layer_types"),
    ({"classifier_pooling": "max"}, "classifier_pooling"),
    ({"hidden_activation": "mish"}, "hidden_activation"),
    ({"local_attention": 0}, "local_attention"),
    ({"global_rope_theta": -1.0}, "global_rope_theta"),
    ({"mlp_dropout": 1.5}, "mlp_dropout"),
    ({"head_dim": 32}, "head_dim"),
])
def test_unsupported_modernbert_values_name_file_and_field(tmp_path: Path, change: dict, field: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**MODERNBERT_BASE_FILE, **change}))
    with pytest.raises(ConfigError) as caught:
        read_config_file(path)
    assert str(path) in str(caught.value) and field in str(caught.value)


def test_model_type_picks_the_config_class(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(transformers.BertConfig(hidden_size=64, num_attention_heads=2).to_dict()))
    assert isinstance(read_config_file(path), BertConfig)
    with pytest.raises(ConfigError, match="model_type is 'modernbert', not 'bert'; read it with ModernBertConfig"):
        BertConfig.from_dict(MODERNBERT_BASE_FILE)
    with pytest.raises(ConfigError, match="model_type 'deberta-v2' is not an architecture bertjax implements; it "
                                          "implements bert, modernbert$"):
        config_from_dict({"model_type": "deberta-v2"})
