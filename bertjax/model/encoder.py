"""The encoder of every family: embeddings, layers configured by the config's `Architecture` (optionally scanned and
rematerialised), a final norm where the layers are pre-norm, and the pooling that sequence heads read."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from bertjax.model.activations import ACTIVATION_FUNCTIONS
from bertjax.model.architecture import Architecture
from bertjax.model.attention import SelfAttention
from bertjax.model.config import ModelConfig
from bertjax.model.dropout import Dropout
from bertjax.model.options import ModelOptions
from bertjax.model.primitives import dense, initializer, layer_norm
from bertjax.model.rotary import rotary_table


def sinusoidal_table(length: int, width: int) -> np.ndarray:
    """PE[pos, 2i] = sin(pos / 10000^(2i/width)), PE[pos, 2i+1] = cos(...): [length, width] float32."""
    positions = np.arange(length, dtype=np.float64)[:, None]
    frequencies = 1.0 / np.power(10000.0, np.arange(0, width, 2, dtype=np.float64) / width)
    table = np.zeros((length, width), dtype=np.float64)
    table[:, 0::2] = np.sin(positions * frequencies)
    table[:, 1::2] = np.cos(positions * frequencies[: width // 2])
    return table.astype(np.float32)


def _word_embedding_init(config: ModelConfig) -> Any:
    """As transformers initialises the word embeddings: BERT's normal(initializer_range) with the padding row zeroed;
    ModernBERT's truncated normal over every row (its own initialisation overwrites the zeroed padding row)."""
    if config.architecture.init_cutoff is not None:
        return initializer(config)
    normal = nn.initializers.normal(config.initializer_range)

    def init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        table = normal(key, shape, dtype)
        return table if config.pad_token_id is None else table.at[config.pad_token_id].set(0)

    return init


class Embeddings(nn.Module):
    """Word embeddings, plus position and token type embeddings where the family has them; a norm; dropout."""

    config: ModelConfig
    options: ModelOptions

    def setup(self) -> None:
        config, options, architecture = self.config, self.options, self.config.architecture
        embed = dict(dtype=options.dtype, param_dtype=options.param_dtype,
                     embedding_init=nn.initializers.normal(config.initializer_range))
        self.word_embeddings = nn.Embed(config.vocab_size, config.hidden_size,
                                        **{**embed, "embedding_init": _word_embedding_init(config)},
                                        name=architecture.word_embeddings_name)
        if architecture.positions == "absolute":
            self.position_embeddings = nn.Embed(config.max_position_embeddings, config.hidden_size, **embed)
        if architecture.token_types:
            self.token_type_embeddings = nn.Embed(architecture.token_types, config.hidden_size, **embed)
        self.norm = layer_norm(config, options, architecture.norm_name)
        self.dropout = Dropout(rate=architecture.embedding_dropout)

    def __call__(self, input_ids: jax.Array, token_type_ids: jax.Array, position_ids: jax.Array,
                 deterministic: bool) -> jax.Array:
        """input_ids, token_type_ids, position_ids: [batch, seq] -> [batch, seq, hidden]. Rotary positions are not
        added here (the attention applies them); without token type embeddings, token_type_ids are ignored."""
        architecture = self.config.architecture
        embeddings = self.word_embeddings(input_ids)
        if architecture.positions == "absolute":
            embeddings = embeddings + self.position_embeddings(position_ids)
        elif architecture.positions == "sinusoidal":
            table = sinusoidal_table(self.config.max_position_embeddings, self.config.hidden_size)
            embeddings = embeddings + jnp.asarray(table, dtype=self.options.dtype)[position_ids]
        if architecture.token_types:
            embeddings = embeddings + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.norm(embeddings), deterministic=deterministic)


class ResidualOutput(nn.Module):
    """Dense, dropout, residual add and norm: a post-norm layer's output (BERT's `attention.output` and `output`)."""

    config: ModelConfig
    options: ModelOptions
    dropout_rate: float

    @nn.compact
    def __call__(self, hidden_states: jax.Array, residual: jax.Array, deterministic: bool) -> jax.Array:
        hidden_states = dense(self.config, self.options, self.config.hidden_size, "dense", role="output")(
            hidden_states)
        hidden_states = Dropout(rate=self.dropout_rate)(hidden_states, deterministic=deterministic)
        return layer_norm(self.config, self.options)(hidden_states + residual)


