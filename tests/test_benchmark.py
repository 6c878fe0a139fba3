"""The benchmark: synthetic batches, the HF-style loss, the alternating protocol, the report, and a smoke run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from bertjax.benchmark import memory, memory_probe
from bertjax.benchmark.steps.bertjax_runner import BertJaxRunner, all_positions_pretraining_loss, scanned_steps
from bertjax.benchmark.steps import suite
from bertjax.benchmark.cli import main, parse_settings
from bertjax.benchmark.peak import Peak
from bertjax.benchmark.pipeline.runners import PipelineRunner, token_lengths
from bertjax.benchmark.pipeline.workload import check_agreement, disagreement, mixed_texts
from bertjax.benchmark.steps.pretrained import write_pretrained
from bertjax.benchmark.report import MeasuredGroup, Results, format_table, rows_for
from bertjax.benchmark.host import host_cpu
from bertjax.benchmark.memory_probe import ProbeError, isolated_memory_bytes
from bertjax.benchmark.settings import BenchmarkSettings
from bertjax.benchmark.timing import SETTLE_SECONDS, Measurement, measure_alternating
from bertjax.benchmark.steps.torch_reference import TORCH_ATTENTIONS, TRANSFORMERS_CLASSES, packed_attention_masks
from bertjax.benchmark.steps.workloads import (EXTRA_MODELS, masked_lm_labels, model_config, pretraining_objective,
                                        synthetic_batch)
from bertjax.data.builtin import builtin_corpus, builtin_sentiment
from bertjax.errors import ConfigError
from bertjax.model import HEADS, BertForPreTraining, ModelOptions, ModernBertConfig, preset
from bertjax.tasks.pretraining import pretraining_loss
from bertjax.train.losses import total_loss
from bertjax.train.optimizer import OptimizerConfig, make_optimizer
from bertjax.train.state import TrainState
from bertjax.train.steps import make_train_step

ROOT = Path(__file__).resolve().parents[1]


def test_pretraining_batch_conventions() -> None:
    config = model_config("bert-mini")
    batch = synthetic_batch(config, "pretrain", batch_size=3, seq_len=40, seed=5)
    assert {key: (value.dtype.name, value.shape) for key, value in batch.items()} == {
        "input_ids": ("int32", (3, 40)), "token_type_ids": ("int32", (3, 40)), "attention_mask": ("int32", (3, 40)),
        "masked_lm_positions": ("int32", (3, 6)), "masked_lm_ids": ("int32", (3, 6)),
        "masked_lm_weights": ("float32", (3, 6)), "next_sentence_labels": ("int32", (3,))}
    positions = batch["masked_lm_positions"]
    assert np.all(np.diff(positions, axis=1) > 0) and positions.min() >= 1 and positions.max() <= 38
    mask_token_id = pretraining_objective(config).mask_token_id
    assert np.all(np.take_along_axis(batch["input_ids"], positions, axis=1) == mask_token_id)
    labels = masked_lm_labels(batch)
    assert np.array_equal(np.take_along_axis(labels, positions, axis=1), batch["masked_lm_ids"])
    assert np.sum(labels != -100) == positions.size
    again = synthetic_batch(config, "pretrain", batch_size=3, seq_len=40, seed=5)
    assert all(np.array_equal(batch[key], again[key]) for key in batch)
    other = synthetic_batch(config, "pretrain", batch_size=3, seq_len=40, seed=6)
    assert not np.array_equal(batch["input_ids"], other["input_ids"])


def test_classification_batch_and_minilm() -> None:
    config = model_config("minilm")
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads,
            config.intermediate_size) == (6, 384, 12, 1536)
    batch = synthetic_batch(config, "finetune", batch_size=4, seq_len=16)
    assert batch["labels"].dtype == np.int32 and batch["labels"].shape == (4,)
    assert set(np.unique(batch["labels"])) <= {0, 1}


def test_all_positions_loss_equals_masked_positions_loss() -> None:
    """The HF-style loss (projection everywhere, labels -100 elsewhere) must compute the same objective."""
    config = preset("bert-tiny", vocab_size=1200, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    batch = synthetic_batch(config, "pretrain", batch_size=2, seq_len=24, seed=1)
    model = BertForPreTraining(config)
    params = model.init(jax.random.key(0), batch["input_ids"][:1])["params"]
    key = jax.random.key(2)
    expected, metrics = jax.jit(pretraining_loss(model))(params, batch, key)
    loss, _ = jax.jit(all_positions_pretraining_loss(model))(params, batch, key)
    assert float(total_loss(loss)) == pytest.approx(float(total_loss(expected)), rel=1e-5)
    assert float(total_loss(expected)) > float(metrics["mlm_loss"].value) > np.log(1200) - 0.5


def test_scanned_steps_equal_separate_steps() -> None:
    """Two steps in one call (the --steps-per-call path) update exactly as two calls do, dropout included."""
    config = preset("bert-tiny", vocab_size=1200)
    model = BertForPreTraining(config)
    batches = [synthetic_batch(config, "pretrain", batch_size=2, seq_len=16, seed=seed) for seed in (1, 2)]
    params = model.init(jax.random.key(0), batches[0]["input_ids"][:1])["params"]
    optimizer, schedule = make_optimizer(OptimizerConfig(learning_rate=1e-3, warmup_steps=0), params, 10, 2)
    state = TrainState(step=jax.numpy.zeros((), jax.numpy.int32), params=params, opt_state=optimizer.init(params),
                       rng=jax.random.key(3))
    train_step = make_train_step(pretraining_loss(model), optimizer, schedule)
    separate = state
    losses = []
    for batch in batches:
        separate, metrics = jax.jit(train_step)(separate, batch)
        losses.append(float(metrics["loss"]))
    stacked = {key: np.stack([batch[key] for batch in batches]) for key in batches[0]}
    scanned, metrics = jax.jit(scanned_steps(train_step))(state, stacked)
    np.testing.assert_allclose(np.asarray(metrics["loss"]), losses, rtol=1e-5)
    assert int(scanned.step) == 2
    for left, right in zip(jax.tree.leaves(separate.params), jax.tree.leaves(scanned.params)):
        np.testing.assert_allclose(np.asarray(left), np.asarray(right), rtol=1e-4, atol=1e-6)


def test_steps_must_be_a_multiple_of_steps_per_call() -> None:
    with pytest.raises(ConfigError, match="multiple of --steps-per-call"):
        BenchmarkSettings(steps=3, steps_per_call=2)


def test_attention_chunks_reach_the_model_options() -> None:
    settings, _ = parse_settings(["--attention-chunks", "2"])
    assert settings.options().attention_chunks == 2 and BenchmarkSettings().options().attention_chunks is None
    with pytest.raises(ConfigError, match="attention_chunks"):
        BenchmarkSettings(attention_chunks=0)


def test_pretrained_workloads_load_one_folder_into_both_frameworks(tmp_path: Path) -> None:
    """Fine-tuning and inference start from the same saved weights: both frameworks predict the same logits."""
    import torch

    from bertjax.benchmark.steps.torch_reference import TorchRunner

    config = model_config("bert-tiny")
    folder = write_pretrained(tmp_path / "model", config, seed=3)
    batch = synthetic_batch(config, "inference", 2, 16, seed=1)
    ours = BertJaxRunner(config, "inference", batch, ModelOptions(), pretrained=folder)
    theirs = TorchRunner(config, "inference", batch, "float32", pretrained=folder)
    ours.prepare()
    ours.run(1)
    theirs.prepare()
    with torch.inference_mode():
        expected = theirs._model(**theirs._inputs).logits.numpy()
    logits = np.asarray(ours._outputs["logits"])
    assert np.abs(expected).max() > 1e-3  # trained-looking weights, not zeros
    np.testing.assert_allclose(logits, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


class _FakeRunner:
    def __init__(self, label: str, log: list[str], fail_in: str | None = None) -> None:
        self.label, self.log, self.fail_in = label, log, fail_in

    def prepare(self) -> None:
        self.log.append(f"prepare {self.label}")
        if self.fail_in == "prepare":
            raise RuntimeError("backend missing\nsecond line")

    def run(self, steps: int) -> None:
        self.log.append(f"run {self.label} {steps}")

    def device_memory_bytes(self) -> int | None:
        return None

    def close(self) -> None:
        self.log.append(f"close {self.label}")


def test_rounds_alternate_after_warmup_and_failures_are_recorded() -> None:
    log: list[str] = []
    runners = [_FakeRunner("a", log), _FakeRunner("b", log), _FakeRunner("c", log, fail_in="prepare")]
    measurements = measure_alternating(runners, steps=3, warmup=3, rounds=2)
    # First step, the memory step (the first warm-up step), the other warm-up steps, then alternating rounds.
    assert log == ["prepare a", "run a 1", "run a 1", "run a 2", "prepare b", "run b 1", "run b 1", "run b 2",
                   "prepare c", "close c", "run a 3", "run b 3", "run a 3", "run b 3", "close a", "close b"]
    assert [len(m.round_seconds) for m in measurements] == [2, 2, 0]
    assert measurements[2].error == "RuntimeError: backend missing"
    assert measurements[2].seconds_per_step is None
    assert measurements[0].memory_bytes is not None and measurements[2].memory_bytes is None


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_settled_reading_waits_for_memory_freed_on_another_thread() -> None:
    """XLA frees a step's temporaries on its own threads after the step returns; a reading must not hold them."""
    held = [np.ones(64 << 20, np.uint8)]  # 64 MiB, touched, so resident
    immediate = memory.resident_bytes()
    threading.Timer(0.05, held.clear).start()
    settled = memory.settled_resident_bytes()
    assert not held and immediate - settled > 48 << 20


