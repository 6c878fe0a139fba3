"""Pretraining data: sequences (NSP and packed), masking statistics, determinism and resumption."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from transformers import PreTrainedTokenizerFast

from bertjax.data.builtin import builtin_corpus
from bertjax.data.pretraining.corpus.documents import read_documents
from bertjax.data.pretraining.corpus.sentences import split_sentences
from bertjax.data.pretraining.instances import truncate_seq_pair
from bertjax.data.pretraining.dataset import PretrainingDataset, PretrainingOptions
from bertjax.data.pretraining.tokenized import sentence_encoder, tokenize_documents
from bertjax.data.tokenizer import train_wordpiece
from bertjax.errors import ConfigError, DataError

BATCH_KEYS = {"input_ids": np.int32, "token_type_ids": np.int32, "attention_mask": np.int32,
              "masked_lm_positions": np.int32, "masked_lm_ids": np.int32, "masked_lm_weights": np.float32}


def synthetic_documents(count: int, seed: int = 0) -> list[list[str]]:
    """Documents of made-up words, many of which a small WordPiece vocabulary splits into `##` pieces."""
    rng = np.random.default_rng(seed)
    syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "shu", "gra", "tor"]
    words = ["".join(rng.choice(syllables, rng.integers(1, 5))) for _ in range(400)]
    return [[" ".join(rng.choice(words, rng.integers(3, 20))).capitalize() + "."
             for _ in range(rng.integers(4, 25))] for _ in range(count)]


@pytest.fixture(scope="module")
def documents() -> list[list[str]]:
    return synthetic_documents(40)


@pytest.fixture(scope="module")
def tokenizer(documents):
    return train_wordpiece((sentence for document in documents for sentence in document), vocab_size=300)


@pytest.fixture(scope="module")
def wikitext(shared_data):
    documents = read_documents(shared_data / "wikitext-2" / "valid.txt")
    return documents, train_wordpiece((sentence for document in documents for sentence in document), 4000)


def small_options(**changes) -> PretrainingOptions:
    return PretrainingOptions(**{"max_seq_length": 64, "max_predictions_per_seq": 10, "eval_documents": 6,
                                 "seed": 7, **changes})


def restored(batch: dict[str, np.ndarray], row: int) -> tuple[int, ...]:
    """Row `row`'s sequence before masking (the labels put back at their positions), without padding."""
    ids = batch["input_ids"][row].copy()
    real = batch["masked_lm_weights"][row] > 0
    ids[batch["masked_lm_positions"][row][real]] = batch["masked_lm_ids"][row][real]
    return tuple(ids[:batch["attention_mask"][row].sum()].tolist())


def all_sequences(dataset: PretrainingDataset, instances=None) -> list[np.ndarray]:
    instances = dataset.train if instances is None else instances
    return [instances.sequence(index, dataset.cls_token_id, dataset.sep_token_id)[0] for index in range(len(instances))]


def word_groups(sequence: np.ndarray, tokenizer, is_special: np.ndarray) -> list[list[int]]:
    """Reference whole words: a non-special piece and the `##` pieces right after it."""
    pieces = tokenizer.convert_ids_to_tokens(sequence.tolist())
    groups: list[list[int]] = []
    for position, piece in enumerate(pieces):
        if is_special[sequence[position]]:
            continue
        if piece.startswith("##") and groups and groups[-1][-1] == position - 1:
            groups[-1].append(position)
        else:
            groups.append([position])
    return groups


