"""Token classification (NER) fine-tuning end to end: CoNLL and JSON-lines data, entity scores beside the all-O
model, the exported model against transformers, tagged predictions, clear errors, real CoNLL-2003 data from the
MiniLM checkpoint, and the Chinese NER sets as published (BIOS tags) from a checkpoint in bert-base-chinese's
format and from scratch."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from bertjax.convert import load_pretrained
from bertjax.data.finetuning.token_classification import TaggedSentences, encode_token_classification
from bertjax.errors import DataError
from bertjax.model import BertForTokenClassification
from bertjax.run_config import load_run_config
from bertjax.runs.families.token_classification import TokenClassificationFamily, entity_labels, read_conll_words, \
    read_texts_to_tag, tag_records, write_conll_tags
from bertjax.runs.finetuning import FinetuningConfig, run_finetuning
from bertjax.runs.task_family import TaskSection

ROOT = Path(__file__).resolve().parents[1]
TINY = ["task.type=token_classification", "model.init_from=null",
        "model.changes={hidden_size: 32, num_attention_heads: 2, intermediate_size: 64, num_hidden_layers: 2}",
        "train.vocab_size=300", "task.max_seq_length=32", "task.pad_to_max_length=true", "train.batch_size=16",
        "train.eval_batch_size=32", "train.log_every=5", "optimizer.learning_rate=0.01"]
PEOPLE = ["Anna Weber", "Peter", "Maria Rossi", "John", "Ken Sato", "Laura"]
PLACES = ["Paris", "Berlin", "New York", "Tokyo", "Rome", "Oslo"]
GROUPS = ["Siemens", "the United Nations", "Reuters", "Fiat"]
TEMPLATES = ["{person} flew to {place} yesterday .", "{group} opened an office in {place} .",
             "{person} works for {group} .", "In {place} , {person} met {group} staff ."]


def _tagged(entity: str, kind: str) -> list[tuple[str, str]]:
    words = entity.split()
    if words[0] == "the":  # "the" is not part of the name
        return [("the", "O"), *_tagged(" ".join(words[1:]), kind)]
    return [(word, ("B-" if index == 0 else "I-") + kind) for index, word in enumerate(words)]


def synthetic_sentences(count: int, seed: int) -> list[list[tuple[str, str]]]:
    """Template sentences with people (PER), places (LOC) and organisations (ORG), as (word, tag) pairs."""
    rng = np.random.default_rng(seed)
    sentences = []
    for _ in range(count):
        template = TEMPLATES[rng.integers(len(TEMPLATES))]
        fillers = {"person": (PEOPLE, "PER"), "place": (PLACES, "LOC"), "group": (GROUPS, "ORG")}
        sentence = []
        for word in template.split():
            if word.startswith("{"):
                names, kind = fillers[word.strip("{}")]
                sentence += _tagged(names[rng.integers(len(names))], kind)
            else:
                sentence.append((word, "O"))
        sentences.append(sentence)
    return sentences


def write_conll(path: Path, sentences: list[list[tuple[str, str]]], with_tags: bool = True) -> Path:
    lines = ["-DOCSTART- O", ""]
    for sentence in sentences:
        lines += [f"{word} {tag}" if with_tags else word for word, tag in sentence] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def write_jsonl(path: Path, sentences: list[list[tuple[str, str]]]) -> Path:
    path.write_text("".join(json.dumps({"tokens": [word for word, _ in sentence], "tags": [tag for _, tag in sentence]})
                            + "\n" for sentence in sentences), encoding="utf-8")
    return path


def _config(run_dir: Path, *overrides: str) -> FinetuningConfig:
    return load_run_config(FinetuningConfig, None, [*TINY, f"train.output_dir={run_dir}", *overrides])


def _assert_transformers_agrees(best: Path, sentences: list[list[str]]) -> None:
    """transformers' BertForTokenClassification loads the exported folder and computes our logits."""
    config, params, _ = load_pretrained(best, "token_classification")
    reference, info = transformers.BertForTokenClassification.from_pretrained(best, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    tokenizer = transformers.BertTokenizerFast.from_pretrained(best)
    batch = tokenizer(sentences, is_split_into_words=True, padding=True, return_tensors="np")
    ours = BertForTokenClassification(config).apply({"params": params}, batch["input_ids"], batch["attention_mask"],
                                                    batch["token_type_ids"])["logits"]
    with torch.no_grad():
        theirs = reference.eval()(**{key: torch.tensor(value) for key, value in batch.items()}).logits.numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=1e-5)


