"""Tokenizers from local files (never downloaded): any fast tokenizer folder (tokenizer.json, e.g. ModernBERT's
byte-level BPE) and BERT's WordPiece vocab.txt; WordPiece or byte-level BPE vocabularies trained on a corpus, with
BERT's special tokens; saved for both bertjax and transformers to read back."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, BertWordPieceTokenizer, Tokenizer, decoders, models, normalizers, pre_tokenizers
from tokenizers import processors, trainers
from transformers import BertTokenizerFast, PreTrainedTokenizerFast

from bertjax.errors import ConfigError, DataError, first_line

BERT_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
BERT_INPUTS = ("input_ids", "token_type_ids", "attention_mask")
# The special tokens of a bare tokenizer.json, which has no tokenizer_config.json to name them: BERT's or RoBERTa's.
SPECIAL_TOKEN_NAMES = {"pad_token": ("[PAD]", "<pad>"), "unk_token": ("[UNK]", "<unk>"), "cls_token": ("[CLS]", "<s>"),
                       "sep_token": ("[SEP]", "</s>"), "mask_token": ("[MASK]", "<mask>")}


def load_tokenizer(path: str | Path, lowercase: bool | None = None) -> PreTrainedTokenizerFast:
    """A fast tokenizer from a checkpoint folder (tokenizer.json and/or vocab.txt, with its tokenizer_config.json),
    a single vocab.txt (lower-cased by default) or a tokenizer.json file. WordPiece vocabularies load as a
    `BertTokenizerFast`, any other tokenizer.json (e.g. byte-level BPE) as a `PreTrainedTokenizerFast`.

    lowercase: overrides the lower-casing the files say (WordPiece only); None keeps it.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"tokenizer {str(path)!r} does not exist: bertjax loads tokenizers from local files only. "
                        f"Pass a folder holding tokenizer.json or vocab.txt (e.g. a downloaded Hugging Face "
                        f"checkpoint), a vocab.txt file or a tokenizer.json file")
    overrides = {} if lowercase is None else {"do_lower_case": lowercase}
    if path.is_dir():
        if not (path / "tokenizer.json").is_file() and not (path / "vocab.txt").is_file():
            raise DataError(f"{path}: the folder has neither tokenizer.json nor vocab.txt; pass a tokenizer folder "
                            f"or file")
        if (path / "tokenizer.json").is_file() and _model_type(path / "tokenizer.json", path) != "WordPiece":
            _no_lowercase_override(path, lowercase)
            return _tokenizer_from(path, PreTrainedTokenizerFast.from_pretrained, str(path), local_files_only=True)
        return _tokenizer_from(path, BertTokenizerFast.from_pretrained, str(path), local_files_only=True,
                               **overrides)
    if path.name.endswith(".json"):
        return _from_tokenizer_json(path, lowercase)
    return _tokenizer_from(path, BertTokenizerFast, vocab=str(path),
                           do_lower_case=True if lowercase is None else lowercase)


