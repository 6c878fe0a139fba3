"""The encoder families (BERT, ModernBERT): configs, the shared encoder and task heads as Flax linen modules."""

from bertjax.model.architecture import Architecture
from bertjax.model.attention import packed_attention_mask
from bertjax.model.config import (CONFIG_CLASSES, BertConfig, ModelConfig, ModernBertConfig, config_from_dict,
                                  read_config_file)
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
from bertjax.model.presets import PRESETS, preset

__all__ = [
    "CONFIG_CLASSES", "HEADS", "PRESETS", "Architecture", "BertConfig", "BertForMaskedLM", "BertForMultipleChoice",
    "BertForNextSentencePrediction", "BertForPreTraining", "BertForQuestionAnswering", "BertForSequenceClassification",
    "BertForTokenClassification", "BertModel", "BertOutput", "ModelConfig", "ModelOptions", "ModernBertConfig",
    "config_from_dict", "packed_attention_mask", "preset", "read_config_file", "sinusoidal_table",
]
