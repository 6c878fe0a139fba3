"""Tag schemes: detection, checks, and entities equal to seqeval's (default mode for IOB1/IOB2, strict mode with the
scheme for BIOS, BIOES and BMES) on hand-made, random and real tag sequences, valid in their scheme or not."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.scheme import IOBES, Entities, Prefix, Tag, Token

from bertjax.data.finetuning.tag_schemes import (detect_scheme, entity_spans, fill_untagged, iob1_to_iob2,
                                                 scheme_labels, scheme_of_labels, tag_error)


class BIOS(Token):
    """BIOS for seqeval's strict mode, written as seqeval writes its schemes: IOB2 plus `S-X`, a one-word entity
    (seqeval ships IOB1, IOB2, IOE1, IOE2, IOBES and BILOU, not BIOS). A `B-X` and the `I-X` after it always end
    an entity, whatever follows."""

    allowed_prefix = Prefix.I | Prefix.O | Prefix.B | Prefix.S
    start_patterns = {(Prefix.ANY, Prefix.B, Tag.ANY), (Prefix.ANY, Prefix.S, Tag.ANY)}
    inside_patterns = {(Prefix.B, Prefix.I, Tag.SAME), (Prefix.I, Prefix.I, Tag.SAME)}
    end_patterns = {(Prefix.ANY, Prefix.ANY, Tag.ANY)}


def seqeval_entities(sentences: list[list[str]], scheme: str) -> set[tuple[int, str, int, int]]:
    """(sentence, type, first word, last word) of every entity as seqeval finds it: default mode for IOB1/IOB2,
    strict mode with BIOS or IOBES (BMES with `M-` written `I-`, which is all that tells BMES from BIOES)."""
    if scheme in ("iob1", "iob2"):
        return {(index, *entity) for index, tags in enumerate(sentences) for entity in get_entities(tags)}
    if scheme == "bmes":
        sentences = [[tag.replace("M-", "I-", 1) if tag.startswith("M-") else tag for tag in tags]
                     for tags in sentences]
    found = Entities(sentences, BIOS if scheme == "bios" else IOBES).entities
    return {(entity.sent_id, entity.tag, entity.start, entity.end - 1) for entities in found for entity in entities}


def ours(sentences: list[list[str]], scheme: str) -> set[tuple[int, str, int, int]]:
    return {(index, *span) for index, tags in enumerate(sentences) for span in entity_spans(tags, scheme)}


def random_tags(rng: random.Random, prefixes: str, length: int) -> list[str]:
    """Any sequence of the scheme's tags over two types, valid or not."""
    choices = ["O", *(f"{prefix}-{entity_type}" for prefix in prefixes for entity_type in ("PER", "LOC"))]
    return [rng.choice(choices) for _ in range(length)]


def bios_as_bioes(tags: list[str], inside: str = "I") -> list[str]:
    """Valid BIOS tags as BIOES (as BMES with inside `M`): an entity's last word `E-`, a one-word entity `S-`."""
    converted = []
    for index, tag in enumerate(tags):
        prefix, entity_type = tag[0], tag[2:]
        last = index == len(tags) - 1 or not tags[index + 1].startswith("I-")
        if prefix in "BI":
            prefix = ("S" if prefix == "B" else "E") if last else ("B" if prefix == "B" else inside)
        converted.append(tag if tag == "O" else f"{prefix}-{entity_type}")
    return converted


SCHEME_PREFIXES = {"iob2": "BI", "bios": "BIS", "bioes": "BIES", "bmes": "BMES"}
HAND_MADE = {  # scheme -> [(tags, entities)]: valid runs, and the invalid ones each mode reads its own way
    "iob2": [(["B-PER", "I-PER", "O", "B-LOC", "B-LOC"], [("PER", 0, 1), ("LOC", 3, 3), ("LOC", 4, 4)]),
             (["O", "I-PER", "I-LOC", "I-LOC"], [("PER", 1, 1), ("LOC", 2, 3)])],  # I- starts an entity too
    "bios": [(["B-PER", "I-PER", "S-LOC", "O", "S-PER"], [("PER", 0, 1), ("LOC", 2, 2), ("PER", 4, 4)]),
             (["O", "I-PER", "I-PER", "B-LOC", "I-PER"], [("LOC", 3, 3)]),  # I- after O is no entity
             (["S-PER", "I-PER", "B-LOC"], [("PER", 0, 0), ("LOC", 2, 2)])],
    "bioes": [(["B-PER", "I-PER", "E-PER", "S-LOC", "B-LOC", "E-LOC"], [("PER", 0, 2), ("LOC", 3, 3),
                                                                         ("LOC", 4, 5)]),
              (["B-PER", "I-PER", "O", "I-LOC", "E-LOC", "B-PER", "E-LOC"], [])],  # no E, no B, wrong E
    "bmes": [(["B-PER", "M-PER", "E-PER", "S-LOC"], [("PER", 0, 2), ("LOC", 3, 3)]),
             (["B-PER", "M-PER", "M-PER", "S-PER", "M-PER", "E-PER"], [("PER", 3, 3)])],
}


@pytest.mark.parametrize("scheme", HAND_MADE)
def test_entities_by_hand_and_as_seqeval_finds_them(scheme: str) -> None:
    for tags, expected in HAND_MADE[scheme]:
        assert entity_spans(tags, scheme) == expected, tags
    sentences = [tags for tags, _ in HAND_MADE[scheme]]
    assert ours(sentences, scheme) == seqeval_entities(sentences, scheme)


