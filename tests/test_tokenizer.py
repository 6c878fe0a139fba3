"""Tokenizers: WordPiece training, save/load round trips through bertjax and transformers, local files only."""

from __future__ import annotations

import pytest
from transformers import BertTokenizerFast

from bertjax.data.pretraining.corpus import read_documents
from bertjax.data.tokenizer import load_tokenizer, save_tokenizer, train_wordpiece
from bertjax.errors import ConfigError, DataError

TEXTS = ["Homarus gammarus is a LOBSTER from the Atlantic Ocean.", "Crème brûlée, naïve café — 3.5 kg!",
         "unaffable xylophonists", "中文 and emoji 🦞 <unk>"]


@pytest.fixture(scope="module")
def wikitext_sentences(shared_data) -> list[str]:
    return [sentence for document in read_documents(shared_data / "wikitext-2" / "valid.txt")
            for sentence in document]


@pytest.fixture(scope="module")
def trained(wikitext_sentences) -> BertTokenizerFast:
    return train_wordpiece(wikitext_sentences, vocab_size=2000)


def encodings(tokenizer, texts=TEXTS) -> list[list[int]]:
    return [tokenizer(text, pair)["input_ids"] for text, pair in zip(texts, texts[1:] + texts[:1])]


def test_trained_vocabulary(trained):
    # WikiText-2 valid has far more than 2000 distinct pieces, so the trainer fills the vocabulary exactly
    assert len(trained) == 2000
    assert trained.convert_ids_to_tokens(list(range(5))) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert (trained.pad_token_id, trained.cls_token_id, trained.sep_token_id) == (0, 2, 3)
    pieces = trained.tokenize("The Lobster")
    assert pieces[0] == "the" and len(pieces) > 2 and all(piece.startswith("##") for piece in pieces[2:])
    assert trained.decode(trained("The Lobster")["input_ids"], skip_special_tokens=True) == "the lobster"
    assert trained("the lobster")["input_ids"][0] == 2 and trained("the lobster")["input_ids"][-1] == 3


def test_training_is_deterministic(wikitext_sentences, trained):
    # The tokenizers trainer alone gives a different vocabulary on most runs here (its `##` pieces are numbered in
    # hash-map order); three runs in one process are enough to see it.
    for _ in range(3):
        assert train_wordpiece(wikitext_sentences, vocab_size=2000).get_vocab() == trained.get_vocab()


def test_small_corpus_gives_a_smaller_vocabulary():
    tokenizer = train_wordpiece(["a tiny corpus", "a tiny text"] * 3, vocab_size=1000)
    # five specials, the alphabet and its ## twins, then the few merges the words allow
    assert 5 + 13 < len(tokenizer) < 100
    assert tokenizer.tokenize("tiny") == ["tiny"]


def test_save_load_round_trip(trained, tmp_path):
    save_tokenizer(trained, tmp_path)
    assert {"vocab.txt", "tokenizer.json", "tokenizer_config.json"} <= {path.name for path in tmp_path.iterdir()}
    expected = encodings(trained)
    assert encodings(load_tokenizer(tmp_path)) == expected
    assert encodings(BertTokenizerFast.from_pretrained(tmp_path, local_files_only=True)) == expected
    assert encodings(load_tokenizer(tmp_path / "vocab.txt")) == expected
    assert encodings(load_tokenizer(tmp_path / "tokenizer.json")) == expected
    assert (tmp_path / "vocab.txt").read_text(encoding="utf-8").splitlines()[:3] == ["[PAD]", "[UNK]", "[CLS]"]


def test_saved_length_limit_is_the_models(trained, tmp_path):
    """A trained vocabulary has no length limit; saved beside a model it gets the model's, so transformers'
    truncation=True cuts long inputs to what the model takes."""
    own_limit = trained.model_max_length
    save_tokenizer(trained, tmp_path, max_length=64)
    assert trained.model_max_length == own_limit > 64
    loaded = BertTokenizerFast.from_pretrained(tmp_path, local_files_only=True)
    assert loaded.model_max_length == 64
    assert len(loaded("the cat " * 200, truncation=True)["input_ids"]) == 64


