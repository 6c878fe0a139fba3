"""Splitting a paragraph into sentences, in any script, with regular expressions alone (the preparation's hot path).

Two kinds of sentence end:
- Chinese, Japanese and Korean: the full-width enders `。！？；` (and the half-width `｡`) end a sentence wherever they
  stand, as do `. ! ? …` right after a CJK character (web text often mixes half-width punctuation into CJK text);
  closing quotes and brackets that follow (`”」』）】》` ...) stay with the sentence they close; no whitespace is
  needed after them.
- Every other script (Latin, Cyrillic, Greek, Arabic, ...): `.`, `!` or `?` (with any closing quotes or brackets)
  followed by whitespace and a sentence start (see `split_sentences`), unless the period closes an abbreviation or
  an initial.
"""

from __future__ import annotations

import re

# A period after these words (compared lower-cased, without the period) does not end a sentence.
ABBREVIATIONS = frozenset("""
    mr mrs ms dr prof sr jr st mt ft gen col lt sgt capt cmdr adm gov sen rep rev hon pres supt
    vs cf viz ca approx no nos fig figs vol vols pp ch sec dept est al
    inc ltd co corp bros assn univ ave blvd
    jan feb mar apr jun jul aug sep sept oct nov dec
""".split())
# Han (with extensions and compatibility ideographs), kana (full- and half-width) and Hangul syllables.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f"
_WIDE_ENDERS = "。！？；｡"
_WIDE_CLOSERS = re.escape("\"'”’)]}）］｝」』】》〉〕〗〙〛｣")  # escaped, for a character class
# Each pattern starts with a character class, which lets the engine skip ahead to the candidates; the CJK one
# checks what precedes its ender by a lookbehind after it.
_WIDE_END = re.compile(rf"[{_WIDE_ENDERS}.!?…](?:(?<=[{_WIDE_ENDERS}])|(?<=[{_CJK}].))[{_WIDE_ENDERS}.!?…]*"
                       rf"[{_WIDE_CLOSERS}]*(\s*)")
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(\s+)")
_OPENERS = "\"'“‘„‚«‹¿¡(["


def split_sentences(text: str) -> list[str]:
    """The sentences of a paragraph (see the module docstring), stripped. Outside CJK text, an end needs whitespace,
    any opening quotes or brackets, and then a digit or a letter that is not lower-case (upper-case in any script,
    or of a script without case); a period after an abbreviation (`Mr.`, `e.g.`, `U.S.`) or an initial (`J.`) does
    not split. Decimals (`3.14`) never split since no whitespace follows the period."""
    # (where a sentence ends, where the next one starts)
    ends = [(match.start(1), match.end()) for match in _SENTENCE_END.finditer(text)
            if _starts_sentence(text, match.end()) and not _is_abbreviation(text, match.start())]
    if not text.isascii():  # ASCII text holds no CJK ender
        ends = sorted(ends + [(match.start(1), match.end()) for match in _WIDE_END.finditer(text)])
    sentences = []
    start = 0
    for end, next_start in ends:
        if end >= start:  # else the same end, found by both patterns
            sentences.append(text[start:end].strip())
            start = next_start
    sentences.append(text[start:].strip())
    return [sentence for sentence in sentences if sentence]


def _starts_sentence(text: str, position: int) -> bool:
    """Whether the text from `position` can open a sentence (see `split_sentences`)."""
    while position < len(text) and text[position] in _OPENERS:
        position += 1
    if position == len(text):
        return False
    first = text[position]
    return first.isdigit() or (first.isalpha() and not first.islower())


def _is_abbreviation(text: str, punctuation_start: int) -> bool:
    """Whether the period at `punctuation_start` closes an abbreviation or initial rather than a sentence."""
    if text[punctuation_start] != "." or text.startswith("..", punctuation_start):
        return False
    word = text[:punctuation_start].rsplit(None, 1)[-1] if text[:punctuation_start].strip() else ""
    word = word.lstrip(_OPENERS)
    if not word:
        return False
    return word.lower() in ABBREVIATIONS or "." in word or (len(word) == 1 and word.isalpha())
