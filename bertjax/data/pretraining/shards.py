"""A corpus shard made ready for pretraining, and shards merged into one corpus.

A shard is a bounded share of the corpus (a few MiB of text) prepared on its own, as Google's
create_pretraining_data prepares each of its input files: its documents are tokenized (with where words start, see
words), some are held out for evaluation, and each split is cut into sequences (`dupe_factor` times), next-sentence
partners drawn from the shard's own documents. Its tokens hold its training documents first, then its held-out ones,
so that a sequence that runs on into the next document stays within its split. Merged (see prepare), the shards' arrays are concatenated
and their token, sentence, document and sequence positions shifted.
With packing, each split's sequences are also packed into rows within the shard (see packing), so that a prepared
corpus is never packed again when it is read back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from bertjax.data.pretraining.instances import Instances, concatenate_instances, create_instances
from bertjax.data.pretraining.masking import prediction_budget
from bertjax.data.pretraining.packing import Packs, pack_sequences
from bertjax.data.pretraining.options import INSTANCE_STREAM, PretrainingOptions, split_documents
from bertjax.data.pretraining.tokenized import SentenceEncoder, TokenizedCorpus, tokenize_documents

SPLITS = ("train", "eval")
SEGMENT_ARRAYS = ("segment_a", "segment_b", "is_random_next")
ARRAYS = ("tokens", "word_starts", "sentence_offsets", "document_offsets",
          *(f"{split}_{name}" for split in SPLITS for name in SEGMENT_ARRAYS))
PACK_ARRAYS = tuple(f"{split}_row_{name}" for split in SPLITS for name in ("offsets", "members"))
HELD_OUT_SAMPLE = 20  # held-out sentences each shard keeps as text, for examples after training
Arrays = Mapping[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class PreparedCorpus:
    """A tokenized corpus and the sequences of each split over it (the eval split empty when nothing is held
    out), with some held-out sentences as text; with packing, the rows each split's sequences are packed into."""

    corpus: TokenizedCorpus
    train: Instances
    eval: Instances
    held_out_sentences: list[str]
    train_rows: Packs | None = None
    eval_rows: Packs | None = None

    @classmethod
    def from_arrays(cls, arrays: Arrays, held_out_sentences: list[str]) -> PreparedCorpus:
        """From arrays named as ARRAYS, and PACK_ARRAYS when packed (in memory or memory-mapped)."""
        corpus = TokenizedCorpus(arrays["tokens"], arrays["word_starts"], arrays["sentence_offsets"],
                                 arrays["document_offsets"])
        split = {name: Instances(corpus, *(arrays[f"{name}_{array}"] for array in SEGMENT_ARRAYS)) for name in SPLITS}
        rows = {name: Packs(arrays[f"{name}_row_offsets"], arrays[f"{name}_row_members"])
                if f"{name}_row_offsets" in arrays else None for name in SPLITS}
        return cls(corpus, split["train"], split["eval"], held_out_sentences, rows["train"], rows["eval"])

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays named as ARRAYS, and PACK_ARRAYS when packed."""
        arrays = {"tokens": self.corpus.tokens, "word_starts": self.corpus.word_starts,
                  "sentence_offsets": self.corpus.sentence_offsets,
                  "document_offsets": self.corpus.document_offsets}
        for name in SPLITS:
            instances = getattr(self, name)
            arrays |= {f"{name}_{array}": getattr(instances, array) for array in SEGMENT_ARRAYS}
        for name in SPLITS:
            rows = getattr(self, f"{name}_rows")
            if rows is not None:
                arrays |= {f"{name}_row_offsets": rows.offsets, f"{name}_row_members": rows.members}
        return arrays

    @property
    def num_eval_documents(self) -> int:
        """Documents of the held-out split: those in which some eval sequence starts."""
        if not len(self.eval):
            return 0
        starts = self.corpus.document_token_starts()
        return len(np.unique(np.searchsorted(starts, self.eval.segment_a[:, 0], "right")))


def build_shard(documents: Sequence[Sequence[str]], encoder: SentenceEncoder, options: PretrainingOptions,
                shard: int = 0, lenient: bool = False, wanted: str = "documents (separated by blank lines)"
                ) -> PreparedCorpus:
    """Shard `shard` of the corpus, from its documents; see the module docstring. lenient, wanted: as in
    split_documents (with lenient, a split of fewer documents than NSP needs gives no sequences)."""
    tokenized, kept = tokenize_documents(documents, encoder)
    train_documents, eval_documents = split_documents(tokenized.num_documents, options, shard, lenient, wanted)
    corpus = tokenized.select(np.concatenate([train_documents, eval_documents]))
    split_at = len(train_documents)
    eval_start = int(corpus.sentence_offsets[corpus.document_offsets[split_at]])
    minimum = 2 if options.next_sentence else 1  # next-sentence partners come from another document
    parts = {}
    for split, (first, end) in enumerate([(0, split_at), (split_at, corpus.num_documents)]):
        part = corpus.documents(first, end)
        copies = [create_instances(part, options.max_seq_length, options.short_seq_prob, options.next_sentence,
                                   np.random.default_rng([options.seed, INSTANCE_STREAM, split, copy, shard]),
                                   cross_documents=not options.packing)
                  for copy in range(options.dupe_factor)] if end - first >= minimum else []
        instances = concatenate_instances(copies) if copies else _no_instances(corpus)
        shift = eval_start if split else 0
        parts[SPLITS[split]] = Instances(corpus, instances.segment_a + shift, instances.segment_b + shift,
                                         instances.is_random_next)
    held_out = [sentence for index in eval_documents for sentence in documents[kept[index]]][:HELD_OUT_SAMPLE]
    rows = {name: pack_rows(parts[name], options) if options.packing else None for name in SPLITS}
    return PreparedCorpus(corpus, parts["train"], parts["eval"], held_out, rows["train"], rows["eval"])


def array_names(packing: bool) -> tuple[str, ...]:
    """The arrays a corpus prepared with or without packing has."""
    return ARRAYS + PACK_ARRAYS if packing else ARRAYS


def pack_rows(instances: Instances, options: PretrainingOptions) -> Packs:
    """`instances` packed into rows; each row's sequences can always mask as many tokens as they predict."""
    predictions = prediction_budget(instances.corpus_tokens(), options.masked_lm_prob, options.max_predictions_per_seq)
    return pack_sequences(instances.lengths(), predictions, options.max_seq_length, options.max_predictions_per_seq,
                          options.max_sequences_per_pack)