def test_rows_relative_to_torch_eager_and_table() -> None:
    measurements = [
        Measurement("bertjax", first_step_seconds=9.0, round_seconds=[1.0, 3.0, 2.0], steps_per_round=4),
        Measurement("PyTorch eager", first_step_seconds=0.5, round_seconds=[4.0, 4.0, 4.0], steps_per_round=4),
        Measurement("torch.compile", error="BackendCompilerFailed: no compiler"),
    ]
    peak = Peak(1e12, "test peak")
    rows = rows_for(MeasuredGroup("bert-mini", "finetune", 8, 128, measurements, 10**9, {}), "float32", "cpu", peak)
    assert rows[0].sequences_per_second == pytest.approx(8 / 0.5)  # median round 2 s over 4 steps
    assert rows[0].tokens_per_second == pytest.approx(16 * 128)
    assert rows[0].speedup_vs_torch_eager == pytest.approx(2.0)
    assert rows[0].mfu == pytest.approx(16 * 1e9 / 1e12)
    assert rows[1].speedup_vs_torch_eager == pytest.approx(1.0)
    assert rows[2].sequences_per_second is None and rows[2].speedup_vs_torch_eager is None
    packed = rows_for(MeasuredGroup("bert-mini", "pretrain-corpus", 8, 128, measurements[:2], 10**9,
                                    {"bertjax": 0.9, "PyTorch eager": 0.6}), "float32", "cpu", peak)
    assert packed[0].tokens_per_second == pytest.approx(16 * 128 * 0.9)  # real tokens only
    assert packed[0].speedup_vs_torch_eager == pytest.approx(2.0 * 0.9 / 0.6)
    table = format_table(Results(settings={}, environment={}, peak=peak, rows=rows))
    assert "2.00x" in table and "1.6%" in table
    assert "n/a: bert-mini finetune torch.compile: BackendCompilerFailed: no compiler" in table


