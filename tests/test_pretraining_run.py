"""The pretraining run end to end: learning, export to transformers, exact kill-and-resume, clear errors."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import jax
import jieba
import numpy as np
import pytest
import torch
import transformers

from checkpoint_damage import array_file, truncate
from bertjax.convert import load_pretrained
from bertjax.data.pretraining.dataset import PretrainingDataset
from bertjax.errors import CheckpointError, ConfigError, DataError
from bertjax.model import BertForMaskedLM, BertForPreTraining, ModernBertConfig, read_config_file
from bertjax.pipelines import pipeline as bertjax_pipeline
from bertjax.run_config import load_run_config
from bertjax.runs.pretraining import PretrainingConfig, PretrainingDataSection, run_pretraining
from bertjax.runs.pretraining_data import given_tokenizer
from bertjax.train.checkpoint import Checkpointer
from bertjax.train.metrics_log import read_jsonl

ROOT = Path(__file__).resolve().parents[1]
TINY = ["model.changes={hidden_size: 32, num_attention_heads: 2, intermediate_size: 64, num_hidden_layers: 2}",
        "data.vocab_size=400", "data.max_seq_length=32", "data.max_predictions_per_seq=5", "train.batch_size=8",
        "train.log_every=1", "optimizer.learning_rate=0.005"]


# configs/pretrain-modernbert.yaml scaled down as TINY scales BERT down: 3 layers of 32 (global, local, local) whose
# window of +-4 tokens is shorter than the rows of 32; the recipe's masking, packing and optimizer as the file has them.
MODERN_TINY = ["model.changes={hidden_size: 32, num_attention_heads: 2, intermediate_size: 48, num_hidden_layers: 3, "
               "local_attention: 8, max_position_embeddings: 64}",
               *(override for override in TINY[1:] if not override.startswith("optimizer.")),
               "data.max_predictions_per_seq=12"]
RECIPES = {"bert": (None, TINY), "modern": (ROOT / "configs" / "pretrain-modernbert.yaml", MODERN_TINY)}


def _config(run_dir: Path, *overrides: str, recipe: str = "bert") -> PretrainingConfig:
    file, tiny = RECIPES[recipe]
    return load_run_config(PretrainingConfig, file, [*tiny, f"train.output_dir={run_dir}", *overrides])


def _params_of(run_dir: Path) -> dict:
    modern = isinstance(read_config_file(run_dir / "hf" / "config.json"), ModernBertConfig)
    _, params, _ = load_pretrained(run_dir / "hf", "masked_lm" if modern else "pretraining")
    return params


def assert_mlm_loss_falls(run_dir: Path, steps: int, by: float) -> None:
    """The masked-LM loss of the last tenth of the training steps is `by` below the first tenth's, and the held-out
    loss of the last evaluation `by` below that of step 0."""
    losses = [entry["mlm_loss"] for entry in read_jsonl(run_dir / "metrics" / "train.jsonl")]
    assert len(losses) == steps
    assert np.mean(losses[-steps // 10:]) < np.mean(losses[:steps // 10]) - by, "the MLM loss must fall clearly"
    evaluations = read_jsonl(run_dir / "metrics" / "eval.jsonl")
    assert evaluations[0]["step"] == 0 and evaluations[-1]["step"] == steps
    assert evaluations[-1]["mlm_loss"] < evaluations[0]["mlm_loss"] - by


def assert_fill_mask_as_transformers(folder: Path, texts: list[str]) -> None:
    """bertjax's fill-mask pipeline on `folder` gives transformers' top 3 tokens, with its scores."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    theirs = transformers.pipeline("fill-mask", model=str(folder), tokenizer=tokenizer)(texts, top_k=3)
    ours = bertjax_pipeline("fill-mask", folder)(texts, top_k=3)
    for mine, reference in zip(ours, theirs):
        assert [fill["token"] for fill in mine] == [fill["token"] for fill in reference]
        np.testing.assert_allclose([fill["score"] for fill in mine], [fill["score"] for fill in reference],
                                   rtol=1e-4)