def _no_instances(corpus: TokenizedCorpus) -> Instances:
    return Instances(corpus, np.zeros((0, 2), np.int64), np.zeros((0, 2), np.int64), np.zeros(0, bool))


@dataclasses.dataclass
class ShardOffsets:
    """Where the next shard's tokens, sentences, documents and each split's sequences start in the merged corpus."""

    tokens: int = 0
    sentences: int = 0
    documents: int = 0
    sequences: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(SPLITS, 0))

    def shifted(self, arrays: Arrays) -> dict[str, np.ndarray]:
        """A shard's arrays with positions made global (offset arrays without their last entry), then moves past
        the shard. A packed row's members are sequence indices, and there is one member per sequence."""
        shifted = {"tokens": arrays["tokens"], "word_starts": arrays["word_starts"],
                   "sentence_offsets": arrays["sentence_offsets"][:-1] + self.tokens,
                   "document_offsets": arrays["document_offsets"][:-1] + self.sentences}
        for split in SPLITS:
            shifted |= {f"{split}_segment_a": arrays[f"{split}_segment_a"] + self.tokens,
                        f"{split}_segment_b": arrays[f"{split}_segment_b"] + self.tokens,
                        f"{split}_is_random_next": arrays[f"{split}_is_random_next"]}
            if f"{split}_row_offsets" in arrays:
                shifted |= {f"{split}_row_offsets": arrays[f"{split}_row_offsets"][:-1] + self.sequences[split],
                            f"{split}_row_members": arrays[f"{split}_row_members"] + self.sequences[split]}
            self.sequences[split] += len(arrays[f"{split}_segment_a"])
        self.tokens += len(arrays["tokens"])
        self.sentences += len(arrays["sentence_offsets"]) - 1
        self.documents += len(arrays["document_offsets"]) - 1
        return shifted

    def ends(self, packing: bool) -> dict[str, np.ndarray]:
        """The last entries of the merged offset arrays."""
        ends = {"sentence_offsets": np.asarray([self.tokens], np.int64),
                "document_offsets": np.asarray([self.sentences], np.int64)}
        if packing:
            ends |= {f"{split}_row_offsets": np.asarray([self.sequences[split]], np.int64) for split in SPLITS}
        return ends

