"""The BERT model family: config, encoder and task heads as Flax linen modules."""

from bertjax.model.attention import packed_attention_mask
from bertjax.model.config import PRESETS, BertConfig, preset
from bertjax.model.encoder import BertModel, BertOutput, sinusoidal_table
from bertjax.model.heads import (
    HEADS,
    BertForMaskedLM,
    BertForMultipleChoice,
    BertForNextSentencePrediction,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
)
from bertjax.model.options import ModelOptions

__all__ = [
    "HEADS", "PRESETS", "BertConfig", "BertForMaskedLM", "BertForMultipleChoice", "BertForNextSentencePrediction",
    "BertForPreTraining", "BertForQuestionAnswering", "BertForSequenceClassification",
    "BertForTokenClassification", "BertModel", "BertOutput", "ModelOptions", "packed_attention_mask", "preset",
    "sinusoidal_table",
]
