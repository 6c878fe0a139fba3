"""Task heads on one shared encoder (`BertModel`), named as each family's transformers classes (`BertFor*`,
`ModernBertFor*`) so that their weights convert one to one.

Every head is called as `head(input_ids, attention_mask, token_type_ids, position_ids, deterministic)` and returns
a dict of logits; losses live in `bertjax.train.losses`. ModernBERT's heads read the hidden states through its
prediction head (`head`: dense, activation, norm), pool as its `classifier_pooling` says, and have no next-sentence
head (transformers has none either).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from bertjax.errors import ConfigError
from bertjax.model.activations import ACTIVATION_FUNCTIONS
from bertjax.model.config import ModelConfig
from bertjax.model.dropout import Dropout
from bertjax.model.encoder import BertModel
from bertjax.model.options import ModelOptions
from bertjax.model.primitives import dense, layer_norm, token_matmul

Logits = dict[str, jax.Array]


class PredictionHead(nn.Module):
    """Dense, activation, norm: BERT's masked-LM `transform`, ModernBERT's `head` (which every head of it reads)."""

    config: ModelConfig
    options: ModelOptions

    @nn.compact
    def __call__(self, hidden_states: jax.Array) -> jax.Array:
        """[..., hidden] -> [..., hidden]."""
        config, options, architecture = self.config, self.options, self.config.architecture
        hidden_states = dense(config, options, config.hidden_size, "dense", role="output",
                              use_bias=architecture.head_bias)(hidden_states)
        hidden_states = ACTIVATION_FUNCTIONS[architecture.head_activation](hidden_states)
        return layer_norm(config, options, architecture.norm_name)(hidden_states)


class MaskedLMDecoder(nn.Module):
    """The decoder tied to the word embeddings, plus its bias: BERT's `cls.predictions` (with the prediction head
    inside, as `transform`) or ModernBERT's `decoder` (its `head` beside it)."""

    config: ModelConfig
    options: ModelOptions
    transform: bool = False  # apply the prediction head first, kept in this scope

    @nn.compact
    def __call__(self, hidden_states: jax.Array, word_embeddings: jax.Array) -> jax.Array:
        """hidden_states: [..., hidden]; word_embeddings: [vocab, hidden] -> logits [..., vocab]."""
        config, options = self.config, self.options
        if not config.tie_word_embeddings:
            raise ConfigError("config field 'tie_word_embeddings' is false: a decoder of its own beside the word "
                              "embeddings, which bertjax's masked-LM head does not have (it ties them, as BERT and "
                              "ModernBERT do)")
        if self.transform:
            hidden_states = PredictionHead(config, options, name="transform")(hidden_states)
        logits = token_matmul(hidden_states, word_embeddings.astype(options.dtype).T)
        if not config.architecture.decoder_bias:
            return logits
        bias = self.param("bias", nn.initializers.zeros, (config.vocab_size,), options.param_dtype)
        return logits + bias.astype(options.dtype)


class BertPreTrainingHeads(nn.Module):
    """BERT's `cls`: the masked-LM head and/or the NSP classifier (`seq_relationship`)."""

    config: ModelConfig
    options: ModelOptions
    masked_lm: bool = True
    next_sentence: bool = True

    def setup(self) -> None:
        if self.masked_lm:
            self.predictions = MaskedLMDecoder(self.config, self.options, transform=True)
        if self.next_sentence:
            self.seq_relationship = dense(self.config, self.options, 2, "seq_relationship")

    def __call__(self, sequence_output: jax.Array, pooled_output: jax.Array | None, word_embeddings: jax.Array,
                 masked_positions: jax.Array | None) -> Logits:
        logits: Logits = {}
        if self.masked_lm:
            logits["mlm_logits"] = self.predictions(_at(sequence_output, masked_positions), word_embeddings)
        if self.next_sentence:
            logits["nsp_logits"] = self.seq_relationship(pooled_output)
        return logits


def _at(sequence_output: jax.Array, positions: jax.Array | None) -> jax.Array:
    """[batch, seq, hidden] -> the hidden states at `positions` [batch, predictions] (all of them for None): only the
    predicted positions reach the vocabulary projection."""
    if positions is None:
        return sequence_output
    return jnp.take_along_axis(sequence_output, positions[..., None], axis=1)


class _EncoderHead(nn.Module):
    """Shared plumbing: the encoder (with or without its pooling), the prediction head where the family's heads
    read one, and the classifier dropout."""

    config: ModelConfig
    options: ModelOptions = ModelOptions()
    add_pooling_layer: bool = True

    def setup(self) -> None:
        architecture = self.config.architecture
        self.backbone = BertModel(self.config, self.options, add_pooling_layer=self.add_pooling_layer,
                                  name=architecture.encoder_name)
        if architecture.prediction_head:
            self.head = PredictionHead(self.config, self.options)
        self.dropout = Dropout(rate=architecture.classifier_dropout)

    def _features(self, hidden_states: jax.Array, deterministic: bool) -> jax.Array:
        """What a classifier reads: the (pooled) hidden states, through the prediction head where the family has
        one, after dropout."""
        if self.config.architecture.prediction_head:
            hidden_states = self.head(hidden_states)
        return self.dropout(hidden_states, deterministic=deterministic)