def test_conll_run_learns_exports_and_tags_words(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    train = write_conll(tmp_path / "train.txt", synthetic_sentences(160, seed=0))
    evaluation = write_conll(tmp_path / "valid.txt", synthetic_sentences(40, seed=1))
    new = synthetic_sentences(3, seed=2)
    to_tag = write_conll(tmp_path / "new.txt", new, with_tags=False)
    run_dir = tmp_path / "run"
    summary = run_finetuning(_config(run_dir, f"task.train_file={train}", f"task.eval_file={evaluation}",
                                     f"task.predict_file={to_tag}", "train.steps=40", "train.eval_every=20"))
    best = summary["best"]
    assert {"precision", "recall", "f1", "LOC_f1", "ORG_f1", "PER_f1", "baseline_f1"} <= set(best)
    assert best["baseline_f1"] == 0.0 and best["baseline_precision"] == 0.0
    assert best["f1"] > 0.5, best
    printed = capsys.readouterr().out
    assert "baseline" in printed and "overall" in printed
    results = json.loads((run_dir / "results.json").read_text())
    assert results["best"] == pytest.approx(best)
    report = json.loads((run_dir / "entity_report.json").read_text())
    assert report["overall"]["f1"] == pytest.approx(best["f1"])
    assert report["PER"]["support"] == sum(tag == "B-PER" for sentence in synthetic_sentences(40, seed=1)
                                           for _, tag in sentence)

    config = json.loads((run_dir / "best" / "config.json").read_text())
    labels = ("O", "B-LOC", "B-ORG", "B-PER", "I-LOC", "I-ORG", "I-PER")
    assert config["id2label"] == {str(index): label for index, label in enumerate(labels)}
    _assert_transformers_agrees(run_dir / "best", [["Anna", "Weber", "flew", "to", "Rome"], ["Fiat", "."]])

    assert summary["predictions"] == str(run_dir / "predictions.txt")
    blocks = Path(summary["predictions"]).read_text().strip("\n").split("\n\n")
    assert len(blocks) == 3
    for block, sentence in zip(blocks, new):
        pairs = [line.split(" ") for line in block.split("\n")]
        assert [word for word, _ in pairs] == [word for word, _ in sentence]
        assert all(tag in labels for _, tag in pairs)


def test_predictions_follow_the_input_format(tmp_path: Path) -> None:
    family = TokenClassificationFamily(TaskSection(type="token_classification"))
    assert family.prediction_suffix(TaskSection(predict_file="new.txt")) == ".txt"
    assert family.prediction_suffix(TaskSection(predict_file="new.jsonl")) == ".jsonl"
    assert family.prediction_suffix(TaskSection(predict_file="new.data", format="jsonl")) == ".jsonl"
    words, tags = [["Peter", "flew"], ["Oslo"]], [["B-PER", "O"], ["B-LOC"]]
    write_conll_tags(words, tags, tmp_path / "predictions.txt")
    assert (tmp_path / "predictions.txt").read_text() == "Peter B-PER\nflew O\n\nOslo B-LOC\n\n"
    assert read_conll_words(tmp_path / "predictions.txt") == words


def test_json_lines_to_tag_come_back_with_tags_and_entities(tmp_path: Path, pipeline_models: dict[str, Path]) -> None:
    """Each record keeps its fields; a list of words gets its tags under the tag field that goes with it and the
    entities of the words joined by spaces; a text (CLUENER's test records) gets the entities of the string."""
    from bertjax.pipelines import pipeline

    tagger = pipeline("token-classification", pipeline_models["tagger"])
    words = [["George", "Washington", "went", "to", "Washington"], ["Angela", "Merkel", "visited", "Geneva"]]
    listed = tmp_path / "words.jsonl"
    listed.write_text("".join(json.dumps({"id": index, "words": sentence}) + "\n"
                              for index, sentence in enumerate(words)), encoding="utf-8")
    rows = tag_records(tagger, *read_texts_to_tag(listed))
    assert [row["id"] for row in rows] == [0, 1] and [row["words"] for row in rows] == words
    assert [row["labels"] for row in rows] == tagger.word_tags(words)
    assert [row["entities"] for row in rows] == tagger(words, is_split_into_words=True)
    assert sum(map(len, (row["entities"] for row in rows))) > 1
    texts = [" ".join(sentence) for sentence in words]
    strings = tmp_path / "texts.jsonl"
    strings.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts), encoding="utf-8")
    rows = tag_records(tagger, *read_texts_to_tag(strings))
    assert rows == [{"text": text, "entities": entities} for text, entities in zip(texts, tagger(texts))]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a"}\n{"text": 3}\n', encoding="utf-8")
    with pytest.raises(DataError, match=f"{bad} line 2: 'text' must be a text or a list of words, got 3"):
        read_texts_to_tag(bad)


