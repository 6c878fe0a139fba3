"""SQuAD reading (files and tfds mocks), windowed question answering features, and post-processing to answers."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from bertjax.data.finetuning.qa_postprocess import postprocess_qa_predictions
from bertjax.data.finetuning.question_answering import prepare_qa_features
from bertjax.data.finetuning.squad import SquadAnswer, SquadExample, gold_answers, read_squad, read_tfds_squad
from bertjax.errors import ConfigError, DataError

FILLER = "river stone house green light music paper water table garden window silver market winter horse".split()
QUESTION = "Which team won Super Bowl 50?"  # 7 tokens
MAX_SEQ_LENGTH, DOC_STRIDE, MAX_QUERY_LENGTH = 32, 8, 16
WINDOW = MAX_SEQ_LENGTH - 7 - 3  # context tokens per window: 22


@pytest.fixture(scope="module")
def tokenizer(minilm_dir):
    from transformers import BertTokenizerFast

    return BertTokenizerFast.from_pretrained(minilm_dir)


def long_example(answer_word_index: int, num_words: int = 60, is_impossible: bool = False) -> SquadExample:
    """A context of single-token words with "Denver Broncos" starting at word (= token) `answer_word_index`."""
    words = [FILLER[index % len(FILLER)] for index in range(num_words)]
    words[answer_word_index:answer_word_index + 2] = ["Denver", "Broncos"]
    context = " ".join(words)
    start = len(" ".join(words[:answer_word_index])) + 1
    answers = () if is_impossible else (SquadAnswer("Denver Broncos", start),)
    return SquadExample("q-long", "t", context, QUESTION, answers, is_impossible)


# ---- reading SQuAD JSON ----

SQUAD_V2_TEXT = """{
  "version": "v2.0",
  "data": [
    {
      "title": "Super_Bowl_50",
      "paragraphs": [
        {
          "context": "Denver Broncos beat the Carolina Panthers 24-10.",
          "qas": [
            {
              "id": "q1",
              "question": "Who won?",
              "answers": [
                {"text": "Denver Broncos", "answer_start": 0},
                {"text": "Broncos", "answer_start": 7}
              ],
              "is_impossible": false
            },
            {
              "id": "q2",
              "question": "Who lost the game on Mars?",
              "answers": [],
              "plausible_answers": [{"text": "Carolina Panthers", "answer_start": 24}],
              "is_impossible": true
            }
          ]
        }
      ]
    }
  ]
}
"""


def test_read_squad_v2_keeps_answers_and_impossible_questions(tmp_path):
    path = tmp_path / "dev-v2.0.json"
    path.write_text(SQUAD_V2_TEXT, encoding="utf-8")
    first, second = read_squad(path)
    assert first == SquadExample("q1", "Super_Bowl_50", "Denver Broncos beat the Carolina Panthers 24-10.", "Who won?",
                                 (SquadAnswer("Denver Broncos", 0), SquadAnswer("Broncos", 7)), False)
    assert second.id == "q2" and second.answers == () and second.is_impossible
    assert gold_answers([first, second]) == {"q1": ["Denver Broncos", "Broncos"], "q2": []}


def test_read_squad_v1_compact_file_without_is_impossible(tmp_path):
    document = json.loads(SQUAD_V2_TEXT)
    for qa in document["data"][0]["paragraphs"][0]["qas"]:
        del qa["is_impossible"]
    document["data"][0]["paragraphs"][0]["qas"].pop()
    path = tmp_path / "dev-v1.1.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    (example,) = read_squad(path)
    assert example.answers[1] == SquadAnswer("Broncos", 7) and not example.is_impossible


def test_answer_not_at_answer_start_names_file_line_and_question(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(SQUAD_V2_TEXT.replace('"answer_start": 7', '"answer_start": 8'), encoding="utf-8")
    with pytest.raises(DataError) as raised:
        read_squad(path)
    message = str(raised.value)
    assert f"{path} line 15 column 17:" in message  # the answer's own line
    assert "question 'q1'" in message and "'Broncos' is not at answer_start 8" in message
    assert "'roncos '" in message  # what the context holds there


def test_answers_on_an_impossible_question_are_refused(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(SQUAD_V2_TEXT.replace('"is_impossible": false', '"is_impossible": true'), encoding="utf-8")
    with pytest.raises(DataError, match=r"line 10 column 13: question 'q1': is marked is_impossible"):
        read_squad(path)


def test_missing_field_names_file_line_and_question(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(SQUAD_V2_TEXT.replace('"question": "Who lost the game on Mars?",', ""), encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.json line 19 column 13: question 'q2': missing field 'question'"):
        read_squad(path)


def test_questions_without_answers_are_read_for_prediction_and_refused_for_training(tmp_path, tokenizer):
    path = tmp_path / "to_predict.json"
    document = json.loads(SQUAD_V2_TEXT)
    for paragraph in document["data"][0]["paragraphs"]:
        for qa in paragraph["qas"]:
            del qa["answers"]
    path.write_text(json.dumps(document), encoding="utf-8")
    examples = read_squad(path)
    assert examples and all(example.answers == () for example in examples)
    prepare_qa_features(examples, tokenizer, MAX_SEQ_LENGTH, DOC_STRIDE, MAX_QUERY_LENGTH, training=False)
    with pytest.raises(DataError, match="has no answer and is not marked is_impossible"):
        prepare_qa_features(examples, tokenizer, MAX_SEQ_LENGTH, DOC_STRIDE, MAX_QUERY_LENGTH, training=True)


def test_malformed_json_and_duplicate_ids(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(SQUAD_V2_TEXT.replace('"id": "q1",', '"id": "q1"'), encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.json line 12 column \d+: invalid JSON"):
        read_squad(path)
    path.write_text(SQUAD_V2_TEXT.replace('"id": "q2"', '"id": "q1"'), encoding="utf-8")
    with pytest.raises(DataError, match=r"line 19 column 13: question id 'q1' appears twice"):
        read_squad(path)


# ---- tfds ----

def _mock_records(records: list[dict]):
    """tfds.testing.mock_data serving these records as the data set (no download, no prepared data)."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    def as_dataset(self, *args, **kwargs):
        return tf.data.Dataset.from_generator(lambda: iter(records),
                                              output_signature=self.info.features.get_tensor_spec())

    return tfds.testing.mock_data(as_dataset_fn=as_dataset)


