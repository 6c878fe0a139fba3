"""Pipelines against transformers.pipeline and sentence-transformers on the same checkpoints and real text: the real
all-MiniLM-L6-v2 for embeddings, and task models the tests make (MiniLM's encoder with new heads, a small masked-LM
model with MiniLM's vocabulary)."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_model import quick_jit

from bertjax.data.builtin import builtin_corpus, builtin_sentiment
from bertjax.data.tokenizer import load_tokenizer
from bertjax.errors import ConfigError, DataError
from bertjax.pipelines import pipeline, task_of_folder
from bertjax.pipelines.common import softmax
from bertjax.pipelines.packing import pack_texts

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

ENTITY_TEXTS = ["George Washington went to Washington and met the people of Microsoft in New York City.",
                "Angela Merkel visited the United Nations headquarters in Geneva last spring.",
                "The Amazon rainforest stretches across Brazil, Peru and Colombia.",
                "Nobody said anything."]


def _sentences(count: int) -> list[str]:
    with open(builtin_sentiment(), newline="", encoding="utf-8") as file:
        return [row["text"] for row in csv.DictReader(file)][:count]


@pytest.fixture(scope="module")
def models(pipeline_models: dict[str, Path]) -> dict[str, Path]:
    return pipeline_models


def _reference(task: str, directory: Path, model_class: str, **options):
    model = getattr(transformers, model_class).from_pretrained(directory).eval()
    return transformers.pipeline(task, model=model, tokenizer=transformers.AutoTokenizer.from_pretrained(directory),
                                 device="cpu", **options)


def test_text_classification_equals_transformers(models: dict[str, Path]) -> None:
    texts = _sentences(40)
    ours = pipeline("text-classification", models["classifier"])(texts, top_k=None)
    with torch.no_grad():
        theirs = _reference("text-classification", models["classifier"], "BertForSequenceClassification")(
            texts, top_k=None)
    assert len({result[0]["label"] for result in ours}) > 1  # the head tells the texts apart
    for mine, reference in zip(ours, theirs):
        assert [entry["label"] for entry in mine] == [entry["label"] for entry in reference]
        np.testing.assert_allclose([entry["score"] for entry in mine], [entry["score"] for entry in reference],
                                   rtol=0, atol=1e-5)
    best = pipeline("text-classification", models["classifier"])(texts[0])
    assert best == {"label": ours[0][0]["label"], "score": pytest.approx(ours[0][0]["score"], abs=1e-6)}


def test_text_pairs_and_regression_equal_transformers(models: dict[str, Path]) -> None:
    texts, pairs = _sentences(6), _sentences(12)[6:]
    classify = pipeline("text-classification", models["classifier"])
    reference = _reference("text-classification", models["classifier"], "BertForSequenceClassification")
    with torch.no_grad():
        theirs = [reference({"text": text, "text_pair": pair}, top_k=1)[0] for text, pair in zip(texts, pairs)]
    for mine, expected in zip(classify(texts, text_pair=pairs), theirs):
        assert mine["label"] == expected["label"] and mine["score"] == pytest.approx(expected["score"], abs=1e-5)
    regression = pipeline("text-classification", models["regression"])(texts)
    with torch.no_grad():
        expected = _reference("text-classification", models["regression"], "BertForSequenceClassification")(
            texts, function_to_apply="none")
    assert [row["label"] for row in regression] == ["target"] * len(texts)
    np.testing.assert_allclose([row["score"] for row in regression], [row["score"] for row in expected], atol=1e-5)


def test_token_classification_equals_transformers(models: dict[str, Path]) -> None:
    ours = pipeline("token-classification", models["tagger"])(ENTITY_TEXTS)
    with torch.no_grad():
        theirs = _reference("token-classification", models["tagger"], "BertForTokenClassification",
                            aggregation_strategy="first")(ENTITY_TEXTS)
    assert sum(len(entities) for entities in ours) > 5
    for text, mine, reference in zip(ENTITY_TEXTS, ours, theirs):
        assert [(entity["entity_group"], entity["start"], entity["end"]) for entity in mine] == \
            [(entity["entity_group"], entity["start"], entity["end"]) for entity in reference]
        np.testing.assert_allclose([entity["score"] for entity in mine], [entity["score"] for entity in reference],
                                   atol=1e-5)
        # `word` is the text's own characters; transformers decodes the (lower-cased) tokens instead
        assert [entity["word"] for entity in mine] == [text[entity["start"]:entity["end"]] for entity in mine]
        assert [entity["word"].lower() for entity in mine] == [entity["word"] for entity in reference]


def test_token_classification_of_words(models: dict[str, Path]) -> None:
    tagger = pipeline("token-classification", models["tagger"], max_seq_length=8, truncation=True)
    words = ENTITY_TEXTS[0].split()
    tags = tagger.word_tags([words])[0]
    assert len(tags) == len(words) and set(tags[6:]) == {"O"}  # 6 tokens fit between [CLS] and [SEP]
    full = pipeline("token-classification", models["tagger"])
    entities = full(words, is_split_into_words=True)
    assert entities == full([words], is_split_into_words=True)[0]
    assert entities and all(" ".join(words)[entity["start"]:entity["end"]] == entity["word"] for entity in entities)


CHINESE_TEXTS = ["高勇：男，中国国籍，无境外居留权，MBA学位。", "现任中国银行北京分行行长，高级经济师。", "张三在上海工作"]
BIOS_TAGS = {0: "O", 1: "B-NAME", 2: "I-NAME", 3: "S-NAME", 4: "B-ORG", 5: "I-ORG", 6: "S-ORG"}


@pytest.fixture(scope="module")
def chinese_tagger(chinese_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A token classifier with BIOS labels on the bert-base-chinese-format checkpoint (confident random head)."""
    from conftest import _with_head

    return _with_head(chinese_bert_dir, "token_classification", tmp_path_factory.mktemp("bios") / "tagger",
                      scale=30.0, id2label=BIOS_TAGS)