def test_unknown_model_is_reported_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--models", "bert-enormous"]) == 1
    assert "unknown benchmark model 'bert-enormous'" in capsys.readouterr().err


def test_smoke_run_writes_json(tmp_path: Path) -> None:
    """A minuscule end-to-end run in a fresh process: every workload, bertjax and PyTorch eager, no timing checks."""
    output = tmp_path / "results.json"
    environment = {**os.environ, "JAX_PLATFORMS": "cpu"}
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "benchmark.py"), "--models", "bert-tiny", "--batch-size", "2",
         "--seq-len", "64", "--steps", "1", "--warmup", "0", "--rounds", "1", "--no-compile", "--json", str(output)],
        capture_output=True, text=True, env=environment, cwd=ROOT, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    results = json.loads(output.read_text())
    rows = {(row["workload"], row["implementation"]): row for row in results["rows"]}
    assert set(rows) == {("pretrain", "bertjax"), ("pretrain", "bertjax, MLM at all positions"),
                         ("pretrain", "PyTorch eager"), ("pretrain-corpus", "bertjax"),
                         ("pretrain-corpus", "bertjax, packed"), ("pretrain-corpus", "PyTorch eager"),
                         ("finetune", "bertjax"), ("finetune", "PyTorch eager"), ("inference", "bertjax"),
                         ("inference", "PyTorch eager")}
    for (workload, implementation), row in rows.items():
        assert row["error"] is None and row["sequences_per_second"] > 0 and row["first_step_seconds"] > 0
        tokens_per_row = row["tokens_per_second"] / row["sequences_per_second"]
        if workload == "pretrain-corpus":  # real rows: padding is not counted
            assert 32 < tokens_per_row < 64
        else:
            assert tokens_per_row == pytest.approx(64)
        assert (row["batch_size"], row["seq_len"], row["dtype"]) == (2, 64, "float32")
    packed, plain = rows[("pretrain-corpus", "bertjax, packed")], rows[("pretrain-corpus", "bertjax")]
    assert packed["tokens_per_second"] / packed["sequences_per_second"] > \
        plain["tokens_per_second"] / plain["sequences_per_second"]
    assert rows[("finetune", "PyTorch eager")]["speedup_vs_torch_eager"] == pytest.approx(1.0)
    assert results["peak"]["flops_per_second"] > 0
    assert "bertjax, MLM at all positions" in completed.stdout