class _PreTrainingFamily(_EncoderHead):
    masked_lm: bool = True
    next_sentence: bool = True

    def setup(self) -> None:
        super().setup()
        if not self.config.architecture.prediction_head:
            self.cls = BertPreTrainingHeads(self.config, self.options, self.masked_lm, self.next_sentence)
        elif self.next_sentence:
            raise ConfigError(f"{self.config.architecture.family} has no next-sentence head (nor has transformers); "
                              f"use the masked_lm head (for pretraining, data.next_sentence: false)")
        else:
            self.decoder = MaskedLMDecoder(self.config, self.options)

    def __call__(self, input_ids: jax.Array, attention_mask: jax.Array | None = None,
                 token_type_ids: jax.Array | None = None, position_ids: jax.Array | None = None,
                 deterministic: bool = True, masked_positions: jax.Array | None = None,
                 next_sentence_positions: jax.Array | None = None) -> Logits:
        """masked_positions: optional [batch, predictions] indices; MLM logits are then [batch, predictions, vocab]
        instead of [batch, seq, vocab]. next_sentence_positions: optional [batch, k] [CLS] tokens of packed
        sequences; NSP logits are then [batch, k, 2]."""
        output = self.backbone(input_ids, attention_mask, token_type_ids, position_ids, deterministic,
                               pooled_positions=next_sentence_positions)
        word_embeddings = self.backbone.embeddings.word_embeddings.embedding
        if self.config.architecture.prediction_head:
            hidden = self.head(_at(output.last_hidden_state, masked_positions))
            return {"mlm_logits": self.decoder(hidden, word_embeddings)}
        return self.cls(output.last_hidden_state, output.pooled_output, word_embeddings, masked_positions)


class BertForPreTraining(_PreTrainingFamily):
    """MLM + NSP: `mlm_logits` and `nsp_logits` [batch, 2]."""


class BertForMaskedLM(_PreTrainingFamily):
    """MLM only: `mlm_logits`."""

    add_pooling_layer: bool = False
    next_sentence: bool = False


class BertForNextSentencePrediction(_PreTrainingFamily):
    """NSP only: `nsp_logits` [batch, 2] (0 = is next, 1 = random)."""

    masked_lm: bool = False


class _ClassifierHead(_EncoderHead):
    """A `classifier` Dense over the pooled output, or over every token when `per_token`."""

    per_token: bool = False

    def setup(self) -> None:
        super().setup()
        self.classifier = dense(self.config, self.options, self.config.num_labels, "classifier", role="classifier")

    def __call__(self, input_ids: jax.Array, attention_mask: jax.Array | None = None,
                 token_type_ids: jax.Array | None = None, position_ids: jax.Array | None = None,
                 deterministic: bool = True, pooled_positions: jax.Array | None = None) -> Logits:
        """pooled_positions (sequence classification): [batch, k] tokens to pool instead of the first, e.g. the
        [CLS] tokens of packed sequences (with their [batch, seq, seq] mask); logits are then [batch, k, labels]."""
        output = self.backbone(input_ids, attention_mask, token_type_ids, position_ids, deterministic,
                               pooled_positions=pooled_positions)
        features = output.last_hidden_state if self.per_token else output.pooled_output
        return {"logits": self.classifier(self._features(features, deterministic))}


class BertForSequenceClassification(_ClassifierHead):
    """Pooled output -> `logits` [batch, num_labels], or [batch, k, num_labels] at k pooled positions; num_labels
    == 1 is regression."""


class BertForTokenClassification(_ClassifierHead):
    """Each token's hidden state -> `logits` [batch, seq, num_labels]."""

    add_pooling_layer: bool = False
    per_token: bool = True


class BertForQuestionAnswering(_EncoderHead):
    """Span extraction: `start_logits` and `end_logits` [batch, seq]."""

    add_pooling_layer: bool = False

    def setup(self) -> None:
        super().setup()
        self.span_outputs = dense(self.config, self.options, 2, self.config.architecture.span_outputs_name,
                                  role="classifier")

    def __call__(self, input_ids: jax.Array, attention_mask: jax.Array | None = None,
                 token_type_ids: jax.Array | None = None, position_ids: jax.Array | None = None,
                 deterministic: bool = True) -> Logits:
        hidden = self.backbone(input_ids, attention_mask, token_type_ids, position_ids,
                               deterministic).last_hidden_state
        if self.config.architecture.prediction_head:  # BERT reads the hidden states as they are, without dropout
            hidden = self._features(hidden, deterministic)
        logits = self.span_outputs(hidden)  # [batch, seq, 2]
        return {"start_logits": logits[..., 0], "end_logits": logits[..., 1]}


class BertForMultipleChoice(_EncoderHead):
    """Inputs [batch, choices, seq] -> `logits` [batch, choices]: one score per pooled choice."""

    def setup(self) -> None:
        super().setup()
        self.classifier = dense(self.config, self.options, 1, "classifier", role="classifier")

    def __call__(self, input_ids: jax.Array, attention_mask: jax.Array | None = None,
                 token_type_ids: jax.Array | None = None, position_ids: jax.Array | None = None,
                 deterministic: bool = True) -> Logits:
        batch, choices, seq = input_ids.shape

        def flat(array: jax.Array | None) -> jax.Array | None:
            return None if array is None else array.reshape(batch * choices, seq)

        pooled = self.backbone(flat(input_ids), flat(attention_mask), flat(token_type_ids), flat(position_ids),
                               deterministic).pooled_output
        scores = self.classifier(self._features(pooled, deterministic))  # [batch * choices, 1]
        return {"logits": scores.reshape(batch, choices)}


HEADS: dict[str, type[nn.Module]] = {
    "pretraining": BertForPreTraining,
    "masked_lm": BertForMaskedLM,
    "next_sentence": BertForNextSentencePrediction,
    "sequence_classification": BertForSequenceClassification,
    "token_classification": BertForTokenClassification,
    "question_answering": BertForQuestionAnswering,
    "multiple_choice": BertForMultipleChoice,
}