def test_chinese_entities_are_bios_spans_of_the_text(chinese_tagger: Path) -> None:
    """On text without spaces each Chinese character is a word of one token: transformers' tag of every token (no
    aggregation) read as BIOS (an `I-` after `O` is no entity) gives our entities, their character spans and scores;
    the word is the text's own characters; the text as a list of its characters or words gives the same entities."""
    from bertjax.data.finetuning.tag_schemes import entity_spans

    ours = pipeline("token-classification", chinese_tagger)(CHINESE_TEXTS)
    with torch.no_grad():
        tokens = _reference("token-classification", chinese_tagger, "BertForTokenClassification",
                            ignore_labels=[])(CHINESE_TEXTS)
    for text, mine, theirs in zip(CHINESE_TEXTS, ours, tokens):
        assert [token["word"] for token in theirs] == [word.lower() for word in re.findall(r"[A-Za-z]+|.", text)]
        expected = [{"entity_group": entity_type, "word": text[theirs[first]["start"]:theirs[last]["end"]],
                     "start": theirs[first]["start"], "end": theirs[last]["end"],
                     "score": pytest.approx(np.mean([token["score"] for token in theirs[first:last + 1]]), abs=1e-5)}
                    for entity_type, first, last in entity_spans([token["entity"] for token in theirs], "bios")]
        assert mine == expected
    assert sum(map(len, ours)) > 3 and any(entity["end"] - entity["start"] > 1 for entities in ours
                                           for entity in entities)
    tags = [[token["entity"] for token in theirs] for theirs in tokens]
    assert any(tag.startswith("I-") and previous[2:] != tag[2:] for sentence in tags  # not valid BIOS
               for previous, tag in zip(sentence, sentence[1:]))
    tagger = pipeline("token-classification", chinese_tagger)

    def approximately(results):  # other batches: the same numbers within float32 rounding
        return [[entity | {"score": pytest.approx(entity["score"], abs=1e-5)} for entity in entities]
                for entities in results]

    assert tagger([list(text) for text in CHINESE_TEXTS[1:]], is_split_into_words=True) == approximately(ours[1:])
    words = [re.findall(r"[A-Za-z]+|.", text) for text in CHINESE_TEXTS]  # the words the tokenizer finds
    assert tagger(words, is_split_into_words=True, delimiter="") == approximately(ours)


def test_labels_default_to_transformers_names(models: dict[str, Path]) -> None:
    tagged = pipeline("token-classification", models["unlabelled"])(ENTITY_TEXTS)
    tags = {entity["entity_group"] for entities in tagged for entity in entities}
    assert tags and tags <= {"LABEL_0", "LABEL_1"}  # neither is O: every word is in some group


def test_fill_mask_equals_transformers(mlm_dir: Path) -> None:
    texts = ["The capital of France is [MASK].", "A [MASK] walks into a bar and orders a [MASK].",
             "[MASK] is the best medicine."]
    ours = pipeline("fill-mask", mlm_dir)(texts, top_k=4)
    with torch.no_grad():
        reference = _reference("fill-mask", mlm_dir, "BertForMaskedLM")
        theirs = [reference(text, top_k=4) for text in texts]
    for mine, expected in zip(ours, theirs):
        mine_rows = mine if isinstance(mine[0], list) else [mine]
        expected_rows = expected if isinstance(expected[0], list) else [expected]
        assert len(mine_rows) == len(expected_rows)
        for row, expected_row in zip(mine_rows, expected_rows):
            assert [(entry["token"], entry["token_str"], entry["sequence"]) for entry in row] == \
                [(entry["token"], entry["token_str"], entry["sequence"]) for entry in expected_row]
            np.testing.assert_allclose([entry["score"] for entry in row],
                                       [entry["score"] for entry in expected_row], rtol=1e-4, atol=1e-6)