def test_host_cpu_names_the_processor_and_its_vector_extensions():
    cpuinfo = ("processor\t: 0\nmodel name\t: Example Xeon\nflags\t\t: fpu sse2 avx avx2 fma avx512f amx_tile\n\n"
               "processor\t: 1\nmodel name\t: Example Xeon\nflags\t\t: fpu sse2 avx avx2 fma avx512f amx_tile\n")
    assert host_cpu(cpuinfo) == "Example Xeon (avx2, avx512f, amx_tile)"
    assert host_cpu("model name\t: Older Core\nflags\t: sse2 avx\n") == "Older Core"
    assert host_cpu("model name\t: EPYC\nflags\t: avx2 avx512f avx512_bf16\n") == "EPYC (avx2, avx512f, avx512_bf16)"


class _ClockedRunner(_FakeRunner):
    """A fake runner whose steps take 10 ms each, recording when each call starts and ends."""

    def __init__(self, label: str, calls: list[tuple[float, float]]) -> None:
        super().__init__(label, [])
        self.calls = calls

    def run(self, steps: int) -> None:
        start = time.perf_counter()
        time.sleep(0.01 * steps)
        self.calls.append((start, time.perf_counter()))


def test_timed_calls_start_after_a_pause_that_is_not_timed() -> None:
    """Threads one framework leaves spinning must not run during the next one's timed call: every timed call (the
    first step and each round) starts at least SETTLE_SECONDS after the call before it ended, and the pause is not
    in the numbers."""
    calls: list[tuple[float, float]] = []
    measurements = measure_alternating([_ClockedRunner("a", calls), _ClockedRunner("b", calls)], steps=2, warmup=1,
                                       rounds=2)
    # a: first step, memory step; b: first step, memory step; then rounds a b a b. Timed: first steps and rounds.
    assert len(calls) == 8
    for index in (2, 4, 5, 6, 7):
        assert calls[index][0] - calls[index - 1][1] >= SETTLE_SECONDS
    for measurement in measurements:
        assert measurement.first_step_seconds < SETTLE_SECONDS
        assert all(0.02 <= seconds < SETTLE_SECONDS for seconds in measurement.round_seconds)


