"""WordPiece tokenizers from local files (never downloaded), trained on a corpus, and saved for both bertjax and
transformers to read back."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tokenizers import BertWordPieceTokenizer, models
from transformers import BertTokenizerFast, PreTrainedTokenizerFast

from bertjax.errors import ConfigError, DataError

BERT_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def load_tokenizer(path: str | Path, lowercase: bool | None = None) -> PreTrainedTokenizerFast:
    """A BERT WordPiece tokenizer from a checkpoint folder (tokenizer.json and/or vocab.txt, with the lower-casing of
    its tokenizer_config.json) or from a single vocab.txt (lower-cased by default) or tokenizer.json file; a
    folder's tokenizer.json of another kind (ModernBERT's byte-level BPE) as its tokenizer_config.json says.

    lowercase: overrides the lower-casing the files say; None keeps it (a WordPiece tokenizer's only).
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
        if (path / "tokenizer.json").is_file() and _model_type(path / "tokenizer.json") != "WordPiece":
            return _tokenizer_from(path, PreTrainedTokenizerFast.from_pretrained, str(path), local_files_only=True)
        return _tokenizer_from(path, BertTokenizerFast.from_pretrained, str(path), local_files_only=True,
                               **overrides)
    if path.name.endswith(".json"):
        return _from_tokenizer_json(path, lowercase)
    return _tokenizer_from(path, BertTokenizerFast, vocab=str(path),
                           do_lower_case=True if lowercase is None else lowercase)


def _tokenizer_from(path: Path, make: Any, *args: Any, **kwargs: Any) -> BertTokenizerFast:
    """`make(*args, **kwargs)`, with a broken file (bad JSON, a non-UTF-8 vocab.txt) as a DataError naming `path`;
    the tokenizers library raises a bare Exception for some of these."""
    try:
        return make(*args, **kwargs)
    except Exception as error:
        raise DataError(f"{path}: cannot load the tokenizer ({type(error).__name__}: {error}); check that its "
                        f"tokenizer.json, vocab.txt and tokenizer_config.json are intact") from None


def _model_type(path: Path) -> str | None:
    """The `model.type` of a tokenizer.json (WordPiece, BPE, ...); None where the file is not one (reading it then
    says what is wrong)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))["model"].get("type")
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
        return None


def _from_tokenizer_json(path: Path, lowercase: bool | None) -> BertTokenizerFast:
    """A BERT tokenizer from a bare tokenizer.json: its WordPiece vocabulary and BertNormalizer settings."""
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
        model, normalizer = spec["model"], spec.get("normalizer") or {}
        if model.get("type") != "WordPiece":
            raise DataError(f"{path}: model type {model.get('type')!r} is not WordPiece; BERT needs a WordPiece "
                            f"tokenizer.json")
        vocab = model["vocab"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise DataError(f"{path}: not a tokenizers tokenizer.json ({error}); pass a file saved by the tokenizers "
                        f"library or a vocab.txt") from None
    return BertTokenizerFast(vocab=vocab, do_lower_case=normalizer.get("lowercase", True) if lowercase is None
                             else lowercase, strip_accents=normalizer.get("strip_accents"),
                             tokenize_chinese_chars=normalizer.get("handle_chinese_chars", True))


def _seed_pieces(texts: Sequence[str], trainer: BertWordPieceTokenizer, limit_alphabet: int
                 ) -> tuple[list[str], list[str]]:
    """The alphabet (the `limit_alphabet` most frequent normalised characters, ties by code point) and its `##`
    pieces (for the characters that can occur inside a word), both sorted.

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
    alphabet = sorted(sorted(normalized, key=lambda piece: (-normalized[piece], piece))[:limit_alphabet])
    # A character that splits "a?a" into several words (punctuation, CJK) never continues a word.
    inside_words = [piece for piece in alphabet if len(trainer.pre_tokenizer.pre_tokenize_str(
        trainer.normalize(f"a{piece}a"))) == 1]
    return alphabet, [f"##{piece}" for piece in inside_words]


def train_wordpiece(texts: Iterable[str], vocab_size: int, lowercase: bool = True, min_frequency: int = 2,
                    special_tokens: Sequence[str] = BERT_SPECIAL_TOKENS, limit_alphabet: int = 1000
                    ) -> BertTokenizerFast:
    """A WordPiece vocabulary of at most `vocab_size` pieces learnt from `texts` (the same every time), with BERT's
    normaliser and pre-tokeniser; `special_tokens` take the first ids in order (`[PAD]` is 0 by default).

    A corpus with fewer distinct pieces than `vocab_size` (after `min_frequency`) gives a smaller vocabulary.
    """
    missing = [token for token in BERT_SPECIAL_TOKENS if token not in special_tokens]
    if missing:
        raise ConfigError(f"special_tokens {list(special_tokens)} lacks {missing}; BERT needs all of "
                          f"{list(BERT_SPECIAL_TOKENS)}")
    texts = list(texts)
    trainer = BertWordPieceTokenizer(lowercase=lowercase)
    alphabet, continuations = _seed_pieces(texts, trainer, limit_alphabet)
    if not alphabet:
        raise DataError("the texts to train a WordPiece vocabulary on are empty; pass a corpus with some text")
    # The `##` pieces go in as trainer "special tokens" only to fix their ids; the tokenizer built below gets the
    # vocabulary alone, so they are ordinary pieces there.
    trainer.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=min_frequency,
                                limit_alphabet=len(alphabet), initial_alphabet=alphabet,
                                special_tokens=[*special_tokens, *continuations], show_progress=False)
    return BertTokenizerFast(vocab=trainer.get_vocab(), do_lower_case=lowercase)


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, directory: str | Path, max_length: int | None = None) -> Path:
    """Writes tokenizer.json and tokenizer_config.json (lower-casing included) to `directory`, and for WordPiece
    vocab.txt.

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
    if not isinstance(tokenizer.backend_tokenizer.model, models.WordPiece):
        return directory
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    if [index for _, index in vocab] != list(range(len(vocab))):
        raise DataError(f"the tokenizer's vocabulary ids are not 0..{len(vocab) - 1} without gaps; it cannot be "
                        f"written as a vocab.txt")
    (directory / "vocab.txt").write_text("".join(f"{token}\n" for token, _ in vocab), encoding="utf-8")
    return directory
