"""Where words start: the tokenizer's own (read off its vocabulary) against the words its pre-tokenizer makes, against
transformers' whole-word masking and against the text; a segmenter's against jieba on real Chinese text."""

from __future__ import annotations

import sys

import jieba
import numpy as np
import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import DataCollatorForLanguageModeling

from bertjax.data.builtin import builtin_corpus
from bertjax.data.pretraining.corpus.documents import read_documents
from bertjax.data.pretraining.corpus.sentences import split_sentences
from bertjax.data.pretraining.tokenized import sentence_encoder
from bertjax.data.pretraining.words import JiebaSegmenter
from bertjax.data.tokenizer import train_bpe, train_wordpiece
from bertjax.errors import DependencyError

EXTRA = ["Two  spaces, a lobster 🦞 and 中文 here.", "Numbers 3.14 and e.g. U.S.A. don't", "  leading", "end   ",
         "naïve café crème brûlée"]


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    return [sentence for document in read_documents(builtin_corpus()) for sentence in document] + EXTRA


def word_starts(backend: Tokenizer, sentences: list[str], segmenter: str | None = None) -> list[np.ndarray]:
    """Each sentence's word starts as a prepared corpus holds them."""
    _, lengths, starts = sentence_encoder(backend.to_str(), segmenter).encode(sentences)
    return np.split(starts, np.cumsum(lengths)[:-1])


def trained(model: models.Model, trainer: trainers.Trainer, sentences: list[str]) -> Tokenizer:
    backend = Tokenizer(model)
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.train_from_iterator(sentences, trainer)
    return backend


@pytest.mark.parametrize("kind", ["wordpiece", "bpe-end-of-word-suffix", "word-level"])
def test_words_are_the_pre_tokenizers_where_the_pieces_mark_them(sentences, kind):
    """WordPiece's `##` pieces, BPE's `</w>` suffix and a word-level vocabulary give the words the pre-tokenizer
    split the text into (for WordPiece, BERT's: punctuation and CJK characters are words of their own)."""
    backend = {
        "wordpiece": lambda: train_wordpiece(sentences, 1000).backend_tokenizer,
        "bpe-end-of-word-suffix": lambda: trained(models.BPE(unk_token="[UNK]", end_of_word_suffix="</w>"),
                                                  trainers.BpeTrainer(vocab_size=1000, special_tokens=["[UNK]"],
                                                                      end_of_word_suffix="</w>",
                                                                      show_progress=False), sentences),
        "word-level": lambda: trained(models.WordLevel(unk_token="[UNK]"),
                                      trainers.WordLevelTrainer(special_tokens=["[UNK]"], show_progress=False),
                                      sentences),
    }[kind]()
    split = 0
    for sentence, starts in zip(sentences, word_starts(backend, sentences)):
        encoding = backend.encode(sentence, add_special_tokens=False)
        expected = np.diff(np.asarray(encoding.word_ids), prepend=-1) != 0
        np.testing.assert_array_equal(starts, expected, err_msg=f"{sentence!r}: {encoding.tokens}")
        split += len(encoding.ids) - expected.sum()
    # words of several pieces are there to keep together (a word-level vocabulary has none: every token is a word)
    assert split == 0 if kind == "word-level" else split > 1000


