"""The pretraining run's closing fill-mask examples: which sentences and words are masked."""

from __future__ import annotations

from bertjax.runs.fill_mask_examples import masked_examples


def test_one_whole_vocabulary_word_near_the_middle_is_masked(tokenizer) -> None:
    sentences = ["Too short.", "The quick brown fox jumps over the lazy dog near the river.",
                 "A zyxwvut qrstuv wordless mnopq sentence with one known word among fakes here.",
                 "Seven words in this sentence are right here."]
    examples = masked_examples(sentences, tokenizer, count=3)
    assert [masked.count("[MASK]") for masked, _ in examples] == [1, 1, 1]
    assert examples[0] == ("The quick brown fox jumps [MASK] the lazy dog near the river.", "over")
    for masked, word in examples:
        assert word.lower() in tokenizer.get_vocab()
        assert masked.replace("[MASK]", word) in sentences
    assert masked_examples(sentences[:1], tokenizer) == []  # no sentence of 6 to 30 words
