"""Sequence packing: the packer's guarantees, packed batches hold exactly the unpacked sequences, and a packed
row is computed (by bertjax and by transformers with the same mask) as its sequences are alone."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest
import torch

from bertjax.convert import load_pretrained
from bertjax.data.pretraining.packing import pack_sequences
from bertjax.data.pretraining.dataset import PretrainingDataset
from bertjax.data.tokenizer import train_wordpiece
from bertjax.model import BertConfig, BertForPreTraining, ModelOptions, packed_attention_mask
from bertjax.tasks.pretraining import pretraining_eval_sums, pretraining_loss
from bertjax.train.losses import total_loss
from tests.test_model import tiny_hf_model
from tests.test_pretraining_data import small_options, synthetic_documents


def _check_packs(packs, lengths, predictions, max_seq_length, max_predictions, max_per_pack) -> None:
    assert sorted(packs.members.tolist()) == list(range(len(lengths)))  # every sequence exactly once
    for row in range(len(packs)):
        members = packs.row(row)
        assert 1 <= len(members) <= max_per_pack
        assert lengths[members].sum() <= max_seq_length and predictions[members].sum() <= max_predictions


def test_packer_fills_rows_within_every_limit() -> None:
    rng = np.random.default_rng(0)
    # Like BERT's sequences: most fill the row, a tail of short ones (document ends, short_seq_prob).
    lengths = np.where(rng.random(5000) < 0.6, 128, rng.integers(8, 128, 5000))
    predictions = np.minimum(20, np.maximum(1, np.round((lengths - 3) * 0.15))).astype(np.int64)
    packs = pack_sequences(lengths, predictions, 128, 20, 3)
    _check_packs(packs, lengths, predictions, 128, 20, 3)
    lower_bound = int(np.ceil(lengths.sum() / 128))
    assert len(packs) <= 1.02 * lower_bound, (len(packs), lower_bound)  # best fit is near the optimum here
    again = pack_sequences(lengths, predictions, 128, 20, 3)
    assert np.array_equal(again.offsets, packs.offsets) and np.array_equal(again.members, packs.members)


def test_packer_respects_the_prediction_and_count_limits() -> None:
    lengths = np.full(12, 10)
    predictions = np.full(12, 4)
    by_predictions = pack_sequences(lengths, predictions, 128, 9, 10)  # two sequences' predictions per row
    assert [len(by_predictions.row(row)) for row in range(len(by_predictions))] == [2] * 6
    by_count = pack_sequences(lengths, np.ones(12, np.int64), 128, 20, 5)
    assert [len(by_count.row(row)) for row in range(len(by_count))] == [5, 5, 2]
    with pytest.raises(ValueError, match="longer than a row"):
        pack_sequences(np.array([129]), np.array([1]), 128, 20, 3)


@pytest.fixture(scope="module")
def corpus():
    documents = synthetic_documents(60, seed=3)
    return documents, train_wordpiece((sentence for document in documents for sentence in document), vocab_size=300)


def _sequences_of_packed_rows(batch: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Each packed sequence of a batch as it would be alone in a row (predictions shifted to its own positions)."""
    sequences = []
    for row in range(len(batch["input_ids"])):
        ids = batch["sequence_ids"][row]
        real = batch["masked_lm_weights"][row] > 0
        for slot, number in enumerate(np.unique(ids[ids > 0]).tolist()):
            tokens = np.flatnonzero(ids == number)
            start = tokens[0]
            assert np.array_equal(batch["position_ids"][row, tokens], np.arange(len(tokens)))
            inside = real & (batch["masked_lm_positions"][row] >= start) & \
                (batch["masked_lm_positions"][row] <= tokens[-1])
            sequence = {"input_ids": batch["input_ids"][row, tokens],
                        "token_type_ids": batch["token_type_ids"][row, tokens],
                        "masked_lm_positions": batch["masked_lm_positions"][row, inside] - start,
                        "masked_lm_ids": batch["masked_lm_ids"][row, inside]}
            if "next_sentence_positions" in batch:
                assert batch["next_sentence_positions"][row, slot] == start
                assert batch["next_sentence_weights"][row, slot] == 1
                sequence["next_sentence_label"] = batch["next_sentence_labels"][row, slot]
            sequences.append(sequence)
    return sequences


