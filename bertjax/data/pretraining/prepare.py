"""Pretraining data prepared ahead, on disk: shards made on every core, merged into memory-mapped arrays.

A share folder (`<folder>/share-<i>-of-<n>`, one per process) holds:
- `manifest.json`, written last: the preparation's key and what it was made from (files with sizes and
  modification times, the tokenizer's digest, the options), the shards' text digests and counts;
- `corpus-<key>/`: the arrays of shards.ARRAYS, word starts among them (and PACK_ARRAYS when packed), as .npy
  files, read back memory-mapped;
- while preparing, `shards-<key>/<index>/`: each shard's arrays, each folder renamed into place once complete, so
  a preparation killed part-way or stopped by a full disk leaves only whole shards, and a rerun makes the missing
  ones alone. It is removed once the shards are merged.
A lock file serialises preparers of one share folder, so two processes preparing it at once do not corrupt it: the
second waits and then finds it prepared. The key hashes the source's identity, the tokenizer, the options and the
shard size: a restart with the same key reads the arrays back without reading the corpus; a changed file gives
another key (and `open_prepared` says which file changed). With a word segmenter, its version is part of the key.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import itertools
import json
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bertjax.atomic import write_text_atomically
from bertjax.data.pretraining.sources import CorpusSource, ShardTask
from bertjax.data.pretraining.options import PretrainingOptions
from bertjax.data.pretraining.shards import PreparedCorpus, ShardOffsets, array_names, build_shard
from bertjax.data.pretraining.tokenized import SentenceEncoder, sentence_encoder
from bertjax.data.pretraining.text_pieces import FileIdentity
from bertjax.errors import DataError
from bertjax.folder_lock import folder_lock

PREPARATION_FORMAT = "bertjax-prepared-v3"
MANIFEST = "manifest.json"
HELD_OUT_KEPT = 200  # held-out sentences the manifest keeps as text
WORKER_MARK = "BERTJAX_PREPARATION_WORKER"  # set in the environment the worker processes start with


@dataclasses.dataclass(frozen=True)
class PreparationSettings:
    """How the preparation runs (none of it changes the result but `shard_mb`).

    shard_mb: MiB of text per shard: bounds each worker's memory (about 20x this) and sets the held-out split
    and next-sentence partners, which are drawn within a shard.
    workers: processes preparing shards at once; None: one per core.
    progress: show a progress bar (MB/s, ETA).
    """

    shard_mb: float = 16.0
    workers: int | None = None
    progress: bool = True

    @property
    def shard_bytes(self) -> int:
        return max(int(self.shard_mb * (1 << 20)), 1)


def share_folder(folder: str | Path, process_index: int, process_count: int) -> Path:
    return Path(folder) / f"share-{process_index}-of-{process_count}"


def preparation_key(source: CorpusSource, tokenizer_json: str, options: PretrainingOptions,
                    settings: PreparationSettings) -> dict[str, Any]:
    """What the preparation is made from, and its digest under `key`."""
    encoder = sentence_encoder(tokenizer_json, options.word_segmenter)  # a missing segmenter fails here, at once
    made_from = {"format": PREPARATION_FORMAT, "source": source.identity(),
                 # The encoder's own JSON: whatever truncation or padding the tokenizer was last called with
                 "tokenizer": hashlib.blake2b(encoder.backend.to_str().encode(), digest_size=16).hexdigest(),
                 "segmenter": encoder.segmenter.identity if encoder.segmenter else None,
                 "options": options.preparation(), "shard_bytes": settings.shard_bytes}
    digest = hashlib.blake2b(json.dumps(made_from, sort_keys=True).encode(), digest_size=12).hexdigest()
    return {"key": digest, **made_from}


def prepare_corpus(source: CorpusSource, tokenizer_json: str, options: PretrainingOptions, folder: str | Path,
                   settings: PreparationSettings = PreparationSettings(), say: Callable[[str], None] = print
                   ) -> PreparedCorpus:
    """The prepared corpus of `source` in share folder `folder`: read back when it is there with the same key, else
    prepared now (a preparation with another key is replaced, which `say` tells)."""
    if os.environ.get(WORKER_MARK):  # else it would wait forever on the lock its parent holds
        raise RuntimeError("prepare_corpus was called again in one of its worker processes, which import the main "
                           "module as they start: put the script's code under `if __name__ == '__main__':`")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    made_from = preparation_key(source, tokenizer_json, options, settings)
    key = made_from["key"]
    with folder_lock(folder):
        manifest = read_manifest(folder)
        if manifest is not None and manifest["key"] == key:
            return load_prepared(folder, manifest)
        if manifest is not None:
            say(f"{folder}: {_difference(manifest, made_from)} since its data was prepared; preparing afresh")
            (folder / MANIFEST).unlink()
        _remove_other_keys(folder, key)
        shards_dir = folder / f"shards-{key}"
        shards_dir.mkdir(exist_ok=True)
        tasks = _run_tasks(source.tasks(settings.shard_bytes), shards_dir, tokenizer_json, options, settings,
                           source.total_bytes(), folder)
        manifest = _merge(shards_dir, tasks, folder / f"corpus-{key}", made_from)
        write_text_atomically(folder / MANIFEST, json.dumps(manifest, indent=1))
        shutil.rmtree(shards_dir)
    return load_prepared(folder, manifest)


def read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: the manifest of the prepared data cannot be read ({error}); delete the folder "
                        f"{folder} and prepare again") from None


def load_prepared(folder: Path, manifest: dict[str, Any]) -> PreparedCorpus:
    """The arrays of a prepared share folder, memory-mapped."""
    corpus_dir = folder / f"corpus-{manifest['key']}"
    try:
        # Plain arrays over the memory maps: indexing a np.memmap costs more than the batches' gathers themselves.
        arrays = {name: np.asarray(np.load(corpus_dir / f"{name}.npy", mmap_mode="r"))
                  for name in array_names(manifest["options"]["packing"])}
    except (OSError, ValueError) as error:
        raise DataError(f"{corpus_dir}: the prepared data cannot be read ({error}); delete {folder} and prepare "
                        f"again") from None
    return PreparedCorpus.from_arrays(arrays, manifest["held_out_sentences"])


def open_prepared(folder: Path) -> tuple[PreparedCorpus, dict[str, Any]]:
    """A share folder prepared ahead and its manifest, after checking that no corpus file changed since (a changed
    or vanished file raises DataError naming it)."""
    manifest = read_manifest(folder)
    if manifest is None:
        raise DataError(f"{folder}: holds no prepared data ({MANIFEST} is missing); prepare it with "
                        f"scripts/prepare_pretraining_data.py, or finish a preparation that was stopped by running "
                        f"it again")
    if manifest.get("format") != PREPARATION_FORMAT:
        raise DataError(f"{folder}: was prepared by another version of bertjax (format {manifest.get('format')!r}, "
                        f"this one reads {PREPARATION_FORMAT!r}); prepare the data again")
    for recorded in manifest["source"].get("files", []):
        current = dataclasses.asdict(FileIdentity.of(recorded["path"]))
        if current != recorded:
            raise DataError(f"{recorded['path']}: the corpus file changed since {folder} was prepared (size "
                            f"{recorded['size']} -> {current['size']} bytes, or its modification time); prepare the "
                            f"data again")
    return load_prepared(folder, manifest), manifest


def _difference(manifest: dict[str, Any], made_from: dict[str, Any]) -> str:
    """What differs between an earlier preparation and this one, in words."""
    before = {entry["path"]: entry for entry in manifest["source"].get("files", [])}
    after = {entry["path"]: entry for entry in made_from["source"].get("files", [])}
    for path in sorted(before.keys() | after.keys()):
        if path not in after:
            return f"corpus file {path} is no longer part of the corpus"
        if path not in before:
            return f"corpus file {path} is new"
        if before[path] != after[path]:
            return f"corpus file {path} changed"
    changed = [name for name in ("source", "tokenizer", "segmenter", "options", "shard_bytes", "format")
               if manifest.get(name) != made_from[name]]
    return f"the {' and '.join(changed) or 'preparation'} changed"


def _remove_other_keys(folder: Path, key: str) -> None:
    """Arrays and shards of other preparations (and temporary folders of stopped ones)."""
    for path in folder.iterdir():
        if path.is_dir() and path.name.startswith(("corpus-", "shards-", ".corpus-")) and not path.name.endswith(key):
            shutil.rmtree(path)


_worker_encoder: dict[tuple[str, str | None], SentenceEncoder] = {}  # the last encoder a worker made


def _start_worker() -> None:
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one process per core already


def prepare_shard(task: ShardTask, tokenizer_json: str, options: PretrainingOptions, shards_dir: Path,
                  lenient: bool) -> dict[str, Any]:
    """Builds shard `task` and writes it to `shards_dir/<index>` all at once; returns its summary (from the folder
    when it is already there)."""
    final = shards_dir / f"{task.index:06d}"
    if (final / "meta.json").is_file():
        return json.loads((final / "meta.json").read_text(encoding="utf-8"))
    encoder_key = (tokenizer_json, options.word_segmenter)
    if encoder_key not in _worker_encoder:
        _worker_encoder.clear()
        _worker_encoder[encoder_key] = sentence_encoder(*encoder_key)
    encoder = _worker_encoder[encoder_key]
    documents, digest = task.read()
    shard = build_shard(documents, encoder, options, task.index, lenient, task.wanted_documents(documents))
    arrays = shard.arrays()
    small = encoder.backend.get_vocab_size() <= 1 << 16
    arrays["tokens"] = arrays["tokens"].astype(np.uint16 if small else np.int32)
    meta = {"index": task.index, "text_bytes": task.text_bytes, "digest": digest,
            "lengths": {name: len(array) for name, array in arrays.items()},
            "held_out_sentences": shard.held_out_sentences}
    staging = Path(tempfile.mkdtemp(prefix=f".{task.index:06d}-", dir=shards_dir))
    staging.chmod(0o755)
    try:
        for name, array in arrays.items():
            np.save(staging / f"{name}.npy", np.ascontiguousarray(array))
        (staging / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        os.rename(staging, final)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        if error.errno == errno.ENOSPC:
            raise DataError(f"{shards_dir}: no space left on the device while writing shard {task.index}; free some "
                            f"space and prepare again: the shards already written are kept, and only the missing "
                            f"ones are made") from None
        if not (final / "meta.json").is_file():
            raise
        shutil.rmtree(staging, ignore_errors=True)  # the same shard, finished elsewhere first
    return meta


def _run_tasks(tasks: Iterable[ShardTask], shards_dir: Path, tokenizer_json: str, options: PretrainingOptions,
               settings: PreparationSettings, total_bytes: int | None, folder: Path) -> list[dict[str, Any]]:
    """Prepares every shard (those already written are read back), on `settings.workers` processes; returns the
    shards' summaries in shard order."""
    tasks = iter(tasks)
    first = list(itertools.islice(tasks, 2))
    lenient = len(first) > 1  # one shard of many may be too small to hold documents out
    tasks = itertools.chain(first, tasks)
    workers = settings.workers or os.cpu_count() or 1
    bar = tqdm(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024, desc=f"preparing {folder.name}",
               disable=not settings.progress, mininterval=0.5, smoothing=0.1)
    summaries: dict[int, dict[str, Any]] = {}

    def done(meta: dict[str, Any]) -> None:
        summaries[meta["index"]] = meta
        bar.update(meta["text_bytes"])
        bar.set_postfix_str(f"{len(summaries)} shards", refresh=False)

    try:
        if workers == 1 or len(first) < 2:
            for task in tasks:
                done(prepare_shard(task, tokenizer_json, options, shards_dir, lenient))
        else:
            context = multiprocessing.get_context("spawn")  # the parent may hold JAX's threads: never fork it
            os.environ[WORKER_MARK] = "1"
            try:
                pool = context.Pool(workers, initializer=_start_worker)
            finally:
                del os.environ[WORKER_MARK]
            with pool:
                pending: list[Any] = []
                for task in tasks:
                    pending.append(pool.apply_async(prepare_shard, (task, tokenizer_json, options, shards_dir,
                                                                    lenient)))
                    while len(pending) >= 2 * workers or (pending and pending[0].ready()):
                        done(pending.pop(0).get())
                for result in pending:
                    done(result.get())
    finally:
        bar.close()
    if not summaries:
        raise DataError("the corpus is empty (no non-blank text); pass a corpus with at least one sentence")
    return [summaries[index] for index in sorted(summaries)]


