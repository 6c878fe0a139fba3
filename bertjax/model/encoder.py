"""The BERT encoder: embeddings, transformer layers (optionally scanned and rematerialised), pooler."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from bertjax.model.activations import ACTIVATION_FUNCTIONS
from bertjax.model.attention import BertSelfAttention
from bertjax.model.config import BertConfig
from bertjax.model.dropout import Dropout
from bertjax.model.options import ModelOptions
from bertjax.model.primitives import dense, layer_norm


def sinusoidal_table(length: int, width: int) -> np.ndarray:
    """PE[pos, 2i] = sin(pos / 10000^(2i/width)), PE[pos, 2i+1] = cos(...): [length, width] float32."""
    positions = np.arange(length, dtype=np.float64)[:, None]
    frequencies = 1.0 / np.power(10000.0, np.arange(0, width, 2, dtype=np.float64) / width)
    table = np.zeros((length, width), dtype=np.float64)
    table[:, 0::2] = np.sin(positions * frequencies)
    table[:, 1::2] = np.cos(positions * frequencies[: width // 2])
    return table.astype(np.float32)


def _word_embedding_init(config: BertConfig) -> Any:
    """normal(initializer_range) with the padding row zeroed, as transformers initialises it."""
    normal = nn.initializers.normal(config.initializer_range)

    def init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        table = normal(key, shape, dtype)
        return table if config.pad_token_id is None else table.at[config.pad_token_id].set(0)

    return init


class BertEmbeddings(nn.Module):
    """Word + position + token type embeddings, LayerNorm, dropout."""

    config: BertConfig
    options: ModelOptions

    def setup(self) -> None:
        config, options = self.config, self.options
        embed = dict(dtype=options.dtype, param_dtype=options.param_dtype,
                     embedding_init=nn.initializers.normal(config.initializer_range))
        self.word_embeddings = nn.Embed(config.vocab_size, config.hidden_size,
                                        **{**embed, "embedding_init": _word_embedding_init(config)})
        if config.position_embedding_type == "absolute":
            self.position_embeddings = nn.Embed(config.max_position_embeddings, config.hidden_size, **embed)
        self.token_type_embeddings = nn.Embed(config.type_vocab_size, config.hidden_size, **embed)
        self.LayerNorm = layer_norm(self.config, self.options)
        self.dropout = Dropout(rate=config.hidden_dropout_prob)

    def __call__(self, input_ids: jax.Array, token_type_ids: jax.Array, position_ids: jax.Array,
                 deterministic: bool) -> jax.Array:
        """input_ids, token_type_ids, position_ids: [batch, seq] -> [batch, seq, hidden]."""
        if self.config.position_embedding_type == "absolute":
            positions = self.position_embeddings(position_ids)
        else:
            table = sinusoidal_table(self.config.max_position_embeddings, self.config.hidden_size)
            positions = jnp.asarray(table, dtype=self.options.dtype)[position_ids]
        embeddings = self.word_embeddings(input_ids) + positions + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(embeddings), deterministic=deterministic)


class BertResidualOutput(nn.Module):
    """Dense, dropout, residual add and LayerNorm (HF's `attention.output` and `output`)."""

    config: BertConfig
    options: ModelOptions

    @nn.compact
    def __call__(self, hidden_states: jax.Array, residual: jax.Array, deterministic: bool) -> jax.Array:
        hidden_states = dense(self.config, self.options, self.config.hidden_size, "dense")(hidden_states)
        hidden_states = Dropout(rate=self.config.hidden_dropout_prob)(hidden_states, deterministic=deterministic)
        return layer_norm(self.config, self.options)(hidden_states + residual)


class BertAttention(nn.Module):
    config: BertConfig
    options: ModelOptions

    @nn.compact
    def __call__(self, hidden_states: jax.Array, attention_mask: jax.Array, deterministic: bool,
                 output_attentions: bool) -> tuple[jax.Array, jax.Array | None]:
        context, probabilities = BertSelfAttention(self.config, self.options, name="self")(
            hidden_states, attention_mask, deterministic, output_attentions)
        output = BertResidualOutput(self.config, self.options, name="output")(context, hidden_states, deterministic)
        return output, probabilities


class BertIntermediate(nn.Module):
    config: BertConfig
    options: ModelOptions

    @nn.compact
    def __call__(self, hidden_states: jax.Array) -> jax.Array:
        hidden_states = dense(self.config, self.options, self.config.intermediate_size, "dense")(hidden_states)
        return ACTIVATION_FUNCTIONS[self.config.hidden_act](hidden_states)


class BertLayer(nn.Module):
    """One transformer layer. Call signature fits `nn.scan`: (hidden, mask) -> (hidden, per-layer outputs)."""

    config: BertConfig
    options: ModelOptions
    deterministic: bool = True
    output_attentions: bool = False

    @nn.compact
    def __call__(self, hidden_states: jax.Array, attention_mask: jax.Array
                 ) -> tuple[jax.Array, tuple[jax.Array, jax.Array | None]]:
        """hidden_states: [batch, seq, hidden]; attention_mask: [batch, seq] or [batch, seq, seq]."""
        attended, probabilities = BertAttention(self.config, self.options, name="attention")(
            hidden_states, attention_mask, self.deterministic, self.output_attentions)
        intermediate = BertIntermediate(self.config, self.options, name="intermediate")(attended)
        output = BertResidualOutput(self.config, self.options, name="output")(
            intermediate, attended, self.deterministic)
        return output, (output, probabilities)


class BertEncoder(nn.Module):
    """The stack of layers. Returns the last hidden state and, per layer, hidden states and attention weights."""

    config: BertConfig
    options: ModelOptions

    @nn.compact
    def __call__(self, hidden_states: jax.Array, attention_mask: jax.Array, deterministic: bool,
                 output_attentions: bool) -> tuple[jax.Array, list[jax.Array], list[jax.Array] | None]:
        options = self.options
        layer_class = BertLayer
        if options.remat != "none":
            layer_class = nn.remat(BertLayer, policy=options.remat_policy(), prevent_cse=not options.scan_layers)
        layer_kwargs = dict(config=self.config, options=options, deterministic=deterministic,
                            output_attentions=output_attentions)
        if options.scan_layers:
            scanned = nn.scan(layer_class, variable_axes={"params": 0}, split_rngs={"params": True, "dropout": True},
                              in_axes=nn.broadcast, length=self.config.num_hidden_layers)
            hidden_states, (per_layer, probabilities) = scanned(**layer_kwargs, name="layer")(
                hidden_states, attention_mask)
            layer_outputs = list(per_layer)
            attentions = list(probabilities) if output_attentions else None
        else:
            layer_outputs, attentions = [], []
            for index in range(self.config.num_hidden_layers):
                hidden_states, (_, probabilities) = layer_class(**layer_kwargs, name=f"layer_{index}")(
                    hidden_states, attention_mask)
                layer_outputs.append(hidden_states)
                attentions.append(probabilities)
            attentions = attentions if output_attentions else None
        return hidden_states, layer_outputs, attentions


class BertPooler(nn.Module):
    config: BertConfig
    options: ModelOptions

    @nn.compact
    def __call__(self, hidden_states: jax.Array, positions: jax.Array | None = None) -> jax.Array:
        """[batch, seq, hidden] -> tanh(dense(first token)): [batch, hidden]; with positions [batch, k] (the
        [CLS] tokens of packed sequences), tanh(dense(token at each position)): [batch, k, hidden]."""
        if positions is None:
            selected = hidden_states[:, 0]
        else:
            selected = jnp.take_along_axis(hidden_states, positions[..., None], axis=1)
        return jnp.tanh(dense(self.config, self.options, self.config.hidden_size, "dense")(selected))


@flax.struct.dataclass
class BertOutput:
    last_hidden_state: jax.Array  # [batch, seq, hidden]
    pooled_output: jax.Array | None  # [batch, hidden], or [batch, k, hidden] at k pooled positions
    hidden_states: tuple[jax.Array, ...] | None = None  # embeddings, then each layer's output
    attentions: tuple[jax.Array, ...] | None = None  # each layer's [batch, heads, seq, seq]


class BertModel(nn.Module):
    """The BERT encoder with an optional pooler; parameters are named as in Hugging Face's `bert.*`."""

    config: BertConfig
    options: ModelOptions = ModelOptions()
    add_pooling_layer: bool = True

    def setup(self) -> None:
        self.embeddings = BertEmbeddings(self.config, self.options)
        self.encoder = BertEncoder(self.config, self.options)
        if self.add_pooling_layer:
            self.pooler = BertPooler(self.config, self.options)

    def __call__(self, input_ids: jax.Array, attention_mask: jax.Array | None = None,
                 token_type_ids: jax.Array | None = None, position_ids: jax.Array | None = None,
                 deterministic: bool = True, output_hidden_states: bool = False,
                 output_attentions: bool = False, pooled_positions: jax.Array | None = None) -> BertOutput:
        """input_ids and the optional ids: [batch, seq] integers; attention_mask: [batch, seq] (1 = token,
        0 = padding) or [batch, seq, seq] (1 where a query may attend to a key); pooled_positions: [batch, k]
        tokens to pool instead of the first (the [CLS] tokens of packed sequences)."""
        if attention_mask is None:
            attention_mask = jnp.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = jnp.zeros_like(input_ids)
        if position_ids is None:
            position_ids = jnp.broadcast_to(jnp.arange(input_ids.shape[-1]), input_ids.shape)
        embedded = self.embeddings(input_ids, token_type_ids, position_ids, deterministic)
        hidden, layer_outputs, attentions = self.encoder(embedded, attention_mask, deterministic, output_attentions)
        return BertOutput(
            last_hidden_state=hidden,
            pooled_output=self.pooler(hidden, pooled_positions) if self.add_pooling_layer else None,
            hidden_states=(embedded, *layer_outputs) if output_hidden_states else None,
            attentions=tuple(attentions) if output_attentions else None,
        )
