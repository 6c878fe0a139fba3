"""Benchmarking bertjax against Hugging Face PyTorch BERT: FLOPs and MFU, device peaks, fair side-by-side timing."""

from bertjax.benchmark.steps.flops import flops_per_sequence, forward_flops_per_sequence, model_flops_utilization
from bertjax.benchmark.peak import Peak, device_peak, measure_matmul_peak, table_peak
from bertjax.benchmark.report import Results, Row, format_table, write_json
from bertjax.benchmark.settings import BenchmarkSettings
from bertjax.benchmark.steps.suite import run_benchmark

__all__ = [
    "BenchmarkSettings", "Peak", "Results", "Row", "device_peak", "flops_per_sequence", "format_table",
    "forward_flops_per_sequence", "measure_matmul_peak", "model_flops_utilization", "run_benchmark", "table_peak",
    "write_json",
]
