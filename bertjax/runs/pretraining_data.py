"""A pretraining run's data: the config section, its corpus source and vocabulary, and the prepared corpus (prepared
into the run folder, or ahead with scripts/prepare_pretraining_data.py and named by `data.prepared`)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bertjax.atomic import atomic_directory
from bertjax.data.builtin import builtin_corpus
from bertjax.data.pretraining.corpus.documents import check_format
from bertjax.data.pretraining.masking import MASK_TOKEN_FRACTION, RANDOM_TOKEN_FRACTION
from bertjax.data.pretraining.corpus.sources import CorpusSource, FileSource, TfdsSource
from bertjax.data.pretraining.prepare import PreparationSettings, open_prepared, prepare_corpus, share_folder
from bertjax.data.pretraining.options import PretrainingOptions
from bertjax.data.pretraining.shards import PreparedCorpus
from bertjax.data.tokenizer import TRAINERS, load_tokenizer, save_tokenizer
from bertjax.errors import ConfigError

VOCABULARY_RECORD = "trained_from.json"


@dataclasses.dataclass(frozen=True)
class PretrainingDataSection:
    """The corpus, its tokenizer and how examples are made (BERT's create_pretraining_data options)."""

    corpus: str = "builtin"  # a corpus file, folder or glob; `builtin` is the small corpus shipped with bertjax
    # sentences (one a line, blank line between documents) | paragraphs | documents (one a line) | jsonl | parquet |
    # tsv | auto (JSON lines, parquet and TSV by extension, text by its look)
    format: str = "auto"
    text_field: str = "text"  # the field of JSON-lines records, or the parquet or TSV column, that holds the text
    tfds: str | None = None  # a tensorflow-datasets text data set instead of files, e.g. wikipedia/20230601.en
    tfds_split: str = "train"
    tfds_text_feature: str = "text"
    tfds_data_dir: str | None = None
    prepared: str | None = None  # a folder from scripts/prepare_pretraining_data.py: its corpus and vocabulary
    tokenizer: str | None = None  # vocab.txt / tokenizer.json / a model folder; None: train a vocabulary
    tokenizer_type: str = "wordpiece"  # the vocabulary trained: wordpiece (BERT) | bpe (byte-level, as ModernBERT's)
    vocab_size: int = 8000
    vocab_sample_mb: float = 100.0  # a trained vocabulary learns from this much text, spread over the corpus
    lowercase: bool = True  # for a trained vocabulary or a bare vocab.txt; a tokenizer folder or JSON says its own
    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    masked_lm_prob: float = 0.15  # the share of each sequence's tokens that is predicted (ModernBERT: 0.3)
    mask_token_fraction: float = MASK_TOKEN_FRACTION  # of those, the share shown as [MASK] (NeoBERT: 1.0)
    random_token_fraction: float = RANDOM_TOKEN_FRACTION  # and the share shown as a random token; the rest as it is
    short_seq_prob: float = 0.1
    next_sentence: bool = True  # False: RoBERTa-style MLM only on full-sentence segments
    whole_word_masking: bool = False
    word_segmenter: str | None = None  # jieba: words found by a segmenter (Chinese); None: the tokenizer's words
    dynamic_masking: bool = False  # fresh masks every epoch (RoBERTa) instead of fixed ones (BERT)
    dupe_factor: int = 1  # how many times the corpus is cut into sequences, each time differently (BERT: 10)
    packing: bool = False  # several sequences per row, attention within each: less padding
    max_sequences_per_pack: int = 4
    eval_fraction: float = 0.05
    seed: int = 12345
    shard_mb: float = 16.0  # MiB of text per prepared shard (held-out documents and NSP partners are per shard)
    prepare_workers: int = 0  # processes preparing shards; 0: one per core

    def __post_init__(self) -> None:
        check_format(self.format)
        if not 0 < self.eval_fraction < 1:  # the run evaluates held-out MLM (and NSP) from its first step
            raise ConfigError(f"eval_fraction must be above 0 and below 1, got {self.eval_fraction}: the run "
                              f"evaluates on held-out documents")
        for field in ("vocab_sample_mb", "shard_mb"):
            if getattr(self, field) <= 0:
                raise ConfigError(f"data.{field} must be above 0, got {getattr(self, field)}")
        if self.tokenizer_type not in TRAINERS:
            raise ConfigError(f"data.tokenizer_type={self.tokenizer_type!r} is not one of {', '.join(TRAINERS)}")
        if self.tokenizer and self.tokenizer_type != "wordpiece":
            raise ConfigError(f"data.tokenizer_type={self.tokenizer_type} chooses the vocabulary to train, but "
                              f"data.tokenizer={self.tokenizer} gives one; set only one of them")
        if self.prepare_workers < 0:
            raise ConfigError(f"data.prepare_workers must be 0 (one per core) or more, got {self.prepare_workers}")
        self.options()  # checks the sequence and masking options when the config is read

    def options(self) -> PretrainingOptions:
        return PretrainingOptions(
            max_seq_length=self.max_seq_length, max_predictions_per_seq=self.max_predictions_per_seq,
            masked_lm_prob=self.masked_lm_prob, mask_token_fraction=self.mask_token_fraction,
            random_token_fraction=self.random_token_fraction, short_seq_prob=self.short_seq_prob,
            next_sentence=self.next_sentence,
            whole_word_masking=self.whole_word_masking, dynamic_masking=self.dynamic_masking,
            dupe_factor=self.dupe_factor, packing=self.packing, max_sequences_per_pack=self.max_sequences_per_pack,
            eval_fraction=self.eval_fraction, seed=self.seed, word_segmenter=self.word_segmenter)

    def settings(self, progress: bool) -> PreparationSettings:
        return PreparationSettings(self.shard_mb, self.prepare_workers or None, progress)


def corpus_source(data: PretrainingDataSection, process_index: int = 0, process_count: int = 1) -> CorpusSource:
    """This process's share of the corpus."""
    share = dict(process_index=process_index, process_count=process_count)
    if data.tfds:
        return TfdsSource(data.tfds, data.tfds_split, data.tfds_text_feature, data.tfds_data_dir, **share)
    source = str(builtin_corpus()) if data.corpus == "builtin" else data.corpus
    return FileSource(source, data.format, data.text_field, **share)


def vocabulary_record(data: PretrainingDataSection, source: CorpusSource) -> dict[str, Any]:
    """What a trained vocabulary is learnt from: the source's identity and the vocabulary settings."""
    return {"source": source.identity(), "tokenizer_type": data.tokenizer_type, "vocab_size": data.vocab_size,
            "lowercase": data.lowercase, "vocab_sample_mb": data.vocab_sample_mb}


def train_vocabulary(data: PretrainingDataSection, source: CorpusSource, folder: Path) -> None:
    """A vocabulary of `data.tokenizer_type` learnt from a sample of `source`, saved to `folder` with what it was
    learnt from; kept as it is when it was learnt from the same."""
    record = vocabulary_record(data, source)
    saved = folder / VOCABULARY_RECORD
    if saved.is_file() and json.loads(saved.read_text(encoding="utf-8")) == record:
        return
    tokenizer = TRAINERS[data.tokenizer_type](source.vocabulary_sample(int(data.vocab_sample_mb * (1 << 20))),
                                              vocab_size=data.vocab_size, lowercase=data.lowercase)
    with atomic_directory(folder) as staging:
        save_tokenizer(tokenizer, staging)
        (staging / VOCABULARY_RECORD).write_text(json.dumps(record), encoding="utf-8")


def save_vocabulary(data: PretrainingDataSection, source: CorpusSource, folder: Path) -> None:
    """The vocabulary `data` asks for into `folder`, where prepared data keeps it: the one `data.tokenizer` names, or
    one learnt from `source` (`train_vocabulary`)."""
    if data.tokenizer:
        with atomic_directory(folder) as staging:
            save_tokenizer(given_tokenizer(data), staging)
    else:
        train_vocabulary(data, source, folder)


def given_tokenizer(data: PretrainingDataSection) -> Any:
    """The tokenizer `data.tokenizer` names."""
    assert data.tokenizer is not None
    vocab_file = Path(data.tokenizer).is_file() and not data.tokenizer.endswith(".json")
    return load_tokenizer(data.tokenizer, lowercase=data.lowercase if vocab_file else None)


def prepared_ahead(data: PretrainingDataSection, process_index: int, process_count: int
                   ) -> tuple[PreparedCorpus, Any]:
    """The corpus and tokenizer of the folder `data.prepared`, after checking that it was prepared with this run's
    sequence options and for its number of processes."""
    assert data.prepared is not None
    folder = Path(data.prepared)
    share = share_folder(folder, process_index, process_count)
    if not share.is_dir():
        made = sorted(path.name for path in folder.glob("share-*")) if folder.is_dir() else []
        raise ConfigError(f"data.prepared={folder}: has no data for process {process_index} of {process_count} "
                          f"({', '.join(made) or 'no share folders at all'}); prepare it with "
                          f"scripts/prepare_pretraining_data.py processes={process_count}")
    prepared, manifest = open_prepared(share)
    wanted, made = data.options().preparation(), manifest["options"]
    if "files" in manifest["source"]:  # prepared from corpus files, in a format
        wanted, made = wanted | {"format": data.format, "text_field": data.text_field}, made | {
            "format": manifest["source"]["format"], "text_field": manifest["source"].get("text_field", "text")}
    for field, value in wanted.items():
        if made.get(field) != value:  # the packing fields are there whenever packing matches
            raise ConfigError(f"data.{field}={value!r}, but {folder} was prepared with {made.get(field)!r}; set "
                              f"data.{field}={made.get(field)!r} or prepare the data again with this value")
    return prepared, load_tokenizer(folder / "tokenizer")


def prepare_share(data: PretrainingDataSection, source: CorpusSource, tokenizer: Any, folder: Path,
                  progress: bool, say: Callable[[str], None]) -> PreparedCorpus:
    """`source` prepared into its share folder of `folder` (read back when it is prepared already)."""
    return prepare_corpus(source, tokenizer.backend_tokenizer.to_str(), data.options(),
                          share_folder(folder, source.process_index, source.process_count), data.settings(progress),
                          say)