def test_evaluate_scores_entities_beside_all_o(minilm_dir: Path) -> None:
    """Logits that pick the true tags score F1 1; one wrong type halves that sentence's entities."""
    tokenizer = transformers.BertTokenizerFast.from_pretrained(minilm_dir)
    sentences = TaggedSentences([["Anna", "Weberhausen", "visited", "Oslo"], ["Fiat", "rose"]],
                                [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]], ["a line 1", "a line 6"])
    family = TokenClassificationFamily(TaskSection(type="token_classification"))
    family._labels = entity_labels(sentences, "iob2")
    family._eval = sentences
    family._eval_encoded = encode_token_classification(sentences, tokenizer, 32, family._labels)

    def logits_for(tags: list[list[str]]) -> list[np.ndarray]:
        logits = []
        for sentence_tags, word_ids in zip(tags, family._eval_encoded.word_ids):
            # [CLS], the sentence's tokens, [SEP] and 3 tokens of bucket padding
            one_hot = np.zeros((len(word_ids) + 5, len(family._labels)), np.float32)
            for position, word in enumerate(word_ids):
                one_hot[position + 1, family._labels.index(sentence_tags[word])] = 1
            logits.append(one_hot)
        return logits

    perfect = family.evaluate({"logits": logits_for(sentences.tags)})
    assert perfect["f1"] == 1.0 and perfect["PER_f1"] == 1.0 and perfect["baseline_f1"] == 0.0
    wrong = family.evaluate({"logits": logits_for([["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]])})
    assert wrong["precision"] == pytest.approx(2 / 3) and wrong["recall"] == pytest.approx(2 / 3)
    assert wrong["LOC_f1"] == 0.0 and wrong["ORG_f1"] == pytest.approx(2 / 3)


def test_long_evaluation_sentences_are_tagged_through_windows(tmp_path: Path, tokenizer) -> None:
    """Sentences longer than task.max_seq_length are evaluated in windows: the gold labels read back through them
    score F1 1, where cutting the sentences (task.truncation) loses the entities beyond the cut."""
    long = [pair for sentence in synthetic_sentences(6, seed=3) for pair in sentence]  # one sentence of six
    sentences = write_conll(tmp_path / "long.txt", [long, *synthetic_sentences(3, seed=4)])

    def gold_logits(section: TaskSection) -> tuple[TokenClassificationFamily, list[np.ndarray]]:
        family = TokenClassificationFamily(section)
        data = family.prepare(section, tokenizer, seed=0, fold=None)
        labels = family._eval_encoded.features["labels"]
        assert data.evaluation.num_examples == len(labels)
        return family, [np.eye(len(family._labels))[np.maximum(row, 0)] for row in labels]

    windowed = TaskSection(type="token_classification", train_file=str(sentences), eval_file=str(sentences),
                           max_seq_length=16, stride=4)
    family, logits = gold_logits(windowed)
    assert len(family._eval_encoded.windows.rows_of(0)) >= 4 and family.evaluate({"logits": logits})["f1"] == 1.0
    family, logits = gold_logits(dataclasses.replace(windowed, truncation=True))
    assert len(logits) == 4 and family.evaluate({"logits": logits})["recall"] < 0.8
    assert any("beyond task.max_seq_length were tagged O" in line
               for line in family.report({"logits": logits}, tmp_path))


def test_entity_labels_hold_every_prefix_of_the_scheme() -> None:
    sentences = TaggedSentences([["a", "b"]], [["B-LOC", "B-PER"]], ["x"])
    assert entity_labels(sentences, "iob2") == ("O", "B-LOC", "B-PER", "I-LOC", "I-PER")
    assert entity_labels(TaggedSentences([["a"]], [["S-RACE"]], ["x"]), "bios") == ("O", "B-RACE", "I-RACE", "S-RACE")


def test_read_conll_words_ignores_tags_and_docstart(tmp_path: Path) -> None:
    path = tmp_path / "new.txt"
    path.write_text("-DOCSTART- O\n\nEU B-ORG\nrejects\n\n\nPeter\n", encoding="utf-8")
    assert read_conll_words(path) == [["EU", "rejects"], ["Peter"]]


def test_tags_of_no_scheme_name_file_and_line(tmp_path: Path) -> None:
    sentences = synthetic_sentences(20, seed=5)
    sentences[1][0] = (sentences[1][0][0], "PERSON")
    train = write_conll(tmp_path / "train.txt", sentences)
    line = 2 + len(sentences[0]) + 1 + 1  # -DOCSTART-, blank, first sentence, blank, then sentence 2's first word
    with pytest.raises(DataError, match=f"{train} line {line}: tag 'PERSON' is not O or a prefix B-, I-, S-, E- or "
                                        f"M- followed by a type"):
        run_finetuning(_config(tmp_path / "run", f"task.train_file={train}"))
    sentences[1][0] = (sentences[1][0][0], "S-PER")
    write_conll(train, sentences)
    with pytest.raises(DataError, match=rf"{train} line {line}: tag 'S-PER' is not IOB2 \(O, B-TYPE, I-TYPE\)"):
        run_finetuning(_config(tmp_path / "run", f"task.train_file={train}", "task.tag_scheme=iob2"))


def test_token_line_without_tag_is_one_line_error_from_the_script(tmp_path: Path) -> None:
    train = tmp_path / "train.txt"
    train.write_text("Peter B-PER\nflew O\n\nBerlin\nis O\n", encoding="utf-8")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "finetune.py"), *TINY,
                             f"task.train_file={train}", f"train.output_dir={tmp_path / 'run'}"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120,
                            env={"JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {train} line 4: 'Berlin' has no tag column (column -1); each token line is `word TAG`, a blank line "
        f"between sentences"]


@pytest.mark.slow
def test_minilm_learns_conll2003(tmp_path: Path, minilm_dir: Path, shared_data: Path) -> None:
    """From all-MiniLM-L6-v2: one epoch on the first 800 sentences of train.txt at lr 5e-4, evaluated on the first
    500 of valid.txt (F1 0.63 when written, 0.74 from 1,500 sentences at lr 3e-4 in 1.4 times the time; scanned
    layers compile once for the six layers)."""
    def first_sentences(path: Path, count: int) -> str:
        blocks = [block for block in path.read_text(encoding="utf-8").split("\n\n")
                  if block.strip() and not block.startswith("-DOCSTART-")]
        return "\n\n".join(blocks[:count]) + "\n"

    train, evaluation = tmp_path / "train.txt", tmp_path / "valid.txt"
    train.write_text(first_sentences(shared_data / "conll2003" / "train.txt", 800), encoding="utf-8")
    evaluation.write_text(first_sentences(shared_data / "conll2003" / "valid.txt", 500), encoding="utf-8")
    config = load_run_config(FinetuningConfig, None, [
        "task.type=token_classification", f"task.train_file={train}", f"task.eval_file={evaluation}",
        "task.max_seq_length=64", f"model.init_from={minilm_dir}", "model.scan_layers=true", "train.batch_size=16",
        "train.eval_batch_size=64", "train.epochs=1", "train.log_every=10", "optimizer.learning_rate=0.0005",
        f"train.output_dir={tmp_path / 'run'}"])
    best = run_finetuning(config)["best"]
    print(f"MiniLM on CoNLL-2003 (train: first 800 sentences of train.txt, eval: first 500 of valid.txt): "
          f"entity F1 {best['f1']:.4f} (precision {best['precision']:.4f}, recall {best['recall']:.4f}); "
          f"all-O baseline F1 {best['baseline_f1']:.4f}")
    assert best["f1"] > 0.5


def test_tfds_conll2003_trains_on_train_and_evaluates_on_dev() -> None:
    pytest.importorskip("tensorflow")
    from test_classification_data import mock_tfds  # one tfds mock for every data test

    # conll2003's ClassLabel names: O B-PER I-PER B-ORG I-ORG B-LOC I-LOC B-MISC I-MISC
    rows = {"train": [{"tokens": ["Peter", "Blackburn"], "ner": [1, 2]}],
            "dev": [{"tokens": ["EU", "rejects"], "ner": [3, 0]}]}
    section = TaskSection(type="token_classification", tfds="conll2003")
    with mock_tfds(rows):
        train, evaluation, scheme = TokenClassificationFamily(section)._splits(section, seed=0)
    assert train.tags == [["B-PER", "I-PER"]] and evaluation.words == [["EU", "rejects"]] and scheme == "iob2"


def test_shipped_config() -> None:
    config = load_run_config(FinetuningConfig, ROOT / "configs" / "finetune-conll2003.yaml")
    assert config.task.type == "token_classification" and config.model.init_from
    assert config.task.train_file.endswith("train.txt") and config.task.eval_file.endswith("valid.txt")


CHINESE_FILLERS = {"NAME": ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨帆"], "EDU": ["北京大学", "复旦大学", "浙江大学"],
                   "ORG": ["华为公司", "北京银行", "万科集团", "中国石油"], "TITLE": ["经理", "董事", "工程师", "总监"]}
CHINESE_TEMPLATES = ["{NAME}，男，{EDU}硕士，现任{ORG}{TITLE}。", "{NAME}女士曾任{ORG}{TITLE}，毕业于{EDU}。",
                     "本公司{TITLE}{NAME}，{EDU}学士。"]


def chinese_tagged_records(count: int, seed: int) -> list[dict[str, list[str]]]:
    """Résumé-like Chinese sentences as Resume NER publishes them: {"text": [characters], "label": [BIOS tags]}."""
    rng = np.random.default_rng(seed)
    records = []
    for _ in range(count):
        text, label = [], []
        for index, part in enumerate(CHINESE_TEMPLATES[rng.integers(len(CHINESE_TEMPLATES))].split("{")):
            kind, _, rest = part.partition("}") if index else ("", "", part)
            if kind:
                entity = CHINESE_FILLERS[kind][rng.integers(len(CHINESE_FILLERS[kind]))]
                text += entity
                label += [f"B-{kind}"] + [f"I-{kind}"] * (len(entity) - 1)
            text += rest
            label += ["O"] * len(rest)
        records.append({"text": text, "label": label})
    return records


@pytest.mark.slow
def test_ner_from_a_chinese_pretraining_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Chinese end to end: a few pretraining steps on text one document a line with jieba's whole-word masking,
    then Resume-style NER (text/label, BIOS) from that run's export: its encoder and vocabulary, which holds every
    character of the text; entities of new text as its characters. Slow (50 s of CPU: two runs compiled); its
    parts have tests of their own (the jieba pretraining run in test_pretraining_run, Chinese checkpoints here)."""
    from bertjax.pipelines import pipeline
    from bertjax.runs.pretraining import PretrainingConfig, run_pretraining
    from test_pretraining_run import TINY as PRETRAINING_TINY

    records = chinese_tagged_records(240, seed=0)
    corpus = tmp_path / "resumes.txt"
    corpus.write_text("".join("".join(record["text"]) + "\n" for record in records[:200]), encoding="utf-8")
    pretraining = tmp_path / "pretraining"
    run_pretraining(load_run_config(PretrainingConfig, None, [
        *PRETRAINING_TINY, f"data.corpus={corpus}", "data.format=documents", "data.word_segmenter=jieba",
        "data.whole_word_masking=true", "data.prepare_workers=1", "train.steps=3", "train.eval_batches=1",
        f"train.output_dir={pretraining}"]))
    train = tmp_path / "train.json"
    train.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records), encoding="utf-8")
    capsys.readouterr()
    run_dir = tmp_path / "ner"
    summary = run_finetuning(load_run_config(FinetuningConfig, None, [
        *TINY, f"model.init_from={pretraining / 'hf'}", f"task.train_file={train}", "task.eval_fraction=0.2",
        "train.steps=40", "train.eval_every=40", f"train.output_dir={run_dir}"]))
    notes = capsys.readouterr().out
    assert f"loaded {pretraining / 'hf'}" in notes
    # The encoder comes from the pretraining run, only the classifier is new.
    assert "initialised as transformers does (not in the checkpoint): classifier.bias, classifier.weight" in notes
    vocabulary = (pretraining / "hf" / "vocab.txt").read_text(encoding="utf-8")
    assert (run_dir / "best" / "vocab.txt").read_text(encoding="utf-8") == vocabulary
    assert {character for record in records for character in record["text"]} <= set(vocabulary.split())
    assert summary["best"]["f1"] > 0.8
    text = "李娜，女，复旦大学硕士，现任万科集团总监。"
    entities = pipeline("token-classification", run_dir / "best")(text)
    assert [(entity["entity_group"], entity["word"]) for entity in entities] == \
        [("NAME", "李娜"), ("EDU", "复旦大学"), ("ORG", "万科集团"), ("TITLE", "总监")]
    assert all(text[entity["start"]:entity["end"]] == entity["word"] for entity in entities)


@pytest.mark.slow
def test_resume_ner_as_published_from_a_chinese_checkpoint(tmp_path: Path, chinese_bert_dir: Path,
                                                           shared_data: Path) -> None:
    """Resume NER's files as published (JSON lines text/label, BIOS tags) from a checkpoint in bert-base-chinese's
    format, 40 steps (entity F1 0.25 on dev.json when written): BIOS labels, entity scores as seqeval's strict mode
    counts them, predictions with each record's tags and its entities as character spans of its text, and
    predict.py giving the same entities."""
    from bertjax.data.finetuning.tag_schemes import entity_spans, scheme_labels
    from bertjax.runs.predict import run_predict

    resume = shared_data / "chinese" / "ner-resume"
    to_tag = tmp_path / "test.json"  # the first 40 records of test.json, unchanged
    to_tag.write_text("".join((resume / "test.json").read_text(encoding="utf-8").splitlines(True)[:40]),
                      encoding="utf-8")
    run_dir = tmp_path / "run"
    summary = run_finetuning(load_run_config(FinetuningConfig, None, [
        "task.type=token_classification", f"task.train_file={resume / 'train.json'}",
        f"task.eval_file={resume / 'dev.json'}", f"task.predict_file={to_tag}", "task.max_seq_length=32",
        f"model.init_from={chinese_bert_dir}", "train.steps=40", "train.eval_every=40", "train.batch_size=32",
        "train.eval_batch_size=128", "train.log_every=10", "optimizer.learning_rate=0.01",
        f"train.output_dir={run_dir}"]))
    types = ("CONT", "EDU", "LOC", "NAME", "ORG", "PRO", "RACE", "TITLE")
    id2label = json.loads((run_dir / "best" / "config.json").read_text())["id2label"]
    labels = tuple(id2label[str(index)] for index in range(len(id2label)))
    assert labels == scheme_labels(types, "bios") and len(labels) == 25
    assert {"f1", "precision", "recall", *(f"{name}_f1" for name in types)} <= set(summary["best"])
    dev = [json.loads(line)["label"] for line in (resume / "dev.json").read_text(encoding="utf-8").splitlines()]
    report = json.loads((run_dir / "entity_report.json").read_text())
    assert report["overall"]["support"] == sum(len(entity_spans(tags, "bios")) for tags in dev)

    rows = [json.loads(line) for line in Path(summary["predictions"]).read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 40 and sum(len(row["entities"]) for row in rows) > 10
    for row in rows:
        text = "".join(row["text"])
        assert len(row["label"]) == len(row["text"]) and set(row["label"]) <= set(labels)
        assert [(entity["entity_group"], entity["start"], entity["end"]) for entity in row["entities"]] == \
            [(entity_type, first, last + 1) for entity_type, first, last in entity_spans(row["label"], "bios")]
        assert all(entity["word"] == text[entity["start"]:entity["end"]] for entity in row["entities"])
    output = tmp_path / "predict.py.jsonl"
    assert run_predict([str(run_dir / "best"), str(to_tag), "--output", str(output), "--max-seq-length", "32"]) == 0
    again = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [[(entity["word"], entity["start"]) for entity in row["entities"]] for row in again] == \
        [[(entity["word"], entity["start"]) for entity in row["entities"]] for row in rows]


@pytest.mark.slow
def test_weibo_ner_as_published_through_the_script(tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture) -> None:
    """Weibo NER's train.json unchanged through scripts/finetune.py from scratch, a few steps: BIOS detected from
    the tags (types such as PER.NAM), and the tags of the held-out fifth that BIOS allows in no entity (an `I-`
    after `O`: the file has ten) reported as seqeval's strict mode counts them."""
    from test_finetuning_run import run_finetune_script

    run_dir = tmp_path / "run"
    run_finetune_script(monkeypatch, *TINY, "train.steps=4", "train.eval_every=4",
                        f"task.train_file={shared_data / 'chinese' / 'ner-weibo' / 'train.json'}",
                        f"train.output_dir={run_dir}")
    labels = set(json.loads((run_dir / "best" / "config.json").read_text())["id2label"].values())
    assert {"B-PER.NAM", "I-PER.NAM", "S-PER.NAM", "S-GPE.NOM"} <= labels and len(labels) == 1 + 3 * 8
    assert "evaluation sentences have tags in no entity that BIOS allows" in capsys.readouterr().out
    assert json.loads((run_dir / "entity_report.json").read_text())["overall"]["support"] > 100
