"""One measurement of the preparation benchmark, in a process of its own: `python -m
bertjax.benchmark.data.preparation_child METHOD ARGS...` prints one JSON line of details."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

VOCAB_SIZE = 8000
LINES_PER_BATCH = 10_000
OPTIONS = dict(max_seq_length=128, max_predictions_per_seq=20)


def shared_vocabulary(tokenizer_file: str, text: str, tokenizer_type: str) -> dict:
    """The shared vocabulary of `tokenizer_type`, learnt from the text file the corpora repeat."""
    from bertjax.data.pretraining.corpus.documents import read_documents
    from bertjax.data.tokenizer import TRAINERS

    documents = read_documents(text)
    tokenizer = TRAINERS[tokenizer_type]((sentence for document in documents for sentence in document), VOCAB_SIZE)
    Path(tokenizer_file).write_text(tokenizer.backend_tokenizer.to_str(), encoding="utf-8")
    return {"vocab_size": len(tokenizer)}


def _bertjax_prepare(corpus: str, tokenizer_file: str, output: str, **changes):
    from bertjax.data.pretraining.corpus.sources import FileSource
    from bertjax.data.pretraining.prepare import PreparationSettings, prepare_corpus
    from bertjax.data.pretraining.options import PretrainingOptions

    return prepare_corpus(FileSource(corpus), Path(tokenizer_file).read_text(encoding="utf-8"),
                          PretrainingOptions(**OPTIONS, **changes), output, PreparationSettings(progress=False),
                          say=lambda _: None)


def prepare_with_bertjax(corpus: str, tokenizer_file: str, output: str, packing: str = "",
                         word_segmenter: str = "") -> dict:
    """bertjax's preparation: read, split, tokenize (words found by `word_segmenter` when given), hold out, cut
    into sequences (packed into rows with `packing`), write and merge the shards."""
    prepared = _bertjax_prepare(corpus, tokenizer_file, output, packing=bool(packing),
                                word_segmenter=word_segmenter or None)
    return {"tokens": len(prepared.corpus.tokens), "sequences": len(prepared.train) + len(prepared.eval)}


def encode_with_tokenizers(corpus: str, tokenizer_file: str, output: str) -> dict:
    """tokenizers' encode_batch_fast (its fastest batch encoding, on every core) over the file's lines."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(tokenizer_file)
    tokens = 0
    with open(corpus, encoding="utf-8") as file:
        while True:
            lines = [line for _, line in zip(range(LINES_PER_BATCH), file)]
            if not lines:
                break
            tokens += sum(len(encoding.ids) for encoding in tokenizer.encode_batch_fast(lines,
                                                                                         add_special_tokens=False))
    return {"tokens": tokens}


def prepare_with_datasets(corpus: str, tokenizer_file: str, output: str) -> dict:
    """The Hugging Face recipe (run_mlm.py): load_dataset("text"), map(tokenize, num_proc), map(group_texts,
    num_proc) into blocks of 128 tokens; then DataCollatorForLanguageModeling's batches."""
    import datasets as hf_datasets
    from transformers import DataCollatorForLanguageModeling

    from bertjax.data.tokenizer import load_tokenizer

    hf_datasets.disable_progress_bars()
    tokenizer = load_tokenizer(tokenizer_file)
    cores = os.cpu_count() or 1
    dataset = hf_datasets.load_dataset("text", data_files=corpus, split="train", cache_dir=f"{output}/cache")
    tokenized = dataset.map(lambda batch: tokenizer(batch["text"], return_special_tokens_mask=True), batched=True,
                            num_proc=cores, remove_columns=["text"])
    block = OPTIONS["max_seq_length"]

    def group_texts(batch: dict) -> dict:
        joined = {key: sum(batch[key], []) for key in batch}
        total = len(joined["input_ids"]) // block * block
        return {key: [values[start:start + block] for start in range(0, total, block)]
                for key, values in joined.items()}

    grouped = tokenized.map(group_texts, batched=True, num_proc=cores)
    prepared_seconds = time.perf_counter()
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, return_tensors="np")
    rows = 256
    start = time.perf_counter()
    for first in range(0, rows * 10, rows):
        collator([grouped[index] for index in range(first, first + rows)])
    return {"sequences": len(grouped), "collator_rows_per_second": rows * 10 / (time.perf_counter() - start),
            "collator_seconds": time.perf_counter() - prepared_seconds}


def restart_run(corpus: str, tokenizer_file: str, output: str, batch_size: str, packing: str = "") -> dict:
    """A restarted run's data: the prepared folder found and read back, the dataset built, batch 0 assembled."""
    from bertjax.data.pretraining.dataset import PretrainingDataset
    from bertjax.data.pretraining.options import PretrainingOptions
    from bertjax.data.tokenizer import load_tokenizer

    prepared = _bertjax_prepare(corpus, tokenizer_file, output, packing=bool(packing))
    tokenizer = load_tokenizer(tokenizer_file)
    dataset = PretrainingDataset(prepared, tokenizer, PretrainingOptions(**OPTIONS, packing=bool(packing)))
    dataset.train_batch(0, int(batch_size))
    return {"sequences": len(prepared.train), "rows": len(dataset.train_rows)}


def assemble_batches(corpus: str, tokenizer_file: str, output: str, batch_size: str, seq_len: str) -> dict:
    """Rows per second of batch assembly on the prepared (memory-mapped) corpus, for four variants."""
    from bertjax.benchmark.data.batch_assembly import VARIANTS, AssemblySettings, time_batches
    from bertjax.data.pretraining.dataset import PretrainingDataset
    from bertjax.data.pretraining.options import PretrainingOptions
    from bertjax.data.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_file)
    settings = AssemblySettings(batch_size=int(batch_size), seq_len=int(seq_len))
    rows = {}
    for variant, changes in VARIANTS.items():
        prepared = _bertjax_prepare(corpus, tokenizer_file, f"{output}-{changes.get('packing', False)}",
                                    **{key: value for key, value in changes.items() if key == "packing"})
        dataset = PretrainingDataset(prepared, tokenizer, PretrainingOptions(**OPTIONS, **changes))
        rows[variant] = settings.batch_size / time_batches(dataset, settings)
    return rows


def sampled_vocabulary(corpus: str, sample_mb: str) -> dict:
    """A vocabulary learnt as a run learns it: from `sample_mb` MiB spread over the corpus."""
    from bertjax.data.pretraining.corpus.sources import FileSource
    from bertjax.data.tokenizer import train_wordpiece

    tokenizer = train_wordpiece(FileSource(corpus).vocabulary_sample(int(float(sample_mb) * (1 << 20))), VOCAB_SIZE)
    return {"vocab_size": len(tokenizer)}


MEASUREMENTS = {"vocabulary": shared_vocabulary, "bertjax": prepare_with_bertjax, "tokenizers": encode_with_tokenizers,
                "datasets": prepare_with_datasets, "restart": restart_run, "assembly": assemble_batches,
                "sampled-vocabulary": sampled_vocabulary}

# Measurements of bertjax's own scripts, which run with their allocator setting (see train.host_allocator).
AS_THE_SCRIPTS_RUN = ("bertjax", "restart", "assembly", "sampled-vocabulary")

if __name__ == "__main__":
    method, *arguments = sys.argv[1:]
    if method in AS_THE_SCRIPTS_RUN:
        from bertjax.train.host_allocator import reuse_freed_host_memory

        reuse_freed_host_memory()
    print(json.dumps(MEASUREMENTS[method](*arguments)))
