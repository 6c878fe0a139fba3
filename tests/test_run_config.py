"""Run configs: YAML sections, partial sections keep their defaults, overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bertjax.errors import ConfigError
from bertjax.model import ModernBertConfig
from bertjax.model.presets import preset
from bertjax.run_config import load_run_config, save_run_config
from bertjax.runs.finetuning import FinetuningConfig
from bertjax.runs.pretraining import PretrainingConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_defaults_are_the_tiny_config_file() -> None:
    assert load_run_config(PretrainingConfig, CONFIGS / "pretrain-tiny.yaml") == PretrainingConfig()


PRETRAINING_CONFIGS = sorted(path.name for pattern in ("pretrain*.yaml", "bert-*.yaml") for path in CONFIGS.glob(pattern))


@pytest.mark.parametrize("name", PRETRAINING_CONFIGS)
def test_every_pretraining_config_loads(name: str) -> None:
    config = load_run_config(PretrainingConfig, CONFIGS / name)
    assert config.train.output_dir == f"runs/{name.removesuffix('.yaml')}" or name == "pretrain-tiny.yaml"


def test_an_unknown_preset_is_refused_when_the_config_is_read() -> None:
    with pytest.raises(ConfigError, match="unknown model preset 'modernbert-small'; choose one of: .*ettin-17m"):
        load_run_config(PretrainingConfig, None, ["model.preset=modernbert-small"])


def test_partial_sections_keep_their_own_defaults() -> None:
    config = load_run_config(PretrainingConfig, None, ["train.batch_size=8", "optimizer.weight_decay=0"])
    assert config.train.batch_size == 8
    assert config.train.output_dir == "runs/pretrain"  # PretrainingConfig's own default, not RunSection's
    assert config.optimizer.learning_rate == 1e-3 and config.optimizer.weight_decay == 0.0


def test_overrides_parse_values_as_yaml() -> None:
    config = load_run_config(PretrainingConfig, None, ["model.changes={hidden_dropout_prob: 0.0}",
                                                       "data.next_sentence=false", "model.init_from=null"])
    assert config.model.changes == {"hidden_dropout_prob": 0.0}
    assert config.data.next_sentence is False and config.model.init_from is None


def test_an_override_changes_one_entry_of_model_changes() -> None:
    """The entries the config file gives stay, and the overridden one is read as YAML (an int here)."""
    config = load_run_config(PretrainingConfig, CONFIGS / "pretrain-modernbert.yaml",
                             ["model.changes.num_hidden_layers=2", "model.changes.global_rope_theta=50000.0"])
    file = load_run_config(PretrainingConfig, CONFIGS / "pretrain-modernbert.yaml")
    assert config.model.changes == {**file.model.changes, "num_hidden_layers": 2, "global_rope_theta": 50000.0}
    assert type(config.model.changes["num_hidden_layers"]) is int
    with pytest.raises(ConfigError, match="model.changes must be a mapping, got 5"):
        load_run_config(PretrainingConfig, None, ["model.changes=5"])


@pytest.mark.parametrize("override, field, value", [
    ("train.output_dir=2024", "output_dir", "2024"),
    ("train.output_dir=off", "output_dir", "off"),
    ("train.output_dir=runs: v2", "output_dir", "runs: v2"),
    ("task.train_file=[2024] reviews.csv", "train_file", "[2024] reviews.csv"),
    ("task.text_column=#1 String", "text_column", "#1 String"),
    ("task.text_pair_column=#2 String", "text_pair_column", "#2 String"),
    ("task.label_column='quoted name'", "label_column", "quoted name"),
    ("task.eval_file=null", "eval_file", None),
    ("train.compilation_cache=false", "compilation_cache", False),
    ("train.compilation_cache=2024", "compilation_cache", "2024"),
])
def test_text_fields_take_the_command_lines_text_as_typed(override: str, field: str, value: object) -> None:
    """YAML would read these as a number, a bool, a mapping, a comment or a syntax error; a text field keeps the
    text (a YAML null, or a bool where the field allows one, still means what YAML says)."""
    config = load_run_config(FinetuningConfig, None, [override])
    assert getattr(getattr(config, override.split(".")[0]), field) == value


def test_a_section_set_whole_on_the_command_line_takes_later_fields() -> None:
    config = load_run_config(FinetuningConfig, None, ["task={type: regression}", "task.label_column=score"])
    assert (config.task.type, config.task.label_column, config.task.text_column) == ("regression", "score", "text")


def test_effective_config_round_trips(tmp_path: Path) -> None:
    config = load_run_config(PretrainingConfig, None, ["train.steps=7", "model.preset=bert-mini"])
    save_run_config(config, tmp_path / "config.yaml")
    assert load_run_config(PretrainingConfig, tmp_path / "config.yaml") == config


@pytest.mark.parametrize("override, message", [
    ("train.batchsize=8", "unknown field 'batchsize'"),
    ("train.batch_size=eight", "train.batch_size must be int"),
    ("optimizer.schedule=exponential", "schedule"),
    ("data.next_sentence=maybe", "data.next_sentence must be bool"),
    ("train", "section.field=value"),
    ("train.log_every=0", "train: log_every must be at least 1, got 0"),
    ("train.accumulation_steps=0", "accumulation_steps must be at least 1"),
    ("train.eval_batches=0", "eval_batches must be at least 1"),
    ("train.keep_checkpoints=0", "keep_checkpoints must be at least 1"),
    ("train.checkpoint_every=-5", "checkpoint_every must be at least 0"),
    ("optimizer.learning_rate=fast", "optimizer.learning_rate must be float, got 'fast' \\(on the command line\\)"),
    ("train.batch_size=[8", r"train.batch_size=\[8 \(on the command line\): cannot parse the value"),
])
def test_bad_overrides_name_the_field(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_run_config(PretrainingConfig, None, [override])


def test_floats_in_scientific_notation() -> None:
    """YAML 1.1 reads 5e-5 (no decimal point) as a string; a float field takes it as the number it means."""
    assert load_run_config(PretrainingConfig, None, ["optimizer.learning_rate=5e-5"]).optimizer.learning_rate == 5e-5


def test_finetuning_run_fields_are_checked() -> None:
    from bertjax.runs.finetuning import FinetuningConfig

    with pytest.raises(ConfigError, match="train: epochs must be at least 1, got 0"):
        load_run_config(FinetuningConfig, None, ["train.epochs=0"])
    with pytest.raises(ConfigError, match="train: log_every must be at least 1"):
        load_run_config(FinetuningConfig, None, ["train.log_every=0"])


def test_a_failed_save_keeps_the_previous_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bertjax.errors import CheckpointError

    path = tmp_path / "config.yaml"
    save_run_config(load_run_config(PretrainingConfig, None, ["train.steps=7"]), path)
    before = path.read_text()

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("bertjax.atomic.os.fdopen", full_disk)
    with pytest.raises(CheckpointError, match="config.yaml: cannot write the run config .No space left on device."):
        save_run_config(PretrainingConfig(), path)
    monkeypatch.undo()
    assert path.read_text() == before and sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]


def test_bad_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="broken.yaml"):
        load_run_config(PretrainingConfig, path)
    with pytest.raises(ConfigError, match="not found"):
        load_run_config(PretrainingConfig, tmp_path / "missing.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ConfigError, match="empty.yaml: the file is empty"):  # not the built-in defaults
        load_run_config(PretrainingConfig, tmp_path / "empty.yaml")


FINETUNING_CONFIGS = sorted(path.name for path in CONFIGS.glob("finetune-*.yaml"))


@pytest.mark.parametrize("name", FINETUNING_CONFIGS)
def test_every_finetuning_config_loads(name: str) -> None:
    from bertjax.runs.families import FAMILIES
    from bertjax.runs.finetuning import FinetuningConfig

    config = load_run_config(FinetuningConfig, CONFIGS / name)
    assert config.task.type in FAMILIES


def test_finetuning_defaults_are_the_sentiment_config_file() -> None:
    from bertjax.runs.finetuning import FinetuningConfig

    assert load_run_config(FinetuningConfig, CONFIGS / "finetune-sentiment.yaml") == FinetuningConfig()


def test_the_modern_config_is_a_small_modernbert_with_the_modern_recipe() -> None:
    """configs/pretrain-modernbert.yaml: ModernBERT's blocks (rotary, pre-norm, GeGLU, no biases) with local layers
    whose window is shorter than the rows, masked LM only at 30% on packed rows, and the recipe's optimizer."""
    config = load_run_config(PretrainingConfig, CONFIGS / "pretrain-modernbert.yaml")
    model = preset(config.model.preset, **config.model.changes)
    architecture = model.architecture
    assert isinstance(model, ModernBertConfig) and architecture.positions == "rotary"
    assert architecture.pre_norm and architecture.gated_mlp and architecture.activation == "gelu"
    assert not (architecture.norm_bias or architecture.attention_bias or architecture.mlp_bias)
    assert architecture.windows == (None, 32, 32, None) and 2 * 32 < config.data.max_seq_length
    data = config.data
    assert (data.masked_lm_prob, data.next_sentence, data.packing, data.tokenizer_type) == (0.3, False, True, "bpe")
    assert data.max_predictions_per_seq >= data.masked_lm_prob * data.max_seq_length
    optimizer = config.optimizer
    assert (optimizer.schedule, optimizer.decay_shape, optimizer.adam_beta1, optimizer.adam_beta2,
            optimizer.adam_epsilon) == ("warmup_stable_decay", "1-sqrt", 0.9, 0.98, 1e-6)
    assert optimizer.decoupled_weight_decay and optimizer.update_clipping and optimizer.max_grad_norm is None


def test_the_modernbert_base_config_is_the_preset_with_phase_one_rotary_base() -> None:
    """configs/pretrain-modernbert-base.yaml: the modernbert-base preset, its global rotary base that of phase 1;
    the warmup is 3B tokens and the run 1.7T, as the paper gives them."""
    config = load_run_config(PretrainingConfig, CONFIGS / "pretrain-modernbert-base.yaml")
    model = preset(config.model.preset, **config.model.changes)
    assert model == preset("modernbert-base").replace(global_rope_theta=10000.0)
    tokens_a_step = config.train.batch_size * config.data.max_seq_length
    assert round(config.optimizer.warmup_steps * tokens_a_step / 1e9) == 3
    assert round(config.train.steps * tokens_a_step / 1e11) == 17
    assert config.data.max_predictions_per_seq >= config.data.masked_lm_prob * config.data.max_seq_length