@pytest.mark.parametrize("whole_word_masking", [False, True])
def test_masking_statistics(wikitext, whole_word_masking):
    """Over an epoch of batches: 15% of each sequence's maskable tokens predicted, 80/10/10, whole words."""
    documents, tokenizer = wikitext
    options = PretrainingOptions(max_predictions_per_seq=40, whole_word_masking=whole_word_masking, seed=3)
    dataset = PretrainingDataset.from_documents(documents, tokenizer, options)
    vocabulary = dataset.vocabulary
    sequences = {tuple(sequence.tolist()) for sequence in all_sequences(dataset)}
    chosen = candidates = masked = replaced = kept = 0
    replacements = []
    for step in range(dataset.batches_per_epoch(256)):
        batch = dataset.train_batch(step, 256)
        for row in range(256):
            sequence = np.array(restored(batch, row))
            assert tuple(sequence.tolist()) in sequences  # labels: the original tokens, the rest untouched
            count = int(batch["masked_lm_weights"][row].sum())
            positions = batch["masked_lm_positions"][row, :count]
            assert np.all(np.diff(positions) > 0)  # sorted, no repeats
            assert not batch["masked_lm_positions"][row, count:].any() and not batch["masked_lm_ids"][row, count:].any()
            assert np.array_equal(batch["masked_lm_weights"][row], np.arange(40) < count)
            assert not vocabulary.is_special[sequence[positions]].any()
            if whole_word_masking:
                chosen_set = set(positions.tolist())
                for word in word_groups(sequence, tokenizer, vocabulary.is_special):
                    assert sum(position in chosen_set for position in word) in (0, len(word))
            new = batch["input_ids"][row, positions]
            masked += np.sum(new == tokenizer.mask_token_id)
            changed = (new != tokenizer.mask_token_id) & (new != sequence[positions])
            replaced += changed.sum()
            replacements.extend(new[changed].tolist())
            kept += np.sum(new == sequence[positions])
            chosen += count
            candidates += np.sum(~vocabulary.is_special[sequence])
    assert chosen > 40_000
    # Per sequence the count is round(0.15 * candidates): off by at most half a token in ~100, so 0.15 +- 0.005.
    assert abs(chosen / candidates - 0.15) < 0.005
    # Binomial fractions over >40,000 predictions have a standard deviation below 0.002; 0.01 is 5 sigma. A
    # random token equal to the original (1 in ~4000) counts as kept.
    assert abs(masked / chosen - 0.8) < 0.01
    assert abs(replaced / chosen - 0.1) < 0.01 and abs(kept / chosen - 0.1) < 0.01
    assert not vocabulary.is_special[replacements].any() and len(set(replacements)) > 1000


def test_batches_hold_masked_instances(documents, tokenizer):
    dataset = PretrainingDataset.from_documents(documents, tokenizer, small_options(whole_word_masking=True))
    sequences = {tuple(sequence.tolist()) for sequence in all_sequences(dataset)}
    batch = dataset.train_batch(3, 16)
    assert {key: value.dtype for key, value in batch.items()} == {**BATCH_KEYS, "next_sentence_labels": np.int32}
    assert batch["input_ids"].shape == (16, 64) and batch["masked_lm_ids"].shape == (16, 10)
    for row in range(16):
        assert restored(batch, row) in sequences
        real = batch["masked_lm_weights"][row] > 0
        assert 1 <= real.sum() <= 10
        assert np.all(batch["input_ids"][row][batch["masked_lm_positions"][row][real]] != tokenizer.pad_token_id)


def document_of(starts: np.ndarray, position: int) -> int:
    return int(np.searchsorted(starts, position, "right") - 1)