def _sequences_of_rows(batch: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    sequences = []
    for row in range(len(batch["input_ids"])):
        length = batch["attention_mask"][row].sum()
        real = batch["masked_lm_weights"][row] > 0
        sequence = {name: batch[name][row, :length] for name in ("input_ids", "token_type_ids")}
        sequence |= {name: batch[name][row, real] for name in ("masked_lm_positions", "masked_lm_ids")}
        if "next_sentence_labels" in batch:
            sequence["next_sentence_label"] = batch["next_sentence_labels"][row]
        sequences.append(sequence)
    return sequences


def test_packed_batches_hold_the_same_masked_sequences(corpus) -> None:
    """With NSP the sequences are the same with or without packing, and so are their masks (seeded per sequence):
    each packed sequence equals its unpacked row, and the packed evaluation set has every sequence once."""
    documents, tokenizer = corpus
    options = dict(eval_documents=12, short_seq_prob=0.5)  # many short sequences to pack
    plain = PretrainingDataset.from_documents(documents, tokenizer, small_options(**options))
    packed = PretrainingDataset.from_documents(documents, tokenizer, small_options(packing=True, max_sequences_per_pack=3,
                                                                    **options))
    assert len(packed.eval_rows) < len(plain.eval_rows)
    assert packed.padding_fraction() < plain.padding_fraction()
    expected = _sequences_of_rows(next(plain.eval_batches(len(plain.eval_rows))))
    batch = next(packed.eval_batches(len(packed.eval_rows)))
    assert batch["next_sentence_labels"].shape == (len(packed.eval_rows), 3)
    order = packed.eval_rows.members  # sequence indices in the order the packed rows hold them
    actual = _sequences_of_packed_rows(batch)
    assert len(actual) == len(expected) == len(order)
    for sequence, index in zip(actual, order.tolist()):
        for name, value in expected[index].items():
            np.testing.assert_array_equal(sequence[name], value, err_msg=name)


@pytest.mark.parametrize("next_sentence", [True, False])
def test_lengths_are_those_of_the_built_sequences(corpus, next_sentence: bool) -> None:
    """The packer's lengths come from token ranges, [CLS]/[SEP] and the separators between documents counted."""
    documents, tokenizer = corpus
    instances = PretrainingDataset.from_documents(documents, tokenizer, small_options(next_sentence=next_sentence)).train
    built = [instances.sequence(index, tokenizer.cls_token_id, tokenizer.sep_token_id)[0]
             for index in range(len(instances))]
    assert instances.lengths().tolist() == [len(sequence) for sequence in built]
    specials = {tokenizer.cls_token_id, tokenizer.sep_token_id}
    assert instances.corpus_tokens().tolist() == [sum(token not in specials for token in sequence.tolist())
                                                  for sequence in built]


def test_packing_without_nsp_keeps_documents_apart(corpus) -> None:
    documents, tokenizer = corpus
    dataset = PretrainingDataset.from_documents(documents, tokenizer, small_options(next_sentence=False, packing=True))
    batch = dataset.train_batch(0, 8)
    assert "next_sentence_labels" not in batch
    for sequence in _sequences_of_packed_rows(batch):
        separators = np.flatnonzero(sequence["input_ids"] == tokenizer.sep_token_id)
        assert separators.tolist() == [len(sequence["input_ids"]) - 1]  # one document, no separator inside


def _pack(sequences: list[np.ndarray], seq_len: int) -> dict[str, np.ndarray]:
    """One row holding `sequences` (token ids), with the packed batch's keys."""
    row = {name: np.zeros((1, seq_len), np.int32) for name in ("input_ids", "sequence_ids", "position_ids",
                                                               "token_type_ids")}
    row["next_sentence_positions"] = np.zeros((1, len(sequences)), np.int32)
    offset = 0
    for number, ids in enumerate(sequences, start=1):
        span = slice(offset, offset + len(ids))
        row["input_ids"][0, span], row["sequence_ids"][0, span] = ids, number
        row["position_ids"][0, span] = np.arange(len(ids))
        row["token_type_ids"][0, span] = np.arange(len(ids)) >= len(ids) // 2
        row["next_sentence_positions"][0, number - 1] = offset
        offset += len(ids)
    return row


@pytest.mark.parametrize("attention", ["reference", "fused"])
def test_a_packed_row_computes_each_sequence_as_alone(tmp_path: Path, attention: str) -> None:
    """bertjax on one packed row (block-diagonal mask, restarting positions, NSP at each [CLS]) against transformers
    on each sequence alone in its own row, and against transformers on the packed row with the same mask."""
    reference = tiny_hf_model("pretraining", seed=5)
    reference.save_pretrained(tmp_path)
    config, params, _ = load_pretrained(tmp_path, "pretraining")
    rng = np.random.default_rng(1)
    sequences = [rng.integers(1, config.vocab_size, length).astype(np.int32) for length in (9, 5, 12)]
    row = _pack(sequences, seq_len=30)
    model = BertForPreTraining(config, ModelOptions(attention=attention))
    ours = model.apply({"params": params}, row["input_ids"], packed_attention_mask(row["sequence_ids"]),
                       row["token_type_ids"], row["position_ids"],
                       next_sentence_positions=row["next_sentence_positions"])
    offset = 0
    with torch.no_grad():
        for slot, ids in enumerate(sequences):
            types = (np.arange(len(ids)) >= len(ids) // 2)[None]
            alone = reference(input_ids=torch.tensor(ids[None]).long(), token_type_ids=torch.tensor(types).long())
            np.testing.assert_allclose(ours["mlm_logits"][0, offset:offset + len(ids)],
                                       alone.prediction_logits[0].numpy(), rtol=0, atol=1e-5)
            np.testing.assert_allclose(ours["nsp_logits"][0, slot], alone.seq_relationship_logits[0].numpy(),
                                       rtol=0, atol=1e-5)
            offset += len(ids)
        mask = np.asarray(packed_attention_mask(row["sequence_ids"]))[:, None]  # [1, 1, seq, seq]
        additive = torch.tensor(np.where(mask, 0.0, np.finfo(np.float32).min), dtype=torch.float32)
        packed = reference(input_ids=torch.tensor(row["input_ids"]).long(), attention_mask=additive,
                           token_type_ids=torch.tensor(row["token_type_ids"]).long(),
                           position_ids=torch.tensor(row["position_ids"]).long())
    np.testing.assert_allclose(ours["mlm_logits"], packed.prediction_logits.numpy(), rtol=0, atol=1e-5)


def test_packed_and_unpacked_batches_give_the_same_loss(corpus) -> None:
    """The training loss and evaluation sums of a packed batch equal those of the same sequences one per row: the
    MLM loss averages the same predictions, NSP the same sequences."""
    documents, tokenizer = corpus
    options = dict(eval_documents=12, short_seq_prob=0.5)
    plain = PretrainingDataset.from_documents(documents, tokenizer, small_options(**options))
    packed = PretrainingDataset.from_documents(documents, tokenizer, small_options(packing=True, max_sequences_per_pack=3,
                                                                    **options))
    plain_batch = next(plain.eval_batches(len(plain.eval_rows)))
    packed_batch = next(packed.eval_batches(len(packed.eval_rows)))
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=48, max_position_embeddings=64, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    model = BertForPreTraining(config)
    params = model.init(jax.random.key(0), plain_batch["input_ids"][:1])["params"]
    key = jax.random.key(1)
    loss_fn, eval_fn = jax.jit(pretraining_loss(model)), jax.jit(pretraining_eval_sums(model))
    (plain_terms, plain_metrics), (packed_terms, packed_metrics) = (loss_fn(params, batch, key)
                                                                    for batch in (plain_batch, packed_batch))
    np.testing.assert_allclose(total_loss(packed_terms), total_loss(plain_terms), rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5), packed_metrics, plain_metrics)
    plain_sums, packed_sums = eval_fn(params, plain_batch), eval_fn(params, packed_batch)
    assert int(packed_sums["nsp_count"]) == len(plain.eval) and int(packed_sums["mlm_count"]) > 0
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5), packed_sums, plain_sums)
