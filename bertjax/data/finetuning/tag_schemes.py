"""Tag schemes of token classification (IOB1, IOB2, BIOS, BIOES, BMES): which one tags use, and the entities a
sentence's tags hold, found as seqeval finds them.

An entity is (type, first word, last word). IOB1 and IOB2 are read as seqeval's default mode (conlleval) reads them:
an entity is a run `B-X I-X ...`, and an `I-X` after `O` or after another type starts one too, so both schemes give
the same entities and any tag sequence has some. The schemes that mark single words (BIOS: `S-X`) or entity ends
(BIOES: `B-X I-X ... E-X` or `S-X`; BMES: BIOES with `M-` for `I-`) are read as seqeval's strict mode reads them with
the scheme (IOBES for BIOES and BMES): only a run the scheme allows is an entity, so an `I-X` after `O` is none, and
in BIOES or BMES a `B-X I-X` that never reaches `E-X` is none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

OUTSIDE = "O"
SCHEMES = ("iob1", "iob2", "bios", "bioes", "bmes")
PREFIXES = {"iob1": "BI", "iob2": "BI", "bios": "BIS", "bioes": "BIES", "bmes": "BMES"}
STRICT_SCHEMES = ("bios", "bioes", "bmes")  # counted as seqeval's strict mode counts them

Span = tuple[str, int, int]  # (entity type, first word, last word)


def tag_parts(tag: str) -> tuple[str, str]:
    """(prefix, entity type): ("O", "") for `O`, ("B", "PER") for `B-PER`; a type may hold hyphens (`B-A-B`)."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    prefix, _, entity_type = tag.partition("-")
    return prefix, entity_type


def tag_error(tag: str, scheme: str | None = None) -> str | None:
    """Why `tag` is not `O` or a prefix of `scheme` (of any scheme when None), a hyphen and a type; None if it is."""
    prefix, entity_type = tag_parts(tag)
    allowed = PREFIXES[scheme] if scheme else "BIESM"
    if tag == OUTSIDE or (len(prefix) == 1 and prefix in allowed and entity_type):
        return None
    if scheme:
        forms = ", ".join(f"{prefix}-TYPE" for prefix in allowed)
        return f"tag {tag!r} is not {scheme.upper()} (O, {forms})"
    return (f"tag {tag!r} is not O or a prefix B-, I-, S-, E- or M- followed by a type (the schemes IOB1, IOB2, "
            f"BIOS, BIOES and BMES)")


def detect_scheme(tags: Iterable[str]) -> str:
    """The scheme that tags use, from their prefixes: `M-` BMES, else `E-` BIOES, else `S-` BIOS, else IOB2 (which
    reads IOB1's tags too)."""
    prefixes = {tag_parts(tag)[0] for tag in tags}
    for prefix, scheme in (("M", "bmes"), ("E", "bioes"), ("S", "bios")):
        if prefix in prefixes:
            return scheme
    return "iob2"


def scheme_of_labels(labels: Sequence[str]) -> str:
    """The scheme of a model's labels (`id2label`); labels that are no scheme's tags (`LABEL_0`) read as IOB2."""
    return detect_scheme(label for label in labels if tag_error(label) is None)


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """IOB1 tags (an entity starts with I-, and with B- only right after an entity of its type) as IOB2; IOB2 tags
    stay as they are, and any B-/I- sequence keeps its entities (an `I-X` that starts one becomes `B-X`)."""
    converted, previous_entity = [], None
    for tag in tags:
        prefix, entity = tag_parts(tag)
        if prefix == "I" and entity != previous_entity:
            tag = f"B-{entity}"
        converted.append(tag)
        previous_entity = entity if tag != OUTSIDE else None
    return converted


def entity_spans(tags: Sequence[str], scheme: str) -> list[Span]:
    """The entities of one sentence's tags, in order, as seqeval finds them (the module's docstring says how)."""
    parts = [tag_parts(tag) for tag in tags]
    if scheme in STRICT_SCHEMES:
        return _strict_spans(parts, inside="M" if scheme == "bmes" else "I", with_end="E" in PREFIXES[scheme])
    spans, start, current_type = [], None, ""
    for position, (prefix, entity_type) in enumerate([*parts, (OUTSIDE, "")]):  # the O closes a final entity
        continues = prefix == "I" and entity_type == current_type
        if start is not None and not continues:
            spans.append((current_type, start, position - 1))
            start = None
        if prefix == "B" or (prefix == "I" and not continues):
            start = position
        current_type = entity_type if start is not None else ""
    return spans


def _strict_spans(parts: list[tuple[str, str]], inside: str, with_end: bool) -> list[Span]:
    """`S-X` alone; `B-X` with the `inside`-X words after it, and (with_end) the `E-X` that must close it."""
    spans, position = [], 0
    while position < len(parts):
        prefix, entity_type = parts[position]
        if prefix == "S":
            spans.append((entity_type, position, position))
        elif prefix == "B":
            last = position
            while last + 1 < len(parts) and parts[last + 1] == (inside, entity_type):
                last += 1
            closed = with_end and last + 1 < len(parts) and parts[last + 1] == ("E", entity_type)
            if closed or not with_end:
                spans.append((entity_type, position, last + closed))
            position = last + closed
        position += 1
    return spans


def scheme_labels(entity_types: Iterable[str], scheme: str) -> tuple[str, ...]:
    """`O`, then every prefix of `scheme` on every type, sorted: a model's id2label."""
    return (OUTSIDE, *sorted(f"{prefix}-{entity_type}" for entity_type in set(entity_types)
                             for prefix in PREFIXES[scheme]))


def fill_untagged(tags: Sequence[str | None], scheme: str) -> list[str]:
    """Word tags where None marks a word the model saw no token of (whitespace, or cut off by truncation): such a
    word continues the entity around it (between a tag that opens or continues an entity and one that continues it),
    else it is `O`."""
    inside = "M" if scheme == "bmes" else "I"
    filled: list[str] = []
    for position, tag in enumerate(tags):
        if tag is None:
            previous_prefix, previous_type = tag_parts(filled[-1]) if filled else (OUTSIDE, "")
            following = next((later for later in tags[position + 1:] if later is not None), OUTSIDE)
            following_prefix, following_type = tag_parts(following)
            between = (previous_prefix in ("B", inside) and following_prefix in (inside, "E")
                       and previous_type == following_type)
            tag = f"{inside}-{previous_type}" if between else OUTSIDE
        filled.append(tag)
    return filled