def test_embeddings_equal_sentence_transformers(minilm_dir: Path, models: dict[str, Path]) -> None:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    with open(builtin_corpus(), encoding="utf-8") as file:
        texts = [line.strip() for line in file if line.strip()][:50]
    texts.append(" ".join(texts[:20]))  # past MiniLM's 256 tokens: truncated as sentence-transformers does
    embed = pipeline("feature-extraction", minilm_dir)
    assert (embed.pooling, embed.normalize, embed.max_seq_length) == ("mean", True, 256)  # from modules.json
    ours = embed(texts)
    theirs = sentence_transformers.SentenceTransformer(str(minilm_dir), device="cpu").encode(texts)
    assert ours.shape == theirs.shape == (len(texts), 384)
    cosine = (ours * theirs).sum(-1) / np.linalg.norm(ours, axis=-1) / np.linalg.norm(theirs, axis=-1)
    assert np.all(cosine > 1 - 1e-5)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert embed._runner._function._cache_size() == 1  # 51 texts packed into rows of one length: one program
    # A task model's folder (a head, no pooler, no modules.json) embeds with its encoder alone: MiniLM's here.
    from_tagger = pipeline("feature-extraction", models["tagger"], max_seq_length=256, normalize=True)(texts)
    np.testing.assert_allclose(from_tagger, ours, atol=1e-6)


def test_token_states_cls_and_max_pooling_equal_transformers(minilm_dir: Path) -> None:
    """Token states (one text a row) and the [CLS] state and feature-wise maximum of each text packed several to a
    row, against transformers on each text alone."""
    texts = _sentences(5)
    states = pipeline("feature-extraction", minilm_dir, pooling="none", normalize=False)(texts)
    cls, largest = (pipeline("feature-extraction", minilm_dir, pooling=pooling, normalize=False)(texts)
                    for pooling in ("cls", "max"))
    with torch.no_grad():
        reference = _reference("feature-extraction", minilm_dir, "BertModel")
        for text, mine, first, maximum in zip(texts, states, cls, largest):
            expected = np.asarray(reference(text))[0]  # [tokens, hidden]
            np.testing.assert_allclose(mine, expected, atol=1e-4)
            np.testing.assert_allclose(first, expected[0], atol=1e-4)
            np.testing.assert_allclose(maximum, expected.max(0), atol=1e-4)


def test_bfloat16_pipelines_stay_close_to_float32(minilm_dir: Path, models: dict[str, Path]) -> None:
    """bfloat16 rounds each matmul's inputs to 8 significant bits (products accumulated in float32, softmax and
    LayerNorm statistics in float32). Over MiniLM's six layers that moves sentence embeddings by a cosine distance
    of about 3e-5 (measured over 200 corpus sentences), bounded here by 1e-3; and the classifier's probabilities
    (a head scaled to confident, varied predictions) by a few thousandths, bounded by 0.05, with the same labels
    except where float32's two best are closer than that."""
    texts = _sentences(40)
    full, half = (pipeline("feature-extraction", minilm_dir, dtype=dtype)(texts) for dtype in ("float32", "bfloat16"))
    assert half.dtype == np.float32
    cosine = (full * half).sum(-1) / np.linalg.norm(full, axis=-1) / np.linalg.norm(half, axis=-1)
    assert np.all(cosine > 1 - 1e-3) and np.any(cosine < 1 - 1e-7)  # close, yet computed in bfloat16
    full, half = (pipeline("text-classification", models["classifier"], dtype=dtype).scores(texts)
                  for dtype in ("float32", "bfloat16"))
    np.testing.assert_allclose(half, full, atol=0.05)
    ranked = np.sort(full, axis=-1)
    clear = ranked[:, -1] - ranked[:, -2] > 0.05
    assert clear.sum() > 30 and np.array_equal(half[clear].argmax(-1), full[clear].argmax(-1))
    with pytest.raises(ConfigError, match="dtype is 'half'; choose one of float32, bfloat16, float16"):
        pipeline("feature-extraction", minilm_dir, dtype="half")