class PostNormAttention(nn.Module):
    """Self-attention, then its `ResidualOutput` (BERT's `attention`: `self` and `output`)."""

    config: ModelConfig
    options: ModelOptions

    @nn.compact
    def __call__(self, hidden_states: jax.Array, attention_mask: jax.Array, deterministic: bool,
                 output_attentions: bool, rotary: jax.Array | None, window: int | jax.Array | None
                 ) -> tuple[jax.Array, jax.Array | None]:
        context, probabilities = SelfAttention(self.config, self.options, name="self")(
            hidden_states, attention_mask, deterministic, output_attentions, rotary, window)
        output = ResidualOutput(self.config, self.options, self.config.architecture.attention_output_dropout,
                                name="output")(context, hidden_states, deterministic)
        return output, probabilities


class FeedForward(nn.Module):
    """The MLP's input projection and activation (gated: activation(input) * gate, from one projection holding
    both), and, where the family keeps it in the same scope, dropout and the output projection: BERT's
    `intermediate` (dense) or ModernBERT's `mlp` (Wi, Wo)."""

    config: ModelConfig
    options: ModelOptions
    input_projection: str = "dense"
    output_projection: str | None = None

    @nn.compact
    def __call__(self, hidden_states: jax.Array, deterministic: bool) -> jax.Array:
        """[batch, seq, hidden] -> [batch, seq, intermediate], or [batch, seq, hidden] with the output projection."""
        config, options, architecture = self.config, self.options, self.config.architecture
        activation = ACTIVATION_FUNCTIONS[architecture.activation]
        width = config.intermediate_size * (2 if architecture.gated_mlp else 1)
        projected = dense(config, options, width, self.input_projection, use_bias=architecture.mlp_bias)(
            hidden_states)
        if architecture.gated_mlp:
            inputs, gate = jnp.split(projected, 2, axis=-1)
            hidden_states = activation(inputs) * gate
        else:
            hidden_states = activation(projected)
        if self.output_projection is None:
            return hidden_states
        hidden_states = Dropout(rate=architecture.mlp_dropout)(hidden_states, deterministic=deterministic)
        return dense(config, options, config.hidden_size, self.output_projection, role="output",
                     use_bias=architecture.mlp_bias)(hidden_states)


def _window_and_rotary(architecture: Architecture, rotary_tables: jax.Array | None, kind: int | jax.Array
                       ) -> tuple[int | jax.Array | None, jax.Array | None]:
    """The attention window and rotary table of a layer of `kind` (an index into `architecture.attention_kinds`):
    fixed for an int, looked up for a traced index (the layers under `nn.scan`), where global attention is a window
    wider than any sequence."""
    windows = [window for window, _ in architecture.attention_kinds]
    rotary = None if rotary_tables is None else rotary_tables[kind]
    if isinstance(kind, int):
        return windows[kind], rotary
    if all(window is None for window in windows):
        return None, rotary
    widest = np.iinfo(np.int32).max
    return jnp.asarray([widest if window is None else window for window in windows], jnp.int32)[kind], rotary