def test_pretraining_learns_and_exports_to_transformers(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_dir = tmp_path / "run"
    final = run_pretraining(_config(run_dir, "train.steps=100", "train.eval_every=50", "train.eval_batches=4"))
    shown = capsys.readouterr().out.split("what the model predicts for a masked word of held-out sentences:\n")[1]
    examples = [line for line in shown.splitlines() if "[MASK]" in line]
    assert len(examples) == 3 and shown.count("(the word: ") == 3  # fill-mask examples of the exported model
    # From ln(400) = 6.0 (uniform over the vocabulary) towards the unigram level of this small vocabulary, on the
    # training batches and on held-out text.
    assert_mlm_loss_falls(run_dir, steps=100, by=0.4)
    assert [entry["step"] for entry in read_jsonl(run_dir / "metrics" / "eval.jsonl")] == [0, 50, 100]
    assert set(final) >= {"mlm_loss", "mlm_accuracy", "nsp_loss", "nsp_accuracy"}
    for name in ("config.yaml", "data/tokenizer/vocab.txt", "hf/config.json", "hf/model.safetensors", "hf/vocab.txt"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "plots").glob("*.png")) and list((run_dir / "tensorboard").rglob("events.*"))

    config, params, _ = load_pretrained(run_dir / "hf", "pretraining")
    reference, info = transformers.BertForPreTraining.from_pretrained(run_dir / "hf", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    tokenizer = transformers.BertTokenizerFast.from_pretrained(run_dir / "hf")
    batch = tokenizer(["the river runs to the sea.", "a short one"], ["it is cold.", "b"], padding=True,
                      return_tensors="np")
    ours = BertForPreTraining(config).apply({"params": params}, batch["input_ids"], batch["attention_mask"],
                                            batch["token_type_ids"])
    with torch.no_grad():
        theirs = reference.eval()(**{key: torch.tensor(value) for key, value in batch.items()})
    np.testing.assert_allclose(ours["mlm_logits"], theirs.prediction_logits.numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(ours["nsp_logits"], theirs.seq_relationship_logits.numpy(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("next_sentence", [True, False])
def test_packed_pretraining_learns(tmp_path: Path, capsys: pytest.CaptureFixture, next_sentence: bool) -> None:
    run_dir = tmp_path / "run"
    final = run_pretraining(_config(run_dir, "data.packing=true", f"data.next_sentence={str(next_sentence).lower()}",
                                    "data.short_seq_prob=0.5", "train.steps=60", "train.eval_every=60",
                                    "train.eval_batches=4"))
    losses = [entry["mlm_loss"] for entry in read_jsonl(run_dir / "metrics" / "train.jsonl")]
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.3, "the MLM loss must fall"
    evaluations = read_jsonl(run_dir / "metrics" / "eval.jsonl")
    assert evaluations[-1]["mlm_loss"] < evaluations[0]["mlm_loss"] - 0.3
    assert ("nsp_accuracy" in final) == next_sentence
    assert "packed into" in capsys.readouterr().out


RESUMED_RUN = ["train.steps=12", "train.checkpoint_every=5", "train.eval_every=0", "train.eval_batches=2"]


@pytest.fixture(scope="module", params=["bert"])
def straight_run(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """RESUMED_RUN of the recipe given as the fixture's parameter (a key of RECIPES)."""
    run_dir = tmp_path_factory.mktemp("straight")
    run_pretraining(_config(run_dir, *RESUMED_RUN, recipe=request.param))
    return run_dir


def _stopped_run(run_dir: Path, monkeypatch: pytest.MonkeyPatch, signal_at_batch: int, recipe: str = "bert") -> int:
    """Runs RESUMED_RUN of `recipe` in `run_dir` until SIGTERM (sent as batch `signal_at_batch` is made) stops it;
    returns the step it stopped at (a few before: batches are made ahead)."""
    original = PretrainingDataset.train_batch

    def interrupting(self: PretrainingDataset, step: int, *args: object, **kwargs: object) -> dict:
        if step == signal_at_batch:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, step, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(PretrainingDataset, "train_batch", interrupting)
        assert run_pretraining(_config(run_dir, *RESUMED_RUN, recipe=recipe)) == {}
    assert not (run_dir / "hf").exists()
    return read_jsonl(run_dir / "metrics" / "train.jsonl")[-1]["step"]


def _assert_same_run(run_dir: Path, straight: Path) -> None:
    resumed, straight_losses = (read_jsonl(path / "metrics" / "train.jsonl") for path in (run_dir, straight))
    assert [entry["step"] for entry in resumed] == list(range(1, 13))
    np.testing.assert_array_equal([entry["loss"] for entry in resumed], [entry["loss"] for entry in straight_losses])
    assert read_jsonl(run_dir / "metrics" / "eval.jsonl") == read_jsonl(straight / "metrics" / "eval.jsonl")
    jax.tree.map(np.testing.assert_array_equal, _params_of(run_dir), _params_of(straight))


@pytest.mark.parametrize("straight_run", list(RECIPES), indirect=True)
def test_interrupted_and_resumed_run_equals_a_straight_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           straight_run: Path, request: pytest.FixtureRequest) -> None:
    recipe = request.node.callspec.params["straight_run"]
    assert _stopped_run(tmp_path / "run", monkeypatch, signal_at_batch=7, recipe=recipe) < 12
    run_pretraining(_config(tmp_path / "run", *RESUMED_RUN, recipe=recipe))
    _assert_same_run(tmp_path / "run", straight_run)


def test_a_truncated_array_file_in_the_newest_checkpoint_costs_the_steps_since_the_one_before(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, straight_run: Path) -> None:
    """The run resumes from step 5, as a run stopped there would, and ends as the straight run does; the damaged
    step is moved aside, whole."""
    run_dir = tmp_path / "run"
    stopped_at = _stopped_run(run_dir, monkeypatch, signal_at_batch=10)
    assert 5 < stopped_at < 12
    truncate(array_file(run_dir / "checkpoints" / str(stopped_at)))
    capsys.readouterr()
    run_pretraining(_config(run_dir, *RESUMED_RUN))
    notice = next(line for line in capsys.readouterr().out.splitlines() if "cannot be read" in line)
    assert notice.startswith(f"checkpoint {(run_dir / 'checkpoints' / str(stopped_at)).absolute()} cannot be read "
                             f"(OUT_OF_RANGE: ")
    assert notice.endswith(f"; moved it to checkpoints-unreadable/{stopped_at} and resuming from step 5")
    assert len(notice) < 300
    _assert_same_run(run_dir, straight_run)
    assert (run_dir / "checkpoints-unreadable" / str(stopped_at) / "state").is_dir()


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under `folder`, with its size and modification time."""
    return {str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns) for path in folder.rglob("*")}


def test_a_second_launch_on_a_running_folder_stops_at_once_and_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, straight_run: Path) -> None:
    """The same command started again while the run trains (here: once it saved step 5) exits with one line naming
    the folder and the process that holds it, having changed nothing there; the run goes on and ends as a run
    without a second launch does."""
    run_dir = tmp_path / "run"
    command = [sys.executable, str(ROOT / "scripts" / "pretrain.py"), *TINY, f"train.output_dir={run_dir}",
               *RESUMED_RUN]
    original, seen = Checkpointer.save, {}

    def saving_then_launching_again(self: Checkpointer, step: int, *args: object, **kwargs: object) -> bool:
        saved = original(self, step, *args, **kwargs)
        if step == 5:  # the run waits here meanwhile (its batches made ahead are in memory only)
            before = _listing(run_dir)
            seen["second"] = subprocess.run(command, capture_output=True, text=True, timeout=300,
                                            env={**os.environ, "JAX_PLATFORMS": "cpu"})
            seen["changes"] = set(before.items()) ^ set(_listing(run_dir).items())
        return saved

    monkeypatch.setattr(Checkpointer, "save", saving_then_launching_again)
    run_pretraining(_config(run_dir, *RESUMED_RUN))
    second = seen["second"]
    assert second.returncode == 1 and second.stdout == ""
    assert re.fullmatch(rf"error: run folder {run_dir} is in use by process {os.getpid()} on host "
                        rf"{re.escape(socket.gethostname())} \(since [0-9T:-]+\); wait for that run to end, or choose "
                        r"another train.output_dir\n", second.stderr), second.stderr
    assert seen["changes"] == set()
    _assert_same_run(run_dir, straight_run)


def test_a_checkpoint_of_another_model_shape_is_refused_and_kept(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_pretraining(_config(run_dir, "train.steps=2", "train.eval_batches=1"))
    saved_config = (run_dir / "config.yaml").read_text()
    checkpoints = sorted(path.name for path in (run_dir / "checkpoints").iterdir())
    other = "model.changes={hidden_size: 64, num_attention_heads: 2, intermediate_size: 64, num_hidden_layers: 2}"
    with pytest.raises(CheckpointError, match="different model"):
        run_pretraining(_config(run_dir, "train.steps=4", other))
    assert (run_dir / "config.yaml").read_text() == saved_config
    assert sorted(path.name for path in (run_dir / "checkpoints").iterdir()) == checkpoints


def test_bad_corpora_are_clear_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n  \n")
    with pytest.raises(DataError, match="empty"):
        run_pretraining(_config(tmp_path / "a", f"data.corpus={empty}"))
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"a fine line\n\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    with pytest.raises(DataError, match="binary.txt"):
        run_pretraining(_config(tmp_path / "b", f"data.corpus={binary}"))
    small = tmp_path / "small.txt"
    small.write_text("\n\n".join(f"Document {index} starts here.\nIt ends quickly." for index in range(6)) + "\n")
    with pytest.raises(DataError, match="batch"):
        run_pretraining(_config(tmp_path / "c", f"data.corpus={small}", "train.batch_size=64"))
    with pytest.raises(ConfigError, match="max_position_embeddings"):
        run_pretraining(_config(tmp_path / "d", "data.max_seq_length=1024"))
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    with pytest.raises(ConfigError, match="train.output_dir .*a_file: cannot create the run folder"):
        run_pretraining(_config(a_file))
    assert a_file.read_text() == "not a folder"


def test_script_prints_one_line_errors(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "pretrain.py"), "data.corpus=/no/such/corpus",
                             f"train.output_dir={tmp_path}"], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error:") and "/no/such/corpus" in result.stderr
    assert "Traceback" not in result.stderr


def test_effective_config_is_saved(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_pretraining(_config(run_dir, "train.steps=2", "train.eval_batches=1"))
    saved = load_run_config(PretrainingConfig, run_dir / "config.yaml")
    assert saved == _config(run_dir, "train.steps=2", "train.eval_batches=1")
    assert json.loads((run_dir / "hf" / "config.json").read_text())["hidden_size"] == 32


def test_eval_fraction_zero_is_refused_when_the_config_is_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="data: eval_fraction must be above 0"):
        _config(tmp_path / "run", "data.eval_fraction=0")


def test_a_vocabulary_left_without_a_checkpoint_is_trained_again(tmp_path: Path) -> None:
    """An attempt that failed after training its vocabulary (here: a batch larger than the data) leaves no
    checkpoint; the next attempt trains the vocabulary its own config asks for."""
    with pytest.raises(DataError, match="batch"):
        run_pretraining(_config(tmp_path / "run", "train.batch_size=1048576", "train.steps=1"))
    assert len((tmp_path / "run" / "data" / "tokenizer" / "vocab.txt").read_text().splitlines()) == 400
    run_pretraining(_config(tmp_path / "run", "data.vocab_size=300", "train.steps=1"))
    assert len((tmp_path / "run" / "data" / "tokenizer" / "vocab.txt").read_text().splitlines()) == 300


def test_a_runs_data_folder_serves_another_run_as_prepared_data(tmp_path: Path) -> None:
    """A run prepares its corpus into data/ with its vocabulary, as scripts/prepare_pretraining_data.py does: a
    second run trains on it as it is, and a third that names the vocabulary (data.tokenizer) keeps it in its own
    data/; all three have the same vocabulary and batches (so the same losses)."""
    steps = ("train.steps=2", "train.eval_batches=1")
    vocabulary = tmp_path / "first" / "data" / "tokenizer"
    run_pretraining(_config(tmp_path / "first", *steps))
    run_pretraining(_config(tmp_path / "second", f"data.prepared={tmp_path / 'first' / 'data'}", *steps))
    run_pretraining(_config(tmp_path / "third", f"data.tokenizer={vocabulary}", *steps))
    runs = ("first", "second", "third")
    vocabularies = [(tmp_path / run / "hf" / "vocab.txt").read_text() for run in runs]
    assert vocabularies[0] == vocabularies[1] == vocabularies[2] and len(vocabularies[0].splitlines()) == 400
    assert (tmp_path / "third" / "data" / "tokenizer" / "vocab.txt").read_text() == vocabularies[0]
    losses = [[entry["loss"] for entry in read_jsonl(tmp_path / run / "metrics" / "train.jsonl")] for run in runs]
    assert losses[0] == losses[1] == losses[2] and len(losses[0]) == 2
    assert not (tmp_path / "second" / "data").exists()


def test_lowercase_applies_to_a_given_vocab_txt(tmp_path: Path) -> None:
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "The", "the", "cat"]) + "\n")
    for lowercase, tokens in ((False, ["The", "cat"]), (True, ["the", "cat"])):
        section = PretrainingDataSection(tokenizer=str(vocab), lowercase=lowercase)
        assert given_tokenizer(section).tokenize("The cat") == tokens


def test_byte_level_bpe_pretraining_with_whole_word_masking(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A vocabulary of byte-level BPE trained for the run, whole words masked; the exported folder's tokenizer and
    model load in transformers, whose fill-mask pipeline gives what bertjax's gives."""
    run_dir = tmp_path / "run"
    run_pretraining(_config(run_dir, "data.tokenizer_type=bpe", "data.whole_word_masking=true", "train.steps=6",
                            "train.eval_every=6", "train.eval_batches=2"))
    shown = capsys.readouterr().out
    assert "whole-word dynamic masking" in shown and shown.count("(the word: ") == 3
    assert {path.name for path in (run_dir / "hf").iterdir()} >= {"tokenizer.json", "config.json"}
    assert not (run_dir / "hf" / "vocab.txt").exists()
    tokenizer = transformers.AutoTokenizer.from_pretrained(run_dir / "hf")
    assert len(tokenizer) == 400 and tokenizer.mask_token_id == 4
    assert_fill_mask_as_transformers(run_dir / "hf", ["the river [MASK] to the sea.", "a [MASK] of the old town"])


def test_the_modern_recipe_learns_as_bert_does_and_fills_masks_as_transformers(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """configs/pretrain-modernbert.yaml, scaled down as the BERT run of the first test: its held-out masked-LM loss
    falls as BERT's does in as many steps, and its export is a ModernBertForMaskedLM folder (byte-level BPE) with
    which transformers' fill-mask pipeline gives what bertjax's gives."""
    run_dir = tmp_path / "run"
    run_pretraining(_config(run_dir, "train.steps=100", "train.eval_every=50", "train.eval_batches=4",
                            recipe="modern"))
    shown = capsys.readouterr().out
    assert "initialised a new masked_lm model (modernbert L3/H32/A2" in shown and "packed into" in shown
    assert "dynamic masking of 30% (80% [MASK], 10% random, 10% kept)" in shown
    assert_mlm_loss_falls(run_dir, steps=100, by=0.4)
    written = json.loads((run_dir / "hf" / "config.json").read_text())
    assert (written["model_type"], written["architectures"]) == ("modernbert", ["ModernBertForMaskedLM"])
    model, info = transformers.AutoModelForMaskedLM.from_pretrained(run_dir / "hf", output_loading_info=True)
    assert isinstance(model, transformers.ModernBertForMaskedLM)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    # Texts longer than the window of +-4 tokens, the mask near either end.
    assert_fill_mask_as_transformers(run_dir / "hf", ["The river [MASK] slowly to the sea past the old town.",
                                                      "In the old town a small group of people [MASK] together."])


def test_chinese_pretraining_with_jieba_words(tmp_path: Path, shared_data: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    """ChnSentiCorp reviews, one a line, with whole-word masking of jieba's words; the run ends with fill-mask
    examples of held-out sentences, each masking one of jieba's words."""
    lines = (shared_data / "chinese" / "chnsenticorp" / "train.tsv").read_text(encoding="utf-8").splitlines()[1:]
    corpus = tmp_path / "reviews.txt"
    corpus.write_text("".join(line.split("\t")[0] + "\n" for line in lines[:600]), encoding="utf-8")
    run_dir = tmp_path / "run"
    run_pretraining(_config(run_dir, f"data.corpus={corpus}", "data.format=documents", "data.vocab_size=1500",
                            "data.word_segmenter=jieba", "data.whole_word_masking=true", "train.steps=4",
                            "train.eval_every=4", "train.eval_batches=2"))
    shown = capsys.readouterr().out.split("what the model predicts for a masked word of held-out sentences:\n")[1]
    examples = re.findall(r"^  (.*)\n    -> .* \(the word: (.*)\)$", shown, re.MULTILINE)
    assert len(examples) == 3
    for masked, word in examples:
        sentence = re.sub(r"(\[MASK\])+", word, masked, count=1)  # a [MASK] a token: a character, or a piece
        assert "[MASK]" not in sentence and word in jieba.lcut(sentence)
    manifest = json.loads((run_dir / "data" / "share-0-of-1" / "manifest.json").read_text())
    assert manifest["options"]["word_segmenter"] == "jieba"


def test_pretraining_on_json_lines_and_parquet(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from bertjax.data.builtin import builtin_corpus
    from bertjax.data.pretraining.corpus.documents import read_documents
    from tests.test_sources import write_corpus

    documents = read_documents(builtin_corpus())
    half = len(documents) // 2
    for part, kind in ((documents[:half], "jsonl.zst"), (documents[half:], "parquet")):
        (tmp_path / "corpus" / kind).mkdir(parents=True)
        write_corpus(tmp_path / "corpus" / kind, part, kind)
    final = run_pretraining(_config(tmp_path / "run", f"data.corpus={tmp_path / 'corpus'}", "train.steps=2",
                                    "train.eval_batches=1"))
    assert "mlm_loss" in final and f"{len(documents):,} documents" in capsys.readouterr().out


def test_pretraining_on_chinese_reviews_one_a_line(tmp_path: Path, shared_data: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    rows = (shared_data / "chinese" / "chnsenticorp" / "train.tsv").read_text(encoding="utf-8").splitlines()[1:]
    reviews = tmp_path / "reviews.txt"  # 9,600 reviews, one a line, as the issue's user had them
    reviews.write_text("".join(row.split("\t")[0] + "\n" for row in rows), encoding="utf-8")
    with pytest.raises(DataError, match="the corpus has 1 documents.*set data.format=documents"):
        run_pretraining(_config(tmp_path / "run", f"data.corpus={reviews}"))
    final = run_pretraining(_config(tmp_path / "run", f"data.corpus={reviews}", "data.format=documents",
                                    "train.steps=2", "train.eval_batches=1"))
    assert "mlm_loss" in final and "9,600 documents (480 held out)" in capsys.readouterr().out


def test_a_folder_prepared_in_another_format_is_refused(tmp_path: Path) -> None:
    from bertjax.runs.prepare_data import PreparationConfig, run_preparation

    reviews = tmp_path / "reviews.txt"
    reviews.write_text("".join(f"Review {index} starts here. It ends quickly.\n" for index in range(40)))
    folder = tmp_path / "prepared"
    run_preparation(load_run_config(PreparationConfig, None, [*TINY, f"data.corpus={reviews}", "data.format=documents",
                                                              f"prepare.output_dir={folder}"]))
    run = [f"data.prepared={folder}", f"train.output_dir={tmp_path / 'run'}"]
    with pytest.raises(ConfigError, match=f"data.format='auto', but {folder} was prepared with 'documents'; set "
                                          f"data.format='documents'"):
        run_pretraining(load_run_config(PretrainingConfig, None, [*TINY, *run]))
    with pytest.raises(ConfigError, match="data.text_field='body', but .* was prepared with 'text'"):
        run_pretraining(load_run_config(PretrainingConfig, None, [*TINY, *run, "data.format=documents",
                                                                  "data.text_field=body"]))


def test_modernbert_from_a_config_file_pretrains_packed_and_exports(tmp_path: Path) -> None:
    """A ModernBERT config.json (sequences longer than its window) pretrained with masked LM only on packed rows:
    the export is a ModernBertForMaskedLM folder that transformers loads whole and computes alike."""
    config_file = tmp_path / "config.json"
    ModernBertConfig(hidden_size=32, num_attention_heads=2, intermediate_size=48, num_hidden_layers=3,
                     local_attention=8, max_position_embeddings=64).to_json_file(config_file)
    run_dir = tmp_path / "run"
    run_pretraining(_config(run_dir, f"model.config_file={config_file}", "model.changes={}", "data.next_sentence=false",
                            "data.packing=true", "train.steps=6", "train.eval_every=6", "train.eval_batches=2"))
    exported = read_config_file(run_dir / "hf" / "config.json")
    assert isinstance(exported, ModernBertConfig) and exported.architecture.windows == (None, 4, 4)
    config, params, _ = load_pretrained(run_dir / "hf", "masked_lm")
    model, info = transformers.ModernBertForMaskedLM.from_pretrained(run_dir / "hf", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    input_ids = np.random.default_rng(0).integers(5, config.vocab_size, (2, 20)).astype(np.int32)
    ours = BertForMaskedLM(config).apply({"params": params}, input_ids)["mlm_logits"]
    with torch.no_grad():
        theirs = model.eval()(input_ids=torch.from_numpy(input_ids).long()).logits.numpy()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)