def test_next_sentence_pairs(documents, tokenizer):
    dataset = PretrainingDataset.from_documents(documents, tokenizer, small_options(short_seq_prob=0.0))
    instances = dataset.train
    starts = instances.corpus.document_token_starts()
    for (a_start, a_end), (b_start, b_end), random_next in zip(instances.segment_a, instances.segment_b,
                                                              instances.is_random_next):
        assert a_end > a_start and b_end > b_start and (a_end - a_start) + (b_end - b_start) <= 64 - 3
        document_a, document_b = document_of(starts, a_start), document_of(starts, b_start)
        assert document_of(starts, a_end - 1) == document_a and document_of(starts, b_end - 1) == document_b
        if random_next:
            assert document_b != document_a
        else:
            assert document_b == document_a and b_start >= a_end
    assert 0.4 < instances.is_random_next.mean() < 0.65  # balance is measured on WikiText below
    label_of = {tuple(sequence.tolist()): label for sequence, label in zip(all_sequences(dataset),
                                                                           instances.is_random_next)}
    batch = dataset.train_batch(0, 32)
    for row in range(32):
        ids, types, mask = batch["input_ids"][row], batch["token_type_ids"][row], batch["attention_mask"][row]
        length = mask.sum()
        assert np.all(mask[:length] == 1) and not mask[length:].any() and length <= 64
        assert not types[length:].any() and np.all(ids[length:] == tokenizer.pad_token_id)
        separators = np.flatnonzero(restored(batch, row) == np.int32(tokenizer.sep_token_id))
        assert ids[0] == tokenizer.cls_token_id and len(separators) == 2 and separators[1] == length - 1
        assert np.array_equal(types[:length], np.arange(length) > separators[0])  # [CLS] A [SEP]: 0; B [SEP]: 1
        assert batch["next_sentence_labels"][row] == label_of[restored(batch, row)]


def test_next_sentence_balance(wikitext):
    documents, tokenizer = wikitext
    labels = PretrainingDataset.from_documents(documents, tokenizer, PretrainingOptions(seed=3)).train.is_random_next
    # Half the pairs get a random B, and so does every chunk of a single sentence (as in BERT: there is no next
    # sentence to take), which WikiText's long documents make rare: a few percent above 0.5. The standard
    # deviation of the mean of ~2,400 labels is 0.01.
    assert len(labels) > 2000 and 0.49 < labels.mean() < 0.55


def test_truncate_seq_pair_matches_bert():
    rng = np.random.default_rng(0)

    def reference_lengths(length_a: int, length_b: int, max_tokens: int) -> tuple[int, int]:
        while length_a + length_b > max_tokens:  # BERT's loop, without the coin that picks front or back
            if length_a > length_b:
                length_a -= 1
            else:
                length_b -= 1
        return length_a, length_b

    fronts = removals = 0
    for _ in range(500):
        length_a, length_b, max_tokens = rng.integers(1, 80), rng.integers(1, 80), rng.integers(2, 100)
        (a_start, a_end), (b_start, b_end) = truncate_seq_pair((100, 100 + length_a), (500, 500 + length_b),
                                                               max_tokens, rng)
        assert (a_end - a_start, b_end - b_start) == reference_lengths(length_a, length_b, max_tokens)
        assert 100 <= a_start and a_end <= 100 + length_a and 500 <= b_start and b_end <= 500 + length_b
        fronts += (a_start - 100) + (b_start - 500)
        removals += length_a - (a_end - a_start) + length_b - (b_end - b_start)
    assert removals > 5000 and abs(fronts / removals - 0.5) < 0.03


def test_short_seq_prob(documents, tokenizer):
    def lengths(short_seq_prob: float, next_sentence: bool) -> np.ndarray:
        dataset = PretrainingDataset.from_documents(documents, tokenizer, small_options(short_seq_prob=short_seq_prob,
                                                                         next_sentence=next_sentence))
        return np.array([len(sequence) for sequence in all_sequences(dataset)])

    for next_sentence in (True, False):
        long, short = lengths(0.0, next_sentence), lengths(0.5, next_sentence)
        assert long.max() <= 64 and short.max() <= 64
        # A short target is uniform in [2, max]; sentences of ~30 tokens round it up, so the effect is smaller
        # than short_seq_prob itself.
        assert np.mean(short <= 48) > np.mean(long <= 48) + 0.15 and short.mean() < long.mean() - 5
    assert np.mean(lengths(0.0, True) == 64) > 0.7  # without it, most NSP pairs are trimmed to max_seq_length


