"""Command line of `scripts/benchmark.py`: flags into `BenchmarkSettings`, the table out, errors for people."""

from __future__ import annotations

import argparse
import sys

from bertjax.benchmark.report import format_table, write_json
from bertjax.benchmark.settings import PIPELINE_MODEL, PIPELINE_WORKLOAD, BenchmarkSettings
from bertjax.benchmark.steps.suite import run_benchmark
from bertjax.benchmark.steps.torch_reference import TORCH_ATTENTIONS
from bertjax.benchmark.steps.workloads import EXTRA_MODELS
from bertjax.error_report import report_errors
from bertjax.model.options import ATTENTION_KERNELS, REMAT_POLICIES
from bertjax.train.host_allocator import reuse_freed_host_memory


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def parse_settings(argv: list[str] | None = None) -> tuple[BenchmarkSettings, argparse.Namespace]:
    defaults = BenchmarkSettings()
    parser = argparse.ArgumentParser(
        description="bertjax against Hugging Face PyTorch BERT and ModernBERT, measured side by side in one process.")
    parser.add_argument("--models", type=_names, default=defaults.models,
                        help="comma-separated presets (bert-mini, bert-base, ...), minilm, or the ModernBERT shapes "
                             f"{','.join(name for name in EXTRA_MODELS if name != 'minilm')} "
                             f"(default: {','.join(defaults.models)})")
    parser.add_argument("--workloads", type=_names, default=defaults.workloads,
                        help=f"comma-separated subset of {','.join(defaults.workloads)} (the default), and "
                             f"{PIPELINE_WORKLOAD}: real texts through bertjax's and transformers' pipelines on "
                             f"all-MiniLM-L6-v2 (needs --models {PIPELINE_MODEL})")
    parser.add_argument("--seq-len", type=int, default=defaults.seq_len)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="sequences per step (default: per model on CPU, 32 on accelerators)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default=defaults.dtype)
    parser.add_argument("--steps", type=int, default=defaults.steps, help="steps per timed round")
    parser.add_argument("--warmup", type=int, default=defaults.warmup, help="untimed steps after the first; the first of them always runs and measures host memory")
    parser.add_argument("--rounds", type=int, default=defaults.rounds,
                        help="timed rounds per implementation, alternating between implementations")
    parser.add_argument("--no-torch", dest="torch", action="store_false", help="measure bertjax only")
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="skip torch.compile")
    parser.add_argument("--torch-attention", choices=TORCH_ATTENTIONS, default=defaults.torch_attention,
                        help="transformers' attn_implementation for the PyTorch rows (default: sdpa, its own default)")
    parser.add_argument("--compile-budget", type=int, default=defaults.compile_budget, metavar="SECONDS",
                        help="report torch.compile as n/a when its first step (compilation) takes longer")
    parser.add_argument("--no-all-positions", dest="mlm_all_positions", action="store_false",
                        help="skip the bertjax pretraining row with the MLM projection at every position")
    parser.add_argument("--attention", choices=ATTENTION_KERNELS, default=defaults.attention)
    parser.add_argument("--attention-chunks", type=int, default=None, metavar="N",
                        help="batch slices of the reference attention (default: 4 on one CPU device up to "
                             "hidden size 512, else 1)")
    parser.add_argument("--scan", dest="scan_layers", action="store_true", help="scan over the layers")
    parser.add_argument("--remat", choices=REMAT_POLICIES, default=defaults.remat)
    parser.add_argument("--steps-per-call", type=int, default=defaults.steps_per_call,
                        help="bertjax training steps per jitted call (lax.scan over batches); on CPU this saves "
                             "XLA's per-call page faults. --steps must be a multiple")
    parser.add_argument("--isolate-memory", action="store_true",
                        help="read each implementation's host memory in a fresh process of its own (slower: one "
                             "process per implementation and workload); otherwise it is read in the shared "
                             "process, where a runner can reuse memory that earlier runners freed")
    parser.add_argument("--pipeline-texts", type=int, default=defaults.pipeline_texts, metavar="N",
                        help="texts per call of the pipeline workload")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--json", metavar="FILE", help="also write the numbers to FILE")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    arguments = parser.parse_args(argv)
    fields = {name: getattr(arguments, name) for name in BenchmarkSettings.__dataclass_fields__}
    return BenchmarkSettings(**fields), arguments


def main(argv: list[str] | None = None) -> int:
    reuse_freed_host_memory()  # before JAX starts, as the training scripts do; PyTorch shares the setting

    def benchmark() -> None:
        settings, arguments = parse_settings(argv)
        results = run_benchmark(settings)
        print(format_table(results))
        if arguments.json:
            write_json(results, arguments.json)
            print(f"numbers written to {arguments.json}")

    return report_errors(benchmark, debug="--debug" in (sys.argv[1:] if argv is None else argv))
