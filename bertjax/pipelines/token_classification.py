"""token-classification: a tag for every word (from its first sub-token) and entities grouped from the tags (IOB2),
with character spans and scores, as `transformers.pipeline("token-classification", aggregation_strategy="first")`
gives them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from bertjax.data.finetuning.token_classification import OUTSIDE
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
            [tokenizer.convert_tokens_to_string(word.tokens) for word in group]).strip()
        entities.append({"entity_group": entity_type, "score": float(np.mean([word.score for word in group])),
                         "word": text, "start": group[0].start, "end": group[-1].end})
    return entities


class TokenClassificationPipeline(Pipeline):
    """`tag(texts)`: texts as strings, or as lists of words (joined with spaces for the character spans). Words
    beyond `max_seq_length` tokens are not tagged (no entity; `word_tags` gives them `O`)."""

    task = "token-classification"
    head = HEAD

    def __init__(self, model: PredictionModel, batch_size: int = 32, max_seq_length: int | None = None,
                 progress: bool | None = None, ignore_labels: Sequence[str] = (OUTSIDE,)) -> None:
        super().__init__(model, prediction(model.module()), batch_size, max_seq_length, progress)
        self.ignore_labels = tuple(ignore_labels)

    def tagged_words(self, texts: Sequence[str] | Sequence[Sequence[str]], split: bool = False
                     ) -> list[list[TaggedWord]]:
        """Per text (a string, or a list of words when `split`), each word the model saw with its tag: the most
        probable label of its first sub-token."""
        if not texts:
            return []
        encoding, features = self._tokenize([list(text) for text in texts] if split else texts,
                                            is_split_into_words=split, return_offsets_mapping=True)
        logits = self._run(features)["logits"]
        labels = self.model.labels
        tagged = []
        for index, text in enumerate(texts):
            word_starts = np.cumsum([0, *(len(word) + 1 for word in text)]) if split else None
            probabilities = softmax(np.asarray(logits[index], np.float64))
            positions: dict[int, list[int]] = {}  # word -> its sub-tokens' positions, in order
            for position, word in enumerate(encoding.word_ids(index)):
                if word is not None:
                    positions.setdefault(word, []).append(position)
            tokens, offsets = encoding.tokens(index), encoding["offset_mapping"][index]
            words = []
            for word, pieces in positions.items():
                shift = int(word_starts[word]) if split else 0
                first = pieces[0]
                best = int(probabilities[first].argmax())
                start, end = offsets[first][0] + shift, offsets[pieces[-1]][1] + shift
                if not split:  # a byte-level BPE word's span starts at the space before it
                    start += len(text[start:end]) - len(text[start:end].lstrip())
                words.append(TaggedWord(word, [tokens[piece] for piece in pieces], start, end, labels[best],
                                        float(probabilities[first, best])))
            tagged.append(words)
        return tagged

    def word_tags(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """One tag per word of each sentence (lists of words); words cut off by `max_seq_length` are `O`."""
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
