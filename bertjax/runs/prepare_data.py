"""Preparing pretraining data ahead (the run behind `scripts/prepare_pretraining_data.py`): the vocabulary and each
process's share, into a folder that training runs then name as `data.prepared`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bertjax.data.pretraining.dataset import PretrainingDataset
from bertjax.data.tokenizer import load_tokenizer
from bertjax.errors import ConfigError
from bertjax.runs.pretraining import PretrainingConfig
from bertjax.runs.pretraining_data import corpus_source, prepare_share, save_vocabulary


@dataclasses.dataclass(frozen=True)
class PrepareSection:
    output_dir: str = "data/pretraining"
    processes: int = 1  # the training run's process count: one share of the corpus is prepared for each


@dataclasses.dataclass(frozen=True)
class PreparationConfig(PretrainingConfig):
    """A pretraining config (only its data section is used) and where to prepare."""

    prepare: PrepareSection = PrepareSection()


def run_preparation(config: PreparationConfig) -> Path:
    """Prepares the vocabulary and every share into `prepare.output_dir`; returns the folder."""
    data, folder = config.data, Path(config.prepare.output_dir)
    if data.prepared:
        raise ConfigError(f"data.prepared={data.prepared} names data prepared already; to prepare, leave it unset and "
                          f"set prepare.output_dir")
    if config.prepare.processes < 1:
        raise ConfigError(f"prepare.processes must be at least 1, got {config.prepare.processes}")
    tokenizer_dir = folder / "tokenizer"
    save_vocabulary(data, corpus_source(data), tokenizer_dir)
    tokenizer = load_tokenizer(tokenizer_dir)
    for process_index in range(config.prepare.processes):
        source = corpus_source(data, process_index, config.prepare.processes)
        prepared = prepare_share(data, source, tokenizer, folder, progress=True, say=print)
        print(f"share {process_index + 1} of {config.prepare.processes}: "
              f"{PretrainingDataset(prepared, tokenizer, data.options()).describe()}")
    print(f"prepared: {folder}\ntrain on it with: python scripts/pretrain.py data.prepared={folder}")
    return folder