def _merge(shards_dir: Path, summaries: list[dict[str, Any]], target: Path, made_from: dict[str, Any]
           ) -> dict[str, Any]:
    """The shards' arrays concatenated into `target` (written whole, then renamed into place), one shard in memory
    at a time; returns the manifest."""
    packing = made_from["options"]["packing"]
    names = array_names(packing)
    totals = {name: sum(meta["lengths"][name] for meta in summaries) for name in names}
    for name in names:
        if name.endswith("offsets"):  # each shard's last entry is the next one's first
            totals[name] -= len(summaries) - 1
    shutil.rmtree(target, ignore_errors=True)  # merged by a run stopped before it wrote the manifest
    staging = Path(tempfile.mkdtemp(prefix=".corpus-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; prepared data is shared
    try:
        files = {}
        for name in names:
            sample = np.load(shards_dir / f"{summaries[0]['index']:06d}" / f"{name}.npy", mmap_mode="r")
            files[name] = open(staging / f"{name}.npy", "wb")
            np.lib.format.write_array_header_1_0(files[name], {
                "descr": np.lib.format.dtype_to_descr(sample.dtype), "fortran_order": False,
                "shape": (totals[name], *sample.shape[1:])})
        offsets = ShardOffsets()
        for meta in summaries:
            shard = shards_dir / f"{meta['index']:06d}"
            arrays = {name: np.load(shard / f"{name}.npy") for name in names}
            for name, array in offsets.shifted(arrays).items():
                files[name].write(np.ascontiguousarray(array, dtype=arrays[name].dtype).tobytes())
        for name, array in offsets.ends(packing).items():
            files[name].write(array.tobytes())
        for file in files.values():
            file.close()
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if offsets.documents == 0:
        raise DataError("the corpus has no document with text that tokenizes to anything")
    held_out = [sentence for meta in summaries for sentence in meta["held_out_sentences"]][:HELD_OUT_KEPT]
    return {**made_from, "shards": [{"index": meta["index"], "text_bytes": meta["text_bytes"],
                                     "digest": meta["digest"]} for meta in summaries],
            "tokens": offsets.tokens, "sentences": offsets.sentences, "documents": offsets.documents,
            "held_out_sentences": held_out}
