"""Question answering fine-tuning end to end: SQuAD v2.0 windows, official EM/F1 with HasAns/NoAns beside the
empty answer, the exported model against transformers, the official prediction file, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from bertjax.convert import load_pretrained
from bertjax.data.finetuning.question_answering import prepare_qa_features
from bertjax.data.finetuning.squad import SquadAnswer, SquadExample
from bertjax.errors import ConfigError, DataError
from bertjax.model import BertForQuestionAnswering
from bertjax.run_config import load_run_config
from bertjax.runs.families.question_answering import QuestionAnsweringFamily
from bertjax.runs.finetuning import FinetuningConfig, run_finetuning
from bertjax.runs.task_family import TaskSection

TINY = ["task.type=question_answering", "model.init_from=null",
        "model.changes={hidden_size: 32, num_attention_heads: 2, intermediate_size: 64, num_hidden_layers: 2}",
        "train.vocab_size=300", "task.max_seq_length=48", "task.pad_to_max_length=true", "task.doc_stride=8",
        "task.max_query_length=12", "train.batch_size=16", "train.eval_batch_size=32", "train.log_every=5",
        "optimizer.learning_rate=0.005"]
CITIES = ["Paris", "Berlin", "Tokyo", "Rome", "Oslo", "Lima", "Cairo", "Quito"]
FILLER = "The weather there is mild and the markets are busy on most days of the week".split()


def squad_document(count: int, seed: int, version_2: bool = True) -> dict:
    """Paragraphs naming a country's capital after filler text long enough for several windows; each has an
    answerable question and (v2.0) one without an answer."""
    rng = np.random.default_rng(seed)
    paragraphs = []
    for index in range(count):
        city = CITIES[rng.integers(len(CITIES))]
        country = f"Land{index}"
        prefix = " ".join(FILLER[:int(rng.integers(4, len(FILLER)))]) + ". "
        context = f"{prefix}The capital of {country} is {city}. " + " ".join(FILLER) + "."
        questions = [{"id": f"q{index}", "question": f"What is the capital of {country}?",
                      "answers": [{"text": city, "answer_start": context.index(f"is {city}") + 3}]}]
        if version_2:
            questions[0]["is_impossible"] = False
            questions.append({"id": f"q{index}-none", "question": f"Who founded {country}?", "answers": [],
                              "is_impossible": True})
        paragraphs.append({"context": context, "qas": questions})
    return {"version": "v2.0" if version_2 else "1.1", "data": [{"title": "Capitals", "paragraphs": paragraphs}]}


def write_json(path: Path, document: dict) -> Path:
    path.write_text(json.dumps(document, indent=1), encoding="utf-8")
    return path


def _config(run_dir: Path, *overrides: str) -> FinetuningConfig:
    return load_run_config(FinetuningConfig, None, [*TINY, f"train.output_dir={run_dir}", *overrides])


def test_squad_v2_run_scores_exports_and_predicts(tmp_path: Path) -> None:
    train = write_json(tmp_path / "train.json", squad_document(48, seed=0))
    unlabelled = squad_document(3, seed=1)
    for paragraph in unlabelled["data"][0]["paragraphs"]:
        for question in paragraph["qas"]:
            question["answers"], question["is_impossible"] = [], False
    to_answer = write_json(tmp_path / "new.json", unlabelled)
    run_dir = tmp_path / "run"
    summary = run_finetuning(_config(run_dir, f"task.train_file={train}", f"task.predict_file={to_answer}",
                                     "task.version_2=true", "task.eval_fraction=0.25", "train.steps=12"))
    best = summary["best"]
    assert {"exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1"} <= set(best)
    assert not any(name.endswith("total") for name in best)
    # Half the questions have no answer: the empty answer gets exactly those right.
    assert best["baseline_exact"] == best["baseline_f1"] == 50.0
    assert best["baseline_HasAns_f1"] == 0.0 and best["baseline_NoAns_exact"] == 100.0
    assert json.loads((run_dir / "results.json").read_text())["best"] == pytest.approx(best)
    eval_predictions = json.loads((run_dir / "eval_predictions.json").read_text())
    assert len(eval_predictions) == 24 and all(isinstance(answer, str) for answer in eval_predictions.values())
    n_best = json.loads((run_dir / "eval_nbest.json").read_text())
    assert set(n_best) == set(eval_predictions) and all(any(entry["text"] == "" for entry in entries)
                                                        for entries in n_best.values())

    assert summary["predictions"] == str(run_dir / "predictions.json")
    predictions = json.loads(Path(summary["predictions"]).read_text())
    contexts = {question["id"]: paragraph["context"] for paragraph in unlabelled["data"][0]["paragraphs"]
                for question in paragraph["qas"]}
    assert set(predictions) == set(contexts)
    assert all(answer in contexts[key] for key, answer in predictions.items())

    config, params, _ = load_pretrained(run_dir / "best", "question_answering")
    reference, info = transformers.BertForQuestionAnswering.from_pretrained(run_dir / "best",
                                                                            output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    tokenizer = transformers.BertTokenizerFast.from_pretrained(run_dir / "best")
    batch = tokenizer(["What is the capital of Land3?", "Who founded it?"],
                      ["The capital of Land3 is Oslo.", "Nobody knows."], padding=True, return_tensors="np")
    ours = BertForQuestionAnswering(config).apply({"params": params}, batch["input_ids"], batch["attention_mask"],
                                                  batch["token_type_ids"])
    with torch.no_grad():
        theirs = reference.eval()(**{key: torch.tensor(value) for key, value in batch.items()})
    np.testing.assert_allclose(ours["start_logits"], theirs.start_logits.numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(ours["end_logits"], theirs.end_logits.numpy(), atol=1e-5, rtol=1e-5)


def test_evaluate_finds_the_answer_in_the_second_window(minilm_dir: Path) -> None:
    """Per-feature logits, padded to their bucket as the run gathers them, decode to the right span."""
    tokenizer = transformers.BertTokenizerFast.from_pretrained(minilm_dir)
    words = "river stone house green light music paper water table garden window silver market".split() * 4
    words[40:42] = ["Denver", "Broncos"]
    context = " ".join(words)
    example = SquadExample("q", "t", context, "Which team won?", (SquadAnswer("Denver Broncos",
                                                                              context.index("Denver")),))
    section = TaskSection(type="question_answering", max_seq_length=32, doc_stride=8, max_query_length=16)
    family = QuestionAnsweringFamily(section)
    features = prepare_qa_features([example], tokenizer, 32, 8, 16, training=False)
    family._eval, family._eval_features = [example], features
    assert len(features) > 2
    start_logits, end_logits = [], []
    for offsets in features.offset_mapping:
        start, end = np.zeros(32 + 16, np.float32), np.zeros(32 + 16, np.float32)  # a longer bucket than the window
        start[len(offsets):] = end[len(offsets):] = 50.0  # padding must never be chosen
        for position, span in enumerate(offsets):
            if span is not None and context[span[0]:span[1]] == "Denver":
                start[position] = 10.0
            if span is not None and context[span[0]:span[1]] == "Broncos":
                end[position] = 10.0
        start_logits.append(start)
        end_logits.append(end)
    windows_with_answer = [index for index, offsets in enumerate(features.offset_mapping)
                           if any(span is not None and context[span[0]:span[1]] == "Denver" for span in offsets)]
    assert windows_with_answer[0] >= 1  # the answer is not in the first window
    scores = family.evaluate({"start_logits": start_logits, "end_logits": end_logits})
    assert scores == {"exact_match": 100.0, "f1": 100.0, "baseline_exact_match": 0.0, "baseline_f1": 0.0}


def test_splits_keep_each_context_on_one_side(tmp_path: Path) -> None:
    train = write_json(tmp_path / "train.json", squad_document(20, seed=2))
    section = TaskSection(type="question_answering", train_file=str(train), version_2=True, eval_fraction=0.3)
    training, evaluation = QuestionAnsweringFamily(section)._splits(section, seed=0)
    assert len(training) + len(evaluation) == 40 and len(evaluation) == 12
    assert not {example.context for example in training} & {example.context for example in evaluation}


def test_answer_not_at_answer_start_names_file_and_line(tmp_path: Path) -> None:
    document = squad_document(4, seed=3)
    document["data"][0]["paragraphs"][2]["qas"][0]["answers"][0]["answer_start"] += 2
    train = write_json(tmp_path / "train.json", document)
    text = train.read_text()
    line = text[:text.index('"q2"')].count("\n")  # the answers object sits a few lines below the id
    with pytest.raises(DataError, match=rf"{train} line {line + 4} column \d+: question 'q2': answer 0 '\w+' is not "
                                        rf"at answer_start"):
        run_finetuning(_config(tmp_path / "run", f"task.train_file={train}", "task.version_2=true"))


def test_v2_questions_need_version_2(tmp_path: Path) -> None:
    train = write_json(tmp_path / "train.json", squad_document(4, seed=4))
    with pytest.raises(ConfigError, match=f"{train}: question 'q0-none' is marked is_impossible.*task.version_2=true"):
        run_finetuning(_config(tmp_path / "run", f"task.train_file={train}"))


def test_tfds_squad_v2_name_means_version_2() -> None:
    assert QuestionAnsweringFamily(TaskSection(type="question_answering", tfds="squad/v2.0")).version_2
    assert not QuestionAnsweringFamily(TaskSection(type="question_answering", tfds="squad/v1.1")).version_2


def test_default_windows_fit() -> None:
    task = TaskSection(type="question_answering")
    assert task.doc_stride < task.max_seq_length - task.max_query_length - 3  # prepare_qa_features' condition


def test_shipped_config_windows_fit() -> None:
    config = load_run_config(FinetuningConfig, Path(__file__).resolve().parents[1] / "configs" / "finetune-squad.yaml")
    task = config.task
    assert task.type == "question_answering" and config.model.init_from
    assert task.doc_stride < task.max_seq_length - task.max_query_length - 3  # prepare_qa_features' condition


@pytest.mark.parametrize("role", ["train", "eval"])
def test_an_unanswered_question_names_its_file_and_line(tmp_path: Path, role: str) -> None:
    document = squad_document(4, seed=0, version_2=False)
    document["data"][0]["paragraphs"][2]["qas"][0]["answers"] = []
    files = {"train": write_json(tmp_path / "train.json", squad_document(4, seed=1, version_2=False)),
             role: write_json(tmp_path / f"{role}.json", document)}
    text = files[role].read_text()
    line = text[:text.index('"id": "q2"')].count("\n")  # the question object opens on the line before its id
    with pytest.raises(DataError, match=rf"{role}.json line {line} column \d+: question 'q2' has no answers .* "
                                        rf"cannot be {'trained on' if role == 'train' else 'scored'}"):
        run_finetuning(_config(tmp_path / "run", f"task.train_file={files['train']}",
                               f"task.eval_file={files.get('eval', files['train'])}"))