def test_memory_probe_reads_one_runner_in_a_fresh_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each implementation's host memory on its own, in a child process; a child that fails says why."""
    settings = BenchmarkSettings(models=("bert-tiny",), workloads=("inference",), batch_size=2, seq_len=32,
                                 compile=False)
    pretrained = write_pretrained(tmp_path / "bert-tiny", model_config("bert-tiny"), seed=0)
    for label in ("bertjax", "PyTorch eager"):
        reading = isolated_memory_bytes(settings, "bert-tiny", "inference", 2, pretrained, label)
        assert 0 < reading < 2**30, label  # bert-tiny's weights alone are 17 MB; a GiB would be a leak
    monkeypatch.setattr(memory_probe, "_CHILD", "import sys; sys.exit('MemoryError: out of memory')")
    with pytest.raises(ProbeError, match="the memory probe of bertjax exited with 1: MemoryError: out of memory"):
        isolated_memory_bytes(settings, "bert-tiny", "inference", 2, pretrained, "bertjax")
    monkeypatch.setattr(memory_probe, "_CHILD", "print('done')")
    with pytest.raises(ProbeError, match="the memory probe of bertjax printed 'done', not a reading"):
        isolated_memory_bytes(settings, "bert-tiny", "inference", 2, pretrained, "bertjax")