def _model_type(path: Path, given: Path) -> str:
    """The model type of tokenizer.json `path` (WordPiece, BPE, Unigram, ...); errors name `given`, what the caller
    passed."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))["model"]["type"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise DataError(f"{given}: cannot load the tokenizer: {path.name} is not a tokenizers tokenizer.json "
                        f"({type(error).__name__}: {error}); pass a file saved by the tokenizers library or a "
                        f"vocab.txt") from None


def _no_lowercase_override(path: Path, lowercase: bool | None) -> None:
    if lowercase is not None:
        raise ConfigError(f"{path}: lower-casing can be set for WordPiece vocabularies only; this tokenizer's "
                          f"normaliser decides its own")


def _tokenizer_from(path: Path, make: Any, *args: Any, **kwargs: Any) -> Any:
    """`make(*args, **kwargs)`, with a broken file (bad JSON, a non-UTF-8 vocab.txt) as a DataError naming `path`;
    the tokenizers library raises a bare Exception for some of these."""
    try:
        return make(*args, **kwargs)
    except Exception as error:
        raise DataError(f"{path}: cannot load the tokenizer ({type(error).__name__}: {first_line(error)}); check that "
                        f"its tokenizer.json, vocab.txt and tokenizer_config.json are intact") from None


def _from_tokenizer_json(path: Path, lowercase: bool | None) -> PreTrainedTokenizerFast:
    """A tokenizer from a bare tokenizer.json: for WordPiece, BERT's from its vocabulary and BertNormalizer settings;
    else the file as it is, with the special tokens of SPECIAL_TOKEN_NAMES it holds."""
    if _model_type(path, path) != "WordPiece":
        _no_lowercase_override(path, lowercase)
        backend = _tokenizer_from(path, Tokenizer.from_file, str(path))
        vocabulary = backend.get_vocab(with_added_tokens=True)
        special = {name: next(token for token in tokens if token in vocabulary)
                   for name, tokens in SPECIAL_TOKEN_NAMES.items() if any(token in vocabulary for token in tokens)}
        return PreTrainedTokenizerFast(tokenizer_object=backend, **special)
    spec = json.loads(path.read_text(encoding="utf-8"))
    normalizer = spec.get("normalizer") or {}
    return _tokenizer_from(path, lambda: BertTokenizerFast(
        vocab=spec["model"]["vocab"], do_lower_case=normalizer.get("lowercase", True) if lowercase is None
        else lowercase, strip_accents=normalizer.get("strip_accents"),
        tokenize_chinese_chars=normalizer.get("handle_chinese_chars", True)))


def _seed_pieces(texts: Sequence[str], trainer: BertWordPieceTokenizer, limit_alphabet: int,
                 character_coverage: float, room: int) -> tuple[list[str], list[str]]:
    """The alphabet and its `##` pieces (for the characters that can occur inside a word), both sorted.

    The alphabet is the most frequent normalised characters (ties by code point): the `limit_alphabet` first, and
    more while they cover less than `character_coverage` of the text's characters and the pieces fit in `room`.
    No merge makes a character that is a word by itself, so without the coverage a Chinese vocabulary would hold
    only the 1,000 most frequent characters and leave one in ten of a new text's characters unknown.

    The tokenizers trainer numbers `##` pieces in hash-map order, and the numbers break ties between merges, so the
    same corpus can give different vocabularies (huggingface/tokenizers#1794). Handing it the alphabet and the `##`
    pieces up front, in a fixed order, makes every number and so every merge deterministic.
    """
    characters: Counter[str] = Counter()
    for text in texts:
        characters.update(text)
    normalized: Counter[str] = Counter()
    for character, count in characters.items():
        for piece in trainer.normalize(character):
            if not piece.isspace():
                normalized[piece] += count
    ranked = sorted(normalized, key=lambda piece: (-normalized[piece], piece))
    alphabet = ranked[:limit_alphabet]
    pieces = sum(1 + _inside_words(piece, trainer) for piece in alphabet)
    covered, wanted = sum(normalized[piece] for piece in alphabet), character_coverage * sum(normalized.values())
    for piece in ranked[limit_alphabet:]:
        pieces += 1 + _inside_words(piece, trainer)
        if covered >= wanted or pieces > room:
            break
        alphabet.append(piece)
        covered += normalized[piece]
    continuations = [f"##{piece}" for piece in alphabet if _inside_words(piece, trainer)]
    return sorted(alphabet), sorted(continuations)


def _inside_words(piece: str, trainer: BertWordPieceTokenizer) -> bool:
    """Whether `piece` can occur inside a word: a character that splits "a?a" into several words (punctuation,
    CJK) never does."""
    return len(trainer.pre_tokenizer.pre_tokenize_str(trainer.normalize(f"a{piece}a"))) == 1


def _check_special_tokens(special_tokens: Sequence[str]) -> None:
    missing = [token for token in BERT_SPECIAL_TOKENS if token not in special_tokens]
    if missing:
        raise ConfigError(f"special_tokens {list(special_tokens)} lacks {missing}; BERT needs all of "
                          f"{list(BERT_SPECIAL_TOKENS)}")


def train_wordpiece(texts: Iterable[str], vocab_size: int, lowercase: bool = True, min_frequency: int = 2,
                    special_tokens: Sequence[str] = BERT_SPECIAL_TOKENS, limit_alphabet: int = 1000,
                    character_coverage: float = 0.9995) -> BertTokenizerFast:
    """A WordPiece vocabulary of at most `vocab_size` pieces learnt from `texts` (the same every time), with BERT's
    normaliser and pre-tokeniser; `special_tokens` take the first ids in order (`[PAD]` is 0 by default).

    The alphabet is the `limit_alphabet` most frequent characters, or more, as many as cover `character_coverage` of
    the text (SentencePiece's value for Chinese and Japanese, whose characters are words by themselves).

    A corpus with fewer distinct pieces than `vocab_size` (after `min_frequency`) gives a smaller vocabulary.
    """
    _check_special_tokens(special_tokens)
    texts = list(texts)
    trainer = BertWordPieceTokenizer(lowercase=lowercase)
    alphabet, continuations = _seed_pieces(texts, trainer, limit_alphabet, character_coverage,
                                           room=vocab_size - len(special_tokens))
    if not alphabet:
        raise DataError("the texts to train a WordPiece vocabulary on are empty; pass a corpus with some text")
    # The `##` pieces go in as trainer "special tokens" only to fix their ids; the tokenizer built below gets the
    # vocabulary alone, so they are ordinary pieces there.
    trainer.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=min_frequency,
                                limit_alphabet=len(alphabet), initial_alphabet=alphabet,
                                special_tokens=[*special_tokens, *continuations], show_progress=False)
    return BertTokenizerFast(vocab=trainer.get_vocab(), do_lower_case=lowercase)


def train_bpe(texts: Iterable[str], vocab_size: int, lowercase: bool = True, min_frequency: int = 2,
              special_tokens: Sequence[str] = BERT_SPECIAL_TOKENS) -> PreTrainedTokenizerFast:
    """A byte-level BPE vocabulary of at most `vocab_size` tokens learnt from `texts` (the same every time), as
    GPT-2, RoBERTa and ModernBERT have (NFC, then lower-cased with `lowercase`; no unknown token is ever needed),
    with BERT's special tokens taking the first ids in order and BERT's `[CLS] A [SEP] B [SEP]` template (token
    types 0 then 1). `[MASK]` takes the space before it, as ModernBERT's does: "a [MASK] b" puts the mask where
    the word " x" was, not after a lone space.
    """
    _check_special_tokens(special_tokens)
    texts = list(texts)
    if not any(text.strip() for text in texts):
        raise DataError("the texts to train a BPE vocabulary on are empty; pass a corpus with some text")
    backend = Tokenizer(models.BPE())
    backend.normalizer = normalizers.Sequence([normalizers.NFC(), *([normalizers.Lowercase()] if lowercase else [])])
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    added = [AddedToken(token, special=True, lstrip=token == "[MASK]") for token in special_tokens]
    backend.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=added, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    cls_id, sep_id = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=True, add_prefix_space=False),  # offsets without the space before words
        processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                      special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])])
    names = dict(zip(("pad_token", "unk_token", "cls_token", "sep_token", "mask_token"), BERT_SPECIAL_TOKENS))
    special = {name: next(token for token in added if token.content == content) for name, content in names.items()}
    # token_type_ids as BertTokenizerFast gives them, for BERT's segment embeddings
    return PreTrainedTokenizerFast(tokenizer_object=backend, model_input_names=list(BERT_INPUTS), **special)


TRAINERS = {"wordpiece": train_wordpiece, "bpe": train_bpe}  # data.tokenizer_type: how a vocabulary is learnt


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, directory: str | Path, max_length: int | None = None) -> Path:
    """Writes tokenizer.json and tokenizer_config.json (lower-casing included), and for WordPiece vocab.txt, to
    `directory`.

    max_length: the model's max_position_embeddings; the saved `model_max_length` is at most this, so that
    `truncation=True` in transformers cuts inputs to what the model takes (a trained vocabulary has no limit).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    own_limit = tokenizer.model_max_length
    if max_length is not None:
        tokenizer.model_max_length = min(own_limit, max_length)
    try:
        tokenizer.save_pretrained(str(directory))
    finally:
        tokenizer.model_max_length = own_limit
    if type(tokenizer.backend_tokenizer.model).__name__ != "WordPiece":
        return directory
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    if [index for _, index in vocab] != list(range(len(vocab))):
        raise DataError(f"the tokenizer's vocabulary ids are not 0..{len(vocab) - 1} without gaps; it cannot be "
                        f"written as a vocab.txt")
    (directory / "vocab.txt").write_text("".join(f"{token}\n" for token, _ in vocab), encoding="utf-8")
    return directory
