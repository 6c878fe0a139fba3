"""Entity-level precision, recall and F1 from word tags, counted as seqeval counts them: its default (conlleval) mode
for IOB1/IOB2 tags, its strict mode with the scheme for BIOS, BIOES and BMES tags (`bertjax.data.finetuning.
tag_schemes` says how each reads a sequence, valid in its scheme or not).

A predicted entity is correct when its type, first and last word all match a true entity of the same sentence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from bertjax.data.finetuning.tag_schemes import entity_spans, tag_error
from bertjax.errors import DataError

Entity = tuple[int, str, int, int]  # (sentence, type, first word, last word)


def extract_entities(sentences: Sequence[Sequence[str]], scheme: str = "iob2") -> set[Entity]:
    """The entities of each sentence of `scheme`'s tags."""
    entities = set()
    for sentence, tags in enumerate(sentences):
        error = next(filter(None, (tag_error(tag, scheme) for tag in tags)), None)
        if error:
            raise DataError(f"sentence {sentence}: {error}")
        entities.update((sentence, *span) for span in entity_spans(tags, scheme))
    return entities


def _scores(correct: int, predicted: int, true: int) -> dict[str, float]:
    """Precision, recall and F1, 0 where undefined (no predictions or no true entities)."""
    precision = correct / predicted if predicted else 0.0
    recall = correct / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def entity_scores(true_tags: Sequence[Sequence[str]], predicted_tags: Sequence[Sequence[str]], scheme: str = "iob2"
                  ) -> dict[str, dict[str, float]]:
    """{"overall": micro-averaged scores, TYPE: scores, ...}, each with precision, recall, f1, support.

    true_tags, predicted_tags: one list of word tags per sentence, aligned, in `scheme` (`tag_schemes.SCHEMES`).
    support: true entities. Types appear when they are in either the truth or the predictions, sorted by name.
    """
    if len(true_tags) != len(predicted_tags) or any(len(a) != len(b) for a, b in zip(true_tags, predicted_tags)):
        raise DataError("the true and predicted tags must have the same sentences and words")
    true, predicted = extract_entities(true_tags, scheme), extract_entities(predicted_tags, scheme)
    correct = true & predicted
    true_count, predicted_count, correct_count = (Counter(entity[1] for entity in group)
                                                  for group in (true, predicted, correct))
    scores = {"overall": {**_scores(len(correct), len(predicted), len(true)), "support": len(true)}}
    for entity_type in sorted(true_count | predicted_count):
        scores[entity_type] = {**_scores(correct_count[entity_type], predicted_count[entity_type],
                                         true_count[entity_type]), "support": true_count[entity_type]}
    return scores
