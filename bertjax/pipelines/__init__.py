"""Using a trained model from Python: `pipeline(task, model_dir)` for every head, fill-mask and sentence embeddings.

    classify = pipeline("text-classification", "runs/finetune/best")
    classify(["a fine film", "a dull one"])  # [{'label': 'positive', 'score': 0.97}, ...]

Each pipeline batches its inputs, sorts them by length into a few bucket shapes (jit compiles a handful of
programs, not one per input), runs on every local device and returns plain Python results.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from bertjax.convert import HF_CLASS_NAMES, head_for_architectures
from bertjax.convert.files import CONFIG_FILE, read_config
from bertjax.convert.run_folder import model_files
from bertjax.errors import ConfigError
from bertjax.model import ModelOptions
from bertjax.pipelines.feature_extraction import FeatureExtractionPipeline, sentence_transformers_settings
from bertjax.pipelines.fill_mask import FillMaskPipeline
from bertjax.pipelines.model import PredictionModel, load_prediction_model
from bertjax.pipelines.multiple_choice import MultipleChoicePipeline
from bertjax.pipelines.question_answering import QuestionAnsweringPipeline
from bertjax.pipelines.text_classification import TextClassificationPipeline
from bertjax.pipelines.token_classification import TokenClassificationPipeline
from bertjax.train.compilation_cache import AUTO, use_compilation_cache

PIPELINES: dict[str, Any] = {pipeline.task: pipeline for pipeline in (
    TextClassificationPipeline, TokenClassificationPipeline, QuestionAnsweringPipeline, MultipleChoicePipeline,
    FillMaskPipeline, FeatureExtractionPipeline)}
# The task a folder's own head is for; a pretraining checkpoint's is fill-mask.
TASK_OF_HEAD = {"sequence_classification": "text-classification", "token_classification": "token-classification",
                "question_answering": "question-answering", "multiple_choice": "multiple-choice",
                "pretraining": "fill-mask", "masked_lm": "fill-mask", "model": "feature-extraction"}
UNUSED_WEIGHTS = {"feature-extraction": ("pooler.",)}  # embeddings pool the token states themselves


def task_of_folder(directory: str | Path) -> str:
    """The pipeline task for a model or run folder's head (its config.json `architectures`)."""
    directory = Path(directory)
    files = model_files(directory)
    if not (files / CONFIG_FILE).is_file():
        raise ConfigError(f"{directory}: no config.json; pass a bertjax or Hugging Face model folder, or a run folder")
    _, architectures = read_config(files)
    head = head_for_architectures(architectures, str(files / CONFIG_FILE))
    if head not in TASK_OF_HEAD:
        raise ConfigError(f"{directory}: a {HF_CLASS_NAMES[head]} has no pipeline; name the task (one of "
                          f"{', '.join(PIPELINES)})")
    return TASK_OF_HEAD[head]


def pipeline(task: str | None, model: str | Path, *, batch_size: int = 32, max_seq_length: int | None = None,
             dtype: str | None = None, options: ModelOptions = ModelOptions(), progress: bool | None = None,
             compilation_cache: str | bool = AUTO, **task_options: Any) -> Any:
    """The pipeline for `task` (None: the folder's own, `task_of_folder`) on a bertjax or Hugging Face model
    folder, or a run folder (its newest readable checkpoint); nothing is downloaded.

    batch_size: rows per batch (fewer for short calls); max_seq_length: longer inputs are truncated (question
    answering windows its contexts), by default the model's (a sentence-transformers folder's own limit);
    dtype: `float32`, `bfloat16` or `float16` computation (weights stay float32; None: the options' dtype);
    progress: a progress bar (None: for calls of 8 batches or more); compilation_cache: where compiled programs
    are kept for later processes (`bertjax.train.compilation_cache`: `auto`, `off` or a folder). task_options go to
    the task's class, e.g.
    `pooling="cls", normalize=True` for feature-extraction or `handle_impossible_answer=True` for
    question-answering.
    """
    task = task or task_of_folder(model)
    if task not in PIPELINES:
        raise ConfigError(f"unknown task {task!r}; choose one of {', '.join(PIPELINES)}")
    if dtype is not None:
        options = dataclasses.replace(options, dtype=ModelOptions.from_names(dtype).dtype)
    use_compilation_cache(compilation_cache, field="compilation_cache")
    cls = PIPELINES[task]
    if task == "feature-extraction":
        settings = sentence_transformers_settings(model)
        max_seq_length = max_seq_length or settings.pop("max_seq_length", None)
        task_options = settings | task_options
    loaded = load_prediction_model(model, cls.head, task, options, may_lack=UNUSED_WEIGHTS.get(task, ()))
    return cls(loaded, batch_size=batch_size, max_seq_length=max_seq_length, progress=progress, **task_options)


__all__ = ["PIPELINES", "FeatureExtractionPipeline", "FillMaskPipeline", "MultipleChoicePipeline",
           "PredictionModel", "QuestionAnsweringPipeline", "TextClassificationPipeline",
           "TokenClassificationPipeline", "load_prediction_model", "pipeline", "task_of_folder"]