class EncoderLayer(nn.Module):
    """One transformer layer: post-norm, norm(x + f(x)) (BERT), or pre-norm, x + f(norm(x)) (ModernBERT).

    The call signature fits `nn.scan`: (hidden, mask, rotary tables, kind) -> (hidden, per-layer outputs).
    """

    config: ModelConfig
    options: ModelOptions
    deterministic: bool = True
    output_attentions: bool = False
    input_norm: bool = True  # False: a pre-norm layer that reads the embedding norm's output as it is

    @nn.compact
    def __call__(self, hidden_states: jax.Array, attention_mask: jax.Array, rotary_tables: jax.Array | None,
                 kind: int | jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array | None]]:
        """hidden_states: [batch, seq, hidden]; attention_mask: [batch, seq] or [batch, seq, seq]; rotary_tables:
        [kinds, 2, batch, seq, head_size / 2] or None; kind: this layer's index in `architecture.attention_kinds`."""
        config, options, architecture = self.config, self.options, self.config.architecture
        window, rotary = _window_and_rotary(architecture, rotary_tables, kind)
        attention_arguments = (attention_mask, self.deterministic, self.output_attentions, rotary, window)
        if architecture.pre_norm:
            normed = layer_norm(config, options, "attn_norm")(hidden_states) if self.input_norm else hidden_states
            attended, probabilities = SelfAttention(config, options, output_projection="Wo", name="attn")(
                normed, *attention_arguments)
            hidden_states = hidden_states + Dropout(rate=architecture.attention_output_dropout)(
                attended, deterministic=self.deterministic)
            transformed = FeedForward(config, options, "Wi", "Wo", name="mlp")(
                layer_norm(config, options, "mlp_norm")(hidden_states), self.deterministic)
            output = hidden_states + Dropout(rate=architecture.output_dropout)(
                transformed, deterministic=self.deterministic)
        else:
            attended, probabilities = PostNormAttention(config, options, name="attention")(
                hidden_states, *attention_arguments)
            intermediate = FeedForward(config, options, name="intermediate")(attended, self.deterministic)
            output = ResidualOutput(config, options, architecture.output_dropout, name="output")(
                intermediate, attended, self.deterministic)
        return output, (output, probabilities)


def _layer_class(options: ModelOptions, scanned: bool) -> Any:
    """EncoderLayer, rematerialised as the options say; outside `nn.scan` its kind stays a Python int."""
    if options.remat == "none":
        return EncoderLayer
    return nn.remat(EncoderLayer, policy=options.remat_policy(), prevent_cse=not scanned,
                    static_argnums=() if scanned else (4,))


class Encoder(nn.Module):
    """The stack of layers. Returns the last hidden state and, per layer, hidden states and attention weights.

    Under `scan_layers`, the layers from `architecture.first_scanned_layer` on run under `nn.scan` as one stacked
    `layer`; the ones before keep their own parameters (`layer_0`).
    """

    config: ModelConfig
    options: ModelOptions

    @nn.compact
    def __call__(self, hidden_states: jax.Array, attention_mask: jax.Array, position_ids: jax.Array,
                 deterministic: bool, output_attentions: bool
                 ) -> tuple[jax.Array, list[jax.Array], list[jax.Array] | None]:
        config, options, architecture = self.config, self.options, self.config.architecture
        rotary_tables = None
        if architecture.positions == "rotary":  # one table per distinct layer kind: [kinds, 2, batch, seq, size / 2]
            rotary_tables = jnp.stack([rotary_table(position_ids, theta, config.head_size)
                                       for _, theta in architecture.attention_kinds])
        kinds = architecture.layer_kinds
        layers = config.num_hidden_layers
        first_scanned = min(architecture.first_scanned_layer, layers) if options.scan_layers else layers
        layer_kwargs = dict(config=config, options=options, deterministic=deterministic,
                            output_attentions=output_attentions)
        layer_outputs, attentions = [], []
        for index in range(first_scanned):
            hidden_states, (_, probabilities) = _layer_class(options, scanned=False)(
                **layer_kwargs, input_norm=not (architecture.pre_norm and index == 0), name=f"layer_{index}")(
                hidden_states, attention_mask, rotary_tables, kinds[index])
            layer_outputs.append(hidden_states)
            attentions.append(probabilities)
        if first_scanned < layers:
            scanned = nn.scan(_layer_class(options, scanned=True), variable_axes={"params": 0},
                              split_rngs={"params": True, "dropout": True},
                              in_axes=(nn.broadcast, nn.broadcast, 0), length=layers - first_scanned)
            hidden_states, (per_layer, probabilities) = scanned(**layer_kwargs, name="layer")(
                hidden_states, attention_mask, rotary_tables, jnp.asarray(kinds[first_scanned:], jnp.int32))
            layer_outputs += list(per_layer)
            attentions += list(probabilities) if output_attentions else []
        return hidden_states, layer_outputs, attentions if output_attentions else None