def test_packed_full_sentences(documents, tokenizer):
    dataset = PretrainingDataset.from_documents(documents, tokenizer, small_options(next_sentence=False, short_seq_prob=0.0))
    instances, sep = dataset.train, tokenizer.sep_token_id
    corpus = instances.corpus
    assert not instances.segment_b.any() and not instances.is_random_next.any()
    # No synthetic sentence is longer than 62 tokens, so packing cuts only between sentences and covers it all.
    assert np.diff(corpus.sentence_offsets).max() <= 62
    # The training documents come first in the corpus, the held-out ones after them.
    assert instances.segment_a[0, 0] == 0 and instances.segment_a[-1, 1] == dataset.eval.segment_a[0, 0]
    assert np.array_equal(instances.segment_a[1:, 0], instances.segment_a[:-1, 1])
    starts = corpus.document_token_starts()
    crossing = 0
    for index, (start, end) in enumerate(instances.segment_a):
        sequence, types = instances.sequence(index, tokenizer.cls_token_id, sep)
        inside = starts[(starts > start) & (starts < end)]
        expected = np.insert(corpus.tokens[start:end], inside - start, sep)
        assert np.array_equal(sequence, np.concatenate([[tokenizer.cls_token_id], expected, [sep]]))
        assert len(sequence) <= 64 and not types.any()
        crossing += len(inside) > 0
    assert crossing > 10
    batch = dataset.train_batch(0, 8)
    assert set(batch) == set(BATCH_KEYS) and not batch["token_type_ids"].any()


VARIANTS = [{}, {"packing": True, "whole_word_masking": True, "dynamic_masking": True},
            {"next_sentence": False, "packing": True}]


@pytest.mark.parametrize("changes", VARIANTS)
def test_same_seed_same_batches_and_other_seed_differs(documents, tokenizer, changes):
    """A batch is a pure function of (seed, step): rebuilt in another dataset (a restarted run), in any order."""
    first = PretrainingDataset.from_documents(documents, tokenizer, small_options(**changes))
    second = PretrainingDataset.from_documents(documents, tokenizer, small_options(**changes))
    other = PretrainingDataset.from_documents(documents, tokenizer, small_options(seed=8, **changes))
    steps = (0, 5, 2 * first.batches_per_epoch(8) + 1)
    batches = [first.train_batch(step, 8) for step in steps]
    for step, batch in reversed(list(zip(steps, batches))):
        assert all(np.array_equal(batch[key], value) for key, value in second.train_batch(step, 8).items())
        assert not np.array_equal(batch["input_ids"], other.train_batch(step, 8)["input_ids"])
    assert all(np.array_equal(batches[0][key], value) for key, value in first.train_batch(0, 8).items())


def test_packed_batch_keys_dtypes_and_shapes(documents, tokenizer):
    packed = {**BATCH_KEYS, "sequence_ids": np.int32, "position_ids": np.int32}
    nsp = {"next_sentence_labels": np.int32, "next_sentence_positions": np.int32,
           "next_sentence_weights": np.float32}
    for next_sentence, expected in ((True, packed | nsp), (False, packed)):
        options = small_options(packing=True, max_sequences_per_pack=3, next_sentence=next_sentence)
        batch = PretrainingDataset.from_documents(documents, tokenizer, options).train_batch(2, 8)
        assert {key: value.dtype for key, value in batch.items()} == expected
        shapes = {key: value.shape for key, value in batch.items()}
        assert all(shapes[key] == (8, 64) for key in ("input_ids", "token_type_ids", "attention_mask",
                                                      "sequence_ids", "position_ids"))
        assert all(shapes[key] == (8, 10) for key in ("masked_lm_positions", "masked_lm_ids", "masked_lm_weights"))
        assert all(shapes[key] == (8, 3) for key in nsp if key in batch)
        assert np.array_equal(batch["attention_mask"], batch["sequence_ids"] > 0)