@pytest.mark.parametrize("scheme", SCHEME_PREFIXES)
def test_random_sequences_equal_seqeval(scheme: str) -> None:
    """Any sequence of the scheme's tags, most of them not valid in it, gives seqeval's entities."""
    rng = random.Random(scheme)
    sentences = [random_tags(rng, SCHEME_PREFIXES[scheme], rng.randint(0, 9)) for _ in range(3000)]
    expected = seqeval_entities(sentences, scheme)
    assert len(expected) > 3000  # the sequences hold entities to find
    assert ours(sentences, scheme) == expected


def test_the_bios_reference_agrees_with_seqeval_on_valid_sequences(shared_data: Path) -> None:
    """The BIOS scheme written here for seqeval finds, on valid BIOS (Resume NER's test tags), what seqeval's
    default mode finds and what seqeval's IOBES finds once each entity's last `I-` is written `E-` and a lone `B-`
    `S-`."""
    sentences = [json.loads(line)["label"] for line in
                 (shared_data / "chinese" / "ner-resume" / "test.json").read_text(encoding="utf-8").splitlines()]

    expected = seqeval_entities(sentences, "bios")
    assert len(expected) > 1000
    assert expected == seqeval_entities(sentences, "iob2")
    assert expected == seqeval_entities([bios_as_bioes(tags) for tags in sentences], "bioes")


def test_tag_errors_name_the_scheme() -> None:
    assert tag_error("O") is None and tag_error("M-PER") is None and tag_error("B-PER.NOM") is None
    assert tag_error("S-RACE", "bios") is None and tag_error("B-A-B", "iob2") is None
    assert tag_error("S-RACE", "iob2") == "tag 'S-RACE' is not IOB2 (O, B-TYPE, I-TYPE)"
    assert tag_error("I-PER", "bmes") == "tag 'I-PER' is not BMES (O, B-TYPE, M-TYPE, E-TYPE, S-TYPE)"
    for tag in ("PERSON", "B-", "X-PER", "BI-PER", "o"):
        assert "is not O or a prefix B-, I-, S-, E- or M-" in tag_error(tag), tag


def test_detection_from_prefixes() -> None:
    assert detect_scheme(["O", "B-PER", "I-PER"]) == "iob2"
    assert detect_scheme(["I-PER", "I-PER", "B-PER"]) == "iob2"  # IOB1 is read as IOB2
    assert detect_scheme(["B-NAME", "I-NAME", "S-RACE"]) == "bios"
    assert detect_scheme(["B-X", "I-X", "E-X", "S-Y"]) == "bioes"
    assert detect_scheme(["B-X", "M-X", "E-X"]) == "bmes"
    assert detect_scheme([]) == "iob2"
    assert scheme_of_labels(["O", "B-NAME", "I-NAME", "S-NAME"]) == "bios"
    assert scheme_of_labels(["LABEL_0", "LABEL_1"]) == "iob2"


def test_labels_of_each_scheme() -> None:
    assert scheme_labels({"PER", "LOC"}, "iob2") == ("O", "B-LOC", "B-PER", "I-LOC", "I-PER")
    assert scheme_labels({"PER"}, "bios") == ("O", "B-PER", "I-PER", "S-PER")
    assert scheme_labels({"PER"}, "bmes") == ("O", "B-PER", "E-PER", "M-PER", "S-PER")


def test_iob1_converts_to_iob2_with_the_same_entities() -> None:
    """The original CoNLL-2003 release (IOB1): an entity starts with I-, and B- only where it follows one of its
    own type."""
    iob1 = [("I-ORG", "B-ORG"), ("I-ORG", "I-ORG"), ("O", "O"), ("I-PER", "B-PER"), ("B-PER", "B-PER"),
            ("I-PER", "I-PER"), ("I-LOC", "B-LOC"), ("I-MISC", "B-MISC")]
    assert iob1_to_iob2([tag for tag, _ in iob1]) == [tag for _, tag in iob1]
    rng = random.Random(1)
    sentences = [random_tags(rng, "BI", rng.randint(0, 9)) for _ in range(500)]
    assert ours([iob1_to_iob2(tags) for tags in sentences], "iob2") == ours(sentences, "iob2")


@pytest.mark.parametrize("scheme, tags, filled", [
    ("iob2", ["B-ORG", None, "I-ORG", None, "O", None], ["B-ORG", "I-ORG", "I-ORG", "O", "O", "O"]),
    ("iob2", ["B-ORG", None, "B-ORG", "I-PER", None, "I-LOC"], ["B-ORG", "O", "B-ORG", "I-PER", "O", "I-LOC"]),
    ("bioes", ["B-ORG", None, None, "E-ORG", "S-PER", None, "E-PER"], ["B-ORG", "I-ORG", "I-ORG", "E-ORG",
                                                                       "S-PER", "O", "E-PER"]),
    ("bmes", ["B-ORG", None, "M-ORG", None, "E-ORG"], ["B-ORG", "M-ORG", "M-ORG", "M-ORG", "E-ORG"]),
    ("bios", [None, "I-ORG", "B-ORG", None], ["O", "I-ORG", "B-ORG", "O"]),
])
def test_words_without_tokens_continue_the_entity_around_them(scheme, tags, filled) -> None:
    assert fill_untagged(tags, scheme) == filled