def _tfds_record(question_id: str, texts: list[str], starts: list[int], **v2_features) -> dict:
    return {"id": question_id, "title": "Super_Bowl_50", "context": "Denver Broncos beat the Carolina Panthers.",
            "question": "Who won?", "answers": {"text": texts, "answer_start": np.asarray(starts, np.int32)},
            **v2_features}


def test_tfds_squad_v1(tmp_path):
    pytest.importorskip("tensorflow")
    records = [_tfds_record("a", ["Denver Broncos", "Broncos"], [0, 7])]
    with _mock_records(records):
        (example,) = read_tfds_squad("squad/v1.1", "validation", data_dir=str(tmp_path))
    assert example == SquadExample("a", "Super_Bowl_50", "Denver Broncos beat the Carolina Panthers.", "Who won?",
                                   (SquadAnswer("Denver Broncos", 0), SquadAnswer("Broncos", 7)), False)


def test_tfds_squad_v2(tmp_path):
    pytest.importorskip("tensorflow")
    no_plausible = {"text": [], "answer_start": np.zeros([0], np.int32)}
    records = [_tfds_record("a", ["Broncos"], [7], is_impossible=False, plausible_answers=no_plausible),
               _tfds_record("b", [], [], is_impossible=True,
                            plausible_answers={"text": ["Panthers"], "answer_start": np.asarray([33], np.int32)})]
    with _mock_records(records):
        first, second = read_tfds_squad("squad/v2.0", "train", data_dir=str(tmp_path))
    assert first.answers == (SquadAnswer("Broncos", 7),) and not first.is_impossible
    assert second.id == "b" and second.answers == () and second.is_impossible


