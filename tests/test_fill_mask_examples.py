"""The pretraining run's closing fill-mask examples: which sentences and words are masked, in any script and with
any tokenizer."""

from __future__ import annotations

import jieba

from bertjax.data.builtin import builtin_corpus
from bertjax.data.pretraining.corpus.documents import read_documents
from bertjax.data.tokenizer import train_bpe, train_wordpiece
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


CHINESE = ["我们在北京大学学习自然语言处理。", "这家酒店的服务很好，房间也很干净。", "今天天气不错，我们去公园散步吧！",
           "这本书的内容非常丰富，值得一读。", "手机的电池续航时间太短了。", "京东的快递速度很快，包装也很好。"]


def test_chinese_sentences_mask_a_character_or_a_jieba_word() -> None:
    """Sentences without spaces give examples too: one character masked with the tokenizer's words (each Chinese
    character is a word for BERT's), a word of jieba's (a [MASK] for each of its characters) with the segmenter."""
    tokenizer = train_wordpiece(CHINESE, 200)
    for segmenter in (None, "jieba"):
        examples = masked_examples(CHINESE, tokenizer, count=6, word_segmenter=segmenter)
        assert len(examples) == 6
        for (masked, word), sentence in zip(examples, CHINESE):
            assert masked.replace(tokenizer.mask_token, "") + word != sentence  # the word was cut out
            assert masked.replace(tokenizer.mask_token * len(word), word) == sentence
            if segmenter:
                assert word in jieba.lcut(sentence)
            else:
                assert len(word) == 1
        if segmenter:
            assert any(len(word) > 1 for _, word in examples)


def test_byte_level_bpe_masks_one_token_word() -> None:
    documents = read_documents(builtin_corpus())
    tokenizer = train_bpe((sentence for document in documents for sentence in document), 4000)
    sentence = "The quick brown fox jumps over the lazy dog near the river."
    examples = masked_examples([sentence], tokenizer, count=1)
    assert examples == [("The quick brown fox jumps [MASK] the lazy dog near the river.", "over")]
    assert tokenizer(examples[0][0])["input_ids"].count(tokenizer.mask_token_id) == 1
    assert len(tokenizer(examples[0][0])["input_ids"]) == len(tokenizer(sentence)["input_ids"])  # " over": one token
