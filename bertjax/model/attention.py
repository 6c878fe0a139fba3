"""Multi-head self-attention: a reference implementation and XLA/cuDNN fused kernels, rotary positions and local
(sliding-window) attention, computed over its band only where the rows are several windows long.

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
from bertjax.model.primitives import dense, einsum
from bertjax.model.rotary import apply_rotary

MASK_VALUE = jnp.finfo(jnp.float32).min
BANDED_MIN_WINDOWS = 4  # rows at least this many windows long attend over the band only (see `uses_band`)


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
        scores = einsum("bqhd,bkhd->bhqk", query[rows], key[rows], jnp.float32) * scale
        # Masked scores are set to the float32 minimum, not offset by it as in Hugging Face: the same probabilities,
        # and XLA then broadcasts the boolean mask over the heads instead of materialising a float32 bias
        # [batch, heads, queries, keys] (6 MB less scratch at bert-base inference, 4 x 128).
        chunk_probabilities = jax.nn.softmax(jnp.where(attended[rows], scores, MASK_VALUE), axis=-1)
        dropped = dropout.apply_mask(chunk_probabilities, None if keep is None else keep[rows])
        contexts.append(einsum("bhqk,bkhd->bqhd", dropped.astype(value.dtype), value[rows]))
        probabilities.append(chunk_probabilities)
    return jnp.concatenate(contexts), jnp.concatenate(probabilities)


def uses_band(seq: int, window: int | jax.Array | None) -> bool:
    """Whether local attention over rows of `seq` tokens runs `banded_attention`: for a window given as a Python
    int (under `nn.scan` it is looked up by layer, a traced value) and rows at least `BANDED_MIN_WINDOWS` windows
    long. Each query block reads three blocks of keys, so the band does 3 * window / seq of the full work.

    Measured on 2 CPU cores (8 heads of 64, batch 8, window 64, both in 4 batch slices): at two and three windows
    the band took up to twice the masked full attention's time; at four (256 tokens) the same forward and 1.2x
    less with gradients; at sixteen (1,024 tokens) 2.3x less forward, 3.7x with gradients."""
    return isinstance(window, int) and window > 0 and seq >= BANDED_MIN_WINDOWS * window


def _key_blocks(keys: jax.Array, window: int, blocks: int) -> jax.Array:
    """[batch, seq, ...] -> [batch, blocks, 3 * window, ...]: for each block of `window` queries, the keys from one
    window before its start to one window after its end (padding beyond the row is zeros)."""
    padding = [(0, 0)] * keys.ndim
    padding[1] = (window, (blocks + 1) * window - keys.shape[1])
    padded = jnp.pad(keys, padding).reshape(keys.shape[0], blocks + 2, window, *keys.shape[2:])
    return jnp.concatenate([padded[:, :blocks], padded[:, 1:blocks + 1], padded[:, 2:]], axis=2)


def band_mask(attention_mask: jax.Array, window: int) -> jax.Array:
    """The local attention mask (`local_attention_mask`) over each query block's `_key_blocks` only:
    [batch, keys] or [batch, queries, keys] -> bool [batch, blocks, window, 3 * window]. A [batch, queries, keys]
    mask's band is gathered from it; a [batch, keys] one is never broadcast to the full square."""
    seq = attention_mask.shape[1]
    blocks = -(-seq // window)
    offsets = jnp.arange(3 * window)[None, :] - jnp.arange(window)[:, None]  # key slot - query in block
    near = (offsets >= 0) & (offsets <= 2 * window)  # [window, 3 * window]: |query - key| <= window
    if attention_mask.ndim == 2:
        return near & _key_blocks(attention_mask > 0, window, blocks)[:, :, None, :]
    padded = jnp.pad(attention_mask > 0, ((0, 0), (0, blocks * window - seq), (window, (blocks + 1) * window - seq)))
    rows = padded.reshape(attention_mask.shape[0], blocks, window, (blocks + 2) * window)
    columns = jnp.arange(blocks)[:, None, None] * window + jnp.arange(3 * window)  # [blocks, 1, 3 * window]
    return near & jnp.take_along_axis(rows, columns[None], axis=-1)


def banded_attention(query: jax.Array, key: jax.Array, value: jax.Array, attention_mask: jax.Array, window: int,
                     dropout: Dropout, deterministic: bool, chunks: int = 1) -> jax.Array:
    """`reference_attention` under `local_attention_mask(attention_mask, window)`, computing only the band: the
    queries in blocks of `window` (the row padded to whole blocks), each block against its own keys and its two
    neighbours' (`_key_blocks`), so 3 * window keys per query instead of seq.

    query, key: [batch, seq, heads, head_size]; value: [batch, seq, heads, value_size]; attention_mask: see the
    module docstring; chunks: as `reference_attention`'s. A query with no key to attend to (padding whose window
    holds only padding) gets, as in the full attention, the mean of the row's values (uniform probabilities;
    without dropout, as nothing is trained on it). Returns the context [batch, seq, heads, value_size].
    """
    batch, seq, heads, _ = query.shape
    blocks = -(-seq // window)
    scale = 1.0 / math.sqrt(query.shape[-1])
    query_blocks = jnp.pad(query, ((0, 0), (0, blocks * window - seq), (0, 0), (0, 0))).reshape(
        batch, blocks, window, *query.shape[2:])  # [batch, blocks, window, heads, head_size]
    key_blocks, value_blocks = (_key_blocks(array, window, blocks) for array in (key, value))
    attended = band_mask(attention_mask, window)  # [batch, blocks, window, 3 * window]
    keep = dropout.keep_mask((batch, blocks, heads, window, 3 * window), deterministic)
    contexts = []
    for start in range(0, batch, batch // chunks):
        rows = slice(start, start + batch // chunks)
        scores = einsum("bnqhd,bnkhd->bnhqk", query_blocks[rows], key_blocks[rows], jnp.float32) * scale
        probabilities = jax.nn.softmax(jnp.where(attended[rows, :, None], scores, MASK_VALUE), axis=-1)
        dropped = dropout.apply_mask(probabilities, None if keep is None else keep[rows])
        contexts.append(einsum("bnhqk,bnkhd->bnqhd", dropped.astype(value.dtype), value_blocks[rows]))
    empty = ~jnp.any(attended, axis=-1)[..., None, None]  # [batch, blocks, window, 1, 1]
    row_mean = jnp.mean(value, axis=1, dtype=jnp.float32).astype(value.dtype)[:, None, None]
    context = jnp.where(empty, row_mean, jnp.concatenate(contexts))
    return context.reshape(batch, blocks * window, heads, value.shape[-1])[:, :seq]


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
        dropout = Dropout(rate=architecture.attention_dropout)
        needs_reference = output_attentions or (not deterministic and architecture.attention_dropout > 0)
        banded = (uses_band(seq, window) and not output_attentions
                  and (options.attention == "reference" or needs_reference))
        if window is not None and not banded:
            attention_mask = local_attention_mask(attention_mask, window)
        chunks = options.batch_chunks(batch, config.hidden_size)
        if banded:
            context = banded_attention(*projections, attention_mask, window, dropout, deterministic, chunks)
            probabilities = None
        elif options.attention == "reference" or needs_reference:
            context, probabilities = reference_attention(*projections, attention_mask, dropout, deterministic,
                                                         chunks=chunks)
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
