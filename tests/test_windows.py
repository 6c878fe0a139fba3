"""Windows of long texts against the tokenizer's own tokenization of the whole text: the same tokens, put back
together from the window of most context; means over windows; the stride checked."""

from __future__ import annotations

import numpy as np
import pytest

from bertjax.data.windows import Windows, tokenize_windows, window_stride
from bertjax.errors import ConfigError

TEXT = ("George Washington went to Washington and met the people of Microsoft in New York City. "
        "Angela Merkel visited the United Nations headquarters in Geneva last spring. ") * 3


def test_windows_cover_the_text_and_stitch_back_to_its_tokens(tokenizer) -> None:
    whole = tokenizer(TEXT, add_special_tokens=False, return_offsets_mapping=True)
    windows = tokenize_windows(tokenizer, [TEXT, "short"], max_length=16, stride=5, return_offsets_mapping=True)
    rows = windows.rows_of(0)
    assert len(rows) > 4 and list(windows.rows_of(1)) == [len(windows) - 1] and windows.num_texts == 2
    for row in rows:  # [CLS] 14 text tokens [SEP], the last window shorter
        ids = windows.features["input_ids"][row]
        assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id and len(ids) <= 16
    assert windows.stitch(windows.features["input_ids"], 0) == whole["input_ids"]
    assert [tuple(span) for span in windows.stitch(windows.encoding["offset_mapping"], 0)] == \
        [tuple(span) for span in whole["offset_mapping"]]
    assert windows.stitch([windows.encoding.word_ids(row) for row in range(len(windows))], 0) == whole.word_ids()


def test_each_token_comes_from_its_window_of_most_context(tokenizer) -> None:
    windows = tokenize_windows(tokenizer, [TEXT], max_length=16, stride=6)
    window_rows, positions = windows.max_context(0)
    # Windows hold 14 text tokens and start every 8: tokens 0-10 from the first window (token 10 has 3 tokens after
    # it there, and 2 before it in the second), 11-18 from the second, ...
    assert list(window_rows[:11]) == [0] * 11 and list(window_rows[11:19]) == [1] * 8 and window_rows[19] == 2
    assert list(positions[:11]) == list(range(1, 12)) and list(positions[11:13]) == [4, 5]  # after [CLS]
    full = len(tokenizer(TEXT, add_special_tokens=False)["input_ids"])
    for token in range(full):  # no other window holding the token gives it more context
        row, position = window_rows[token], positions[token] - 1
        size = len(windows.features["input_ids"][row]) - 2
        context = min(position, size - 1 - position)
        for other in windows.rows_of(0):
            start = other * 8
            other_size = len(windows.features["input_ids"][other]) - 2
            if start <= token < start + other_size:
                assert min(token - start, start + other_size - 1 - token) <= context


def test_words_and_truncation(tokenizer) -> None:
    words = TEXT.split()
    windows = tokenize_windows(tokenizer, [words], max_length=24, stride=8, is_split_into_words=True)
    stitched = windows.stitch([windows.encoding.word_ids(row) for row in range(len(windows))], 0)
    assert len(windows) > 2 and sorted(set(stitched)) == list(range(len(words)))
    cut = tokenize_windows(tokenizer, [TEXT, "short"], max_length=16, stride=None)
    assert len(cut) == 2 and list(cut.text_index) == [0, 1] and len(cut.features["input_ids"][0]) == 16
    assert cut.stitch(cut.features["input_ids"], 0) == list(cut.features["input_ids"][0][1:-1])
    pairs = tokenize_windows(tokenizer, ["a question?", "another"], max_length=16, stride=None, pairs=[TEXT, "b"])
    assert [len(ids) for ids in pairs.features["input_ids"]] == [16, 5]  # longest first: the second text is cut


def test_mean_over_windows() -> None:
    windows = Windows(encoding=None, features={}, text_index=np.array([0, 0, 0, 1, 2, 2]), stride=2)
    values = [np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([0.5, 0.5]), np.array([0.2, 0.8]),
              np.array([1.0, 0.0]), np.array([0.0, 1.0])]
    np.testing.assert_allclose(windows.mean_over_windows(values), [[0.5, 0.5], [0.2, 0.8], [0.5, 0.5]])


def test_the_stride_must_leave_room(tokenizer) -> None:
    assert (window_stride(512), window_stride(128), window_stride(128, 10), window_stride(128, 10, True)) == \
        (128, 32, 10, None)
    with pytest.raises(ConfigError, match=r"stride \(14\) must be at least 0 and below the 14 text tokens a window of "
                                          r"16 holds"):
        tokenize_windows(tokenizer, [TEXT], max_length=16, stride=14)
    with pytest.raises(ConfigError, match="stride"):
        tokenize_windows(tokenizer, [TEXT], max_length=16, stride=-1)