def test_byte_level_words_are_those_transformers_masks_together(sentences):
    """Byte-level BPE: a word starts at a token beginning with whitespace (`Ġ`) as in transformers'
    DataCollatorForLanguageModeling(whole_word_mask=True), which starts one where the tokens' offsets leave a gap;
    except that the pieces of one character's bytes, which share its offsets, stay one word (transformers splits
    them: `café` is `c`, `af`, `Ã`, `©`)."""
    tokenizer = train_bpe(sentences, 1000)
    same_character = 0
    for sentence, starts in zip(sentences, word_starts(tokenizer.backend_tokenizer, sentences)):
        encoding = tokenizer(sentence, return_offsets_mapping=True, return_special_tokens_mask=True)
        word_ids, _ = DataCollatorForLanguageModeling._calc_word_ids_and_prob_mask(
            np.asarray([encoding["offset_mapping"]]), np.asarray([encoding["special_tokens_mask"]]))
        expected = np.diff(word_ids[0, 1:-1], prepend=-1) != 0
        offsets = np.asarray(encoding["offset_mapping"][1:-1])
        inside = offsets[1:, 0] < offsets[:-1, 1]  # a token inside the previous one's character
        same_character += inside.sum()
        expected[1:] &= ~inside
        np.testing.assert_array_equal(starts, expected, err_msg=f"{sentence!r}: {encoding.tokens()}")
    assert same_character > 10
    # A newline or a tab ends a word (transformers trims it off the offsets and joins the words around it).
    tab, newline = word_starts(tokenizer.backend_tokenizer, ["x\ty", "a\nb"])
    assert tab.tolist() == newline.tolist() == [True, True, True]


def test_sentencepiece_words_start_at_whitespace(sentences):
    """SentencePiece-style pieces (`▁` for the space, offsets holding it): a word starts where a token's text starts
    with whitespace."""
    backend = Tokenizer(models.Unigram())
    backend.pre_tokenizer, backend.decoder = pre_tokenizers.Metaspace(), decoders.Metaspace()
    backend.train_from_iterator(sentences, trainers.UnigramTrainer(vocab_size=800, special_tokens=["<unk>"],
                                                                   unk_token="<unk>", show_progress=False))
    for sentence, starts in zip(sentences, word_starts(backend, sentences)):
        encoding = backend.encode(sentence, add_special_tokens=False)
        expected = np.asarray([sentence[start:end][:1].isspace() for start, end in encoding.offsets])
        expected[0] = True
        np.testing.assert_array_equal(starts, expected, err_msg=f"{sentence!r}: {encoding.tokens}")


@pytest.fixture(scope="module")
def chinese(shared_data) -> list[str]:
    """Sentences of ChnSentiCorp reviews and TNEWS titles."""
    texts = []
    for name in ("chnsenticorp", "tnews"):
        lines = (shared_data / "chinese" / name / "train.tsv").read_text(encoding="utf-8").splitlines()[1:]
        texts += [line.split("\t")[0] for line in lines[:400]]
    return [sentence for text in texts for sentence in split_sentences(text)]


def test_segmented_words_are_jiebas(chinese):
    """With `jieba`, the tokens of each word (mostly a Chinese character each, with a vocabulary of BERT's) spell
    out exactly the words jieba finds, mixed Latin letters and digits included; where one token holds the end of a
    word and the start of the next (full-width digits `３０` make one token), the two are one word."""
    tokenizer = train_wordpiece(chinese, 3000)
    several = straddled = 0
    for sentence, starts in zip(chinese, word_starts(tokenizer.backend_tokenizer, chinese, "jieba")):
        offsets = tokenizer(sentence, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        firsts = np.flatnonzero(starts).tolist()
        words = [sentence[offsets[first][0]:offsets[end - 1][1]]
                 for first, end in zip(firsts, firsts[1:] + [len(offsets)])]
        boundaries = np.cumsum([0, *map(len, jieba.lcut(sentence))]).tolist()
        kept = [boundary for boundary in boundaries if not any(start < boundary < end for start, end in offsets)]
        straddled += len(boundaries) - len(kept)
        expected = [sentence[start:end].strip() for start, end in zip(kept, kept[1:]) if sentence[start:end].strip()]
        assert words == expected, sentence
        several += sum(len(word) > 1 for word in words)
    assert several > 2000 and 0 < straddled < 20


def test_a_missing_segmenter_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "jieba", None)  # import jieba raises ImportError
    with pytest.raises(DependencyError) as raised:
        JiebaSegmenter()
    assert str(raised.value) == ('data.word_segmenter=jieba needs the jieba package: pip install -e ".[zh]" (or pip '
                                 'install "jieba>=0.42.1,<0.43")')
