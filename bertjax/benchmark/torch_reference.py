"""The PyTorch reference: Hugging Face `transformers` BERT run as its users run it, eager or under torch.compile.

Training: `BertForPreTraining` / `BertForSequenceClassification` computing their own loss from labels, backward,
global-norm clipping at 1.0, `torch.optim.AdamW` (betas 0.9/0.999, epsilon 1e-6, weight decay 0.01 except biases
and LayerNorm) and a linear warmup schedule: the same update as bertjax's default optimizer. Inference: the
classifier's forward under `torch.inference_mode()`. Fine-tuning and inference start from the suite's saved
classifier folder through `from_pretrained`; pretraining from a freshly initialised model.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import numpy as np

from bertjax.benchmark.flops import TRAINING_WORKLOADS, WORKLOAD_HEADS
from bertjax.benchmark.workloads import masked_lm_labels
from bertjax.errors import DependencyError
from bertjax.model import BertConfig


def idle_threads_sleep() -> None:
    """Makes PyTorch's OpenMP threads sleep as soon as their work ends (OMP_WAIT_POLICY=PASSIVE, unless set).

    By default they spin for a while after each parallel region, and alternating with bertjax in one process they
    spun on the cores bertjax's next round ran on (docs/performance.md has the numbers). libgomp reads the setting
    when torch is first imported, so this has to come before that.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _import_torch() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as error:
        raise DependencyError(
            f"the PyTorch comparison needs torch and transformers ({error}); install them or pass --no-torch") from None
    return torch, transformers


def torch_device() -> str:
    torch, _ = _import_torch()
    return "cuda" if torch.cuda.is_available() else "cpu"


def set_torch_threads(count: int) -> None:
    """PyTorch's intra-op threads; XLA's CPU client uses every core on its own."""
    torch, _ = _import_torch()
    torch.set_num_threads(count)


def warm_up() -> None:
    """One small training step (linear, GELU, softmax, backward, AdamW) before anything is measured.

    PyTorch initialises thread pools and kernel caches on its first operations, about 100 MB resident on CPU.
    JAX's equivalent (client, compiler, thread pool) is already resident when runners are measured, because the
    suite measures the peak matmul first; without this, the first PyTorch runner alone was charged its library's
    start-up.
    """
    torch, _ = _import_torch()
    layer = torch.nn.Linear(256, 256).to(torch_device())
    optimizer = torch.optim.AdamW(layer.parameters())
    inputs = torch.randn(512, 256, device=torch_device())
    for _ in range(2):
        torch.nn.functional.gelu(layer(inputs)).softmax(-1).sum().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


class TorchRunner:
    """One workload of Hugging Face BERT on a fixed batch (the same arrays bertjax gets)."""

    def __init__(self, config: BertConfig, workload: str, batch: dict[str, np.ndarray], dtype: str,
                 compiled: bool = False, compile_budget_seconds: int = 0, seed: int = 0,
                 pretrained: Path | None = None) -> None:
        """compile_budget_seconds: with `compiled`, give up on a first step (compilation) that takes longer; 0 waits.
        pretrained: a classifier's model folder to load with `from_pretrained`; None initialises the model."""
        self.config, self.workload, self.host_batch, self.dtype = config, workload, batch, dtype
        self.pretrained = pretrained
        self.compiled, self.compile_budget_seconds, self.seed = compiled, compile_budget_seconds, seed
        self.label = "torch.compile" if compiled else "PyTorch eager"
        self._compiled_once = False
        self._model: Any = None
        self._optimizer: Any = None
        self._scheduler: Any = None
        self._inputs: dict[str, Any] = {}

    def prepare(self) -> None:
        torch, transformers = _import_torch()
        torch.manual_seed(self.seed)
        device = torch_device()
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        pretraining = WORKLOAD_HEADS[self.workload] == "pretraining"
        head = transformers.BertForPreTraining if pretraining else transformers.BertForSequenceClassification
        if self.pretrained is not None:
            transformers.utils.logging.disable_progress_bar()  # its per-weight bar would break up the benchmark's log
            model = head.from_pretrained(self.pretrained).to(device)
        else:
            model = head(transformers.BertConfig.from_dict(self.config.to_dict())).to(device)
        batch = self.host_batch
        # int64 ids, as Hugging Face tokenizers return them.
        inputs = {name: torch.from_numpy(batch[name].astype(np.int64)).to(device)
                  for name in ("input_ids", "token_type_ids", "attention_mask")}
        if pretraining:
            inputs["labels"] = torch.from_numpy(masked_lm_labels(batch)).to(device)
            inputs["next_sentence_label"] = torch.from_numpy(batch["next_sentence_labels"].astype(np.int64)).to(device)
        elif self.workload == "finetune":
            inputs["labels"] = torch.from_numpy(batch["labels"].astype(np.int64)).to(device)
        self._inputs = inputs
        if self.workload in TRAINING_WORKLOADS:
            model.train()
            decay = [p for name, p in model.named_parameters() if not name.endswith("bias") and "LayerNorm" not in name]
            no_decay = [p for name, p in model.named_parameters() if name.endswith("bias") or "LayerNorm" in name]
            self._optimizer = torch.optim.AdamW(
                [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                lr=1e-4, betas=(0.9, 0.999), eps=1e-6)
            self._scheduler = transformers.get_linear_schedule_with_warmup(self._optimizer, 1000, 10_000)
        else:
            model.eval()
        self._model = torch.compile(model) if self.compiled else model

    def _autocast(self) -> Any:
        torch, _ = _import_torch()
        return torch.autocast(torch_device(), dtype=torch.bfloat16, enabled=self.dtype == "bfloat16")

    def _train_step(self) -> None:
        torch, _ = _import_torch()
        with self._autocast():
            loss = self._model(**self._inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self._model.parameters(), 1.0)
        self._optimizer.step()
        self._scheduler.step()
        self._optimizer.zero_grad(set_to_none=True)

    def run(self, steps: int) -> None:
        budget = self.compile_budget_seconds
        can_interrupt = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
        if not self.compiled or self._compiled_once or not budget or not can_interrupt:
            self._run(steps)
            self._compiled_once = True
            return
        expired = []

        def expire(signum: int, frame: Any) -> None:
            expired.append(True)
            raise TimeoutError

        previous = signal.signal(signal.SIGALRM, expire)
        signal.alarm(budget)
        timeout = TimeoutError(f"compilation took longer than the {budget} s budget (--compile-budget)")
        try:
            self._run(steps)
        except Exception:
            if expired:  # torch wraps the interruption in its own errors; say what happened instead
                raise timeout from None
            raise
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
        if expired:  # torch caught the interruption and carried on, possibly without compiling
            raise timeout
        self._compiled_once = True

    def _run(self, steps: int) -> None:
        torch, _ = _import_torch()
        if self.workload in TRAINING_WORKLOADS:
            for _ in range(steps):
                self._train_step()
        else:
            with torch.inference_mode(), self._autocast():
                for _ in range(steps):
                    self._model(**self._inputs)
        if torch_device() == "cuda":
            torch.cuda.synchronize()

    def device_memory_bytes(self) -> int | None:
        torch, _ = _import_torch()
        return torch.cuda.max_memory_allocated() if torch_device() == "cuda" else None

    def close(self) -> None:
        torch, _ = _import_torch()
        self._model = self._optimizer = self._scheduler = None
        self._inputs = {}
        if self.compiled:
            torch._dynamo.reset()
        if torch_device() == "cuda":
            torch.cuda.empty_cache()