def test_cased_round_trip_and_override(wikitext_sentences, tmp_path):
    cased = train_wordpiece(wikitext_sentences[:2000], vocab_size=1500, lowercase=False)
    assert cased.tokenize("Atlantic")[0][0] == "A"
    save_tokenizer(cased, tmp_path)
    expected = encodings(cased)
    assert encodings(load_tokenizer(tmp_path)) == expected
    assert encodings(BertTokenizerFast.from_pretrained(tmp_path, local_files_only=True)) == expected
    assert encodings(load_tokenizer(tmp_path / "tokenizer.json")) == expected
    assert load_tokenizer(tmp_path / "vocab.txt").tokenize("The")[0][0] == "t"  # a bare vocab.txt: lower-case
    assert load_tokenizer(tmp_path / "vocab.txt", lowercase=False).tokenize("The")[0][0] == "T"
    assert load_tokenizer(tmp_path, lowercase=True).tokenize("The")[0][0] == "t"


def test_minilm_matches_transformers(minilm_dir):
    reference = BertTokenizerFast.from_pretrained(minilm_dir, local_files_only=True)
    assert encodings(load_tokenizer(minilm_dir)) == encodings(reference)
    assert encodings(load_tokenizer(minilm_dir / "vocab.txt")) == encodings(reference)
    assert load_tokenizer(minilm_dir)("unaffable")["input_ids"] == [101, 14477, 20961, 3468, 102]


def test_hub_ids_and_bad_paths(tmp_path):
    with pytest.raises(DataError, match="'bert-base-uncased' does not exist: bertjax loads tokenizers from local "
                                        "files only"):
        load_tokenizer("bert-base-uncased")
    with pytest.raises(DataError, match="neither tokenizer.json nor vocab.txt"):
        load_tokenizer(tmp_path)
    bpe = tmp_path / "bpe.json"
    bpe.write_text('{"model": {"type": "BPE", "vocab": {}}}', encoding="utf-8")
    with pytest.raises(DataError, match="bpe.json: model type 'BPE' is not WordPiece"):
        load_tokenizer(bpe)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "tokenizer.json").write_text('{"broken', encoding="utf-8")
    with pytest.raises(DataError, match="broken: cannot load the tokenizer"):
        load_tokenizer(broken)
    not_utf8 = tmp_path / "vocab.txt"
    not_utf8.write_bytes(b"\xff\xfe\x00bin\n")
    with pytest.raises(DataError, match="vocab.txt: cannot load the tokenizer"):
        load_tokenizer(not_utf8)
    with pytest.raises(ConfigError, match="lacks \\['\\[MASK\\]'\\]"):
        train_wordpiece(["some text"], vocab_size=100, special_tokens=("[PAD]", "[UNK]", "[CLS]", "[SEP]"))


CHINESE_TEXTS = ["高勇：男，中国国籍，1966年出生，MBA学位，PMI会员。", "苹果发布了MacBook Pro和iPhone 15，售价9999元！",
                 "他说：“CEO的GPU不够用。”（2019年）", "Ｆｕｌｌ－ｗｉｄｔｈ　ＡＢＣ１２３，繁體中文與简体中文"]


def test_chinese_checkpoint_tokenizes_as_transformers(chinese_bert_dir, tmp_path):
    """bert-base-chinese's folder (vocab.txt and tokenizer_config.json, no tokenizer.json): every CJK character its
    own token, English lower-cased into word pieces, digits as pieces; the same ids as transformers' fast and
    Python tokenizers, also after bertjax saves it (with a tokenizer.json) as a fine-tuning run does."""
    from transformers import BertTokenizer

    ours = load_tokenizer(chinese_bert_dir)
    assert len(ours) == 21_128
    assert ours.tokenize(CHINESE_TEXTS[0]) == ["高", "勇", "：", "男", "，", "中", "国", "国", "籍", "，", "1", "##9", "##66",
                                               "年", "出", "生", "，", "mba", "学", "位", "，", "pm", "##i", "会", "员",
                                               "。"]
    assert ours.tokenize("MacBook Pro") == ["mac", "##book", "pro"]
    expected = encodings(BertTokenizerFast.from_pretrained(chinese_bert_dir, local_files_only=True), CHINESE_TEXTS)
    assert encodings(ours, CHINESE_TEXTS) == expected
    assert encodings(BertTokenizer.from_pretrained(chinese_bert_dir, local_files_only=True), CHINESE_TEXTS) == expected
    assert encodings(load_tokenizer(chinese_bert_dir / "vocab.txt"), CHINESE_TEXTS) == expected
    assert encodings(load_tokenizer(save_tokenizer(ours, tmp_path / "saved")), CHINESE_TEXTS) == expected
