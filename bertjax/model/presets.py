"""Named model sizes: a preset is a config, changed by field as any config is."""

from __future__ import annotations

from typing import Any

from bertjax.errors import ConfigError
from bertjax.model.config import BertConfig, ModelConfig, ModernBertConfig

# The 24 compact models of Turc et al. (2019), "Well-Read Students Learn Better": L layers x H hidden,
# H/64 heads and 4H intermediate, named bert-L{L}-H{H}; the four with common names get aliases.
_COMPACT_LAYERS = (2, 4, 6, 8, 10, 12)
_COMPACT_HIDDEN = (128, 256, 512, 768)
_ALIASES = {"bert-tiny": "bert-L2-H128", "bert-mini": "bert-L4-H256", "bert-small": "bert-L4-H512",
            "bert-medium": "bert-L8-H512"}

# The published modern encoders, as the config.json of their checkpoints has them (the fields not given are
# transformers' defaults, which are ModernBERT-base's): ModernBERT (Warner et al. 2024, answerdotai/ModernBERT-*):
# rotary bases 160,000 global / 10,000 local, 8,192 positions, mean pooling. Ettin's encoders (Weller et al. 2025,
# jhu-clsp/ettin-encoder-*, trained with ModernBERT's recipe): a base of 160,000 in every layer after their context
# extension, 7,999 positions, mean pooling. Sizes: layers, hidden, intermediate (GeGLU's half), heads (all of 64).
MODERN_SIZES = {
    "modernbert-base": (22, 768, 1152, 12),
    "modernbert-large": (28, 1024, 2624, 16),
    "ettin-17m": (7, 256, 384, 4),
    "ettin-32m": (10, 384, 576, 6),
    "ettin-68m": (19, 512, 768, 8),
    "ettin-150m": (22, 768, 1152, 12),
    "ettin-400m": (28, 1024, 2624, 16),
    "ettin-1b": (28, 1792, 3840, 28),
}
_MODERNBERT = dict(classifier_pooling="mean")
_ETTIN = dict(global_rope_theta=160000.0, local_rope_theta=160000.0, max_position_embeddings=7999,
              classifier_pooling="mean")


def _compact(layers: int, hidden: int) -> BertConfig:
    return BertConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=hidden // 64,
                      intermediate_size=4 * hidden)


def _modern(name: str) -> ModernBertConfig:
    layers, hidden, intermediate, heads = MODERN_SIZES[name]
    family = _ETTIN if name.startswith("ettin") else _MODERNBERT
    return ModernBertConfig(num_hidden_layers=layers, hidden_size=hidden, intermediate_size=intermediate,
                            num_attention_heads=heads, **family)


PRESETS: dict[str, ModelConfig] = {
    **{f"bert-L{layers}-H{hidden}": _compact(layers, hidden)
       for layers in _COMPACT_LAYERS for hidden in _COMPACT_HIDDEN},
    "bert-base": BertConfig(),
    "bert-large": BertConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096),
    **{name: _modern(name) for name in MODERN_SIZES},
}
PRESETS.update({alias: PRESETS[name] for alias, name in _ALIASES.items()})


def preset(name: str, **changes: Any) -> ModelConfig:
    """A named size (`bert-tiny`, `bert-L4-H256`, `bert-base`, `modernbert-base`, `ettin-17m`, ...), with optional
    field changes."""
    if name not in PRESETS:
        raise ConfigError(f"unknown model preset {name!r}; choose one of: {', '.join(sorted(PRESETS))}")
    return PRESETS[name].replace(**changes)
