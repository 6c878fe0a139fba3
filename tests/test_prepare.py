"""Pretraining data prepared on disk: pieces cut at document boundaries, shards equal to the in-memory path,
restarts that neither read the corpus nor pack it again, changed files, bad files, and the faults: SIGKILL, a full
disk, two preparers at once, a script whose worker processes would run it again."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import bertjax.data.pretraining.prepare as prepare
import bertjax.data.pretraining.shards as shards
import bertjax.data.pretraining.corpus.text_pieces as text_pieces
from bertjax.data.pretraining.corpus.documents import parse_documents, read_documents
from bertjax.data.pretraining.corpus.sources import FileSource
from bertjax.data.pretraining.masking import prediction_budget
from bertjax.data.pretraining.prepare import PreparationSettings, open_prepared, prepare_corpus
from bertjax.data.pretraining.dataset import PretrainingDataset
from bertjax.data.pretraining.options import PretrainingOptions
from bertjax.data.pretraining.shards import ARRAYS
from bertjax.data.pretraining.corpus.text_pieces import FileIdentity, plan_pieces, spread_sample
from bertjax.data.tokenizer import train_wordpiece
from bertjax.errors import ConfigError, DataError
from tests.test_pretraining_data import synthetic_documents

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = PretrainingOptions(max_seq_length=64, max_predictions_per_seq=10, seed=5)
SMALL_SHARDS = PreparationSettings(shard_mb=6000 / (1 << 20), workers=1, progress=False)  # about 6 kB each


def write_sentences(path: Path, documents: list[list[str]], newline: str = "\n") -> Path:
    path.write_text(newline.join(newline.join(document) + newline for document in documents), encoding="utf-8",
                    newline="")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A corpus of 120 synthetic documents in Google's layout (about 60 kB)."""
    return write_sentences(tmp_path_factory.mktemp("corpus") / "corpus.txt", synthetic_documents(120, seed=11))


@pytest.fixture(scope="module")
def tokenizer(corpus: Path):
    return train_wordpiece((sentence for document in read_documents(corpus) for sentence in document), 300)


def _json(tokenizer) -> str:
    return tokenizer.backend_tokenizer.to_str()


def _equal(first, second) -> bool:
    arrays = first.arrays()
    return arrays.keys() == second.arrays().keys() and all(np.array_equal(array, second.arrays()[name])
                                                           for name, array in arrays.items())


def _pieces_documents(path: Path, format: str, piece_bytes: int) -> list[list[str]]:
    return [document for piece in plan_pieces(FileIdentity.of(path), format, piece_bytes)
            for document in piece.documents()[0]]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_pieces_hold_every_document_once(tmp_path: Path, shared_data: Path, newline: str) -> None:
    documents = synthetic_documents(30, seed=2)
    sentences = write_sentences(tmp_path / "sentences.txt", documents, newline)
    paragraphs = tmp_path / "paragraphs.txt"  # no title lines: every paragraph is a document
    paragraphs.write_text(newline.join(" ".join(document) + newline for document in documents), encoding="utf-8",
                          newline="")
    wiki = (shared_data / "wikitext-2" / "valid.txt").read_bytes()[:300_000]
    titled = tmp_path / "titled.txt"
    titled.write_bytes(wiki[:wiki.rfind(b"\n") + 1].replace(b"\n", newline.encode()))
    for path, format in ((sentences, "sentences"), (paragraphs, "paragraphs"), (titled, "auto")):
        expected = parse_documents(path.read_text(encoding="utf-8"), format)
        assert len(expected) > 10
        for piece_bytes in (97, 5_000, 10**7):
            assert _pieces_documents(path, format, piece_bytes) == expected, (path.name, piece_bytes)
    assert plan_pieces(FileIdentity.of(titled), "auto", 5_000)[0].layout == "titled"


@pytest.mark.parametrize("packing", [False, True])
def test_one_shard_equals_the_in_memory_preparation(corpus: Path, tokenizer, tmp_path: Path, packing: bool) -> None:
    options = dataclasses.replace(OPTIONS, packing=packing)
    prepared = prepare_corpus(FileSource(str(corpus)), _json(tokenizer), options, tmp_path / "share",
                              PreparationSettings(progress=False))
    in_memory = PretrainingDataset.from_documents(read_documents(corpus), tokenizer, options).prepared
    assert _equal(prepared, in_memory) and (prepared.train_rows is not None) == packing
    assert prepared.corpus.tokens.dtype == np.uint16 and isinstance(prepared.corpus.tokens.base, np.memmap)