def _torch_windows(directory: Path, model_class: str, texts: list[str] | list[list[str]], max_length: int,
                   stride: int, split: bool = False) -> tuple[Any, np.ndarray]:
    """transformers' own windows of `texts` (its tokenizer's overflowing tokens; `overflow_to_sample_mapping` gives
    each window's text) and PyTorch's logits on each: (the encoding, [windows, tokens, labels] or [windows, labels]
    logits)."""
    tokenizer = load_tokenizer(directory)
    encoding = tokenizer(texts, truncation=True, max_length=max_length, stride=stride, padding=True,
                         return_overflowing_tokens=True, is_split_into_words=split, return_tensors="pt")
    model = getattr(transformers, model_class).from_pretrained(directory).eval()
    with torch.no_grad():
        logits = model(**{key: encoding[key] for key in ("input_ids", "token_type_ids", "attention_mask")
                          if key in encoding}).logits
    return encoding, logits.numpy().astype(np.float64)


def _long_text(sentences: int) -> str:
    with open(builtin_corpus(), encoding="utf-8") as file:
        return " ".join([line.strip() for line in file if line.strip()][:sentences])


def test_long_texts_are_classified_by_their_windows_mean(models: dict[str, Path]) -> None:
    """A text of several windows: the mean of PyTorch's probabilities on transformers' own windows of it; with
    truncation, transformers.pipeline's result on the text cut to the window."""
    text, short = _long_text(12), _sentences(1)[0]
    classify = pipeline("text-classification", models["classifier"], max_seq_length=64, stride=16)
    encoding, logits = _torch_windows(models["classifier"], "BertForSequenceClassification", [text], 64, 16)
    assert len(logits) >= 4
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    expected = (probabilities / probabilities.sum(-1, keepdims=True)).mean(0)
    scores = classify.scores([short, text])
    np.testing.assert_allclose(scores[1], expected, atol=1e-5)
    np.testing.assert_allclose(scores[0], classify.scores([short])[0], atol=1e-6)  # one window: as before
    cut = pipeline("text-classification", models["classifier"], max_seq_length=64, truncation=True)(text)
    with torch.no_grad():
        reference = _reference("text-classification", models["classifier"], "BertForSequenceClassification")(
            text, truncation=True, max_length=64)[0]
    assert cut["label"] == reference["label"] and cut["score"] == pytest.approx(reference["score"], abs=1e-5)
    with pytest.raises(ConfigError, match=r"stride \(62\) must be at least 0 and below the 62 text tokens"):
        pipeline("text-classification", models["classifier"], max_seq_length=64, stride=62)


