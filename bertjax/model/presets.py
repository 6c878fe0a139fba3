"""Named model sizes: a preset is a config, changed by field as any config is."""

from __future__ import annotations

from typing import Any

from bertjax.errors import ConfigError
from bertjax.model.config import BertConfig, ModelConfig

# The 24 compact models of Turc et al. (2019), "Well-Read Students Learn Better": L layers x H hidden,
# H/64 heads and 4H intermediate, named bert-L{L}-H{H}; the four with common names get aliases.
_COMPACT_LAYERS = (2, 4, 6, 8, 10, 12)
_COMPACT_HIDDEN = (128, 256, 512, 768)
_ALIASES = {"bert-tiny": "bert-L2-H128", "bert-mini": "bert-L4-H256", "bert-small": "bert-L4-H512",
            "bert-medium": "bert-L8-H512"}


def _compact(layers: int, hidden: int) -> BertConfig:
    return BertConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=hidden // 64,
                      intermediate_size=4 * hidden)


PRESETS: dict[str, ModelConfig] = {
    **{f"bert-L{layers}-H{hidden}": _compact(layers, hidden)
       for layers in _COMPACT_LAYERS for hidden in _COMPACT_HIDDEN},
    "bert-base": BertConfig(),
    "bert-large": BertConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096),
}
PRESETS.update({alias: PRESETS[name] for alias, name in _ALIASES.items()})


def preset(name: str, **changes: Any) -> ModelConfig:
    """A named size (`bert-tiny`, `bert-L4-H256`, `bert-base`, ...), with optional field changes."""
    if name not in PRESETS:
        raise ConfigError(f"unknown model preset {name!r}; choose one of: {', '.join(sorted(PRESETS))}")
    return PRESETS[name].replace(**changes)