def test_tfds_random_mock_answers_are_refused(tmp_path):
    """tfds's random mock data has answers that are not in the context: the check must catch them."""
    tfds = pytest.importorskip("tensorflow_datasets")
    pytest.importorskip("tensorflow")
    with tfds.testing.mock_data(num_examples=2):
        with pytest.raises(DataError, match=r"tensorflow-datasets 'squad/v1.1' split 'train': question '[^']+': "
                                            r"answer 0 '[^']+' is not at answer_start"):
            read_tfds_squad("squad/v1.1", "train", data_dir=str(tmp_path))


# ---- features ----

def expected_windows(context_tokens: int, window: int, stride: int) -> int:
    return 1 + math.ceil(max(0, context_tokens - window) / (window - stride))


@pytest.mark.parametrize("num_words", [22, 23, 36, 37, 60])
def test_number_of_windows_follows_the_stride(tokenizer, num_words):
    features = prepare_qa_features([long_example(3, num_words)], tokenizer, MAX_SEQ_LENGTH, DOC_STRIDE,
                                   MAX_QUERY_LENGTH)
    assert len(features) == expected_windows(num_words, WINDOW, DOC_STRIDE)
    assert all(len(ids) <= MAX_SEQ_LENGTH for ids in features.features["input_ids"])


def test_training_positions_cover_the_answer_and_cut_answers_get_cls(tokenizer):
    example = long_example(WINDOW - 1)  # "Denver" is window 1's last context token, "Broncos" is past it
    features = prepare_qa_features([example], tokenizer, MAX_SEQ_LENGTH, DOC_STRIDE, MAX_QUERY_LENGTH)
    starts, ends = features.features["start_positions"], features.features["end_positions"]
    assert starts.dtype == np.int32 and len(starts) == len(features) == 4
    first_offsets = features.offset_mapping[0]
    last_context = max(index for index, span in enumerate(first_offsets) if span is not None)
    assert example.context[slice(*first_offsets[last_context])] == "Denver"  # the answer is cut in window 1 ...
    assert (starts[0], ends[0]) == (0, 0)  # ... so window 1 is labelled [CLS]
    offsets = features.offset_mapping[1]  # window 2 (context tokens 14..35) holds the answer whole
    assert example.context[offsets[starts[1]][0]:offsets[ends[1]][1]] == "Denver Broncos"
    assert ends[1] == starts[1] + 1
    assert starts[2:].tolist() == ends[2:].tolist() == [0, 0]  # windows 3 and 4 start past it
    assert features.example_ids == ["q-long"] * 4
    input_ids = features.features["input_ids"][1]
    assert tokenizer.decode(input_ids[starts[1]:ends[1] + 1]) == "denver broncos"


def test_features_layout_and_offsets(tokenizer):
    example = long_example(5, num_words=10)
    (input_ids,) = prepare_qa_features([example], tokenizer, MAX_SEQ_LENGTH, DOC_STRIDE,
                                       MAX_QUERY_LENGTH).features["input_ids"]
    features = prepare_qa_features([example], tokenizer, MAX_SEQ_LENGTH, DOC_STRIDE, MAX_QUERY_LENGTH,
                                   training=False)
    assert "start_positions" not in features.features
    assert np.array_equal(features.features["input_ids"][0], input_ids) and input_ids.dtype == np.int32
    tokens = tokenizer.convert_ids_to_tokens(input_ids)
    assert tokens[:9] == ["[CLS]", "which", "team", "won", "super", "bowl", "50", "?", "[SEP]"]
    assert tokens[-1] == "[SEP]" and len(tokens) == 9 + 10 + 1
    assert features.features["token_type_ids"][0].tolist() == [0] * 9 + [1] * 11
    offsets = features.offset_mapping[0]
    assert offsets[:9] == [None] * 9 and offsets[-1] is None
    assert [example.context[start:end] for start, end in offsets[9:-1]] == example.context.split()


