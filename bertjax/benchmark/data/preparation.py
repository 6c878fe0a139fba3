"""How fast, and in how much memory, pretraining data is prepared: bertjax's preparation of a text corpus and of the
same documents as JSON lines, beside Hugging Face `tokenizers`' own batch encoding of the same text (the limit:
tokenizing alone) and beside the way Hugging Face users prepare it (`datasets` `map` with `num_proc`, then
`group_texts`), on corpora of the sizes asked for; then the seconds a restarted run takes to its first batch, and
batch assembly on the prepared corpus.

Each measurement runs in a fresh process (bertjax's with the allocator setting its scripts use); its peak memory
is the largest sum of the resident sets of that process and its children (worker processes included), sampled
every 0.1 s. The corpora are the built-in corpus (or a text file given) repeated to size in a temporary folder,
removed afterwards; nothing is downloaded. All methods share one vocabulary (8,000 WordPiece or byte-level BPE
tokens, learnt from that text) and the machine's cores; bertjax's preparation can also find words with a word
segmenter (`jieba`), as `data.word_segmenter` does.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bertjax.benchmark.data.batch_assembly import environment
from bertjax.data.builtin import builtin_corpus
from bertjax.data.pretraining.corpus.documents import read_documents

METHODS = ("bertjax", "bertjax-jsonl", "tokenizers", "datasets")
MIB = 1 << 20
CHILD = "bertjax.benchmark.data.preparation_child"


@dataclasses.dataclass(frozen=True)
class PreparationBenchSettings:
    sizes_mb: tuple[int, ...] = (100, 1000, 4000)
    methods: tuple[str, ...] = METHODS
    reference_max_mb: int = 1000  # tokenizers runs on the corpora up to this size
    datasets_max_mb: int = 100  # and datasets (about 1 MiB/s on 2 cores) up to this one
    restart_mb: int = 1000  # the corpus a restarted run reads back
    assembly_mb: int = 100  # the corpus batch assembly is timed on
    vocabulary_mb: int = 1000  # the corpus a vocabulary is learnt from, on a sample of
    vocabulary_sample_mb: float = 100.0
    batch_size: int = 256
    seq_len: int = 128
    text: str | None = None  # a text file (a format bertjax reads) repeated to size; None: the built-in corpus
    tokenizer_type: str = "wordpiece"  # the shared vocabulary: wordpiece | bpe
    word_segmenter: str | None = None  # bertjax's preparation finds words with this segmenter (jieba)


@dataclasses.dataclass(frozen=True)
class Measurement:
    size_mb: int
    method: str
    seconds: float
    mb_per_second: float
    peak_rss_mib: float
    detail: dict
    cpu_seconds: float  # of the process and its workers: what other load on a shared machine changes least


def write_corpus(path: Path, size_mb: int, source: Path | None = None) -> Path:
    """The text of `source` (the built-in corpus when None) repeated to `size_mb` MiB (documents kept apart by
    blank lines; the last copy cut after a whole character and padded with newlines)."""
    text = ((source or builtin_corpus()).read_text(encoding="utf-8").strip("\n") + "\n\n").encode()
    block = text * max(1, (16 * MIB) // len(text))
    with path.open("wb") as file:
        while file.tell() < size_mb * MIB:
            left = size_mb * MIB - file.tell()
            if left < len(block):
                block = block[:left].decode("utf-8", "ignore").encode()
                block += b"\n" * (left - len(block))
            file.write(block)
    return path


def write_json_lines(path: Path, size_mb: int, source: Path | None = None) -> Path:
    """The documents of `source` (the built-in corpus when None) as JSON lines (`{"text": ...}`, each document's
    sentences joined into one paragraph, which the preparation splits again), repeated until they hold about
    `size_mb` MiB of text."""
    text_bytes = 0  # counted as the text corpus holds them: a line a sentence, a blank line after each document
    with path.open("w", encoding="utf-8") as file:
        for document in itertools.cycle(read_documents(source or builtin_corpus())):
            text = " ".join(document)
            file.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
            text_bytes += len(text.encode()) + 2
            if text_bytes >= size_mb * MIB:
                return path


def _children_cpu_seconds() -> float:
    """User and system CPU seconds of this process's finished children (and theirs, once waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _tree_rss(root: int) -> int:
    """Resident bytes of process `root` and all its descendants."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry)] = int(fields[1])
            except (OSError, IndexError):
                continue
    members, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in members]
        members.update(children)
        frontier.extend(children)
    total = 0
    for pid in members:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def run_child(*arguments: str) -> tuple[dict, float, float]:
    """Runs a measurement process: (its JSON result, wall seconds, peak RSS of its process tree in MiB)."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", CHILD, *arguments], stdout=subprocess.PIPE, text=True)
    peak = 0

    def sample() -> None:
        nonlocal peak
        while process.poll() is None:
            peak = max(peak, _tree_rss(process.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    seconds = time.perf_counter() - start
    sampler.join()
    if process.returncode:
        raise RuntimeError(f"the measurement {' '.join(arguments[:1])} failed (exit status {process.returncode})")
    return json.loads(output.strip().splitlines()[-1]), seconds, peak / MIB


def measure(settings: PreparationBenchSettings, scratch: Path, say=print) -> dict:
    """Every measurement of `settings`, in `scratch`."""
    tokenizer_file = scratch / "tokenizer.json"
    text = Path(settings.text) if settings.text else None
    run_child("vocabulary", str(tokenizer_file), str(text or builtin_corpus()), settings.tokenizer_type)
    vocabulary: dict = {}
    rows: list[Measurement] = []
    restart: dict = {}
    assembly: dict = {}
    for size in settings.sizes_mb:
        corpus = write_corpus(scratch / f"corpus-{size}mb.txt", size, text)
        for method in settings.methods:
            limits = {"bertjax": size, "bertjax-jsonl": size, "datasets": settings.datasets_max_mb}
            if size > limits.get(method, settings.reference_max_mb):
                continue
            output = scratch / f"{method}-{size}"
            source = corpus
            if method == "bertjax-jsonl":  # bertjax's preparation, of the same documents as JSON lines
                source = write_json_lines(scratch / f"corpus-{size}mb.jsonl", size, text)
            cpu_before = _children_cpu_seconds()
            child = "bertjax" if method == "bertjax-jsonl" else method
            segmenter = ("", settings.word_segmenter or "") if child == "bertjax" else ()  # (packing, segmenter)
            detail, seconds, peak = run_child(child, str(source), str(tokenizer_file), str(output), *segmenter)
            cpu = _children_cpu_seconds() - cpu_before
            rows.append(Measurement(size, method, seconds, size / seconds, peak, detail, cpu))
            say(f"{size:>6} MiB  {method:<14}{seconds:>8.1f} s{size / seconds:>8.2f} MiB/s{peak:>9.0f} MiB peak"
                f"{cpu:>8.1f} CPU s")
        if size == settings.restart_mb and "bertjax" in settings.methods:
            restart = _restarts(corpus, tokenizer_file, scratch / f"bertjax-{size}", size, settings, say)
        if size == settings.assembly_mb and "bertjax" in settings.methods:
            assembly, _, _ = run_child("assembly", str(corpus), str(tokenizer_file), str(scratch / f"assembly-{size}"),
                                       str(settings.batch_size), str(settings.seq_len))
            say(f"batch assembly on {size} MiB: {assembly}")
        if size == settings.vocabulary_mb:
            detail, seconds, peak = run_child("sampled-vocabulary", str(corpus), str(settings.vocabulary_sample_mb))
            vocabulary = {"size_mb": size, "sample_mb": settings.vocabulary_sample_mb, "seconds": seconds,
                          "peak_rss_mib": peak, **detail}
            say(f"vocabulary from {settings.vocabulary_sample_mb} MiB spread over {size} MiB: {seconds:.1f} s, "
                f"{peak:.0f} MiB peak")
        for path in scratch.iterdir():
            if path != tokenizer_file:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
    return {"environment": environment(), "settings": dataclasses.asdict(settings), "vocabulary": vocabulary,
            "rows": [dataclasses.asdict(row) for row in rows], "restart": restart, "assembly": assembly}


def _restarts(corpus: Path, tokenizer_file: Path, prepared: Path, size: int, settings: PreparationBenchSettings,
              say) -> dict:
    """Seconds to the first batch of a restarted run on the corpus bertjax prepared in `prepared`, then on the
    corpus prepared with packing (its preparation timed too)."""
    common = (str(corpus), str(tokenizer_file))
    restart = {}
    for layout, packing in (("unpacked", ""), ("packed", "1")):
        if packing:
            detail, seconds, peak = run_child("bertjax", *common, f"{prepared}-packed", packing)
            restart["packed_preparation"] = {"seconds": seconds, "mb_per_second": size / seconds,
                                             "peak_rss_mib": peak, **detail}
            say(f"{size:>6} MiB  {'bertjax packed':<11}{seconds:>8.1f} s{size / seconds:>8.2f} MiB/s{peak:>9.0f} MiB "
                f"peak")
        output = f"{prepared}-packed" if packing else str(prepared)
        detail, seconds, peak = run_child("restart", *common, output, str(settings.batch_size), packing)
        restart[layout] = {"size_mb": size, "seconds_to_first_batch": seconds, "peak_rss_mib": peak, **detail}
        say(f"restart on {size} MiB ({layout}): first batch after {seconds:.1f} s")
    return restart


def format_table(results: dict) -> str:
    rows = results["rows"]
    limit = {row["size_mb"]: row["mb_per_second"] for row in rows if row["method"] == "tokenizers"}
    lines = [f"{'corpus':>8} {'method':<15}{'seconds':>9}{'MiB/s':>8}{'of limit':>10}{'peak RSS':>10}{'CPU s':>8}"]
    for row in rows:
        share = f"{row['mb_per_second'] / limit[row['size_mb']]:.2f}" if row["size_mb"] in limit else "-"
        lines.append(f"{row['size_mb']:>5} MiB {row['method']:<15}{row['seconds']:>9.1f}{row['mb_per_second']:>8.2f}"
                     f"{share:>10}{row['peak_rss_mib']:>7.0f} MiB{row['cpu_seconds']:>8.1f}")
    return "\n".join(lines)


def run(settings: PreparationBenchSettings, json_path: str | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="bertjax-preparation-") as scratch:
        results = measure(settings, Path(scratch))
    print(f"{results['environment']['cpu']}, {results['environment']['cpu_threads']} threads")
    print(format_table(results))
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"numbers written to {json_path}")
    return results
