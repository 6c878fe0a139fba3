"""Task heads on one shared `BertModel`, named as Hugging Face's `BertFor*` so their weights convert 1:1.

Every head is called as `head(input_ids, attention_mask, token_type_ids, position_ids, deterministic)` and returns
a dict of logits; losses live in `bertjax.train.losses`.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from bertjax.errors import ConfigError
from bertjax.model.activations import ACTIVATION_FUNCTIONS
from bertjax.model.config import BertConfig
from bertjax.model.dropout import Dropout
from bertjax.model.encoder import BertModel
from bertjax.model.options import ModelOptions
from bertjax.model.primitives import dense, layer_norm, token_matmul

Logits = dict[str, jax.Array]


class BertLMPredictionHead(nn.Module):
    """Transform (dense, activation, LayerNorm), then the decoder tied to the word embeddings plus a bias."""

    config: BertConfig
    options: ModelOptions

    @nn.compact
    def __call__(self, hidden_states: jax.Array, word_embeddings: jax.Array) -> jax.Array:
        """hidden_states: [..., hidden]; word_embeddings: [vocab, hidden] -> logits [..., vocab]."""
        config, options = self.config, self.options
        if not config.tie_word_embeddings:
            raise ConfigError("config field 'tie_word_embeddings' is false: a decoder of its own beside the word "
                              "embeddings, which bertjax's masked-LM head does not have (it ties them, as BERT does)")
        transform = _Transform(config, options, name="transform")(hidden_states)
        bias = self.param("bias", nn.initializers.zeros, (config.vocab_size,), options.param_dtype)
        logits = token_matmul(transform, word_embeddings.astype(options.dtype).T)
        return logits + bias.astype(options.dtype)


class _Transform(nn.Module):
    config: BertConfig
    options: ModelOptions

    @nn.compact
    def __call__(self, hidden_states: jax.Array) -> jax.Array:
        hidden_states = dense(self.config, self.options, self.config.hidden_size, "dense")(hidden_states)
        hidden_states = ACTIVATION_FUNCTIONS[self.config.hidden_act](hidden_states)
        return layer_norm(self.config, self.options)(hidden_states)


class BertPreTrainingHeads(nn.Module):
    """HF's `cls`: the MLM prediction head and/or the NSP classifier (`seq_relationship`)."""

    config: BertConfig
    options: ModelOptions
    masked_lm: bool = True
    next_sentence: bool = True

    def setup(self) -> None:
        if self.masked_lm:
            self.predictions = BertLMPredictionHead(self.config, self.options)
        if self.next_sentence:
            self.seq_relationship = dense(self.config, self.options, 2, "seq_relationship")

    def __call__(self, sequence_output: jax.Array, pooled_output: jax.Array | None, word_embeddings: jax.Array,
                 masked_positions: jax.Array | None) -> Logits:
        logits: Logits = {}
        if self.masked_lm:
            if masked_positions is not None:
                # Only the predicted positions reach the vocabulary projection: [batch, predictions, hidden].
                sequence_output = jnp.take_along_axis(sequence_output, masked_positions[..., None], axis=1)
            logits["mlm_logits"] = self.predictions(sequence_output, word_embeddings)
        if self.next_sentence:
            logits["nsp_logits"] = self.seq_relationship(pooled_output)
        return logits


class _EncoderHead(nn.Module):
    """Shared plumbing: the `bert` encoder (with or without its pooler) and the classifier dropout."""

    config: BertConfig
    options: ModelOptions = ModelOptions()
    add_pooling_layer: bool = True

    def setup(self) -> None:
        self.bert = BertModel(self.config, self.options, add_pooling_layer=self.add_pooling_layer)
        rate = self.config.classifier_dropout
        self.dropout = Dropout(rate=self.config.hidden_dropout_prob if rate is None else rate)


class _PreTrainingFamily(_EncoderHead):
    masked_lm: bool = True
    next_sentence: bool = True

    def setup(self) -> None:
        super().setup()
        self.cls = BertPreTrainingHeads(self.config, self.options, self.masked_lm, self.next_sentence)

    def __call__(self, input_ids: jax.Array, attention_mask: jax.Array | None = None,
                 token_type_ids: jax.Array | None = None, position_ids: jax.Array | None = None,
                 deterministic: bool = True, masked_positions: jax.Array | None = None,
                 next_sentence_positions: jax.Array | None = None) -> Logits:
        """masked_positions: optional [batch, predictions] indices; MLM logits are then [batch, predictions, vocab]
        instead of [batch, seq, vocab]. next_sentence_positions: optional [batch, k] [CLS] tokens of packed
        sequences; NSP logits are then [batch, k, 2]."""
        output = self.bert(input_ids, attention_mask, token_type_ids, position_ids, deterministic,
                           pooled_positions=next_sentence_positions)
        word_embeddings = self.bert.embeddings.word_embeddings.embedding
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
    """Dropout and a `classifier` Dense over the pooled output, or over every token when `per_token`."""

    per_token: bool = False

    def setup(self) -> None:
        super().setup()
        self.classifier = dense(self.config, self.options, self.config.num_labels, "classifier")

    def __call__(self, input_ids: jax.Array, attention_mask: jax.Array | None = None,
                 token_type_ids: jax.Array | None = None, position_ids: jax.Array | None = None,
                 deterministic: bool = True) -> Logits:
        output = self.bert(input_ids, attention_mask, token_type_ids, position_ids, deterministic)
        features = output.last_hidden_state if self.per_token else output.pooled_output
        return {"logits": self.classifier(self.dropout(features, deterministic=deterministic))}


class BertForSequenceClassification(_ClassifierHead):
    """Pooled output -> `logits` [batch, num_labels]; num_labels == 1 is regression."""


class BertForTokenClassification(_ClassifierHead):
    """Each token's hidden state -> `logits` [batch, seq, num_labels]."""

    add_pooling_layer: bool = False
    per_token: bool = True


class BertForQuestionAnswering(_EncoderHead):
    """Span extraction: `start_logits` and `end_logits` [batch, seq]."""

    add_pooling_layer: bool = False

    def setup(self) -> None:
        super().setup()
        self.qa_outputs = dense(self.config, self.options, 2, "qa_outputs")

    def __call__(self, input_ids: jax.Array, attention_mask: jax.Array | None = None,
                 token_type_ids: jax.Array | None = None, position_ids: jax.Array | None = None,
                 deterministic: bool = True) -> Logits:
        hidden = self.bert(input_ids, attention_mask, token_type_ids, position_ids, deterministic).last_hidden_state
        logits = self.qa_outputs(hidden)  # [batch, seq, 2]
        return {"start_logits": logits[..., 0], "end_logits": logits[..., 1]}


class BertForMultipleChoice(_EncoderHead):
    """Inputs [batch, choices, seq] -> `logits` [batch, choices]: one score per pooled choice."""

    def setup(self) -> None:
        super().setup()
        self.classifier = dense(self.config, self.options, 1, "classifier")

    def __call__(self, input_ids: jax.Array, attention_mask: jax.Array | None = None,
                 token_type_ids: jax.Array | None = None, position_ids: jax.Array | None = None,
                 deterministic: bool = True) -> Logits:
        batch, choices, seq = input_ids.shape

        def flat(array: jax.Array | None) -> jax.Array | None:
            return None if array is None else array.reshape(batch * choices, seq)

        pooled = self.bert(flat(input_ids), flat(attention_mask), flat(token_type_ids), flat(position_ids),
                           deterministic).pooled_output
        scores = self.classifier(self.dropout(pooled, deterministic=deterministic))  # [batch * choices, 1]
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