def test_impossible_questions_and_long_questions(tokenizer):
    impossible = long_example(30, is_impossible=True)
    features = prepare_qa_features([impossible], tokenizer, MAX_SEQ_LENGTH, DOC_STRIDE, MAX_QUERY_LENGTH)
    assert not features.features["start_positions"].any() and not features.features["end_positions"].any()
    wordy = dataclasses.replace(long_example(2, 10), question=" ".join(["why"] * 30) + "?")
    features = prepare_qa_features([wordy], tokenizer, MAX_SEQ_LENGTH, DOC_STRIDE, max_query_length=5)
    assert features.features["token_type_ids"][0].tolist()[:7] == [0] * 7  # [CLS], 5 question tokens, [SEP]
    assert tokenizer.convert_ids_to_tokens(features.features["input_ids"][0])[:7] == ["[CLS]"] + ["why"] * 5 + [
        "[SEP]"]


def test_feature_preparation_errors(tokenizer):
    unlabelled = dataclasses.replace(long_example(2, 10), answers=())
    with pytest.raises(DataError, match="question 'q-long' has no answer"):
        prepare_qa_features([unlabelled], tokenizer, MAX_SEQ_LENGTH, DOC_STRIDE, MAX_QUERY_LENGTH)
    assert len(prepare_qa_features([unlabelled], tokenizer, MAX_SEQ_LENGTH, DOC_STRIDE, MAX_QUERY_LENGTH,
                                   training=False)) == 1
    with pytest.raises(ConfigError, match="doc_stride"):
        prepare_qa_features([unlabelled], tokenizer, max_seq_length=32, doc_stride=13, max_query_length=16)


# ---- post-processing ----

def token_of(features, feature: int, text: str, context: str) -> int:
    """The token of `feature` whose context characters are `text`."""
    return next(index for index, span in enumerate(features.offset_mapping[feature])
                if span is not None and context[span[0]:span[1]] == text)


