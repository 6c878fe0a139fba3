"""The pretraining script as two processes on localhost (2 CPU devices each): each reads its share of the
corpus, they agree on the vocabulary, train together and export one model."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from bertjax.data.builtin import builtin_corpus
from bertjax.data.pretraining.corpus.documents import read_documents

ROOT = Path(__file__).resolve().parents[1]


def test_two_processes_pretrain_together(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, str(ROOT / "scripts" / "pretrain.py"), f"train.output_dir={tmp_path / 'run'}",
               "model.changes={hidden_size: 32, num_attention_heads: 2, intermediate_size: 64}",
               "data.vocab_size=400", "data.max_seq_length=32", "data.max_predictions_per_seq=5",
               "train.batch_size=8", "train.steps=4", "train.log_every=2", "train.eval_every=0", "train.eval_batches=2"]
    environment = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
                   "BERTJAX_COORDINATOR": f"127.0.0.1:{port}", "BERTJAX_NUM_PROCESSES": "2"}
    processes = [subprocess.Popen(command, env={**environment, "BERTJAX_PROCESS_ID": str(index)},
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for index in range(2)]
    outputs = [process.communicate(timeout=300)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    primary = outputs[0]
    half = len(read_documents(builtin_corpus(), shard_index=0, shard_count=2))
    assert f"{half} documents" in primary  # its own share of the corpus
    assert "on 4 device(s)" in primary
    assert (tmp_path / "run" / "hf" / "model.safetensors").is_file()
    assert (tmp_path / "run" / "metrics" / "train.jsonl").read_text().count("\n") == 2
