"""A run folder read as a model folder: the config and tokenizer its run wrote when it started, the weights of its
newest readable checkpoint.

    <run>/model/config.json, tokenizer files   the run's model and head (`architectures`), written at its start
    <run>/checkpoints/<step>/                   the train state (bertjax.train.checkpoint)

So `pipeline`, `load_pretrained`, `scripts/convert.py` and fine-tuning's `model.init_from` take a run folder, also
one still training or stopped early. A newer checkpoint that cannot be read is skipped with a one-line notice and
left where it is (the run that owns the folder sets it aside when it resumes).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax

from bertjax.convert.files import CONFIG_FILE, read_config
from bertjax.convert.names import StateDict, state_dict_from_params
from bertjax.convert.save import write_model_folder
from bertjax.errors import CheckpointError
from bertjax.model import ModelConfig
from bertjax.model.layout import unstack_layers

RUN_MODEL = "model"
CHECKPOINTS = "checkpoints"


def is_run_folder(directory: Path) -> bool:
    return (directory / RUN_MODEL / CONFIG_FILE).is_file() and not (directory / CONFIG_FILE).is_file()


def model_files(directory: str | Path) -> Path:
    """The folder holding config.json and the tokenizer files: `directory`, or a run folder's `model/`."""
    directory = Path(directory)
    return directory / RUN_MODEL if is_run_folder(directory) else directory


def save_run_model(run_dir: Path, config: ModelConfig, head: str, tokenizer: Any) -> Path:
    """Writes the run's `model/` folder (config.json naming the head, the tokenizer files), atomically."""
    return write_model_folder(run_dir / RUN_MODEL, config, head, tokenizer)


def read_run_weights(run_dir: Path, say: Callable[[str], None] = print) -> tuple[int, StateDict]:
    """(step, Hugging Face state dict) of the run's newest checkpoint that reads back whole; each newer unreadable
    one is reported through `say`."""
    from bertjax.train.checkpoint import Checkpointer  # here: orbax loads only when a run folder is read

    config, _ = read_config(run_dir / RUN_MODEL)
    if not (run_dir / CHECKPOINTS).is_dir():
        raise CheckpointError(f"{run_dir}: the run has written no checkpoint yet; wait for its first "
                              f"(train.checkpoint_every) or pass a model folder")
    with Checkpointer(run_dir / CHECKPOINTS, say=say, set_aside=False) as checkpointer:
        restored = checkpointer.restore_newest()
    if restored is None:
        raise CheckpointError(f"{run_dir / CHECKPOINTS}: holds no checkpoint yet; wait for the run's first "
                              f"(train.checkpoint_every) or pass a model folder")
    step, state, _ = restored
    params = unstack_layers(jax.device_get(state["params"]))
    return step, state_dict_from_params(params, config.architecture.family)
