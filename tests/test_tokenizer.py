"""Tokenizers: WordPiece and byte-level BPE training, save/load round trips through bertjax and transformers, any
fast tokenizer folder, local files only."""

from __future__ import annotations

import json

import pytest
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, BertTokenizerFast, PreTrainedTokenizerFast

from bertjax.data.pretraining.corpus.documents import read_documents
from bertjax.data.tokenizer import load_tokenizer, save_tokenizer, train_bpe, train_wordpiece
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


def test_characters_that_are_words_enter_by_coverage():
    """Chinese characters are words by themselves, so only the alphabet brings them in: past `limit_alphabet`, as
    many as cover `character_coverage` of the text, within the vocabulary's size."""
    frequent, rare = [chr(0x4E00 + index) for index in range(30)], [chr(0x4F00 + index) for index in range(10)]
    texts = ["".join(frequent)] * 100 + rare  # the 30 frequent characters cover 3,000 of 3,010
    tokenizer = train_wordpiece(texts, vocab_size=1000, limit_alphabet=10, character_coverage=0.99)
    assert tokenizer.tokenize("".join(frequent)) == frequent
    assert tokenizer.tokenize(rare[0]) == ["[UNK]"]
    assert len(tokenizer) == 5 + 30
    everything = train_wordpiece(texts, vocab_size=1000, limit_alphabet=10, character_coverage=1.0)
    assert everything.tokenize("".join(rare)) == rare
    assert len(train_wordpiece(texts, vocab_size=5 + 20, limit_alphabet=10)) == 5 + 20  # the size is kept


