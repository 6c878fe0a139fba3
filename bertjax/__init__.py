"""bertjax: BERT and ModernBERT pretraining and fine-tuning in JAX, with Hugging Face weight compatibility.

The names below load on first use, so that importing one part of the package (the model, the benchmark) does not
pay for the rest (the run drivers' metrics, plots and checkpointing libraries). Type checkers and editors read the
same names from the imports under TYPE_CHECKING, which `tests/test_package.py` holds equal to `_MODULE_OF`.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bertjax.convert import load_pretrained, save_pretrained
    from bertjax.data.tokenizer import load_tokenizer, train_bpe, train_wordpiece
    from bertjax.errors import BertJaxError, CheckpointError, ConfigError, DataError, DependencyError
    from bertjax.model import (HEADS, BertConfig, BertForMaskedLM, BertForMultipleChoice, BertForNextSentencePrediction,
                               BertForPreTraining, BertForQuestionAnswering, BertForSequenceClassification,
                               BertForTokenClassification, BertModel, ModelOptions, ModernBertConfig, preset)
    from bertjax.pipelines import pipeline
    from bertjax.runs.finetuning import FinetuningConfig, run_finetuning
    from bertjax.runs.pretraining import PretrainingConfig, run_pretraining


def _not_about_missing_pytorch(record: logging.LogRecord) -> bool:
    """transformers warns on import that PyTorch is missing; bertjax uses only its tokenizers and configs."""
    return not str(record.msg).startswith("PyTorch was not found")


logging.getLogger("transformers").addFilter(_not_about_missing_pytorch)

_MODULE_OF = {
    "load_pretrained": "bertjax.convert", "save_pretrained": "bertjax.convert",
    **dict.fromkeys(("load_tokenizer", "train_bpe", "train_wordpiece"), "bertjax.data.tokenizer"),
    **dict.fromkeys(("BertJaxError", "CheckpointError", "ConfigError", "DataError", "DependencyError"),
                    "bertjax.errors"),
    **dict.fromkeys(("HEADS", "BertConfig", "BertForMaskedLM", "BertForMultipleChoice",
                     "BertForNextSentencePrediction", "BertForPreTraining", "BertForQuestionAnswering",
                     "BertForSequenceClassification", "BertForTokenClassification", "BertModel", "ModelOptions",
                     "ModernBertConfig", "preset"), "bertjax.model"),
    "pipeline": "bertjax.pipelines",
    "FinetuningConfig": "bertjax.runs.finetuning", "run_finetuning": "bertjax.runs.finetuning",
    "PretrainingConfig": "bertjax.runs.pretraining", "run_pretraining": "bertjax.runs.pretraining",
}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'bertjax' has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULE_OF[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)

