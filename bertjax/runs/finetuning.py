"""Fine-tuning on a labelled task: the run behind `scripts/finetune.py`.

Trains with evaluation every epoch (or every N steps), keeps the best model by the task metric (exported in Hugging
Face format to `<run>/best`), stops early on a patience, resumes exactly, reports the trivial baseline beside the
model, writes predictions, and runs K-fold cross-validation.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jax
import numpy as np

from bertjax.atomic import write_text_atomically
from bertjax.convert import load_pretrained, save_pretrained
from bertjax.convert.run_folder import model_files
from bertjax.data.batching import BucketedDataset
from bertjax.data.tokenizer import load_tokenizer, save_tokenizer, train_wordpiece
from bertjax.errors import ConfigError, DataError
from bertjax.model import read_config_file
from bertjax.pipelines import PredictionModel
from bertjax.run_config import save_run_config
from bertjax.runs.families import FAMILIES
from bertjax.runs.model_setup import ModelSection, build_model
from bertjax.runs.run_dir import RunContext, RunModel, RunSection, check_at_least, run_folder, start_run
from bertjax.runs.task_family import TaskFamily, TaskSection
from bertjax.tasks.finetuning import finetuning_loss, prediction
from bertjax.train.evaluation import gather_predictions, jit_eval
from bertjax.train.loop import LoopConfig, run_training
from bertjax.train.optimizer import OptimizerConfig, make_optimizer
from bertjax.train.plots import plot_curves
from bertjax.train.sharding import check_batch_size, jit_sharded
from bertjax.train.state import create_state
from bertjax.train.steps import make_train_step

DEFAULT_PRETRAINED = Path("runs/pretrain/hf")  # where the default pretraining run exports its model


@dataclasses.dataclass(frozen=True)
class FinetuningRunSection(RunSection):
    """RunSection plus: epochs (steps = 0 derives the steps from them), evaluation batch size, early stopping
    patience (evaluations without improvement; 0 = off), K-fold cross-validation (0 = off), and the vocabulary of a
    model that starts from scratch: `tokenizer` (a vocab.txt, tokenizer.json or tokenizer folder, e.g. a pretraining
    run's, to compare with the model pretrained on it) or else a WordPiece vocabulary of `vocab_size` trained on the
    task."""

    epochs: int = 3
    eval_batch_size: int = 64
    early_stopping_patience: int = 0
    cross_validate: int = 0
    vocab_size: int = 4000
    tokenizer: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_at_least(self, epochs=1, eval_batch_size=1, early_stopping_patience=0, cross_validate=0, vocab_size=1)


@dataclasses.dataclass(frozen=True)
class FinetuningConfig:
    task: TaskSection = TaskSection()
    # `auto`: the default pretraining run's export when it exists, else a fresh model of `preset`.
    model: ModelSection = ModelSection(init_from="auto")
    optimizer: OptimizerConfig = OptimizerConfig(learning_rate=5e-4, warmup_fraction=0.1)
    train: FinetuningRunSection = FinetuningRunSection(output_dir="runs/finetune", steps=0, epochs=10)


def _starting_point(model: ModelSection) -> str | None:
    if model.init_from != "auto":
        return model.init_from
    return str(DEFAULT_PRETRAINED) if (DEFAULT_PRETRAINED / "config.json").is_file() else None


def _tokenizer(init_from: str | None, family: TaskFamily, config: FinetuningConfig, run_dir: Path) -> Any:
    given = config.train.tokenizer
    if init_from and given:
        raise ConfigError(f"train.tokenizer={given} is the vocabulary of a model from scratch, but the model starts "
                          f"from {init_from} with its own; set model.init_from=null to train from scratch")
    if init_from:
        return load_tokenizer(model_files(init_from))
    if given:
        return load_tokenizer(given)
    saved = run_dir / "tokenizer"
    if saved.is_dir():
        return load_tokenizer(saved)
    tokenizer = train_wordpiece(family.training_texts(config.task), vocab_size=config.train.vocab_size)
    if jax.process_index() == 0:
        save_tokenizer(tokenizer, saved)
    return tokenizer


class _Predictor:
    """Runs the model over a dataset's evaluation batches; outputs come back in the dataset's file order."""

    def __init__(self, predict_fn: Any, mesh: Any, batch_size: int) -> None:
        self.predict_fn, self.mesh, self.batch_size = predict_fn, mesh, batch_size

    def __call__(self, params: Any, dataset: BucketedDataset) -> dict[str, list[np.ndarray]]:
        batches = dataset.eval_batches(self.batch_size, jax.process_index(), jax.process_count())
        outputs = gather_predictions(self.predict_fn, params, batches, self.mesh)
        return {key: dataset.in_input_order(values) for key, values in outputs.items()}


def run_finetuning(config: FinetuningConfig) -> dict[str, Any]:
    """Fine-tunes once, or K times for cross-validation (in folders inside the run folder); returns the evaluation
    summary. The run folder is locked meanwhile (`run_folder`)."""
    task, folds = config.task, config.train.cross_validate
    if task.type not in FAMILIES:  # these are found out before the run folder is made
        raise ConfigError(f"task.type is {task.type!r}; choose one of {', '.join(FAMILIES)}")
    if task.predict_file and not Path(task.predict_file).is_file():  # and not after the training
        raise DataError(f"task.predict_file {task.predict_file}: no such file")
    if folds == 1:
        raise ConfigError(f"train.cross_validate must be 0 (off) or at least 2 folds, got {folds}")
    init_from = _starting_point(config.model)
    if init_from:  # a folder of an architecture bertjax lacks is named as such, not by its tokenizer or weights files
        read_config_file(model_files(init_from) / "config.json")
    with run_folder(config.train):
        return _finetune(config)


def _finetune(config: FinetuningConfig) -> dict[str, Any]:
    folds = config.train.cross_validate
    if folds == 0:
        return _run_once(config, fold=None)
    output = Path(config.train.output_dir)
    if jax.process_index() == 0:  # the folds' folders hold no config of their own: the run is resumed as a whole
        output.mkdir(parents=True, exist_ok=True)
        save_run_config(config, output / "config.yaml")
    results = []
    for fold in range(folds):
        fold_train = dataclasses.replace(config.train, output_dir=f"{config.train.output_dir}/fold_{fold}")
        print(f"cross-validation: fold {fold + 1} of {folds}", flush=True)
        result = _run_once(dataclasses.replace(config, train=fold_train), fold=(fold, folds))
        if not result:  # stopped by a signal
            print(f"cross-validation stopped in fold {fold + 1}; run again (--resume {output}) to go on", flush=True)
            return {}
        results.append(result["best"])
    summary = {name: {"mean": float(np.mean([result[name] for result in results])),
                      "std": float(np.std([result[name] for result in results]))} for name in results[0]}
    if jax.process_index() == 0:
        (output / "cross_validation.json").write_text(json.dumps({"folds": results, "summary": summary}, indent=2))
        print(f"{folds}-fold cross-validation ({output / 'cross_validation.json'}):")
        for name, values in summary.items():
            print(f"  {name:>24}: {values['mean']:.4f} ± {values['std']:.4f}")
    return {"folds": results, "summary": summary}


def _run_once(config: FinetuningConfig, fold: tuple[int, int] | None) -> dict[str, Any]:
    train, task = config.train, config.task
    context: RunContext = start_run(config.train, config)
    family: TaskFamily = FAMILIES[task.type](task)
    init_from = _starting_point(config.model)
    tokenizer = _tokenizer(init_from, family, config, context.run_dir)
    data = family.prepare(task, tokenizer, train.seed, fold)
    changes: dict[str, Any] = {} if data.labels is None else {"id2label": dict(enumerate(data.labels))}
    if family.objective.head == "sequence_classification" and data.labels is None:
        changes["id2label"] = {0: "target"}  # one output: regression
    built = build_model(dataclasses.replace(config.model, init_from=init_from), family.objective.head, train.seed,
                        tokenizer if init_from is None else None, **changes)
    if task.max_seq_length > built.config.max_position_embeddings:
        raise ConfigError(f"task.max_seq_length ({task.max_seq_length}) is above the model's "
                          f"max_position_embeddings ({built.config.max_position_embeddings})")
    check_batch_size(train.batch_size, context.mesh, train.accumulation_steps, field="train.batch_size")
    check_batch_size(train.eval_batch_size, context.mesh, field="train.eval_batch_size")
    data.train.check_batch_size(train.batch_size, jax.process_count())
    steps_per_epoch = data.train.batches_per_epoch(train.batch_size)
    total_steps = train.steps or train.epochs * steps_per_epoch
    for note in built.notes:
        context.say(note)
    context.say(f"{data.train.num_examples} training and {data.evaluation.num_examples} evaluation examples; "
                f"{total_steps} steps of {train.batch_size} ({steps_per_epoch} per epoch)")

    optimizer, schedule = make_optimizer(config.optimizer, built.params, total_steps, built.config.num_hidden_layers)
    state, shardings = create_state(built.take_params(), optimizer, train.seed, context.mesh)
    train_step = jit_sharded(make_train_step(finetuning_loss(built.model, family.objective), optimizer, schedule,
                                             train.accumulation_steps), context.mesh, shardings,
                             concurrent=built.model.options.chunks_attention(built.config))
    predict = _Predictor(jit_eval(prediction(built.model), context.mesh, shardings.params), context.mesh,
                         train.eval_batch_size)
    best_dir = context.run_dir / "best"
    # The latest evaluation's outputs, and the best's of this process (a resumed run's best may predate it).
    outputs: dict[str, dict[str, list[np.ndarray]]] = {}

    def evaluate(state: Any, step: int) -> dict[str, float]:
        outputs["latest"] = predict(state.params, data.evaluation)
        return family.evaluate(outputs["latest"])

    def on_evaluation(state: Any, step: int, metrics: dict[str, float], extra: dict[str, Any]) -> bool:
        score = metrics[family.primary_metric]
        if "best_score" not in extra or score > extra["best_score"]:
            extra.update(best_score=score, best_step=step, best_metrics=metrics, evaluations_without_improvement=0)
            outputs["best"] = outputs["latest"]
            if context.primary:
                save_pretrained(best_dir, built.config, jax.device_get(state.params), family.objective.head,
                                tokenizer=tokenizer)
            return False
        extra["evaluations_without_improvement"] = extra.get("evaluations_without_improvement", 0) + 1
        patience = train.early_stopping_patience
        return bool(patience) and extra["evaluations_without_improvement"] >= patience

    result = run_training(
        LoopConfig(total_steps, train.log_every, train.eval_every or steps_per_epoch, train.checkpoint_every,
                   "finetune"),
        state, train_step, lambda step: data.train.train_batch(step, train.batch_size, jax.process_index(),
                                                                jax.process_count()),
        context.mesh, context.checkpointer, context.metrics_log,
        tokens_per_batch=train.batch_size * task.max_seq_length, evaluate=evaluate, on_evaluation=on_evaluation,
        on_start=lambda resumed_step: context.save_config(
            resumed_step, RunModel(built.config, family.objective.head, tokenizer), write=fold is None))
    context.finish(plot_curves)
    if result.interrupted:
        return {}
    return _final_report(context, config, family, data.evaluation, predict, tokenizer, result.extra,
                         outputs.get("best"))


def _prediction_suffix(family: TaskFamily, section: TaskSection) -> str:
    """The family's own prediction format (a SQuAD answer file, CoNLL lines) when it has one, else CSV for a .csv
    input and JSON lines otherwise."""
    if hasattr(family, "prediction_suffix"):
        return family.prediction_suffix(section)
    return ".csv" if section.predict_file.endswith(".csv") else ".jsonl"


def _final_report(context: RunContext, config: FinetuningConfig, family: TaskFamily, evaluation: BucketedDataset,
                  predict: _Predictor, tokenizer: Any, extra: dict[str, Any],
                  outputs: dict[str, list[np.ndarray]] | None) -> dict[str, Any]:
    """The detailed report of the best model from its evaluation `outputs` (None: the best was found before this
    process resumed the run, so it is evaluated again), its predictions, the summary printed."""
    best_dir = context.run_dir / "best"

    def load_best() -> tuple[Any, Any]:
        best_config, params, _ = load_pretrained(best_dir, family.objective.head, options=config.model.options())
        return best_config, params

    if outputs is None:
        outputs = predict(load_best()[1], evaluation)
    best = family.evaluate(outputs)
    lines = family.report(outputs, context.run_dir) if context.primary else []
    summary: dict[str, Any] = {"best_step": extra["best_step"], "best": best}
    _write_results(context, summary)  # before the predictions: a file that cannot be predicted on loses nothing
    context.say(f"best model at step {extra['best_step']} ({best_dir}); held-out evaluation:")
    context.say(f"  {'metric':>16} {'model':>8} {'baseline':>9}")
    for name, value in best.items():
        if not name.startswith("baseline_"):
            baseline = best.get(f"baseline_{name}")
            context.say(f"  {name:>16} {value:>8.4f} " + (f"{baseline:>9.4f}" if baseline is not None else ""))
    for line in lines:
        context.say("  " + line)
    if config.task.predict_file and context.primary:  # with the same pipeline as `bertjax.pipeline`, on this host
        path = context.run_dir / f"predictions{_prediction_suffix(family, config.task)}"
        model = PredictionModel(*load_best(), tokenizer, family.objective.head, config.model.options())
        count = family.predict(config.task, model, path)
        summary["predictions"] = str(path)
        _write_results(context, summary)
        context.say(f"wrote {count} predictions to {path}")
    context.say(f"run folder: {context.run_dir}")
    return summary


def _write_results(context: RunContext, summary: dict[str, Any]) -> None:
    if context.primary:
        write_text_atomically(context.run_dir / "results.json", json.dumps(summary, indent=2) + "\n")

