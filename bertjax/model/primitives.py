"""Dense and LayerNorm layers configured and initialised as BERT's."""

from __future__ import annotations

import flax.linen as nn

from bertjax.model.config import BertConfig
from bertjax.model.options import ModelOptions


def dense(config: BertConfig, options: ModelOptions, features: int, name: str) -> nn.Dense:
    """A Dense layer initialised as BERT's: normal(initializer_range) kernel, zero bias."""
    return nn.Dense(features, dtype=options.dtype, param_dtype=options.param_dtype,
                    kernel_init=nn.initializers.normal(config.initializer_range), name=name)


def layer_norm(config: BertConfig, options: ModelOptions, name: str = "LayerNorm") -> nn.LayerNorm:
    """LayerNorm with float32 statistics (flax promotes them) and the config's epsilon."""
    return nn.LayerNorm(epsilon=config.layer_norm_eps, dtype=options.dtype, param_dtype=options.param_dtype,
                        name=name)