def test_isolated_readings_replace_the_shared_process_ones(monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    def runners(*_: object) -> tuple[list[_FakeRunner], dict[str, float]]:
        fakes = [_FakeRunner("a", []), _FakeRunner("b", []), _FakeRunner("c", [], fail_in="prepare")]
        return fakes, dict.fromkeys("abc", 1.0)

    def probe(settings: BenchmarkSettings, model: str, workload: str, batch_size: int, pretrained: Path | None,
              label: str) -> int:
        probed.append(label)
        if label == "b":
            raise ProbeError("the memory probe of b exited with 1: out of memory")
        return 12345

    probed: list[str] = []
    monkeypatch.setattr(suite, "runners_for", runners)
    monkeypatch.setattr(suite, "isolated_memory_bytes", probe)
    settings = BenchmarkSettings(models=("bert-tiny",), workloads=("pretrain",), warmup=0, rounds=1, torch=False,
                                 isolate_memory=True)
    rows = {row.implementation: row for row in suite.run_benchmark(settings, progress=False).rows}
    assert probed == ["a", "b"]  # not the runner that failed
    assert (rows["a"].memory_bytes, rows["b"].memory_bytes, rows["c"].memory_bytes) == (12345, None, None)
    assert "no host memory for b: the memory probe of b exited with 1: out of memory" in capsys.readouterr().err
    assert parse_settings(["--isolate-memory"])[0].isolate_memory and not parse_settings([])[0].isolate_memory


def test_pipeline_texts_are_real_and_of_mixed_length(minilm_dir: Path) -> None:
    texts = mixed_texts(40, seed=1)
    assert len(texts) == 40 and texts == mixed_texts(40, seed=1) and texts != mixed_texts(40, seed=2)
    shipped = builtin_corpus().read_text(encoding="utf-8") + builtin_sentiment().read_text(encoding="utf-8")
    assert all(sentence in shipped for text in texts for sentence in text.split(". "))
    lengths = token_lengths(minilm_dir, texts, 256)
    assert lengths.min() <= 16 and 64 < lengths.max() < 256  # three bucket shapes or more, nothing truncated


def test_pipeline_disagreement_takes_the_numbers(tmp_path: Path) -> None:
    labels = {"labels": np.array(["LABEL_0", "LABEL_1"]), "scores": np.array([0.9, 0.6])}
    embeddings = {"embeddings": np.array([[1.0, 0.0], [0.6, 0.8]])}
    assert disagreement(labels, labels) is None and disagreement(embeddings, embeddings) is None
    assert disagreement({**labels, "labels": np.array(["LABEL_0", "LABEL_0"])}, labels) == "1 of 2 labels differ"
    assert "scores differ by up to 0.001" in disagreement({**labels, "scores": np.array([0.9, 0.601])}, labels)
    turned = {"embeddings": np.array([[1.0, 0.0], [0.8, 0.6]])}
    assert disagreement(turned, embeddings) == "1 embeddings at cosine similarity down to 0.960000"
    assert disagreement({"embeddings": embeddings["embeddings"][:1]}, embeddings) == \
        "embeddings of shape (1, 2), not (2, 2)"
    runners = [PipelineRunner(label, lambda: None, []) for label in ("bertjax.pipeline", "transformers.pipeline")]
    runners[0].predictions, runners[1].predictions = turned, embeddings
    measurements = [Measurement(runner.label, round_seconds=[1.0], steps_per_round=1) for runner in runners]
    check_agreement(runners, measurements)
    assert measurements[0].error.startswith("outputs disagree with transformers.pipeline: 1 embeddings")
    assert measurements[0].seconds_per_step is None and measurements[1].seconds_per_step == 1.0


def test_pipeline_workload_measures_both_tasks_against_transformers() -> None:
    """A few texts through every implementation of both tasks, their outputs checked against each other."""
    with pytest.raises(ConfigError, match="add minilm to --models"):
        BenchmarkSettings(models=("bert-mini",), workloads=("pipeline",))
    settings = BenchmarkSettings(models=("minilm",), workloads=("pipeline",), pipeline_texts=6, batch_size=4,
                                 warmup=0, rounds=1, compile=False)
    results = suite.run_benchmark(settings, progress=False)
    rows = {(row.workload, row.implementation): row for row in results.rows}
    classification = ["bertjax.pipeline", "transformers.pipeline", "transformers.pipeline, batch 4"]
    assert set(rows) == {("pipeline text-classification", label) for label in classification} | {
        ("pipeline feature-extraction", label) for label in [*classification, "sentence-transformers encode"]}
    for row in rows.values():
        assert row.error is None and row.sequences_per_second > 0 and row.first_step_seconds > 0, row
        assert row.batch_size == 6 and 10 < row.tokens_per_second / row.sequences_per_second < row.seq_len
    assert rows[("pipeline feature-extraction", "transformers.pipeline")].speedup_vs_torch_eager == pytest.approx(1)
    assert results.environment["sentence_transformers"] and "pipeline rows:" in format_table(results)


TINY_MODERN = ModernBertConfig(vocab_size=1200, pad_token_id=0, bos_token_id=1, cls_token_id=1, eos_token_id=2,
                               sep_token_id=2, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
                               num_attention_heads=2, local_attention=16, classifier_pooling="mean")


@pytest.mark.parametrize("model", ["ettin-68m", "modernbert-base"])
def test_modern_shapes_build_the_same_model_in_both_frameworks(model: str) -> None:
    """The benchmark's ModernBERT shapes: bertjax's heads and transformers' (built as the PyTorch runner builds them)
    hold the same parameters, and the shapes are the published ones (Ettin 68M, ModernBERT-base 149M)."""
    import torch
    import transformers

    config = model_config(model)
    published = {"ettin-68m": 68_000_000, "modernbert-base": 149_000_000}[model]
    for workload in ("pretrain", "finetune"):
        head = HEADS[pretraining_objective(config).head] if workload == "pretrain" else HEADS["sequence_classification"]
        batch = synthetic_batch(config, workload, 1, 8)
        shapes = jax.eval_shape(head(config).init, jax.random.key(0), batch["input_ids"])["params"]
        ours = sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(shapes))
        _, pretraining_class, classifier_class = TRANSFORMERS_CLASSES["modernbert"]
        with torch.device("meta"):
            theirs = getattr(transformers, pretraining_class if workload == "pretrain" else classifier_class)(
                transformers.ModernBertConfig.from_dict(config.to_dict()))
        assert ours == sum(parameter.numel() for parameter in theirs.parameters()), workload
        assert abs(ours - published) < 0.02 * published, ours