def hand_logits(features, low: float = -10.0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Flat logits per feature, padded beyond the feature's tokens with a huge value that must be ignored."""
    starts = [np.concatenate([np.full(len(ids), low, np.float32), [1e6] * 3]) for ids in
              features.features["input_ids"]]
    return starts, [start.copy() for start in starts]


@pytest.fixture(scope="module")
def two_window_case(tokenizer):
    """An example two windows long with the answer ("Denver Broncos") only in window 2."""
    example = long_example(30, num_words=36)
    features = prepare_qa_features([example], tokenizer, MAX_SEQ_LENGTH, DOC_STRIDE, MAX_QUERY_LENGTH,
                                   training=False)
    assert len(features) == 2
    with pytest.raises(StopIteration):
        token_of(features, 0, "Denver", example.context)
    return example, features


def logits_with_distractor(example, features, answer_score: float, distractor_score: float):
    starts, ends = hand_logits(features)
    starts[1][token_of(features, 1, "Denver", example.context)] = answer_score
    ends[1][token_of(features, 1, "Broncos", example.context)] = answer_score
    starts[0][token_of(features, 0, "music", example.context)] = distractor_score
    ends[0][token_of(features, 0, "paper", example.context)] = distractor_score
    return starts, ends


def test_span_in_the_second_window_is_found(two_window_case):
    example, features = two_window_case
    starts, ends = logits_with_distractor(example, features, answer_score=8.0, distractor_score=5.0)
    predictions = postprocess_qa_predictions([example], features, starts, ends)
    assert predictions.answers == {"q-long": "Denver Broncos"}  # the original text, case kept
    n_best = predictions.n_best["q-long"]
    assert n_best[0]["text"] == "Denver Broncos" and n_best[0]["score"] == pytest.approx(16.0)
    assert n_best[1]["text"] == "music paper" and n_best[1]["score"] == pytest.approx(10.0)
    assert [entry["score"] for entry in n_best] == sorted((entry["score"] for entry in n_best), reverse=True)
    assert sum(entry["probability"] for entry in n_best) == pytest.approx(1.0)
    assert predictions.null_score_diff == {}
    starts, ends = logits_with_distractor(example, features, answer_score=8.0, distractor_score=9.0)
    assert postprocess_qa_predictions([example], features, starts, ends).answers["q-long"] == "music paper"


def test_no_answer_wins_only_beyond_the_threshold(two_window_case):
    example, features = two_window_case
    starts, ends = logits_with_distractor(example, features, answer_score=8.0, distractor_score=5.0)  # best 16
    starts[0][0], ends[0][0] = 10.0, 10.0  # window 1 no-answer score 20
    starts[1][0], ends[1][0] = 12.0, 12.0  # window 2: 24; the no-answer score is the lowest, 20

    def answer(threshold: float) -> tuple[str, float]:
        predictions = postprocess_qa_predictions([example], features, starts, ends, version_2=True,
                                                 null_score_diff_threshold=threshold)
        return predictions.answers["q-long"], predictions.null_score_diff["q-long"]

    assert answer(0.0) == ("", pytest.approx(4.0))
    assert answer(3.9)[0] == ""
    assert answer(4.0)[0] == "Denver Broncos"  # only a difference above the threshold predicts no answer
    assert answer(5.0)[0] == "Denver Broncos"
    starts[0][0], ends[0][0] = 1.0, 1.0  # window 1 no-answer score 2: the span wins
    assert answer(0.0) == ("Denver Broncos", pytest.approx(-14.0))
    n_best = postprocess_qa_predictions([example], features, starts, ends, version_2=True).n_best["q-long"]
    (null,) = [entry for entry in n_best if entry["text"] == ""]  # listed once, from the lowest window
    assert (null["start_logit"], null["end_logit"], null["score"]) == (1.0, 1.0, 2.0)
    n_best = postprocess_qa_predictions([example], features, starts, ends, n_best_size=2, version_2=True).n_best
    assert [entry["text"] for entry in n_best["q-long"]] == ["Denver Broncos", "music paper", ""]  # "" kept past 2
    # Without version_2 the [CLS] scores play no part.
    starts[0][0], ends[0][0] = 50.0, 50.0
    assert postprocess_qa_predictions([example], features, starts, ends).answers["q-long"] == "Denver Broncos"


def test_max_answer_length_and_end_before_start_are_respected(two_window_case):
    example, features = two_window_case
    starts, ends = hand_logits(features)
    denver = token_of(features, 1, "Denver", example.context)
    starts[1][denver], ends[1][denver + 1] = 8.0, 8.0  # "Denver Broncos": 2 tokens, score 16
    starts[1][denver - 3], ends[1][denver + 3] = 20.0, 20.0  # best logits, but 7 tokens long
    ends[1][denver - 5] = 30.0  # the best end of all, but before every good start
    long_span = example.context[features.offset_mapping[1][denver - 3][0]:features.offset_mapping[1][denver + 3][1]]
    answers = postprocess_qa_predictions([example], features, starts, ends, max_answer_length=7).answers
    assert answers["q-long"] == long_span
    answers = postprocess_qa_predictions([example], features, starts, ends, max_answer_length=6).answers
    offsets = features.offset_mapping[1]
    assert answers["q-long"] == example.context[offsets[denver - 3][0]:offsets[denver + 1][1]]  # 5 tokens, 28
    # With n_best_size 2 the only candidates are starts {denver-3, denver} x ends {denver-5, denver+3}.
    answers = postprocess_qa_predictions([example], features, starts, ends, n_best_size=2,
                                         max_answer_length=5).answers
    assert answers["q-long"] == example.context[offsets[denver][0]:offsets[denver + 3][1]]


def test_postprocessing_input_errors(two_window_case):
    example, features = two_window_case
    starts, ends = hand_logits(features)
    with pytest.raises(DataError, match="1 start and 2 end logit rows for 2 features"):
        postprocess_qa_predictions([example], features, starts[:1], ends)
    with pytest.raises(DataError, match="question 'other' has no features"):
        postprocess_qa_predictions([dataclasses.replace(example, id="other")], features, starts, ends)