def test_special_tokens_in_the_text_are_plain_text(tokenizer):
    """As in Google's create_pretraining_data: "[SEP]" in a sentence is no separator; only the pipeline puts
    special tokens, where they belong."""
    corpus, _ = tokenize_documents([["a [SEP] b [MASK] [CLS] [PAD] c"]],
                                   sentence_encoder(tokenizer.backend_tokenizer.to_str()))
    structural = {tokenizer.sep_token_id, tokenizer.cls_token_id, tokenizer.pad_token_id, tokenizer.mask_token_id}
    assert len(corpus.tokens) > 7 and not structural & set(corpus.tokens.tolist())
    assert tokenizer("a [SEP] b", add_special_tokens=False)["input_ids"].count(tokenizer.sep_token_id) == 1


def test_hosts_rows_make_the_global_batch(documents, tokenizer):
    dataset = PretrainingDataset.from_documents(documents, tokenizer, small_options())
    for step in (0, 9):
        single = dataset.train_batch(step, 8)
        for process_count in (2, 4):
            parts = [dataset.train_batch(step, 8, index, process_count) for index in range(process_count)]
            assert all(part["input_ids"].shape[0] == 8 // process_count for part in parts)
            assert all(np.array_equal(np.concatenate([part[key] for part in parts]), single[key]) for key in single)
    evaluation = list(dataset.eval_batches(8))
    hosts = [list(dataset.eval_batches(8, index, 2)) for index in range(2)]
    for batch, first, second in zip(evaluation, *hosts):
        assert all(np.array_equal(np.concatenate([first[key], second[key]]), batch[key]) for key in batch)


def epoch_masks(dataset: PretrainingDataset, epoch: int) -> dict[tuple[int, ...], tuple[int, ...]]:
    """Each sequence of an epoch (before masking) -> its masked input_ids."""
    per_epoch = dataset.batches_per_epoch(8)
    masks = {}
    for step in range(epoch * per_epoch, (epoch + 1) * per_epoch):
        batch = dataset.train_batch(step, 8)
        for row in range(8):
            masks[restored(batch, row)] = tuple(batch["input_ids"][row].tolist())
    return masks


@pytest.mark.parametrize("dynamic_masking", [False, True])
def test_masks_across_epochs(documents, tokenizer, dynamic_masking):
    dataset = PretrainingDataset.from_documents(documents, tokenizer, small_options(dynamic_masking=dynamic_masking))
    first, second = epoch_masks(dataset, 0), epoch_masks(dataset, 1)
    assert len(first) == dataset.batches_per_epoch(8) * 8  # every row a different instance
    common = first.keys() & second.keys()
    assert len(common) > 0.9 * len(first)
    changed = sum(first[sequence] != second[sequence] for sequence in common)
    assert changed > 0.9 * len(common) if dynamic_masking else changed == 0
    assert dataset.train_batch(0, 8)["input_ids"].tolist() != \
        dataset.train_batch(dataset.batches_per_epoch(8), 8)["input_ids"].tolist()  # reshuffled


def test_eval_batches(documents, tokenizer):
    dataset = PretrainingDataset.from_documents(documents, tokenizer, small_options(dynamic_masking=True))
    batches = list(dataset.eval_batches(16))
    count = len(dataset.eval)
    assert len(batches) == -(-count // 16) and count % 16  # the last batch is padded
    masks = np.concatenate([batch["example_mask"] for batch in batches])
    assert masks.dtype == np.float32 and np.array_equal(masks, np.arange(len(masks)) < count)
    expected = [tuple(sequence.tolist()) for sequence in all_sequences(dataset, dataset.eval)]
    assert [restored(batch, row) for batch in batches for row in range(16) if batch["example_mask"][row]] == expected
    last = batches[-1]
    padding = last["example_mask"] == 0
    assert np.all(last["input_ids"][padding] == tokenizer.pad_token_id) and not last["attention_mask"][padding].any()
    assert not last["masked_lm_weights"][padding].any() and not last["next_sentence_labels"][padding].any()
    again = list(dataset.eval_batches(16, max_batches=1))
    assert len(again) == 1 and all(np.array_equal(again[0][key], batches[0][key]) for key in batches[0])
    held_out = set(expected)
    assert not held_out & {tuple(sequence.tolist()) for sequence in all_sequences(dataset)}


def test_errors(documents, tokenizer):
    dataset = PretrainingDataset.from_documents(documents, tokenizer, small_options())
    too_many = len(dataset.train) + 1
    with pytest.raises(DataError, match=f"made {len(dataset.train)} training sequences .* one batch needs "
                                        f"{too_many}"):
        dataset.train_batch(0, too_many)
    with pytest.raises(ConfigError, match="batch size 10 must be positive and divisible by the 4 processes"):
        dataset.train_batch(0, 10, 0, 4)
    with pytest.raises(DataError, match="the corpus has 1 documents; .* each split needs at least 2 for "
                                        "next-sentence prediction"):
        PretrainingDataset.from_documents(documents[:1], tokenizer, small_options(eval_documents=0))
    single = PretrainingDataset.from_documents(documents[:1], tokenizer, small_options(eval_documents=0, next_sentence=False))
    with pytest.raises(ConfigError, match="no documents are held out"):
        next(single.eval_batches(8))
    with pytest.raises(ConfigError, match="masked_lm_prob=0.0 must be in \\(0, 1\\]"):
        small_options(masked_lm_prob=0.0)
    with pytest.raises(ConfigError, match="random_token_fraction=0.3 must be at least 0, with mask_token_fraction "
                                          "at most 1 in all"):
        small_options(mask_token_fraction=0.8, random_token_fraction=0.3)
    with pytest.raises(ConfigError, match="mask_token_fraction=1.5 must be in \\[0, 1\\]"):
        small_options(mask_token_fraction=1.5)
    with pytest.raises(ConfigError, match="max_seq_length=4 must be at least 5"):
        small_options(max_seq_length=4)
    with pytest.raises(ConfigError, match="word_segmenter='mecab' must be None or one of jieba"):
        small_options(word_segmenter="mecab")
    no_mask = PreTrainedTokenizerFast(tokenizer_object=tokenizer.backend_tokenizer, cls_token="[CLS]",
                                      sep_token="[SEP]", pad_token="[PAD]")
    with pytest.raises(ConfigError, match=r"the tokenizer has no mask_token; pretraining needs BERT's special "):
        PretrainingDataset.from_documents(documents, no_mask, small_options())


def test_split_and_describe(documents, tokenizer):
    dataset = PretrainingDataset.from_documents(documents, tokenizer, small_options(eval_documents=None, eval_fraction=0.1,
                                                                     dupe_factor=2))
    assert dataset.num_eval_documents == 4 and dataset.num_documents == 40
    single = PretrainingDataset.from_documents(documents, tokenizer, small_options(eval_documents=None, eval_fraction=0.1))
    assert len(dataset.train) > 1.8 * len(single.train)  # two cuts of the same documents
    assert dataset.describe().startswith(f"40 documents (4 held out), {dataset.num_tokens:,} tokens -> "
                                         f"{len(dataset.train):,} training")


# Digests of batches made by bertjax before word starts were stored with the corpus (whole words were then `##`
# pieces looked up in the vocabulary at masking time), on the built-in corpus; see the test below.
MASKS_BEFORE_WORD_STARTS = {"nsp": "c83436f23639c5a0e6411a3e05b46a9a", "packed": "ca0706d63f55d2fd6243cae3ffe6f577"}


@pytest.mark.parametrize("layout", sorted(MASKS_BEFORE_WORD_STARTS))
def test_whole_word_masks_of_wordpiece_runs_are_unchanged(layout):
    """Whole-word masking with a WordPiece vocabulary gives bit for bit the batches it gave when words were found
    from the vocabulary's `##` pieces (the digests were taken with that implementation): training batches of two
    epochs and evaluation batches, MLM + NSP one sequence a row, and MLM only packed with dynamic masking."""
    documents = read_documents(builtin_corpus())
    tokenizer = train_wordpiece((sentence for document in documents for sentence in document), vocab_size=1000)
    changes = {"nsp": {}, "packed": dict(next_sentence=False, packing=True, dynamic_masking=True)}[layout]
    dataset = PretrainingDataset.from_documents(documents, tokenizer,
                                                PretrainingOptions(whole_word_masking=True, **changes))
    steps = dataset.batches_per_epoch(64)
    digest = hashlib.blake2b(digest_size=16)
    batches = [dataset.train_batch(step, 64) for step in [0, 1, 2, 3, steps + 1]]
    for batch in batches + list(dataset.eval_batches(64, max_batches=2)):
        for key in sorted(batch):
            digest.update(key.encode())
            digest.update(np.ascontiguousarray(batch[key]).tobytes())
    whole = []
    for batch in batches:
        for row in range(64):
            chosen = set(batch["masked_lm_positions"][row][batch["masked_lm_weights"][row] > 0])
            whole += [word for word in word_groups(np.asarray(restored(batch, row)), tokenizer,
                                                   dataset.vocabulary.is_special)
                      if len(word) > 1 and set(word) <= chosen]
    assert len(whole) > 100  # words of several pieces masked together are in the digest
    assert digest.hexdigest() == MASKS_BEFORE_WORD_STARTS[layout]


@pytest.fixture(scope="module")
def reviews(shared_data) -> list[list[str]]:
    """ChnSentiCorp reviews as documents of sentences."""
    lines = (shared_data / "chinese" / "chnsenticorp" / "train.tsv").read_text(encoding="utf-8").splitlines()[1:]
    documents = [split_sentences(line.split("\t")[0]) for line in lines[:1500]]
    return [document for document in documents if document]


def test_chinese_whole_word_masking_masks_jiebas_words(reviews):
    """With data.word_segmenter=jieba every character of a chosen word is predicted, or none: 15% of the tokens
    and 80/10/10 as for any whole-word masking, and most predictions are in words of two or more characters."""
    tokenizer = train_wordpiece((sentence for document in reviews for sentence in document), vocab_size=3000)
    options = PretrainingOptions(max_predictions_per_seq=40, whole_word_masking=True, word_segmenter="jieba", seed=3)
    dataset = PretrainingDataset.from_documents(reviews, tokenizer, options)
    instances = dataset.train
    word_starts = {}
    for index in range(len(instances)):
        positions = np.arange(instances.lengths()[index])
        ids, _, starts = instances.tokens_at(np.asarray([index]), np.zeros(len(positions), np.intp), positions,
                                             dataset.cls_token_id, dataset.sep_token_id)
        word_starts[tuple(ids.tolist())] = starts
    chosen = candidates = masked = kept = in_long_words = 0
    for step in range(dataset.batches_per_epoch(128)):
        batch = dataset.train_batch(step, 128)
        for row in range(128):
            sequence = np.asarray(restored(batch, row))
            count = int(batch["masked_lm_weights"][row].sum())
            positions = batch["masked_lm_positions"][row, :count]
            is_chosen = np.zeros(len(sequence), bool)
            is_chosen[positions] = True
            special = dataset.vocabulary.is_special[sequence]
            # The word of each token; special tokens ([UNK] too) are never predicted, so they end words
            word = np.cumsum(word_starts[tuple(sequence.tolist())] | special | np.roll(special, 1))
            sizes = np.bincount(word)
            assert np.all(np.bincount(word, weights=is_chosen)[word[is_chosen]] == sizes[word[is_chosen]])
            in_long_words += np.sum(sizes[word[is_chosen]] > 1)
            new = batch["input_ids"][row, positions]
            masked += np.sum(new == tokenizer.mask_token_id)
            kept += np.sum(new == sequence[positions])
            chosen += count
            candidates += np.sum(~special)
    assert chosen > 20_000 and in_long_words > 0.5 * chosen
    assert abs(chosen / candidates - 0.15) < 0.005
    assert abs(masked / chosen - 0.8) < 0.015 and abs(kept / chosen - 0.1) < 0.015
