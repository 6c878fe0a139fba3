"""`BertConfig`: exactly Hugging Face's BERT `config.json`, plus named size presets."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from bertjax.errors import ConfigError

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
    "attn_implementation", "layer_norm_type",
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

# Keys whose value must be this for the computation to be BERT's.
_REQUIRED_VALUES = {
    "is_decoder": False,
    "add_cross_attention": False,
    "is_encoder_decoder": False,
}


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """Hugging Face's `BertConfig` fields, with the same names and defaults (bert-base-uncased)."""

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

    def __post_init__(self) -> None:
        self._check()

    @property
    def num_labels(self) -> int:
        """Number of classifier outputs (1 means regression), as Hugging Face derives it from `id2label`."""
        return len(self.id2label) if self.id2label else 2

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def _check(self) -> None:
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"config field '{name}' must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"config field 'hidden_size' ({self.hidden_size}) must be a multiple of "
                f"'num_attention_heads' ({self.num_attention_heads})")
        if self.hidden_act not in ACTIVATIONS:
            raise ConfigError(
                f"config field 'hidden_act' is {self.hidden_act!r}; supported: {', '.join(ACTIVATIONS)}")
        if self.position_embedding_type not in POSITION_EMBEDDING_TYPES:
            raise ConfigError(
                f"config field 'position_embedding_type' is {self.position_embedding_type!r}; bertjax supports "
                f"{' and '.join(POSITION_EMBEDDING_TYPES)} position embeddings only")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range", "layer_norm_eps",
                     "classifier_dropout"):
            value = getattr(self, name)
            if not (value is None and name == "classifier_dropout") and (
                    not isinstance(value, (int, float)) or isinstance(value, bool)):
                raise ConfigError(f"config field '{name}' must be a number, got {value!r}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"config field '{name}' must be in [0, 1), got {getattr(self, name)!r}")
        if self.classifier_dropout is not None and not 0.0 <= self.classifier_dropout < 1.0:
            raise ConfigError(f"config field 'classifier_dropout' must be in [0, 1), got {self.classifier_dropout!r}")
        if self.pad_token_id is not None and (not isinstance(self.pad_token_id, int)
                                              or not 0 <= self.pad_token_id < self.vocab_size):
            raise ConfigError(
                f"config field 'pad_token_id' ({self.pad_token_id!r}) must be a token id below vocab_size "
                f"({self.vocab_size}) or null")

    def replace(self, **changes: Any) -> BertConfig:
        """A copy with some fields changed (checked again)."""
        return dataclasses.replace(self, **changes)

    def with_labels(self, labels: list[str]) -> BertConfig:
        """A copy whose classifier predicts `labels` (a single label means regression)."""
        return self.replace(id2label=dict(enumerate(labels)))

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> BertConfig:
        """Builds a config from a `config.json` dictionary; `source` names it in errors."""
        known = {field.name for field in dataclasses.fields(cls)}
        values = dict(values)
        position_type = values.pop("bertjax_position_embedding_type", None)
        if position_type is not None:
            values["position_embedding_type"] = position_type
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            if key in known:
                kwargs[key] = value
            elif key in _REQUIRED_VALUES:
                if value != _REQUIRED_VALUES[key]:
                    raise ConfigError(
                        f"{source}: field '{key}' is {value!r}; bertjax computes BERT encoders only, which need "
                        f"{_REQUIRED_VALUES[key]!r}")
            elif key == "model_type" and value != "bert":
                raise ConfigError(f"{source}: model_type is {value!r}; bertjax loads 'bert' models only")
            elif key not in _IGNORED_KEYS and key not in ("label2id", "num_labels"):
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
        except ConfigError as error:
            raise ConfigError(f"{source}: {error}") from None
        except TypeError as error:
            raise ConfigError(f"{source}: {error}") from None

    def to_dict(self) -> dict[str, Any]:
        """The `config.json` dictionary that Hugging Face's `BertConfig` reads."""
        values = dataclasses.asdict(self)
        position_type = values["position_embedding_type"]
        # Transformers knows no sinusoidal type: the table is written as learned weights, which it computes alike.
        values["position_embedding_type"] = "absolute"
        values["model_type"] = "bert"
        values["bertjax_position_embedding_type"] = position_type
        id2label = values.pop("id2label")
        if id2label is not None:
            values["id2label"] = {str(index): label for index, label in id2label.items()}
            values["label2id"] = {label: index for index, label in id2label.items()}
        if values["problem_type"] is None:
            del values["problem_type"]
        return values

    @classmethod
    def from_json_file(cls, path: str | Path) -> BertConfig:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path}: not valid JSON ({error})") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a JSON object of config fields")
        return cls.from_dict(values, source=str(path))

    def to_json_file(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")


# The 24 compact models of Turc et al. (2019), "Well-Read Students Learn Better": L layers x H hidden,
# H/64 heads and 4H intermediate, named bert-L{L}-H{H}; the four with common names get aliases.
_COMPACT_LAYERS = (2, 4, 6, 8, 10, 12)
_COMPACT_HIDDEN = (128, 256, 512, 768)
_ALIASES = {"bert-tiny": "bert-L2-H128", "bert-mini": "bert-L4-H256", "bert-small": "bert-L4-H512",
            "bert-medium": "bert-L8-H512"}


def _compact(layers: int, hidden: int) -> BertConfig:
    return BertConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=hidden // 64,
                      intermediate_size=4 * hidden)


PRESETS: dict[str, BertConfig] = {
    **{f"bert-L{layers}-H{hidden}": _compact(layers, hidden)
       for layers in _COMPACT_LAYERS for hidden in _COMPACT_HIDDEN},
    "bert-base": BertConfig(),
    "bert-large": BertConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096),
}
PRESETS.update({alias: PRESETS[name] for alias, name in _ALIASES.items()})


def preset(name: str, **changes: Any) -> BertConfig:
    """A named size (`bert-tiny`, `bert-L4-H256`, `bert-base`, ...), with optional field changes."""
    if name not in PRESETS:
        raise ConfigError(f"unknown model preset {name!r}; choose one of: {', '.join(sorted(PRESETS))}")
    return PRESETS[name].replace(**changes)


def _label_names(id2label: Any, source: str) -> dict[int, str]:
    """config.json's `id2label` ({"0": "neg", ...}) with integer ids."""
    try:
        return {int(index): str(label) for index, label in id2label.items()}
    except (AttributeError, TypeError, ValueError):
        raise ConfigError(f"{source}: field 'id2label' must map label ids to names, like {{\"0\": \"negative\"}}, "
                          f"got {id2label!r:.80}") from None
