"""Multi-head self-attention: a reference implementation and XLA/cuDNN fused kernels, rotary positions and local
(sliding-window) attention.

The attention mask is [batch, keys] (1 = token, 0 = padding), as in Hugging Face, or [batch, queries, keys] (1 where
a query may attend to a key), e.g. the block-diagonal mask of packed sequences. The `cudnn` kernel reads a
[batch, keys] mask as each row's number of tokens, so its padding must come at the end of the row, where BERT's
tokenizers and bertjax's batches put it.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from bertjax.model.config import ModelConfig
from bertjax.model.dropout import Dropout
from bertjax.model.options import ModelOptions
from bertjax.model.primitives import dense
from bertjax.model.rotary import apply_rotary

MASK_VALUE = jnp.finfo(jnp.float32).min


def packed_attention_mask(sequence_ids: jax.Array) -> jax.Array:
    """[batch, seq] ids of packed sequences (0 = padding) -> [batch, seq, seq] bool: each token attends only to
    its own sequence (padding to padding, so that no row is empty)."""
    return sequence_ids[:, :, None] == sequence_ids[:, None, :]


def local_attention_mask(attention_mask: jax.Array, window: int | jax.Array) -> jax.Array:
    """The mask ([batch, keys] or [batch, queries, keys]) with each query limited to the keys at most `window`
    tokens away: [batch, queries, keys] bool.

    The distance is counted in tokens of the row, as transformers counts it. In a packed row that is the distance
    within each sequence, whose tokens are consecutive, and the block-diagonal mask keeps the other sequences out.
    """
    positions = jnp.arange(attention_mask.shape[-1])
    near = jnp.abs(positions[:, None] - positions[None, :]) <= window  # [queries, keys]
    mask = attention_mask[:, None, :] if attention_mask.ndim == 2 else attention_mask
    return (mask > 0) & near


def _head_broadcast(attention_mask: jax.Array) -> jax.Array:
    """[batch, keys] or [batch, queries, keys] -> bool [batch, 1, 1 or queries, keys]."""
    if attention_mask.ndim == 2:
        attention_mask = attention_mask[:, None, :]
    return attention_mask[:, None, :, :] > 0


def kernel_mask(attention_mask: jax.Array, kernel: str) -> dict[str, jax.Array]:
    """The mask as `jax.nn.dot_product_attention` takes it for `kernel` (`fused` or `cudnn`), as keyword arguments.

    cuDNN adds a mask only over whole [queries, keys] blocks, so a padding mask [batch, keys] goes to it as each
    row's number of tokens (its padding mask, which also skips the padded keys). A row with no tokens at all (a
    filler row of a last batch) keeps one key: cuDNN's result for none is undefined, and the row is ignored anyway.
    """
    if kernel == "cudnn" and attention_mask.ndim == 2:
        lengths = jnp.sum(attention_mask > 0, axis=-1, dtype=jnp.int32)  # [batch]
        return {"key_value_seq_lengths": jnp.maximum(lengths, 1)}
    return {"mask": _head_broadcast(attention_mask)}


def reference_attention(query: jax.Array, key: jax.Array, value: jax.Array, attention_mask: jax.Array,
                        dropout: Dropout, deterministic: bool, chunks: int = 1) -> tuple[jax.Array, jax.Array]:
    """Softmax attention computed explicitly; the softmax is float32 whatever the compute dtype.

    query, key, value: [batch, seq, heads, head_size]; attention_mask: see the module docstring.
    chunks: the work is done on this many equal slices of the batch, one after another in the program. The slices
    are independent, so XLA's CPU runtime runs them at once: its batched matmuls of one attention head's size use
    a single core each. The dropout mask is drawn for the whole batch, so it does not depend on `chunks`.
    Returns the context [batch, seq, heads, head_size] and the probabilities [batch, heads, seq, seq].
    """
    batch, queries, heads, _ = query.shape
    scale = 1.0 / math.sqrt(query.shape[-1])
    attended = _head_broadcast(attention_mask)
    keep = dropout.keep_mask((batch, heads, queries, key.shape[1]), deterministic)
    contexts, probabilities = [], []
    for start in range(0, batch, batch // chunks):
        rows = slice(start, start + batch // chunks)
        scores = jnp.einsum("bqhd,bkhd->bhqk", query[rows], key[rows]).astype(jnp.float32) * scale
        # Masked scores are set to the float32 minimum, not offset by it as in Hugging Face: the same probabilities,
        # and XLA then broadcasts the boolean mask over the heads instead of materialising a float32 bias
        # [batch, heads, queries, keys] (6 MB less scratch at bert-base inference, 4 x 128).
        chunk_probabilities = jax.nn.softmax(jnp.where(attended[rows], scores, MASK_VALUE), axis=-1)
        dropped = dropout.apply_mask(chunk_probabilities, None if keep is None else keep[rows])
        contexts.append(jnp.einsum("bhqk,bkhd->bqhd", dropped.astype(value.dtype), value[rows]))
        probabilities.append(chunk_probabilities)
    return jnp.concatenate(contexts), jnp.concatenate(probabilities)


class SelfAttention(nn.Module):
    """Query, key and value projections, rotary positions, attention over the heads and, where the family keeps it
    in the same scope, the output projection: BERT's `attention.self` (query, key, value) or ModernBERT's `attn`
    (Wqkv, Wo)."""

    config: ModelConfig
    options: ModelOptions
    output_projection: str | None = None  # the name of the output projection in this scope (ModernBERT's `Wo`)

    @nn.compact
    def __call__(self, hidden_states: jax.Array, attention_mask: jax.Array, deterministic: bool,
                 output_attentions: bool = False, rotary: jax.Array | None = None,
                 window: int | jax.Array | None = None) -> tuple[jax.Array, jax.Array | None]:
        """hidden_states: [batch, seq, hidden]; rotary: a [2, batch, seq, head_size / 2] `rotary_table` applied to
        queries and keys; window: attend only to keys this many tokens away or nearer (None: to all).
        Returns the context [batch, seq, hidden] and, with output_attentions, the probabilities
        [batch, heads, seq, seq]."""
        config, options, architecture = self.config, self.options, self.config.architecture
        batch, seq, _ = hidden_states.shape
        heads = (config.num_attention_heads, config.head_size)
        bias = architecture.attention_bias
        if architecture.fused_projections:
            # One matmul on the kernel as the checkpoint stores it: [batch, seq, (query, key, value), heads, size].
            fused = dense(config, options, 3 * config.hidden_size, "Wqkv", use_bias=bias)(hidden_states)
            projections = list(jnp.unstack(fused.reshape(batch, seq, 3, *heads), axis=2))
        else:
            # Three matmuls, not one on the concatenated kernels: the concatenation copied the kernels at every step
            # and training kept the copies for the backward pass (70 MiB at bert-base), for no speed.
            projections = [dense(config, options, config.hidden_size, name, use_bias=bias)(hidden_states).reshape(
                batch, seq, *heads) for name in ("query", "key", "value")]  # 3 x [batch, seq, heads, head_size]
        if rotary is not None:
            projections[:2] = [apply_rotary(projection, rotary) for projection in projections[:2]]
        if window is not None:
            attention_mask = local_attention_mask(attention_mask, window)
        dropout = Dropout(rate=architecture.attention_dropout)
        needs_reference = output_attentions or (not deterministic and architecture.attention_dropout > 0)
        if options.attention == "reference" or needs_reference:
            context, probabilities = reference_attention(*projections, attention_mask, dropout, deterministic,
                                                         chunks=options.batch_chunks(batch, config.hidden_size))
        else:
            implementation = "cudnn" if options.attention == "cudnn" else None
            context = jax.nn.dot_product_attention(*projections, **kernel_mask(attention_mask, options.attention),
                                                   implementation=implementation)
            probabilities = None
        context = context.reshape(batch, seq, config.hidden_size)
        if self.output_projection is not None:
            context = dense(config, options, config.hidden_size, self.output_projection, role="output",
                            use_bias=bias)(context)
        return context, probabilities if output_attentions else None