def test_many_shards_restart_without_reading_the_corpus(corpus: Path, tokenizer, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "share"
    first = prepare_corpus(FileSource(str(corpus)), _json(tokenizer), OPTIONS, folder, SMALL_SHARDS)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert len(manifest["shards"]) >= 8 and all(len(shard["digest"]) == 32 for shard in manifest["shards"])
    assert sorted(path.name for path in folder.iterdir()) == [".lock", f"corpus-{manifest['key']}", "manifest.json"]
    assert first.corpus.num_documents == 120 and len(first.eval) and first.held_out_sentences
    dataset = PretrainingDataset(first, tokenizer, OPTIONS)
    _check_sequences_stay_in_their_documents(first)

    def unreadable(*_):
        raise AssertionError("the corpus was read again")

    monkeypatch.setattr(text_pieces, "read_piece", unreadable)
    again = PretrainingDataset(prepare_corpus(FileSource(str(corpus)), _json(tokenizer), OPTIONS, folder,
                                              SMALL_SHARDS), tokenizer, OPTIONS)
    for step in (0, 3, 2 * dataset.batches_per_epoch(8) + 1):
        expected, actual = dataset.train_batch(step, 8), again.train_batch(step, 8)
        assert all(np.array_equal(expected[key], actual[key]) for key in expected)


def test_packed_rows_are_prepared_with_the_shards_and_read_back(corpus: Path, tokenizer, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    packed = dataclasses.replace(OPTIONS, packing=True, next_sentence=False)  # sequences end with their documents
    folder = tmp_path / "share"
    first = prepare_corpus(FileSource(str(corpus)), _json(tokenizer), packed, folder, SMALL_SHARDS)
    for split in ("train", "eval"):
        instances, rows = getattr(first, split), getattr(first, f"{split}_rows")
        assert np.array_equal(np.sort(rows.members), np.arange(len(instances)))  # each sequence in one row
        sizes = np.diff(rows.offsets)
        tokens = np.add.reduceat(instances.lengths()[rows.members], rows.offsets[:-1])
        predictions = np.add.reduceat(prediction_budget(instances.corpus_tokens(), packed.masked_lm_prob,
                                                        packed.max_predictions_per_seq)[rows.members],
                                      rows.offsets[:-1])
        assert sizes.min() >= 1 and sizes.max() <= packed.max_sequences_per_pack
        assert tokens.max() <= packed.max_seq_length and predictions.max() <= packed.max_predictions_per_seq
    assert len(first.train_rows) < len(first.train)  # some rows hold several sequences
    dataset = PretrainingDataset(first, tokenizer, packed)

    def never(*_):
        raise AssertionError("the corpus was read or packed again")

    monkeypatch.setattr(text_pieces, "read_piece", never)
    monkeypatch.setattr(shards, "pack_sequences", never)
    again = PretrainingDataset(prepare_corpus(FileSource(str(corpus)), _json(tokenizer), packed, folder,
                                              SMALL_SHARDS), tokenizer, packed)
    for step in (0, dataset.batches_per_epoch(8) + 1):
        expected, actual = dataset.train_batch(step, 8), again.train_batch(step, 8)
        assert all(np.array_equal(expected[key], actual[key]) for key in expected)
    with pytest.raises(ConfigError, match="packing=False, but the corpus was prepared with packing"):
        PretrainingDataset(first, tokenizer, OPTIONS)
    # Rows are packed so that their predictions fit: with packing, masked_lm_prob makes another preparation.
    assert "masked_lm_prob" in packed.preparation() and "masked_lm_prob" not in OPTIONS.preparation()
    # The [MASK]/random/kept split is drawn as batches are made and changes no row's budget: no other preparation.
    assert not {"mask_token_fraction", "random_token_fraction"} & set(packed.preparation())
    monkeypatch.undo()
    prepare_corpus(FileSource(str(corpus)), _json(tokenizer), dataclasses.replace(packed, masked_lm_prob=0.3), folder,
                   SMALL_SHARDS)
    assert json.loads((folder / "manifest.json").read_text())["options"]["masked_lm_prob"] == 0.3


def _check_sequences_stay_in_their_documents(prepared) -> None:
    """NSP pairs: A within one document, B within one (another when random); train and eval documents apart."""
    starts = prepared.corpus.document_token_starts()
    documents = {}
    for split in ("train", "eval"):
        instances = getattr(prepared, split)
        document_a = np.searchsorted(starts, instances.segment_a[:, 0], "right") - 1
        document_b = np.searchsorted(starts, instances.segment_b[:, 0], "right") - 1
        assert np.array_equal(document_a, np.searchsorted(starts, instances.segment_a[:, 1] - 1, "right") - 1)
        assert np.all((document_a != document_b) == instances.is_random_next)
        documents[split] = set(document_a) | set(document_b)
    assert not documents["train"] & documents["eval"]


def test_a_changed_file_is_prepared_afresh_or_named(corpus: Path, tokenizer, tmp_path: Path) -> None:
    path = write_sentences(tmp_path / "corpus.txt", read_documents(corpus))
    folder = tmp_path / "share"
    prepare_corpus(FileSource(str(path)), _json(tokenizer), OPTIONS, folder, SMALL_SHARDS)
    old_key = json.loads((folder / "manifest.json").read_text())["key"]
    with path.open("a", encoding="utf-8") as file:
        file.write("\nA new document about new things.\nIt has two sentences.\n")
    with pytest.raises(DataError, match=f"{path}: the corpus file changed since"):
        open_prepared(folder)
    said = []
    prepared = prepare_corpus(FileSource(str(path)), _json(tokenizer), OPTIONS, folder, SMALL_SHARDS, said.append)
    assert said == [f"{folder}: corpus file {path} changed since its data was prepared; preparing afresh"]
    assert prepared.corpus.num_documents == 121 and not (folder / f"corpus-{old_key}").exists()
    open_prepared(folder)  # up to date again


def test_bad_files_are_named(tmp_path: Path, tokenizer) -> None:
    documents = synthetic_documents(40, seed=4)
    bad = write_sentences(tmp_path / "bad.txt", documents)
    data = bad.read_bytes()
    line = data.count(b"\n", 0, len(data) * 3 // 4) + 1
    cut = sum(len(text) for text in data.splitlines(keepends=True)[:line - 1])
    bad.write_bytes(data[:cut] + b"caf\xe9 " + data[cut:])  # Latin-1, in a later piece
    with pytest.raises(DataError, match=f"{bad} line {line}: byte 0xe9"):
        prepare_corpus(FileSource(str(bad)), _json(tokenizer), OPTIONS, tmp_path / "a", SMALL_SHARDS)
    (tmp_path / "empty").mkdir()
    empty = tmp_path / "empty" / "empty.txt"
    empty.write_text("")
    with pytest.raises(DataError, match=f"{empty}: the file is empty"):
        prepare_corpus(FileSource(str(empty)), _json(tokenizer), OPTIONS, tmp_path / "b", SMALL_SHARDS)
    blank = tmp_path / "empty" / "blank.txt"
    blank.write_text("\n  \n\n")
    with pytest.raises(DataError, match=f"{blank}: the file holds no text"):
        prepare_corpus(FileSource(str(blank)), _json(tokenizer), OPTIONS, tmp_path / "c", SMALL_SHARDS)
    gone = write_sentences(tmp_path / "gone.txt", documents)
    piece = plan_pieces(FileIdentity.of(gone), "auto", 1000)[0]
    gone.unlink()
    with pytest.raises(DataError, match=f"{gone}: the corpus file vanished"):
        piece.documents()


def test_vocabulary_sample_is_bounded_spread_and_fixed(tmp_path: Path) -> None:
    files = [write_sentences(tmp_path / f"part{index}.txt", synthetic_documents(40, seed=index)) for index in range(3)]
    pieces = [piece for path in files for piece in plan_pieces(FileIdentity.of(path), "sentences", 10**6)]
    everything = [sentence for path in files for document in read_documents(path) for sentence in document]
    assert list(spread_sample(pieces, 10**7)) == everything  # a corpus below the sample is taken whole
    sample = list(spread_sample(pieces, 8_000, window_bytes=2_000))  # 4 windows of the 3 files' ~80 kB
    assert sample == list(spread_sample(pieces, 8_000, window_bytes=2_000))
    # The documents that start in each window: about the window's size each.
    assert 4_000 <= sum(len(sentence) + 1 for sentence in sample) < 12_000
    for path in (files[0], files[-1]):  # from the start to the end of the corpus
        assert set(sample) & {sentence for document in read_documents(path) for sentence in document}


def _shard_folders(folder: Path) -> list[Path]:
    (shards,) = folder.glob("shards-*")
    return sorted(shards.iterdir())


def _count_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    built = []
    build = prepare.build_shard
    monkeypatch.setattr(prepare, "build_shard", lambda *args: built.append(args[3]) or build(*args))
    return built


def test_a_full_disk_keeps_whole_shards_and_a_rerun_makes_the_missing_ones(corpus: Path, tokenizer, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "share"
    save = np.save
    writes = []

    def full_after_three_shards(path, array):
        writes.append(path)
        if len(writes) > 3 * len(ARRAYS):
            raise OSError(errno.ENOSPC, "No space left on device")
        save(path, array)

    monkeypatch.setattr(np, "save", full_after_three_shards)
    with pytest.raises(DataError, match="no space left on the device while writing shard 3; free some space"):
        prepare_corpus(FileSource(str(corpus)), _json(tokenizer), OPTIONS, folder, SMALL_SHARDS)
    monkeypatch.setattr(np, "save", save)
    assert [path.name for path in _shard_folders(folder)] == ["000000", "000001", "000002"]  # no partial shard
    assert not (folder / "manifest.json").exists()
    built = _count_builds(monkeypatch)
    finished = prepare_corpus(FileSource(str(corpus)), _json(tokenizer), OPTIONS, folder, SMALL_SHARDS)
    assert built and min(built) == 3  # only the missing shards were made
    clean = prepare_corpus(FileSource(str(corpus)), _json(tokenizer), OPTIONS, tmp_path / "clean", SMALL_SHARDS)
    assert _equal(finished, clean)


PREPARER = """
import sys, time
import bertjax.data.pretraining.prepare as prepare
from bertjax.data.pretraining.corpus.sources import FileSource
from bertjax.data.pretraining.prepare import PreparationSettings, prepare_corpus
from bertjax.data.pretraining.options import PretrainingOptions

build = prepare.build_shard
prepare.build_shard = lambda *args: time.sleep(float(sys.argv[4])) or build(*args)  # slow enough to be caught
settings = PreparationSettings(shard_mb=6000 / (1 << 20), workers=1, progress=False)
prepare_corpus(FileSource(sys.argv[1]), open(sys.argv[2]).read(), PretrainingOptions(max_seq_length=64,
               max_predictions_per_seq=10, seed=5), sys.argv[3], settings)
"""


def _preparer(corpus: Path, tokenizer_file: Path, folder: Path, delay: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(PREPARER), str(corpus), str(tokenizer_file),
                             str(folder), str(delay)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_a_killed_preparation_leaves_whole_shards_and_a_rerun_finishes_it(corpus: Path, tokenizer, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    tokenizer_file = tmp_path / "tokenizer.json"
    tokenizer_file.write_text(_json(tokenizer))
    folder = tmp_path / "share"
    process = _preparer(corpus, tokenizer_file, folder, 0.3)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len([path for path in folder.glob("shards-*/0*")]) < 2:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = [path for path in _shard_folders(folder) if not path.name.startswith(".")]
    assert len(done) >= 2 and not (folder / "manifest.json").exists()
    for shard in done:  # every shard folder in place is whole
        assert sorted(path.stem for path in shard.iterdir()) == sorted([*ARRAYS, "meta"])
    built = _count_builds(monkeypatch)
    finished = prepare_corpus(FileSource(str(corpus)), _json(tokenizer), OPTIONS, folder, SMALL_SHARDS)
    assert built and not set(built) & {int(shard.name) for shard in done}  # the shards made before the kill are kept
    clean = prepare_corpus(FileSource(str(corpus)), _json(tokenizer), OPTIONS, tmp_path / "clean", SMALL_SHARDS)
    assert _equal(finished, clean)


def test_two_preparers_of_one_folder_do_not_corrupt_it(corpus: Path, tokenizer, tmp_path: Path) -> None:
    tokenizer_file = tmp_path / "tokenizer.json"
    tokenizer_file.write_text(_json(tokenizer))
    folder = tmp_path / "share"
    processes = [_preparer(corpus, tokenizer_file, folder, 0.02) for _ in range(2)]
    assert [process.wait(timeout=300) for process in processes] == [0, 0]
    prepared, _ = open_prepared(folder)
    clean = prepare_corpus(FileSource(str(corpus)), _json(tokenizer), OPTIONS, tmp_path / "clean", SMALL_SHARDS)
    assert _equal(prepared, clean)
    assert sorted(path.name for path in folder.iterdir()) == sorted(path.name
                                                                     for path in (tmp_path / "clean").iterdir())


def test_worker_processes_make_the_same_shards(corpus: Path, tokenizer, tmp_path: Path) -> None:
    settings = dict(shard_mb=SMALL_SHARDS.shard_mb, progress=False)
    parallel = prepare_corpus(FileSource(str(corpus)), _json(tokenizer), OPTIONS, tmp_path / "parallel",
                              PreparationSettings(workers=2, **settings))
    serial = prepare_corpus(FileSource(str(corpus)), _json(tokenizer), OPTIONS, tmp_path / "serial",
                            PreparationSettings(workers=1, **settings))
    assert _equal(parallel, serial)


def test_a_script_without_a_main_guard_is_told_so_instead_of_waiting(corpus: Path, tokenizer, tmp_path: Path) -> None:
    tokenizer_file = tmp_path / "tokenizer.json"
    tokenizer_file.write_text(_json(tokenizer))
    script = tmp_path / "unguarded.py"  # worker processes import it again as they start
    script.write_text(textwrap.dedent(f"""
        from bertjax.data.pretraining.corpus.sources import FileSource
        from bertjax.data.pretraining.prepare import PreparationSettings, prepare_corpus
        from bertjax.data.pretraining.options import PretrainingOptions
        prepare_corpus(FileSource({str(corpus)!r}), open({str(tokenizer_file)!r}).read(), PretrainingOptions(),
                       {str(tmp_path / "share")!r}, PreparationSettings(shard_mb=0.005, workers=2, progress=False))
        """))
    process = subprocess.Popen([sys.executable, str(script)], stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                               env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
    watchdog = threading.Timer(120, os.killpg, (process.pid, signal.SIGKILL))  # a hang ends the test as a failure
    watchdog.start()
    try:
        error = next((line for line in process.stderr if line.startswith("RuntimeError: ")), "")  # from a worker
    finally:
        watchdog.cancel()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert "put the script's code under `if __name__ == '__main__':`" in error


def test_a_run_trains_on_a_folder_prepared_ahead(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from bertjax.run_config import load_run_config
    from bertjax.runs.prepare_data import PreparationConfig, run_preparation
    from bertjax.runs.pretraining import PretrainingConfig, run_pretraining
    from tests.test_pretraining_run import TINY

    folder = tmp_path / "prepared"
    run_preparation(load_run_config(PreparationConfig, None, [*TINY, f"prepare.output_dir={folder}",
                                                              "prepare.processes=2"]))
    shown = capsys.readouterr().out
    assert "share 2 of 2:" in shown and f"data.prepared={folder}" in shown
    assert sorted(path.name for path in folder.iterdir()) == ["share-0-of-2", "share-1-of-2", "tokenizer"]
    run = [*TINY, f"data.prepared={folder}", "train.steps=2", "train.eval_every=2"]
    with pytest.raises(ConfigError, match="no data for process 0 of 1 \\(share-0-of-2, share-1-of-2\\)"):
        run_pretraining(load_run_config(PretrainingConfig, None, [*run, f"train.output_dir={tmp_path / 'a'}"]))
    run_preparation(load_run_config(PreparationConfig, None, [*TINY, f"prepare.output_dir={folder}"]))
    with pytest.raises(ConfigError, match=f"data.max_seq_length=64, but {folder} was prepared with 32"):
        run_pretraining(load_run_config(PretrainingConfig, None, [*run, "data.max_seq_length=64",
                                                                  f"train.output_dir={tmp_path / 'b'}"]))
    final = run_pretraining(load_run_config(PretrainingConfig, None, [*run, f"train.output_dir={tmp_path / 'c'}"]))
    assert "mlm_loss" in final and not (tmp_path / "c" / "data").exists()  # nothing prepared in the run folder


def test_tfds_examples_are_streamed_into_shards(tokenizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bertjax.data.pretraining.corpus import sources as corpus_sources

    documents = synthetic_documents(60, seed=8)
    records = [{"text": "\n".join(" ".join(document[:half]) for half in (len(document) // 2, len(document))),
                "title": str(index)} for index, document in enumerate(documents)] + [{"text": " \n", "title": "-"}]
    monkeypatch.setattr(corpus_sources, "load_records", lambda *args: iter(records))
    source = corpus_sources.TfdsSource("wiki/fake")
    prepared = prepare_corpus(source, _json(tokenizer), OPTIONS, tmp_path / "share", SMALL_SHARDS)
    manifest = json.loads((tmp_path / "share" / "manifest.json").read_text())
    assert prepared.corpus.num_documents == 60 and len(manifest["shards"]) > 3 and len(prepared.eval)
    with pytest.raises(DataError, match="tfds 'wiki/fake' has no feature 'body'; its features are "
                                        "\\['text', 'title'\\]"):
        prepare_corpus(corpus_sources.TfdsSource("wiki/fake", text_feature="body"), _json(tokenizer), OPTIONS,
                       tmp_path / "other", SMALL_SHARDS)


def test_processes_share_the_documents_of_a_single_file(corpus: Path, tokenizer, tmp_path: Path) -> None:
    shares = [prepare_corpus(FileSource(str(corpus), process_index=index, process_count=2), _json(tokenizer), OPTIONS,
                             tmp_path / f"share-{index}", SMALL_SHARDS) for index in range(2)]
    assert sum(share.corpus.num_documents for share in shares) == 120
    assert all(50 <= share.corpus.num_documents <= 70 for share in shares)  # every other document of each shard
    whole = prepare_corpus(FileSource(str(corpus)), _json(tokenizer), OPTIONS, tmp_path / "whole", SMALL_SHARDS)
    assert sum(len(share.corpus.tokens) for share in shares) == len(whole.corpus.tokens)


CHINESE = ["我们在北京大学学习自然语言处理。", "这家酒店的服务很好，房间也很干净。", "今天天气不错，我们去公园散步吧！",
           "这本书的内容非常丰富，值得一读。", "手机的电池续航时间太短了。", "京东的快递速度很快，包装也很好。"]


def test_a_word_segmenters_words_are_prepared_on_workers_and_keyed(tmp_path: Path) -> None:
    """Word starts from jieba are made on worker processes as in one process, the segmenter and its version are
    part of the key, and a folder prepared by another format version is refused by name."""
    rng = np.random.default_rng(0)
    documents = [list(rng.choice(CHINESE, rng.integers(3, 7))) for _ in range(60)]
    path = write_sentences(tmp_path / "zh.txt", documents)
    tokenizer = train_wordpiece(CHINESE, 200)
    options = dataclasses.replace(OPTIONS, word_segmenter="jieba")
    folder = tmp_path / "share"
    settings = PreparationSettings(shard_mb=2000 / (1 << 20), workers=2, progress=False)
    prepared = prepare_corpus(FileSource(str(path)), _json(tokenizer), options, folder, settings)
    serial = prepare_corpus(FileSource(str(path)), _json(tokenizer), options, tmp_path / "serial",
                            dataclasses.replace(settings, workers=1))
    manifest = json.loads((folder / "manifest.json").read_text())
    assert len(manifest["shards"]) > 4 and _equal(prepared, serial)
    assert manifest["segmenter"].startswith("jieba 0.42") and manifest["options"]["word_segmenter"] == "jieba"
    said = []
    characters = prepare_corpus(FileSource(str(path)), _json(tokenizer), OPTIONS, folder, settings, said.append)
    assert said == [f"{folder}: the segmenter and options changed since its data was prepared; preparing afresh"]
    np.testing.assert_array_equal(characters.corpus.tokens, prepared.corpus.tokens)
    assert characters.corpus.word_starts.all()  # BERT's pre-tokenizer: every Chinese character is a word
    assert 0.4 < prepared.corpus.word_starts.mean() < 0.8  # jieba's words: 我们 在 北京大学 ...
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "format": "bertjax-prepared-v2"}))
    with pytest.raises(DataError, match=f"{folder}: was prepared by another version of bertjax \\(format "
                                        f"'bertjax-prepared-v2', this one reads 'bertjax-prepared-v3'\\); prepare"):
        open_prepared(folder)