class BertPooler(nn.Module):
    config: ModelConfig
    options: ModelOptions

    @nn.compact
    def __call__(self, selected: jax.Array) -> jax.Array:
        """[..., hidden] selected tokens -> tanh(dense(tokens))."""
        return jnp.tanh(dense(self.config, self.options, self.config.hidden_size, "dense")(selected))


@flax.struct.dataclass
class BertOutput:
    last_hidden_state: jax.Array  # [batch, seq, hidden]
    pooled_output: jax.Array | None  # [batch, hidden], or [batch, k, hidden] at k pooled positions
    hidden_states: tuple[jax.Array, ...] | None = None  # embeddings, then each layer's output (the last normed)
    attentions: tuple[jax.Array, ...] | None = None  # each layer's [batch, heads, seq, seq]


class BertModel(nn.Module):
    """The encoder of any family with its pooling; parameters are named as in the family's checkpoints
    (transformers' `bert.*` or ModernBERT's `model.*`)."""

    config: ModelConfig
    options: ModelOptions = ModelOptions()
    add_pooling_layer: bool = True  # compute `pooled_output` (with BERT's pooler, its parameters)

    def setup(self) -> None:
        architecture = self.config.architecture
        self.embeddings = Embeddings(self.config, self.options)
        self.encoder = Encoder(self.config, self.options)
        if architecture.pre_norm:
            self.final_norm = layer_norm(self.config, self.options, "final_norm")
        if self.add_pooling_layer and architecture.pooling == "pooler":
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
        hidden, layer_outputs, attentions = self.encoder(embedded, attention_mask, position_ids, deterministic,
                                                         output_attentions)
        if self.config.architecture.pre_norm:
            hidden = self.final_norm(hidden)
            layer_outputs[-1] = hidden  # as transformers reports the hidden states
        return BertOutput(
            last_hidden_state=hidden,
            pooled_output=self._pool(hidden, attention_mask, pooled_positions) if self.add_pooling_layer else None,
            hidden_states=(embedded, *layer_outputs) if output_hidden_states else None,
            attentions=tuple(attentions) if output_attentions else None,
        )

    def _pool(self, hidden: jax.Array, attention_mask: jax.Array, positions: jax.Array | None) -> jax.Array:
        """What sequence heads read: the pooler on [CLS] (BERT), the [CLS] hidden state or the mean over the tokens
        [CLS] attends to (ModernBERT's `classifier_pooling`); [batch, hidden], or [batch, k, hidden] at `positions`
        [batch, k] instead of the first token (with the mask of packed sequences, each one's mean over its own
        tokens)."""
        pooling = self.config.architecture.pooling
        if pooling == "mean":
            return attended_mean(hidden, attention_mask, positions)
        selected = hidden[:, 0] if positions is None else jnp.take_along_axis(hidden, positions[..., None], axis=1)
        return self.pooler(selected) if pooling == "pooler" else selected


def attended_mean(hidden: jax.Array, attention_mask: jax.Array, positions: jax.Array | None) -> jax.Array:
    """The mean of the hidden states [batch, seq, hidden] that the token at each of `positions` [batch, k] attends to
    (the mask [batch, seq] or [batch, seq, seq]): [batch, k, hidden], or [batch, hidden] for the first token when
    `positions` is None. Summed in float32 whatever the compute dtype."""
    queries = jnp.zeros((hidden.shape[0], 1), jnp.int32) if positions is None else positions
    if attention_mask.ndim == 2:  # every token attends to its row's tokens
        weights = jnp.broadcast_to(attention_mask[:, None, :], (*queries.shape, attention_mask.shape[-1]))
    else:
        weights = jnp.take_along_axis(attention_mask, queries[..., None], axis=1)  # [batch, k, seq]
    weights = weights.astype(hidden.dtype)
    total = jnp.einsum("bks,bsh->bkh", weights, hidden, preferred_element_type=jnp.float32)
    mean = (total / jnp.sum(weights, axis=-1, keepdims=True, dtype=jnp.float32)).astype(hidden.dtype)
    return mean[:, 0] if positions is None else mean
