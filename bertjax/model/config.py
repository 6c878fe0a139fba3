"""Model configs: exactly Hugging Face's `config.json` of each family bertjax implements, read by its `model_type`.

`BertConfig` holds transformers' BERT fields and `ModernBertConfig` transformers' ModernBERT fields, with the same
names and defaults; each fills an `Architecture`, which is all the shared encoder reads. `config_from_dict` and
`read_config_file` pick the family from `model_type`.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import json
from pathlib import Path
from typing import Any, ClassVar

from bertjax.errors import ConfigError
from bertjax.model.architecture import Architecture

ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu", "silu", "swish")
POSITION_EMBEDDING_TYPES = ("absolute", "sinusoidal")

# config.json keys that describe the file or the PyTorch runtime, not the computation.
_IGNORED_KEYS = frozenset({
    "architectures", "model_type", "transformers_version", "use_cache", "torch_dtype", "dtype",
    "gradient_checkpointing", "output_past", "chunk_size_feed_forward", "output_hidden_states",
    "output_attentions", "return_dict", "torchscript", "pruned_heads", "bos_token_id", "eos_token_id",
    "sep_token_id", "cls_token_id", "directionality", "pooler_fc_size", "pooler_num_attention_heads",
    "pooler_num_fc_layers", "pooler_size_per_head", "pooler_type", "finetuning_task", "tokenizer_class",
    "prefix", "task_specific_params", "_name_or_path", "name_or_path", "_attn_implementation_autoset",
    "attn_implementation", "layer_norm_type", "mask_token_id", "unk_token_id",
    # written by transformers 2.x-4.x (runtime flags and text generation settings, which an encoder never uses)
    "use_bfloat16", "eos_token_ids", "_num_labels", "xla_device", "tf_legacy_loss", "cross_attention_hidden_size",
    "tie_encoder_decoder", "max_length", "min_length", "do_sample", "early_stopping", "num_beams",
    "num_beam_groups", "diversity_penalty", "temperature", "top_k", "top_p", "typical_p", "repetition_penalty",
    "length_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "bad_words_ids",
    "num_return_sequences", "output_scores", "return_dict_in_generate", "forced_bos_token_id",
    "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty", "suppress_tokens",
    "begin_suppress_tokens", "decoder_start_token_id",
    # written by sentence-transformers' CrossEncoder
    "sbert_ce_default_activation_function", "sentence_transformers",
})

# Keys whose value must be this for the computation to be an encoder's.
_REQUIRED_VALUES = {
    "is_decoder": False,
    "add_cross_attention": False,
    "is_encoder_decoder": False,
}


class EncoderConfig(abc.ABC):
    """What the configs of every family share: sizes, labels, checks, and config.json in and out.

    Subclasses are frozen dataclasses with transformers' field names for their family, among them `vocab_size`,
    `hidden_size`, `num_hidden_layers`, `num_attention_heads`, `intermediate_size`, `max_position_embeddings`,
    `initializer_range`, `pad_token_id`, `classifier_dropout`, `id2label`, `problem_type` and `tie_word_embeddings`.
    """

    model_type: ClassVar[str]
    _POSITIVE_INTEGERS: ClassVar[tuple[str, ...]] = (
        "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
        "max_position_embeddings")
    _NUMBERS: ClassVar[tuple[str, ...]] = ("initializer_range",)
    _PROBABILITIES: ClassVar[tuple[str, ...]] = ()
    _FAMILY_IGNORED_KEYS: ClassVar[frozenset[str]] = frozenset()

    def __post_init__(self) -> None:
        self._check()

    @property
    @abc.abstractmethod
    def architecture(self) -> Architecture:
        """The family's choices (positions, norms, MLP, attention pattern) that configure the one encoder."""

    @property
    def num_labels(self) -> int:
        """Number of classifier outputs (1 means regression), as Hugging Face derives it from `id2label`."""
        return len(self.id2label) if self.id2label else 2

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def _check(self) -> None:
        for name in self._POSITIVE_INTEGERS:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"config field '{name}' must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"config field 'hidden_size' ({self.hidden_size}) must be a multiple of "
                f"'num_attention_heads' ({self.num_attention_heads})")
        for name in (*self._NUMBERS, *self._PROBABILITIES):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ConfigError(f"config field '{name}' must be a number, got {value!r}")
        for name in self._PROBABILITIES:
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"config field '{name}' must be in [0, 1), got {getattr(self, name)!r}")
        if self.pad_token_id is not None and (not isinstance(self.pad_token_id, int)
                                              or not 0 <= self.pad_token_id < self.vocab_size):
            raise ConfigError(
                f"config field 'pad_token_id' ({self.pad_token_id!r}) must be a token id below vocab_size "
                f"({self.vocab_size}) or null")

    def replace(self, **changes: Any) -> Any:
        """A copy with some fields changed (checked again)."""
        return dataclasses.replace(self, **changes)

    def with_labels(self, labels: list[str]) -> Any:
        """A copy whose classifier predicts `labels` (a single label means regression)."""
        return self.replace(id2label=dict(enumerate(labels)))

    def with_first_layers(self, count: int) -> Any:
        """A copy with only the first `count` layers."""
        return self.replace(num_hidden_layers=count)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> Any:
        """Builds a config from a `config.json` dictionary of this family; `source` names it in errors."""
        model_type = values.get("model_type", cls.model_type)
        if model_type not in CONFIG_CLASSES:
            raise ConfigError(f"{source}: {_unsupported(model_type)}")
        if model_type != cls.model_type:
            raise ConfigError(f"{source}: model_type is {model_type!r}, not {cls.model_type!r}; read it with "
                              f"{CONFIG_CLASSES[model_type].__name__} or bertjax.model.read_config_file")
        known = {field.name for field in dataclasses.fields(cls)}
        values = cls._read_family_keys(dict(values), source)
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            if key in known:
                kwargs[key] = value
            elif key in _REQUIRED_VALUES:
                if value != _REQUIRED_VALUES[key]:
                    raise ConfigError(
                        f"{source}: field '{key}' is {value!r}; bertjax computes encoders only, which need "
                        f"{_REQUIRED_VALUES[key]!r}")
            elif key not in _IGNORED_KEYS | cls._FAMILY_IGNORED_KEYS and key not in ("label2id", "num_labels"):
                raise ConfigError(
                    f"{source}: unknown field '{key}'; bertjax cannot tell whether it changes the computation")
        if kwargs.get("id2label") is not None:
            kwargs["id2label"] = _label_names(kwargs["id2label"], source)
        elif "num_labels" in values:
            count = values["num_labels"]
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                raise ConfigError(f"{source}: field 'num_labels' must be a positive integer, got {count!r}")
            kwargs["id2label"] = {index: f"LABEL_{index}" for index in range(count)}
        try:
            return cls(**kwargs)
        except (ConfigError, TypeError) as error:
            raise ConfigError(f"{source}: {error}") from None

    @classmethod
    def _read_family_keys(cls, values: dict[str, Any], source: str) -> dict[str, Any]:
        """config.json keys of this family spelled otherwise than its fields, turned into its fields."""
        return values

    def to_dict(self) -> dict[str, Any]:
        """The `config.json` dictionary that transformers reads."""
        values = {**dataclasses.asdict(self), "model_type": self.model_type}
        id2label = values.pop("id2label")
        if id2label is not None:
            values["id2label"] = {str(index): label for index, label in id2label.items()}
            values["label2id"] = {label: index for index, label in id2label.items()}
        if values["problem_type"] is None:
            del values["problem_type"]
        return values

    @classmethod
    def from_json_file(cls, path: str | Path) -> Any:
        path = Path(path)
        return cls.from_dict(_read_json(path), source=str(path))

    def to_json_file(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")


@dataclasses.dataclass(frozen=True)
class BertConfig(EncoderConfig):
    """Hugging Face's `BertConfig` fields, with the same names and defaults (bert-base-uncased)."""

    model_type: ClassVar[str] = "bert"
    _POSITIVE_INTEGERS: ClassVar[tuple[str, ...]] = (*EncoderConfig._POSITIVE_INTEGERS, "type_vocab_size")
    _NUMBERS: ClassVar[tuple[str, ...]] = ("initializer_range", "layer_norm_eps")
    _PROBABILITIES: ClassVar[tuple[str, ...]] = ("hidden_dropout_prob", "attention_probs_dropout_prob")

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int | None = 0  # None: no padding row (its word embedding is not zeroed at initialisation)
    classifier_dropout: float | None = None
    position_embedding_type: str = "absolute"
    id2label: dict[int, str] | None = None
    problem_type: str | None = None
    tie_word_embeddings: bool = True  # False (an untied MLM decoder) only for heads without one

    def _check(self) -> None:
        super()._check()
        _check_activation("hidden_act", self.hidden_act)
        if self.position_embedding_type not in POSITION_EMBEDDING_TYPES:
            raise ConfigError(
                f"config field 'position_embedding_type' is {self.position_embedding_type!r}; bertjax supports "
                f"{' and '.join(POSITION_EMBEDDING_TYPES)} position embeddings only")
        _check_optional_probability("classifier_dropout", self.classifier_dropout)

    @functools.cached_property
    def architecture(self) -> Architecture:
        layers = self.num_hidden_layers
        return Architecture(
            family="bert", encoder_name="bert", word_embeddings_name="word_embeddings", norm_name="LayerNorm",
            span_outputs_name="qa_outputs",
            positions=self.position_embedding_type, token_types=self.type_vocab_size,
            embedding_dropout=self.hidden_dropout_prob,
            pre_norm=False, fused_projections=False, gated_mlp=False, activation=self.hidden_act,
            norm_eps=self.layer_norm_eps, norm_bias=True, attention_bias=True, mlp_bias=True,
            windows=(None,) * layers, rope_thetas=(None,) * layers,
            attention_dropout=self.attention_probs_dropout_prob, attention_output_dropout=self.hidden_dropout_prob,
            mlp_dropout=0.0, output_dropout=self.hidden_dropout_prob,
            pooling="pooler", prediction_head=False, head_activation=self.hidden_act, head_bias=True,
            decoder_bias=True,
            classifier_dropout=self.hidden_dropout_prob if self.classifier_dropout is None else self.classifier_dropout,
            init_cutoff=None)

    @classmethod
    def _read_family_keys(cls, values: dict[str, Any], source: str) -> dict[str, Any]:
        position_type = values.pop("bertjax_position_embedding_type", None)
        if position_type is not None:
            values["position_embedding_type"] = position_type
        return values

    def to_dict(self) -> dict[str, Any]:
        values = super().to_dict()
        # Transformers knows no sinusoidal type: the table is written as learned weights, which it computes alike.
        values["bertjax_position_embedding_type"] = values["position_embedding_type"]
        values["position_embedding_type"] = "absolute"
        return values


LAYER_TYPES = ("full_attention", "sliding_attention")
CLASSIFIER_POOLINGS = ("cls", "mean")


@dataclasses.dataclass(frozen=True)
class ModernBertConfig(EncoderConfig):
    """transformers' `ModernBertConfig` fields, with the same names and defaults (ModernBERT-base).

    layer_types: each layer's `full_attention` or `sliding_attention`; None: every `global_attn_every_n_layers`-th
    layer global from the first, the others sliding, as transformers reads configs without it. Sliding layers attend
    to keys at most `local_attention // 2` tokens away, with rotary base `local_rope_theta`; global layers to all,
    with `global_rope_theta`. config.json holds these in both transformers' spellings (5: `layer_types`,
    `rope_parameters`; 4: `global_attn_every_n_layers`, `global_rope_theta`, `local_rope_theta`).
    """

    model_type: ClassVar[str] = "modernbert"
    _POSITIVE_INTEGERS: ClassVar[tuple[str, ...]] = (*EncoderConfig._POSITIVE_INTEGERS, "local_attention",
                                                      "global_attn_every_n_layers")
    _NUMBERS: ClassVar[tuple[str, ...]] = ("initializer_range", "norm_eps", "global_rope_theta", "local_rope_theta")
    _PROBABILITIES: ClassVar[tuple[str, ...]] = ("attention_dropout", "embedding_dropout", "mlp_dropout",
                                                 "classifier_dropout")
    # Written into ModernBERT checkpoints by its trainer and transformers 4, none used by the computation.
    _FAMILY_IGNORED_KEYS: ClassVar[frozenset[str]] = frozenset({
        "deterministic_flash_attn", "sparse_prediction", "sparse_pred_ignore_index", "reference_compile",
        "repad_logits_with_grad", "layer_norm_eps", "position_embedding_type"})

    vocab_size: int = 50368
    hidden_size: int = 768
    intermediate_size: int = 1152
    num_hidden_layers: int = 22
    num_attention_heads: int = 12
    hidden_activation: str = "gelu"
    max_position_embeddings: int = 8192
    initializer_range: float = 0.02
    initializer_cutoff_factor: float | None = 2.0  # None: 3, as transformers
    norm_eps: float = 1e-5
    norm_bias: bool = False
    pad_token_id: int | None = 50283
    eos_token_id: int | None = 50282
    bos_token_id: int | None = 50281
    cls_token_id: int | None = 50281
    sep_token_id: int | None = 50282
    attention_bias: bool = False
    attention_dropout: float = 0.0
    global_attn_every_n_layers: int = 3
    layer_types: tuple[str, ...] | None = None
    global_rope_theta: float = 160000.0
    local_rope_theta: float = 10000.0
    local_attention: int = 128
    embedding_dropout: float = 0.0
    mlp_bias: bool = False
    mlp_dropout: float = 0.0
    decoder_bias: bool = True
    classifier_pooling: str = "cls"
    classifier_dropout: float = 0.0
    classifier_bias: bool = False
    classifier_activation: str = "gelu"
    tie_word_embeddings: bool = True  # False (an untied MLM decoder) only for heads without one
    id2label: dict[int, str] | None = None
    problem_type: str | None = None

    def _check(self) -> None:
        if self.layer_types is not None and not isinstance(self.layer_types, tuple):
            object.__setattr__(self, "layer_types", tuple(self.layer_types))  # frozen: a list read from JSON
        super()._check()
        _check_activation("hidden_activation", self.hidden_activation)
        _check_activation("classifier_activation", self.classifier_activation)
        if self.classifier_pooling not in CLASSIFIER_POOLINGS:
            raise ConfigError(f"config field 'classifier_pooling' is {self.classifier_pooling!r}; choose one of "
                              f"{', '.join(CLASSIFIER_POOLINGS)}")
        if self.layer_types is not None:
            unknown = sorted(set(self.layer_types) - set(LAYER_TYPES))
            if unknown or len(self.layer_types) != self.num_hidden_layers:
                raise ConfigError(
                    f"config field 'layer_types' must give each of the {self.num_hidden_layers} layers one of "
                    f"{', '.join(LAYER_TYPES)}; got {list(self.layer_types)}")
        for name in ("global_rope_theta", "local_rope_theta"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"config field '{name}' must be positive, got {getattr(self, name)!r}")
        if self.initializer_cutoff_factor is not None and not self.initializer_cutoff_factor > 0:
            raise ConfigError(f"config field 'initializer_cutoff_factor' must be positive or null, got "
                              f"{self.initializer_cutoff_factor!r}")

    @property
    def all_layer_types(self) -> tuple[str, ...]:
        """`layer_types`, or the pattern that `global_attn_every_n_layers` gives."""
        if self.layer_types is not None:
            return self.layer_types
        return layer_pattern(self.num_hidden_layers, self.global_attn_every_n_layers)

    @functools.cached_property
    def architecture(self) -> Architecture:
        sliding = [layer_type == "sliding_attention" for layer_type in self.all_layer_types]
        return Architecture(
            family="modernbert", encoder_name="model", word_embeddings_name="tok_embeddings", norm_name="norm",
            span_outputs_name="classifier",
            positions="rotary", token_types=0, embedding_dropout=self.embedding_dropout,
            pre_norm=True, fused_projections=True, gated_mlp=True, activation=self.hidden_activation,
            norm_eps=self.norm_eps, norm_bias=self.norm_bias, attention_bias=self.attention_bias,
            mlp_bias=self.mlp_bias,
            windows=tuple(self.local_attention // 2 if local else None for local in sliding),
            rope_thetas=tuple(float(self.local_rope_theta if local else self.global_rope_theta) for local in sliding),
            attention_dropout=self.attention_dropout, attention_output_dropout=self.attention_dropout,
            mlp_dropout=self.mlp_dropout, output_dropout=0.0,
            pooling=self.classifier_pooling, prediction_head=True, head_activation=self.classifier_activation,
            head_bias=self.classifier_bias, decoder_bias=self.decoder_bias, classifier_dropout=self.classifier_dropout,
            init_cutoff=3.0 if self.initializer_cutoff_factor is None else self.initializer_cutoff_factor)

    def with_first_layers(self, count: int) -> ModernBertConfig:
        layer_types = None if self.layer_types is None else self.layer_types[:count]
        return self.replace(num_hidden_layers=count, layer_types=layer_types)

    @classmethod
    def _read_family_keys(cls, values: dict[str, Any], source: str) -> dict[str, Any]:
        if values.pop("rope_scaling", None) is not None:
            raise ConfigError(f"{source}: field 'rope_scaling' is set; bertjax computes the default rotary "
                              f"positions only (remove it for a model trained without scaling)")
        rope = values.pop("rope_parameters", None) or {}
        for layer_type, field in (("full_attention", "global_rope_theta"), ("sliding_attention", "local_rope_theta")):
            parameters = rope.get(layer_type) or {}
            if parameters.get("rope_type", "default") != "default" or set(parameters) - {"rope_type", "rope_theta"}:
                raise ConfigError(f"{source}: field 'rope_parameters' gives {layer_type} layers {parameters}; "
                                  f"bertjax computes the default rotary positions only (rope_type 'default' and "
                                  f"a rope_theta)")
            if "rope_theta" in parameters:
                values[field] = parameters["rope_theta"]
        layer_types, every = values.get("layer_types"), values.get("global_attn_every_n_layers", 3)
        if isinstance(layer_types, list) and isinstance(every, int) and every > 0 and \
                tuple(layer_types) == layer_pattern(len(layer_types), every):
            values["layer_types"] = None  # kept as the pattern, which follows num_hidden_layers
        return values

    def to_dict(self) -> dict[str, Any]:
        values = super().to_dict()
        values["layer_types"] = list(self.all_layer_types)
        values["rope_parameters"] = {
            "full_attention": {"rope_type": "default", "rope_theta": self.global_rope_theta},
            "sliding_attention": {"rope_type": "default", "rope_theta": self.local_rope_theta}}
        return values


def layer_pattern(num_layers: int, every: int) -> tuple[str, ...]:
    """ModernBERT's layer types by `global_attn_every_n_layers`: layers 0, every, 2 * every, ... global."""
    return tuple("full_attention" if index % every == 0 else "sliding_attention" for index in range(num_layers))


CONFIG_CLASSES: dict[str, type[EncoderConfig]] = {"bert": BertConfig, "modernbert": ModernBertConfig}
ModelConfig = BertConfig | ModernBertConfig


def config_from_dict(values: dict[str, Any], source: str = "config") -> ModelConfig:
    """The config of the family that `model_type` names (`bert` when absent), from a `config.json` dictionary."""
    model_type = values.get("model_type", "bert")
    if model_type not in CONFIG_CLASSES:
        raise ConfigError(f"{source}: {_unsupported(model_type)}")
    return CONFIG_CLASSES[model_type].from_dict(values, source)


def read_config_file(path: str | Path) -> ModelConfig:
    """The config of a `config.json` file, of the family its `model_type` names."""
    path = Path(path)
    return config_from_dict(_read_json(path), source=str(path))


def _unsupported(model_type: Any) -> str:
    return (f"model_type {model_type!r} is not an architecture bertjax implements; it implements "
            f"{', '.join(CONFIG_CLASSES)}")


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a JSON object of config fields")
    return values


def _check_activation(name: str, value: str) -> None:
    if value not in ACTIVATIONS:
        raise ConfigError(f"config field '{name}' is {value!r}; supported: {', '.join(ACTIVATIONS)}")


def _check_optional_probability(name: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ConfigError(f"config field '{name}' must be a number, got {value!r}")
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"config field '{name}' must be in [0, 1), got {value!r}")


def _label_names(id2label: Any, source: str) -> dict[int, str]:
    """config.json's `id2label` ({"0": "neg", ...}) with integer ids."""
    try:
        return {int(index): str(label) for index, label in id2label.items()}
    except (AttributeError, TypeError, ValueError):
        raise ConfigError(f"{source}: field 'id2label' must map label ids to names, like {{\"0\": \"negative\"}}, "
                          f"got {id2label!r:.80}") from None
