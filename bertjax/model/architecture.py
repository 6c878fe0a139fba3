"""`Architecture`: what the shared encoder computes, the table that each family's config fills.

BERT (2018) and ModernBERT (2024) are one encoder with different choices: positions added to the embeddings or
rotated into queries and keys, the norm after each residual add or before each sublayer, a plain or gated MLP, biases
or none, global attention in every layer or a sliding window in most. The modules in `bertjax.model` read these
choices here, never a family's own config fields, so that a new family is a new way of filling this table.
"""

from __future__ import annotations

import dataclasses

POSITIONS = ("absolute", "sinusoidal", "rotary")
POOLINGS = ("pooler", "cls", "mean")


@dataclasses.dataclass(frozen=True)
class Architecture:
    """The computation of an encoder family; `config.architecture` gives a config's.

    Parameter names follow each family's checkpoints (`*_name` fields), so that weights convert one to one.
    """

    family: str  # the config.json `model_type`: `bert` or `modernbert`
    encoder_name: str  # the encoder's scope in every head: `bert` or `model`
    word_embeddings_name: str  # `word_embeddings` or `tok_embeddings`
    norm_name: str  # the embeddings' and the prediction head's norm: `LayerNorm` or `norm`
    span_outputs_name: str  # question answering's start/end projection: `qa_outputs` or `classifier`

    # Embeddings: word embeddings, plus learned or fixed positions, plus token types; a norm; dropout.
    positions: str  # `absolute` (learned), `sinusoidal` (fixed table) or `rotary` (applied to queries and keys)
    token_types: int  # rows of the token type embeddings; 0: none (token_type_ids are ignored)
    embedding_dropout: float

    # Layers.
    pre_norm: bool  # x + f(norm(x)) with a final norm (the first layer reads the embedding norm's output as it is);
    # else norm(x + f(x))
    fused_projections: bool  # queries, keys and values from one [hidden, 3 * hidden] kernel (`Wqkv`)
    gated_mlp: bool  # the MLP's input projection gives an input and a gate: activation(input) * gate (GeGLU)
    activation: str  # the MLP's
    norm_eps: float
    norm_bias: bool
    attention_bias: bool
    mlp_bias: bool
    windows: tuple[int | None, ...]  # per layer: a query attends to keys at most this many tokens away; None: all
    rope_thetas: tuple[float | None, ...]  # per layer: the rotary base (None without rotary positions)
    attention_dropout: float  # on the attention probabilities
    attention_output_dropout: float  # on the attention's output projection
    mlp_dropout: float  # inside the MLP, before its output projection
    output_dropout: float  # on the MLP's output projection

    # Heads.
    pooling: str  # what sequence heads read: `pooler` (tanh dense on [CLS]), the `cls` hidden state or the `mean`
    prediction_head: bool  # every head reads the hidden states through a prediction head (dense, activation,
    # norm) first, as ModernBERT's `head`; else only the masked-LM head does (BERT's `transform`)
    head_activation: str  # the prediction head's
    head_bias: bool  # the prediction head's dense
    decoder_bias: bool  # the masked-LM decoder's
    classifier_dropout: float

    # Initialisation: None, normal(initializer_range) as BERT's; else ModernBERT's normals truncated at this many
    # standard deviations, with output projections at initializer_range / sqrt(2 * layers) and classifiers at
    # hidden_size ** -0.5.
    init_cutoff: float | None

    @property
    def attention_kinds(self) -> tuple[tuple[int | None, float | None], ...]:
        """The distinct (window, rotary base) pairs of the layers, in a fixed order."""
        return tuple(sorted(set(zip(self.windows, self.rope_thetas)), key=lambda kind: (
            kind[0] is None, kind[0] or 0, kind[1] is None, kind[1] or 0.0)))

    @property
    def layer_kinds(self) -> tuple[int, ...]:
        """Per layer, the index of its (window, rotary base) in `attention_kinds`."""
        kinds = self.attention_kinds
        return tuple(kinds.index(kind) for kind in zip(self.windows, self.rope_thetas))

    @property
    def first_scanned_layer(self) -> int:
        """Layers from here on have the same parameters and run under `nn.scan`; a pre-norm encoder's first layer
        has no attention norm of its own, so it runs on its own."""
        return 1 if self.pre_norm else 0