def test_chinese_vocabulary_covers_other_chinese_text(shared_data):
    """A vocabulary of the ChnSentiCorp reviews leaves few of Resume NER's characters unknown (one in ten when the
    alphabet stopped at 1,000 characters)."""
    reviews = [line.split("\t")[0] for line in
               (shared_data / "chinese" / "chnsenticorp" / "train.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    tokenizer = train_wordpiece(reviews, vocab_size=8000)
    resume = [json.loads(line)["text"] for line in
              (shared_data / "chinese" / "ner-resume" / "train.json").read_text(encoding="utf-8").splitlines()]
    ids = [token for text in resume for token in tokenizer("".join(text), add_special_tokens=False)["input_ids"]]
    assert ids.count(tokenizer.unk_token_id) / len(ids) < 0.01


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
    with pytest.raises(DataError, match="bpe.json: cannot load the tokenizer"):
        load_tokenizer(bpe)
    with pytest.raises(DataError, match="bpe.json: cannot load the tokenizer: bpe.json is not a tokenizers"):
        bpe.write_text('{"model": 3}', encoding="utf-8")
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


@pytest.fixture(scope="module")
def bpe(wikitext_sentences) -> PreTrainedTokenizerFast:
    return train_bpe(wikitext_sentences, vocab_size=2000)


def test_bpe_vocabulary(wikitext_sentences, bpe, tmp_path):
    assert len(bpe) == 2000 and not isinstance(bpe, BertTokenizerFast)
    assert bpe.convert_ids_to_tokens(list(range(5))) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert [bpe.pad_token_id, bpe.unk_token_id, bpe.cls_token_id, bpe.sep_token_id, bpe.mask_token_id] == [*range(5)]
    for _ in range(2):
        assert train_bpe(wikitext_sentences, vocab_size=2000).backend_tokenizer.to_str() == \
            bpe.backend_tokenizer.to_str()
    pair = bpe("The city, 3.5 kg.", "中文 🦞")
    assert pair.tokens()[:4] == ["[CLS]", "the", "Ġcity", ","] and pair.tokens()[-1] == "[SEP]"
    assert bpe.unk_token_id not in pair["input_ids"]  # every byte has a token
    first_sep = pair["input_ids"].index(bpe.sep_token_id)
    assert pair["token_type_ids"] == [0] * (first_sep + 1) + [1] * (len(pair["input_ids"]) - first_sep - 1)
    assert bpe.decode(pair["input_ids"], skip_special_tokens=True) == "the city, 3.5 kg.中文 🦞"
    # [MASK] takes the space before it: the mask stands where the token " city" would
    assert bpe("the [MASK] is red", add_special_tokens=False)["input_ids"] == \
        [bpe.convert_tokens_to_ids("the"), 4, *bpe(" is red", add_special_tokens=False)["input_ids"]]
    assert bpe("the city", return_offsets_mapping=True)["offset_mapping"] == [(0, 0), (0, 3), (4, 8), (0, 0)]

    save_tokenizer(bpe, tmp_path, max_length=64)
    assert {path.name for path in tmp_path.iterdir()} == {"tokenizer.json", "tokenizer_config.json"}
    expected = encodings(bpe)
    reference = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    assert encodings(reference) == expected and reference.model_max_length == 64
    assert reference.mask_token_id == 4 and reference("a [MASK] b")["input_ids"] == bpe("a [MASK] b")["input_ids"]
    for path in (tmp_path, tmp_path / "tokenizer.json"):
        loaded = load_tokenizer(path)
        assert isinstance(loaded, PreTrainedTokenizerFast) and not isinstance(loaded, BertTokenizerFast)
        assert encodings(loaded) == expected and loaded.all_special_ids == bpe.all_special_ids
    with pytest.raises(ConfigError, match="lower-casing can be set for WordPiece vocabularies only"):
        load_tokenizer(tmp_path, lowercase=False)
    assert train_bpe(wikitext_sentences[:500], 500, lowercase=False).tokenize("The")[0] == "The"
    with pytest.raises(DataError, match="texts to train a BPE vocabulary on are empty"):
        train_bpe([" ", ""], 500)


def modernbert_like_folder(texts: list[str], folder) -> Tokenizer:
    """A tokenizer folder laid out as ModernBERT's: byte-level BPE (NFC, no lower-casing), BERT's special tokens
    after the vocabulary with `[MASK]` taking the space before it, a template post-processor, tokenizer_config.json
    naming the special tokens and PreTrainedTokenizerFast."""
    backend = Tokenizer(models.BPE())
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=600, special_tokens=["<|padding|>"],
                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                           show_progress=False))
    backend.add_special_tokens(["[UNK]", "[CLS]", "[SEP]", "[PAD]", AddedToken("[MASK]", lstrip=True, special=True)])
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:0 [SEP]:0",
        special_tokens=[(token, backend.token_to_id(token)) for token in ("[CLS]", "[SEP]")])
    folder.mkdir()
    backend.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": True,
        "model_input_names": ["input_ids", "attention_mask"], "model_max_length": 8192,
        **{f"{name}_token": f"[{name.upper()}]" for name in ("unk", "cls", "sep", "pad", "mask")}}), encoding="utf-8")
    return backend


def test_any_fast_tokenizer_folder_loads_as_transformers_loads_it(wikitext_sentences, tmp_path):
    backend = modernbert_like_folder(wikitext_sentences[:2000], tmp_path / "modern")
    loaded, reference = load_tokenizer(tmp_path / "modern"), AutoTokenizer.from_pretrained(tmp_path / "modern")
    assert isinstance(loaded, PreTrainedTokenizerFast) and not isinstance(loaded, BertTokenizerFast)
    assert encodings(loaded) == encodings(reference)
    assert loaded.mask_token_id == backend.token_to_id("[MASK]") == len(loaded) - 1 == reference.mask_token_id
    assert (loaded.cls_token_id, loaded.sep_token_id, loaded.pad_token_id) == tuple(
        backend.token_to_id(token) for token in ("[CLS]", "[SEP]", "[PAD]"))
    assert loaded.model_max_length == 8192
    save_tokenizer(loaded, tmp_path / "saved")
    assert encodings(AutoTokenizer.from_pretrained(tmp_path / "saved")) == encodings(reference)


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
