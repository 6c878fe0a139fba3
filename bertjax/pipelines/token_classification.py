"""token-classification: a tag for every word (from its first sub-token) and entities grouped from the tags (IOB2),
with character spans and scores, as `transformers.pipeline("token-classification", aggregation_strategy="first")`
gives them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from bertjax.data.finetuning.token_classification import OUTSIDE
from bertjax.data.windows import check_stride, window_stride
from bertjax.pipelines.common import batch_of, softmax
from bertjax.pipelines.model import Pipeline, PredictionModel
from bertjax.tasks.finetuning import prediction

HEAD = "token_classification"


@dataclasses.dataclass(frozen=True)
class TaggedWord:
    """A word as the model tagged it: its index in the text's words, its sub-tokens and characters [start, end)."""

    index: int
    tokens: list[str]
    start: int
    end: int
    tag: str
    score: float


def _tag_parts(tag: str) -> tuple[str, str]:
    """("B" or "I", entity type); a tag without a prefix continues an entity of its own name."""
    if tag[:2] in ("B-", "I-"):
        return tag[0], tag[2:]
    return "I", tag


def group_entities(words: Sequence[TaggedWord], tokenizer: Any, ignore: Sequence[str] = (OUTSIDE,)
                   ) -> list[dict[str, Any]]:
    """Adjacent words of one entity type (a `B-` starts a new one) -> {entity_group, score (mean over the words),
    word, start, end}; groups whose type is in `ignore` are left out."""
    groups: list[list[TaggedWord]] = []
    for word in words:
        prefix, entity_type = _tag_parts(word.tag)
        if groups and prefix != "B" and _tag_parts(groups[-1][-1].tag)[1] == entity_type:
            groups[-1].append(word)
        else:
            groups.append([word])
    entities = []
    for group in groups:
        entity_type = group[0].tag.split("-", 1)[-1]
        if entity_type in ignore:
            continue
        text = tokenizer.convert_tokens_to_string(
            [tokenizer.convert_tokens_to_string(word.tokens) for word in group])
        entities.append({"entity_group": entity_type, "score": float(np.mean([word.score for word in group])),
                         "word": text, "start": group[0].start, "end": group[-1].end})
    return entities


class TokenClassificationPipeline(Pipeline):
    """`tag(texts)`: texts as strings, or as lists of words (joined with spaces for the character spans).

    A text longer than `max_seq_length` is read in overlapping windows, consecutive ones sharing `stride` tokens (by
    default a quarter of a window), and each token is tagged from the window where it has the most context; with
    `truncation` it is cut to `max_seq_length` instead, and words beyond are not tagged (no entity; `word_tags`
    gives them `O`)."""

    task = "token-classification"
    head = HEAD

    def __init__(self, model: PredictionModel, batch_size: int = 32, max_seq_length: int | None = None,
                 progress: bool | None = None, ignore_labels: Sequence[str] = (OUTSIDE,), stride: int | None = None,
                 truncation: bool = False) -> None:
        super().__init__(model, prediction(model.module()), batch_size, max_seq_length, progress)
        self.ignore_labels = tuple(ignore_labels)
        self.stride = window_stride(self.max_seq_length, stride, truncation)
        check_stride(model.tokenizer, self.max_seq_length, self.stride)

    def tagged_words(self, texts: Sequence[str] | Sequence[Sequence[str]], split: bool = False
                     ) -> list[list[TaggedWord]]:
        """Per text (a string, or a list of words when `split`), each word the model saw with its tag: the most
        probable label of its first sub-token."""
        if not texts:
            return []
        windows = self._tokenize([list(text) for text in texts] if split else texts, stride=self.stride,
                                 is_split_into_words=split, return_offsets_mapping=True)
        logits = self._run(windows.features)["logits"]
        rows = range(len(windows))
        per_window = ([softmax(np.asarray(logits[row], np.float64)) for row in rows],
                      [windows.encoding.word_ids(row) for row in rows], [windows.encoding.tokens(row) for row in rows],
                      windows.encoding["offset_mapping"])
        labels = self.model.labels
        tagged = []
        for index, text in enumerate(texts):
            word_starts = np.cumsum([0, *(len(word) + 1 for word in text)]) if split else None
            # The text's tokens, each from its window of most context: [tokens] of each.
            probabilities, word_ids, tokens, offsets = (windows.stitch(values, index) for values in per_window)
            positions: dict[int, list[int]] = {}  # word -> its sub-tokens' positions, in order
            for position, word in enumerate(word_ids):
                if word is not None:
                    positions.setdefault(word, []).append(position)
            words = []
            for word, pieces in positions.items():
                shift = int(word_starts[word]) if split else 0
                first = pieces[0]
                best = int(probabilities[first].argmax())
                words.append(TaggedWord(word, [tokens[piece] for piece in pieces], offsets[first][0] + shift,
                                        offsets[pieces[-1]][1] + shift, labels[best],
                                        float(probabilities[first][best])))
            tagged.append(words)
        return tagged

    def word_tags(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """One tag per word of each sentence (lists of words); words cut off by truncation are `O`."""
        tags = []
        for words, tagged in zip(sentences, self.tagged_words(sentences, split=True)):
            sentence_tags = [OUTSIDE] * len(words)
            for word in tagged:
                sentence_tags[word.index] = word.tag
            tags.append(sentence_tags)
        return tags

    def __call__(self, texts: str | Sequence[str] | Sequence[Sequence[str]], is_split_into_words: bool = False
                 ) -> Any:
        """One text: its entities; a list of texts: the entities of each. With `is_split_into_words` a text is a
        list of words."""
        if is_split_into_words:
            single = bool(texts) and all(isinstance(word, str) for word in texts)
            text_list = [list(texts)] if single else [list(words) for words in texts]
        else:
            single, text_list = batch_of(texts)
        results = [group_entities(words, self.model.tokenizer, self.ignore_labels)
                   for words in self.tagged_words(text_list, is_split_into_words)]
        return results[0] if single else results