@pytest.mark.parametrize("attention", TORCH_ATTENTIONS)
def test_packed_torch_rows_give_each_sequence_as_alone(attention: str) -> None:
    """The PyTorch runner's packed rows: transformers' ModernBERT with the block-diagonal masks per layer type and
    restarting positions computes each sequence as it computes it alone (sequences longer than the window)."""
    import torch
    import transformers

    config = transformers.ModernBertConfig.from_dict(TINY_MODERN.to_dict(), attn_implementation=attention)
    model = transformers.ModernBertModel(config).eval()
    lengths = (20, 30, 10)  # and 4 slots of padding
    sequence_ids = np.concatenate([np.full(length, index + 1) for index, length in enumerate(lengths)] + [[0] * 4])
    positions = np.concatenate([np.arange(length) for length in lengths] + [np.arange(4)])
    input_ids = np.random.default_rng(0).integers(3, TINY_MODERN.vocab_size, size=(1, sequence_ids.size))
    masks = packed_attention_masks(sequence_ids[None], TINY_MODERN.local_attention // 2, attention)
    with torch.inference_mode():
        packed = model(input_ids=torch.from_numpy(input_ids),
                       attention_mask={name: torch.from_numpy(mask) for name, mask in masks.items()},
                       position_ids=torch.from_numpy(positions[None])).last_hidden_state[0].numpy()
        start = 0
        for length in lengths:
            alone = model(input_ids=torch.from_numpy(input_ids[:, start:start + length])).last_hidden_state[0].numpy()
            np.testing.assert_allclose(packed[start:start + length], alone, rtol=0, atol=1e-5 * np.abs(alone).max())
            start += length


def test_modern_smoke_run_measures_both_frameworks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every workload of a tiny ModernBERT-shaped model, bertjax and PyTorch eager: pretraining MLM only, packed rows
    in both frameworks, no NSP anywhere."""
    monkeypatch.setitem(EXTRA_MODELS, "modern-tiny", TINY_MODERN)
    settings = BenchmarkSettings(models=("modern-tiny",), batch_size=2, seq_len=64, warmup=0, rounds=1,
                                 compile=False)
    rows = {(row.workload, row.implementation): row for row in suite.run_benchmark(settings, progress=False).rows}
    assert set(rows) == {("pretrain", "bertjax"), ("pretrain", "bertjax, MLM at all positions"),
                         ("pretrain", "PyTorch eager"), ("pretrain-corpus", "bertjax"),
                         ("pretrain-corpus", "bertjax, packed"), ("pretrain-corpus", "PyTorch eager"),
                         ("pretrain-corpus", "PyTorch eager, packed"), ("finetune", "bertjax"),
                         ("finetune", "PyTorch eager"), ("inference", "bertjax"), ("inference", "PyTorch eager")}
    for key, row in rows.items():
        assert row.error is None and row.sequences_per_second > 0, key
    packed = rows[("pretrain-corpus", "PyTorch eager, packed")]
    plain = rows[("pretrain-corpus", "PyTorch eager")]
    assert packed.tokens_per_second / packed.sequences_per_second > plain.tokens_per_second / plain.sequences_per_second
