"""bertjax: BERT pretraining and fine-tuning in JAX, with Hugging Face weight compatibility."""

from bertjax.convert import load_pretrained, save_pretrained
from bertjax.data.tokenizer import load_tokenizer, train_wordpiece
from bertjax.errors import BertJaxError, CheckpointError, ConfigError, DataError, DependencyError
from bertjax.model import (
    HEADS,
    BertConfig,
    BertForMaskedLM,
    BertForMultipleChoice,
    BertForNextSentencePrediction,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    ModelOptions,
    preset,
)
from bertjax.runs.finetuning import FinetuningConfig, run_finetuning
from bertjax.runs.pretraining import PretrainingConfig, run_pretraining

__all__ = [
    "HEADS", "BertConfig", "BertForMaskedLM", "BertForMultipleChoice", "BertForNextSentencePrediction",
    "BertForPreTraining", "BertForQuestionAnswering", "BertForSequenceClassification", "BertForTokenClassification",
    "BertJaxError", "BertModel", "CheckpointError", "ConfigError", "DataError", "DependencyError",
    "FinetuningConfig", "ModelOptions", "PretrainingConfig", "load_pretrained", "load_tokenizer", "preset",
    "run_finetuning", "run_pretraining", "save_pretrained", "train_wordpiece",
]
