"""token-classification: a tag for every word (from its first sub-token) and the entities the tags hold, with
character spans and scores, as `transformers.pipeline("token-classification", aggregation_strategy="first")` gives
them for IOB2 labels; labels of BIOS, BIOES or BMES give the entities their scheme allows (`tag_schemes`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from bertjax.data.finetuning.tag_schemes import OUTSIDE, entity_spans, fill_untagged, scheme_of_labels, tag_error
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


def word_delimiter(words: Sequence[str], delimiter: str | None = None) -> str:
    """What joins a list of words into their text: `delimiter`; None: nothing when every word is one character (a
    text given as its characters, as the Chinese NER sets give them), else a space."""
    if delimiter is not None:
        return delimiter
    return "" if all(len(word) == 1 for word in words) else " "


def group_entities(words: Sequence[TaggedWord], text: str, scheme: str, ignore: Sequence[str] = (OUTSIDE,)
                   ) -> list[dict[str, Any]]:
    """The entities of tagged words -> {entity_group, score (mean over the words), word (the text's own characters
    from start to end), start, end}; entities whose type is in `ignore` are left out.

    A label that is no tag of `scheme` (`LABEL_1`) continues an entity of its own name, as transformers reads one.
    """
    tags = [word.tag if tag_error(word.tag, scheme) is None and word.tag != OUTSIDE else f"I-{word.tag}"
            for word in words]
    entities = []
    for entity_type, first, last in entity_spans(tags, scheme):
        if entity_type in ignore:
            continue
        start, end = words[first].start, words[last].end
        entities.append({"entity_group": entity_type,
                         "score": float(np.mean([word.score for word in words[first:last + 1]])),
                         "word": text[start:end], "start": start, "end": end})
    return entities


class TokenClassificationPipeline(Pipeline):
    """`tag(texts)`: texts as strings, or as lists of words joined by `word_delimiter` for the character spans.
    The entities are those the labels' scheme allows (`scheme_of_labels`). Words beyond `max_seq_length` tokens
    are not tagged (no entity; `word_tags` gives them `O`)."""

    task = "token-classification"
    head = HEAD

    def __init__(self, model: PredictionModel, batch_size: int = 32, max_seq_length: int | None = None,
                 progress: bool | None = None, ignore_labels: Sequence[str] = (OUTSIDE,)) -> None:
        super().__init__(model, prediction(model.module()), batch_size, max_seq_length, progress)
        self.ignore_labels = tuple(ignore_labels)
        self.scheme = scheme_of_labels(model.labels)

    def tagged_words(self, texts: Sequence[str] | Sequence[Sequence[str]], split: bool = False,
                     delimiter: str | None = None) -> list[list[TaggedWord]]:
        """Per text (a string, or a list of words when `split`), each word the model saw with its tag: the most
        probable label of its first sub-token. Character spans are the string's, or those of the words joined by
        `word_delimiter(words, delimiter)`."""
        if not texts:
            return []
        encoding, features = self._tokenize([list(text) for text in texts] if split else texts,
                                            is_split_into_words=split, return_offsets_mapping=True)
        logits = self._run(features)["logits"]
        labels = self.model.labels
        tagged = []
        for index, text in enumerate(texts):
            gap = len(word_delimiter(text, delimiter)) if split else 0
            word_starts = np.cumsum([0, *(len(word) + gap for word in text)]) if split else None
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

    def tags(self, tagged: Sequence[TaggedWord], num_words: int) -> list[str]:
        """One tag per word of a list of `num_words` words; a word the model saw no token of (whitespace, or cut off
        by `max_seq_length`) continues the entity around it, else is `O` (`tag_schemes.fill_untagged`)."""
        tags: list[str | None] = [None] * num_words
        for word in tagged:
            tags[word.index] = word.tag
        return fill_untagged(tags, self.scheme)

    def entities(self, tagged: Sequence[TaggedWord], text: str) -> list[dict[str, Any]]:
        """The entities of a text's tagged words (`group_entities`)."""
        return group_entities(tagged, text, self.scheme, self.ignore_labels)

    def word_tags(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """One tag per word of each sentence (lists of words), as `tags` gives them."""
        return [self.tags(tagged, len(words)) for words, tagged in zip(sentences, self.tagged_words(sentences, True))]

    def __call__(self, texts: str | Sequence[str] | Sequence[Sequence[str]], is_split_into_words: bool = False,
                 delimiter: str | None = None) -> Any:
        """One text: its entities; a list of texts: the entities of each. With `is_split_into_words` a text is a
        list of words, joined by `word_delimiter(words, delimiter)` for the character spans (transformers' option
        of that name; its default is always a space)."""
        if is_split_into_words:
            single = bool(texts) and all(isinstance(word, str) for word in texts)
            text_list = [list(texts)] if single else [list(words) for words in texts]
        else:
            single, text_list = batch_of(texts)
        tagged = self.tagged_words(text_list, is_split_into_words, delimiter)
        results = [self.entities(words, word_delimiter(text, delimiter).join(text) if is_split_into_words else text)
                   for words, text in zip(tagged, text_list)]
        return results[0] if single else results
