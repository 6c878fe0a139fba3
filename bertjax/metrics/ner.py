"""Entity-level precision, recall and F1 from IOB2 word tags, counted as conlleval (and seqeval's default mode) do.

An entity is a maximal run `B-X I-X ...`; an `I-X` after `O` or after another type starts an entity too (so
predictions that are not valid IOB2 still count), and a `B-X` always starts a new one. A predicted entity is
correct when its type, first and last word all match a true entity of the same sentence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from bertjax.errors import DataError

Entity = tuple[int, str, int, int]  # (sentence, type, first word, last word)


def _split(tag: str, sentence: int) -> tuple[str, str]:
    if tag == "O":
        return "O", ""
    prefix, _, entity_type = tag.partition("-")
    if prefix not in ("B", "I") or not entity_type:
        raise DataError(f"sentence {sentence}: tag {tag!r} is not IOB2 (O, B-TYPE or I-TYPE)")
    return prefix, entity_type


def extract_entities(sentences: Sequence[Sequence[str]]) -> set[Entity]:
    """The entities of each sentence of IOB2 tags."""
    entities = set()
    for sentence, tags in enumerate(sentences):
        start, current_type = None, ""
        for position, tag in enumerate([*tags, "O"]):  # the trailing O closes an entity at the sentence end
            prefix, entity_type = _split(tag, sentence)
            continues = prefix == "I" and entity_type == current_type
            if start is not None and not continues:
                entities.add((sentence, current_type, start, position - 1))
                start = None
            if prefix == "B" or (prefix == "I" and not continues):
                start = position
            current_type = entity_type if start is not None else ""
    return entities


def _scores(correct: int, predicted: int, true: int) -> dict[str, float]:
    """Precision, recall and F1, 0 where undefined (no predictions or no true entities)."""
    precision = correct / predicted if predicted else 0.0
    recall = correct / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def entity_scores(true_tags: Sequence[Sequence[str]], predicted_tags: Sequence[Sequence[str]]
                  ) -> dict[str, dict[str, float]]:
    """{"overall": micro-averaged scores, TYPE: scores, ...}, each with precision, recall, f1, support.

    true_tags, predicted_tags: one list of IOB2 word tags per sentence, aligned. support: true entities.
    Types appear when they are in either the truth or the predictions, sorted by name.
    """
    if len(true_tags) != len(predicted_tags) or any(len(a) != len(b) for a, b in zip(true_tags, predicted_tags)):
        raise DataError("the true and predicted tags must have the same sentences and words")
    true, predicted = extract_entities(true_tags), extract_entities(predicted_tags)
    correct = true & predicted
    true_count, predicted_count, correct_count = (Counter(entity[1] for entity in group)
                                                  for group in (true, predicted, correct))
    scores = {"overall": {**_scores(len(correct), len(predicted), len(true)), "support": len(true)}}
    for entity_type in sorted(true_count | predicted_count):
        scores[entity_type] = {**_scores(correct_count[entity_type], predicted_count[entity_type],
                                         true_count[entity_type]), "support": true_count[entity_type]}
    return scores
