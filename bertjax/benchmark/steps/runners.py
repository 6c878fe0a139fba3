"""The runners of one model x workload (bertjax's variants and PyTorch's) and the frameworks they share."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp

from bertjax.benchmark.steps.bertjax_runner import BertJaxRunner
from bertjax.benchmark.steps.corpus_batches import CorpusBatch, corpus_batches
from bertjax.benchmark.host import cpu_threads
from bertjax.benchmark.steps.pretrained import PRETRAINED_WORKLOADS
from bertjax.benchmark.settings import BenchmarkSettings
from bertjax.benchmark.timing import Runner
from bertjax.benchmark.steps.workloads import model_config, predictions_per_sequence, pretraining_objective, synthetic_batch


def start_frameworks(settings: BenchmarkSettings) -> None:
    """Starts what every runner shares before any is measured, so that no runner is charged for it: PyTorch's
    threads (warmed up) and JAX's client and compiler (one small jitted matmul)."""
    if settings.torch:
        from bertjax.benchmark.steps.torch_reference import set_torch_threads, warm_up

        set_torch_threads(cpu_threads())  # as many as XLA's CPU client uses
        warm_up()
    jax.jit(jnp.dot)(jnp.ones((8, 8)), jnp.ones((8, 8))).block_until_ready()


def runners_for(settings: BenchmarkSettings, model: str, workload: str, batch_size: int, pretrained: Path | None
                ) -> tuple[list[Runner], dict[str, float]]:
    """The runners of one model x workload, and the share of each one's token slots that hold real tokens (only
    below 1 for the corpus workload, whose rows have real padding). `pretrained`: the model folder that the
    workloads starting from a pretrained model load.

    The corpus workload runs bertjax one sequence a row and packed, and PyTorch one a row; and packed too where
    transformers can take packed rows on CPU (ModernBERT, whose pretraining has no NSP to predict per sequence)."""
    config = model_config(model)
    options = settings.options()
    if workload not in PRETRAINED_WORKLOADS:
        pretrained = None

    def bertjax(batch: dict, **variant: bool) -> BertJaxRunner:
        return BertJaxRunner(config, workload, batch, options, steps_per_call=settings.steps_per_call,
                             seed=settings.seed, pretrained=pretrained, **variant)

    def torch(batch: dict, **variant: bool | int) -> Runner:
        from bertjax.benchmark.steps.torch_reference import TorchRunner

        return TorchRunner(config, workload, batch, settings.dtype, seed=settings.seed, pretrained=pretrained,
                           attention=settings.torch_attention, **variant)

    packed: CorpusBatch | None = None
    if workload == "pretrain-corpus":
        plain, packed = corpus_batches(config, batch_size, settings.seq_len,
                                       predictions_per_sequence(config, settings.seq_len), settings.seed)
        batch, filled = plain.batch, plain.filled
        runners: list[Runner] = [bertjax(batch), bertjax(packed.batch)]
        filled_by_label = {runners[1].label: packed.filled}
    else:
        batch, filled = synthetic_batch(config, workload, batch_size, settings.seq_len, settings.seed), 1.0
        runners, filled_by_label = [bertjax(batch)], {}
    if workload == "pretrain" and settings.mlm_all_positions:
        runners.append(bertjax(batch, mlm_all_positions=True))
    if settings.torch:
        runners.append(torch(batch))
        if packed is not None and pretraining_objective(config).head == "masked_lm":
            runners.append(torch(packed.batch))
            filled_by_label[runners[-1].label] = packed.filled
        if settings.compile:
            runners.append(torch(batch, compiled=True, compile_budget_seconds=settings.compile_budget))
    return runners, {runner.label: filled_by_label.get(runner.label, filled) for runner in runners}