@pytest.fixture(scope="module")
def modernbert_mean_classifier(modernbert_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ModernBERT classifier with `classifier_pooling` mean (its folder's default is cls)."""
    directory = shutil.copytree(modernbert_models["classifier"], tmp_path_factory.mktemp("mean") / "classifier")
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    assert config["classifier_pooling"] == "cls"
    (directory / "config.json").write_text(json.dumps({**config, "classifier_pooling": "mean"}), encoding="utf-8")
    return directory


@pytest.mark.parametrize("name", ["classifier", "regression", "modernbert", "modernbert-mean"])
def test_packed_scores_equal_each_text_alone(name: str, models: dict[str, Path], modernbert_models: dict[str, Path],
                                             modernbert_mean_classifier: Path) -> None:
    """Short texts and a text of several windows in one call, packed several to a row: each text's scores are the
    mean over its windows of what our head gives each window alone in a row (padded), and of what PyTorch gives
    transformers' own windows of it ([CLS] through BERT's pooler, ModernBERT's [CLS] or mean pooling; softmax
    probabilities, or a regression model's values)."""
    directory, model_class = {
        "classifier": (models["classifier"], "BertForSequenceClassification"),
        "regression": (models["regression"], "BertForSequenceClassification"),
        "modernbert": (modernbert_models["classifier"], "ModernBertForSequenceClassification"),
        "modernbert-mean": (modernbert_mean_classifier, "ModernBertForSequenceClassification")}[name]
    sentences = _sentences(9)
    texts = [*sentences[:5], _long_text(12), *sentences[5:]]
    classify = pipeline("text-classification", directory, max_seq_length=64, stride=16)
    scores = classify.scores(texts)
    scored = (lambda logits: logits) if classify.regression else softmax

    windows = classify._tokenize(texts, stride=16)
    assert len(windows.text_index) >= len(texts) + 3  # the long text is several windows
    lengths = np.asarray([len(ids) for ids in windows.features["input_ids"]])
    assert len(pack_texts(lengths, 64)) < len(lengths) - 4  # packed: the short texts share rows
    padded = {key: np.stack([np.pad(values, (0, lengths.max() - len(values)), constant_values=fill)
                             for values in windows.features[key]])
              for key, fill in (("input_ids", classify.model.tokenizer.pad_token_id), ("attention_mask", 0),
                                ("token_type_ids", 0))}  # [windows, longest]: one window a row
    module = classify.model.module()
    alone = quick_jit(lambda params, batch: module.apply({"params": params}, batch["input_ids"],
                                                         batch["attention_mask"], batch["token_type_ids"]))(
        classify.model.params, padded)["logits"]
    np.testing.assert_allclose(scores, windows.mean_over_windows(scored(np.asarray(alone, np.float64))), rtol=0,
                               atol=1e-5)
    encoding, logits = _torch_windows(directory, model_class, texts, 64, 16)
    text_of_window = encoding["overflow_to_sample_mapping"].numpy()
    assert len(logits) == len(lengths)
    theirs = [scored(logits[text_of_window == text]).mean(0) for text in range(len(texts))]
    np.testing.assert_allclose(scores, theirs, rtol=0, atol=1e-5)
    assert classify.regression or len(set(scores.argmax(-1))) > 1  # the head tells the texts apart


def _max_context_window(token: int, sizes: list[int], stride: int) -> tuple[int, int]:
    """(window, position in it) where text token `token` has the most context, windows of `sizes` text tokens
    starting every size - stride tokens (the first such window on a tie): BERT's rule, written out."""
    best, choice, start = -1, (0, 0), 0
    for window, size in enumerate(sizes):
        if start <= token < start + size and min(token - start, start + size - 1 - token) > best:
            best, choice = min(token - start, start + size - 1 - token), (window, token - start)
        start += size - stride
    return choice


@pytest.mark.parametrize("split", [False, True])
def test_long_texts_are_tagged_token_by_token_from_their_window_of_most_context(models: dict[str, Path],
                                                                                split: bool) -> None:
    """Every word of a text several windows long takes the label PyTorch gives its first sub-token in the window (of
    transformers' own windows) where that token has the most context, with that probability."""
    text = " ".join(ENTITY_TEXTS[:3] * 4)
    given = text.split() if split else text
    tagger = pipeline("token-classification", models["tagger"], max_seq_length=32, stride=8)
    (words,) = tagger.tagged_words([given], split=split)
    encoding, logits = _torch_windows(models["tagger"], "BertForTokenClassification", [given], 32, 8, split)
    sizes = [sum(1 for sequence in encoding.sequence_ids(window) if sequence == 0) for window in range(len(logits))]
    assert len(sizes) >= 5
    whole = load_tokenizer(models["tagger"])(given, add_special_tokens=False, is_split_into_words=split)
    first_tokens = {}
    for token, word in enumerate(whole.word_ids()):
        first_tokens.setdefault(word, token)
    assert [word.index for word in words] == list(first_tokens)  # every word tagged, none cut off
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    labels = tagger.model.labels
    for word in words:
        window, position = _max_context_window(first_tokens[word.index], sizes, 8)
        expected = probabilities[window, position + 1]  # after [CLS]
        assert word.tag == labels[int(expected.argmax())] and word.score == pytest.approx(expected.max(), abs=1e-5)
    entities = tagger(given, is_split_into_words=split)
    assert len(entities) > 10
    for entity in entities:
        source = " ".join(given) if split else text
        assert source[entity["start"]:entity["end"]] == entity["word"]
    cut = pipeline("token-classification", models["tagger"], max_seq_length=32, truncation=True)
    assert max(word.index for word in cut.tagged_words([given], split=split)[0]) < len(first_tokens) // 4


def test_question_answering(models: dict[str, Path]) -> None:
    """transformers has no question-answering pipeline: the answer is checked against the brute-force best span of
    PyTorch's logits (start + end over context tokens, at most max_answer_length tokens) and its probability."""
    context = ("The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a "
               "region in France. They were descended from Norse raiders and pirates from Denmark, Iceland and Norway.")
    questions = ["Who gave their name to Normandy?", "Where did the Norse raiders come from?"]
    answer = pipeline("question-answering", models["qa"])
    ours = answer(questions, [context] * 2)
    tokenizer = load_tokenizer(models["qa"])
    model = transformers.BertForQuestionAnswering.from_pretrained(models["qa"]).eval()
    for question, mine in zip(questions, ours):
        encoding = tokenizer(question, context, return_offsets_mapping=True, return_tensors="pt")
        offsets = encoding.pop("offset_mapping")[0].tolist()
        context_tokens = [index for index, sequence in enumerate(encoding.sequence_ids()) if sequence == 1]
        with torch.no_grad():
            output = model(**encoding)
        start, end = output.start_logits[0].numpy(), output.end_logits[0].numpy()
        spans = [(start[s] + end[e], s, e) for s in context_tokens for e in context_tokens if s <= e < s + 15]
        _, best_start, best_end = max(spans)
        assert (mine["start"], mine["end"]) == (offsets[best_start][0], offsets[best_end][1])
        assert mine["answer"] == context[mine["start"]:mine["end"]]
        allowed = np.asarray([0, *context_tokens])

        def probability(logits: np.ndarray, index: int) -> float:
            weights = np.exp(logits[allowed] - logits[allowed].max())
            return float(weights[list(allowed).index(index)] / weights.sum())

        assert mine["score"] == pytest.approx(probability(start, best_start) * probability(end, best_end), abs=1e-5)
    top = answer(questions[0], context, top_k=3)
    # Alone, the question runs in a batch of another shape, whose matmul kernels may round differently.
    assert len(top) == 3 and all(entry["answer"] for entry in top)
    assert {**top[0], "score": pytest.approx(ours[0]["score"], abs=1e-6)} == ours[0]


def test_question_answering_long_context_and_no_answer(models: dict[str, Path]) -> None:
    filler = " ".join(_sentences(30))
    context = filler + " The treaty was signed in the city of Utrecht in 1713. " + filler
    answer = pipeline("question-answering", models["qa"], max_seq_length=128)
    result = answer("Where was the treaty signed?", context)
    assert result["answer"] and context[result["start"]:result["end"]] == result["answer"]
    assert 0 < result["score"] <= 1
    impossible = pipeline("question-answering", models["qa"], handle_impossible_answer=True,
                          null_score_diff_threshold=-1e9)  # any window's no-answer score wins
    assert impossible("Where was the treaty signed?", context) == {
        "answer": "", "start": 0, "end": 0, "score": pytest.approx(
            impossible("Where was the treaty signed?", context, top_k=2)[0]["score"])}


def test_multiple_choice_equals_pytorch(models: dict[str, Path]) -> None:
    context = "She opened the umbrella"
    choices = ["because it started to rain.", "and ate the soup.", "since the sun was out.", "then slept."]
    result = pipeline("multiple-choice", models["choices"])(context, choices)
    tokenizer = load_tokenizer(models["choices"])
    model = transformers.BertForMultipleChoice.from_pretrained(models["choices"]).eval()
    encoding = tokenizer([context] * 4, choices, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**{key: value[None] for key, value in encoding.items()}).logits[0].numpy()
    probabilities = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(result["scores"], probabilities, atol=1e-5)
    assert result["label"] == int(probabilities.argmax())
    mixed = pipeline("multiple-choice", models["choices"])([context, context], [choices, choices[:2]])
    assert mixed[0]["label"] == result["label"] and len(mixed[1]["scores"]) == 2
    np.testing.assert_allclose(mixed[0]["scores"], result["scores"], atol=1e-6)


def test_many_inputs_compile_few_programs(models: dict[str, Path]) -> None:
    """100 texts of 9 to 113 tokens, of 40 distinct lengths, in batches of 8: packed into rows of 128 tokens, the
    call runs one program, compiled once; a second call compiles nothing, and texts one at a time one program more."""
    classify = pipeline("text-classification", models["classifier"], batch_size=8)
    sentences = _sentences(60)
    texts = [*sentences, *(" ".join(sentences[start:start + 1 + start % 8]) for start in range(40))]
    lengths = [len(ids) for ids in load_tokenizer(models["classifier"])(texts)["input_ids"]]
    assert len(set(lengths)) >= 40 and max(lengths) <= 128
    results = classify(texts)
    assert len(results) == 100 and classify._runner._function._cache_size() == 1
    assert classify(texts) == results and classify._runner._function._cache_size() == 1
    one_by_one = [classify(text) for text in texts[:5]]
    assert [row["label"] for row in one_by_one] == [row["label"] for row in results[:5]]
    assert classify._runner._function._cache_size() == 2


def test_bad_input(models: dict[str, Path], mlm_dir: Path, minilm_dir: Path) -> None:
    classify = pipeline("text-classification", models["classifier"])
    assert classify([]) == []
    assert classify("")["label"] in ("negative", "neutral", "positive")  # [CLS] [SEP]: a defined result
    long_result = classify("good " * 2000)  # truncated to the model's 512 positions
    assert long_result["label"] in ("negative", "neutral", "positive")
    with pytest.raises(ConfigError, match="3 texts but 2 text pairs"):
        classify(["a", "b", "c"], text_pair=["x", "y"])
    with pytest.raises(ConfigError, match="without the weights text-classification needs"):
        pipeline("text-classification", minilm_dir)
    with pytest.raises(ConfigError, match="without the weights fill-mask needs"):
        pipeline("fill-mask", minilm_dir)
    with pytest.raises(ConfigError, match="unknown task"):
        pipeline("summarization", minilm_dir)
    with pytest.raises(ConfigError, match="no config.json"):
        pipeline("fill-mask", mlm_dir.parent)
    with pytest.raises(DataError, match=r"text 1 .* has no \[MASK\]"):
        pipeline("fill-mask", mlm_dir)(["a [MASK] day", "no mask here"])
    with pytest.raises(ConfigError, match="2 questions but 1 contexts"):
        pipeline("question-answering", models["qa"])(["a?", "b?"], ["only one"])
    assert pipeline("feature-extraction", minilm_dir)([]).shape == (0, 384)
    assert pipeline("feature-extraction", minilm_dir)("").shape == (384,)  # [CLS] [SEP] pooled
    assert pipeline("token-classification", models["tagger"])(["", "Paris"])[0] == []
    answer = pipeline("question-answering", models["qa"])
    assert answer("Who?", "") == {"answer": "", "start": 0, "end": 0, "score": 0.0}  # no context, no span
    assert answer(["Who?"] * 3, ["Ada wrote it."] * 3)[2]["answer"] in "Ada wrote it."


def test_task_of_folder(models: dict[str, Path], mlm_dir: Path, minilm_dir: Path) -> None:
    assert [task_of_folder(models[name]) for name in ("classifier", "tagger", "qa", "choices")] == \
        ["text-classification", "token-classification", "question-answering", "multiple-choice"]
    assert task_of_folder(mlm_dir) == "fill-mask" and task_of_folder(minilm_dir) == "feature-extraction"
    assert pipeline(None, mlm_dir).task == "fill-mask"


def test_every_local_device_runs_a_share(models: dict[str, Path], tmp_path: Path) -> None:
    """On 4 (forced CPU) devices each batch is split over them; the results equal one device's."""
    texts = _sentences(10)
    program = ("import json, sys, jax; from bertjax.pipelines import pipeline; "
               f"classify = pipeline('text-classification', {str(models['classifier'])!r}, batch_size=8); "
               "assert len(jax.local_devices()) == 4 and len(classify._runner.mesh.devices.flat) == 4; "
               f"json.dump(classify({texts!r}, top_k=None), sys.stdout)")
    environment = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    done = subprocess.run([sys.executable, "-c", program], env=environment, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    on_four = json.loads(done.stdout)
    on_one = pipeline("text-classification", models["classifier"])(texts, top_k=None)
    for four, one in zip(on_four, on_one):
        assert [entry["label"] for entry in four] == [entry["label"] for entry in one]
        np.testing.assert_allclose([entry["score"] for entry in four], [entry["score"] for entry in one], atol=1e-5)


def test_long_calls_show_progress(models: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    """Batches of one packed row (batch_size 2: 64 tokens, at least a row of 128)."""
    classify = pipeline("text-classification", models["classifier"], batch_size=2)
    classify(_sentences(20))
    assert "text-classification" not in capsys.readouterr().err  # 3 rows: no bar
    classify(_sentences(100))
    assert "text-classification: " in capsys.readouterr().err  # 12 rows: a bar
    pipeline("text-classification", models["classifier"], batch_size=2, progress=False)(_sentences(100))
    assert "text-classification" not in capsys.readouterr().err


def _modernbert(directory: Path, head: str) -> torch.nn.Module:
    return getattr(transformers, f"ModernBertFor{head}").from_pretrained(directory).eval()


def test_modernbert_classification_and_fill_mask_equal_transformers(modernbert_models: dict[str, Path]) -> None:
    """A ModernBERT folder (byte-level BPE tokenizer, ModernBERT's heads) in each pipeline, against transformers'
    pipelines on the same folder."""
    texts = _sentences(12)
    ours = pipeline("text-classification", modernbert_models["classifier"])(texts, top_k=None)
    with torch.no_grad():
        theirs = _reference("text-classification", modernbert_models["classifier"],
                            "ModernBertForSequenceClassification")(texts, top_k=None)
    assert len({result[0]["label"] for result in ours}) > 1
    for mine, reference in zip(ours, theirs):
        assert [entry["label"] for entry in mine] == [entry["label"] for entry in reference]
        np.testing.assert_allclose([entry["score"] for entry in mine], [entry["score"] for entry in reference],
                                   rtol=0, atol=1e-5)
    masked = ["The capital of France is [MASK].", "A [MASK] walks into a bar and orders a [MASK]."]
    fills = pipeline("fill-mask", modernbert_models["masked_lm"])(masked, top_k=4)
    with torch.no_grad():
        reference = _reference("fill-mask", modernbert_models["masked_lm"], "ModernBertForMaskedLM")
        expected = [reference(text, top_k=4) for text in masked]
    for mine, theirs in zip([fills[0], *fills[1]], [expected[0], *expected[1]]):
        assert [(entry["token"], entry["token_str"], entry["sequence"]) for entry in mine] == \
            [(entry["token"], entry["token_str"], entry["sequence"]) for entry in theirs]
        np.testing.assert_allclose([entry["score"] for entry in mine], [entry["score"] for entry in theirs],
                                   rtol=1e-4, atol=1e-6)


def test_modernbert_token_classification_tags_words_by_their_first_token(modernbert_models: dict[str, Path]) -> None:
    """Each word's tag and score are those of PyTorch's logits at its first token; entities are spans of the text
    without the space that a byte-level BPE word starts with. (transformers' own pipeline guesses BPE words from the
    tokens and splits them, so it is no reference here.)"""
    tagger = pipeline("token-classification", modernbert_models["tagger"])
    words = tagger.tagged_words(ENTITY_TEXTS[:2])
    model = _modernbert(modernbert_models["tagger"], "TokenClassification")
    tokenizer = load_tokenizer(modernbert_models["tagger"])
    for text, tagged in zip(ENTITY_TEXTS, words):
        encoding = tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            logits = model(**encoding).logits[0].double()
        probabilities = torch.softmax(logits, -1).numpy()
        firsts = {}
        for position, word in enumerate(encoding.word_ids()):
            if word is not None:
                firsts.setdefault(word, position)
        assert [word.index for word in tagged] == list(firsts)
        for word in tagged:
            best = probabilities[firsts[word.index]].argmax()
            assert word.tag == model.config.id2label[int(best)]
            assert word.score == pytest.approx(probabilities[firsts[word.index], best], abs=1e-5)
            assert text[word.start:word.end] == text[word.start:word.end].strip() != ""
    entities = tagger(ENTITY_TEXTS[0])
    assert entities and all(ENTITY_TEXTS[0][entity["start"]:entity["end"]] == entity["word"] for entity in entities)


def test_modernbert_question_answering_and_multiple_choice(modernbert_models: dict[str, Path]) -> None:
    """Against PyTorch's logits, as the BERT tests: the best span (start + end over context tokens) and the choice
    probabilities."""
    context = "The novel was written by Jane Austen in 1813, and it was read by many people in the city."
    question = "Who wrote the novel?"
    answer = pipeline("question-answering", modernbert_models["qa"])(question, context)
    tokenizer = load_tokenizer(modernbert_models["qa"])
    encoding = tokenizer(question, context, return_offsets_mapping=True, return_tensors="pt")
    offsets = encoding.pop("offset_mapping")[0].tolist()
    context_tokens = [index for index, sequence in enumerate(encoding.sequence_ids()) if sequence == 1]
    with torch.no_grad():
        output = _modernbert(modernbert_models["qa"], "QuestionAnswering")(**encoding)
    start, end = output.start_logits[0].numpy(), output.end_logits[0].numpy()
    _, best_start, best_end = max((start[s] + end[e], s, e) for s in context_tokens for e in context_tokens
                                  if s <= e < s + 15)
    assert (answer["start"], answer["end"]) == (offsets[best_start][0], offsets[best_end][1])
    assert answer["answer"] == context[answer["start"]:answer["end"]]

    choices = ["because it started to rain.", "and ate the soup.", "since the sun was out."]
    result = pipeline("multiple-choice", modernbert_models["choices"])("She opened the umbrella", choices)
    encoding = load_tokenizer(modernbert_models["choices"])(["She opened the umbrella"] * 3, choices, padding=True,
                                                            return_tensors="pt")
    with torch.no_grad():
        logits = _modernbert(modernbert_models["choices"], "MultipleChoice")(
            **{key: value[None] for key, value in encoding.items()}).logits[0].numpy()
    np.testing.assert_allclose(result["scores"], np.exp(logits) / np.exp(logits).sum(), atol=1e-5)


def test_modernbert_embeddings_and_task_of_folder(modernbert_models: dict[str, Path]) -> None:
    """A ModernBERT head's folder embeds with its encoder (token states as transformers' ModernBertModel gives
    them), and each folder's own task is found from its config.json."""
    texts = _sentences(3)
    states = pipeline("feature-extraction", modernbert_models["classifier"], pooling="none")(texts)
    model = transformers.ModernBertModel.from_pretrained(modernbert_models["classifier"]).eval()
    tokenizer = load_tokenizer(modernbert_models["classifier"])
    for text, mine in zip(texts, states):
        with torch.no_grad():
            expected = model(**tokenizer(text, return_tensors="pt")).last_hidden_state[0].numpy()
        np.testing.assert_allclose(mine, expected, atol=1e-5)
    # Packed several to a row, each text keeps its own positions and, in the sliding-window layers, its own window.
    means = pipeline("feature-extraction", modernbert_models["classifier"], normalize=False)(texts)
    np.testing.assert_allclose(means, [mine.mean(0) for mine in states], atol=1e-5)
    assert [task_of_folder(modernbert_models[name]) for name in ("classifier", "tagger", "qa", "choices",
                                                                  "masked_lm")] == \
        ["text-classification", "token-classification", "question-answering", "multiple-choice", "fill-mask"]
