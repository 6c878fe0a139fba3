"""The PyTorch reference: Hugging Face `transformers` BERT or ModernBERT run as its users run it, eager or under
torch.compile, with the attention implementation its users get by default (`sdpa`; `eager` on request).

Training: `BertForPreTraining` / `ModernBertForMaskedLM` / `...ForSequenceClassification` computing their own loss
from labels, backward, global-norm clipping at 1.0, `torch.optim.AdamW` (betas 0.9/0.999, epsilon 1e-6, weight
decay 0.01 except biases and norms) and a linear warmup schedule: the same update as bertjax's default optimizer.
ModernBertForMaskedLM runs as configured by default (`sparse_prediction` off): the prediction head and the vocabulary
projection at every position, the loss over the masked ones; it computes padded rows as they are (transformers 5
unpads for no attention implementation on CPU). Inference: the classifier's forward under `torch.inference_mode()`.
Fine-tuning and inference start from the suite's saved classifier folder through `from_pretrained`; pretraining from
a freshly initialised model.

Packed rows (ModernBERT): transformers reads packed sequences from `position_ids` only with flash attention (GPU).
On CPU the model takes, per layer type, a [batch, 1, seq, seq] mask instead of the padding mask, so the runner gives
it the block-diagonal mask of the row's sequences (within the window for sliding layers) and their `position_ids`:
each sequence is computed as it would be alone, as bertjax computes it.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import numpy as np

from bertjax.benchmark.steps.flops import TRAINING_WORKLOADS, WORKLOAD_HEADS
from bertjax.benchmark.steps.workloads import masked_lm_labels
from bertjax.errors import DependencyError
from bertjax.model import ModelConfig

TORCH_ATTENTIONS = ("sdpa", "eager")
# Per family: transformers' config class and its pretraining and classification heads (names in `transformers`).
TRANSFORMERS_CLASSES = {
    "bert": ("BertConfig", "BertForPreTraining", "BertForSequenceClassification"),
    "modernbert": ("ModernBertConfig", "ModernBertForMaskedLM", "ModernBertForSequenceClassification"),
}


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


def decays(name: str) -> bool:
    """As bertjax's `weight_decay_mask`: weight decay on every parameter but biases and norms (BERT's `LayerNorm`,
    ModernBERT's `norm`, `attn_norm`, `final_norm`, ...)."""
    return not name.endswith("bias") and "norm" not in name.lower()


def packed_attention_masks(sequence_ids: np.ndarray, window: int, attention: str) -> dict[str, np.ndarray]:
    """ModernBERT's masks per layer type for packed rows, as transformers makes them for `attention`: [batch, seq]
    sequence ids -> [batch, 1, seq, seq], where a query may attend to a key of its own sequence (and at most `window`
    tokens away in sliding layers). `sdpa` takes them as booleans; `eager` adds them to the scores (0 or the float32
    minimum)."""
    same_sequence = sequence_ids[:, None, :, None] == sequence_ids[:, None, None, :]
    positions = np.arange(sequence_ids.shape[-1])
    near = np.abs(positions[:, None] - positions[None, :]) <= window
    masks = {"full_attention": same_sequence, "sliding_attention": same_sequence & near}
    if attention == "eager":
        masks = {layer_type: np.where(mask, 0.0, np.finfo(np.float32).min).astype(np.float32)
                 for layer_type, mask in masks.items()}
    return masks


class TorchRunner:
    """One workload of Hugging Face BERT or ModernBERT on a fixed batch (the same arrays bertjax gets)."""

    def __init__(self, config: ModelConfig, workload: str, batch: dict[str, np.ndarray], dtype: str,
                 compiled: bool = False, compile_budget_seconds: int = 0, seed: int = 0,
                 pretrained: Path | None = None, attention: str = "sdpa") -> None:
        """compile_budget_seconds: with `compiled`, give up on a first step (compilation) that takes longer; 0 waits.
        pretrained: a classifier's model folder to load with `from_pretrained`; None initialises the model.
        attention: transformers' `attn_implementation`. A batch with `sequence_ids` is packed (ModernBERT only)."""
        self.config, self.workload, self.host_batch, self.dtype = config, workload, batch, dtype
        self.pretrained, self.attention = pretrained, attention
        self.compiled, self.compile_budget_seconds, self.seed = compiled, compile_budget_seconds, seed
        self.label = "torch.compile" if compiled else "PyTorch eager"
        if "sequence_ids" in batch:
            self.label += ", packed"
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
        config_class, pretraining_head, classifier_head = TRANSFORMERS_CLASSES[self.config.architecture.family]
        head = getattr(transformers, pretraining_head if pretraining else classifier_head)
        if self.pretrained is not None:
            transformers.utils.logging.disable_progress_bar()  # its per-weight bar would break up the benchmark's log
            model = head.from_pretrained(self.pretrained, attn_implementation=self.attention).to(device)
        else:
            config = getattr(transformers, config_class).from_dict(self.config.to_dict(),
                                                                  attn_implementation=self.attention)
            model = head(config).to(device)
        self._inputs = self._model_inputs(torch, device, pretraining)
        if self.workload in TRAINING_WORKLOADS:
            model.train()
            parameters = list(model.named_parameters())
            decay = [parameter for name, parameter in parameters if decays(name)]
            no_decay = [parameter for name, parameter in parameters if not decays(name)]
            self._optimizer = torch.optim.AdamW(
                [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                lr=1e-4, betas=(0.9, 0.999), eps=1e-6)
            self._scheduler = transformers.get_linear_schedule_with_warmup(self._optimizer, 1000, 10_000)
        else:
            model.eval()
        self._model = torch.compile(model) if self.compiled else model

    def _model_inputs(self, torch: Any, device: str, pretraining: bool) -> dict[str, Any]:
        """The batch as the model's keyword arguments: int64 ids, as Hugging Face tokenizers return them; labels."""
        batch = self.host_batch

        def tensor(array: np.ndarray) -> Any:
            return torch.from_numpy(np.ascontiguousarray(array)).to(device)

        names = ("input_ids", "attention_mask") + (("token_type_ids",) if self.config.architecture.token_types else ())
        inputs = {name: tensor(batch[name].astype(np.int64)) for name in names}
        if "sequence_ids" in batch:
            # The sliding layers' window, transformers' `sliding_window`.
            masks = packed_attention_masks(batch["sequence_ids"], self.config.local_attention // 2, self.attention)
            inputs["attention_mask"] = {layer_type: tensor(mask) for layer_type, mask in masks.items()}
            inputs["position_ids"] = tensor(batch["position_ids"].astype(np.int64))
        if pretraining:
            inputs["labels"] = tensor(masked_lm_labels(batch))
            if "next_sentence_labels" in batch:
                inputs["next_sentence_label"] = tensor(batch["next_sentence_labels"].astype(np.int64))
        elif self.workload == "finetune":
            inputs["labels"] = tensor(batch["labels"].astype(np.int64))
        return inputs

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
