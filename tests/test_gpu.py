"""What only a GPU can check: cuDNN's flash attention and the model on the device, against the reference attention
and against transformers' PyTorch BERT on the same GPU.

Skipped without a GPU (the suite runs on CPU by default); on a GPU machine:
`JAX_PLATFORMS=cuda python -m pytest -n 0 tests/test_gpu.py` (one process: JAX takes most of the GPU's memory).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bertjax.convert import ENCODER, head_module, load_pretrained
from bertjax.convert.architecture import initial_params
from bertjax.model import BertConfig, ModelOptions, packed_attention_mask

pytestmark = pytest.mark.skipif(jax.default_backend() != "gpu", reason="needs a GPU (JAX_PLATFORMS=cuda)")

# Head size 64 as in BERT; 128 tokens, rows padded at the end to different lengths. Initial weights five times
# BERT's, so that attention depends on its mask. Measured on CPU in bfloat16: XLA's fused kernel differs from the
# reference by 0.7% at real tokens' outputs and 0.3% in the gradients; attending to padding (no mask) moves them by
# 13% and 8%, attending across the sequences packed in a row by 25% and 5%.
CONFIG = BertConfig(vocab_size=1000, hidden_size=256, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=1024, max_position_embeddings=128, initializer_range=0.1)
LENGTHS = (128, 100, 37, 64, 5, 128, 90, 2)


def padded_batch(packed: bool, seq: int = 128) -> dict[str, np.ndarray]:
    """Rows of LENGTHS tokens; `packed`: each row's tokens as two sequences (a block-diagonal [batch, seq, seq]
    mask), else a [batch, seq] padding mask."""
    rng = np.random.default_rng(0)
    tokens = np.arange(seq)[None] < np.asarray(LENGTHS)[:, None]  # [batch, seq]
    mask = tokens.astype(np.int32)
    if packed:
        sequence_ids = tokens * np.where(np.arange(seq) < 20, 1, 2)
        mask = np.asarray(packed_attention_mask(jnp.asarray(sequence_ids)), np.int32)
    return {"input_ids": rng.integers(1, CONFIG.vocab_size, tokens.shape).astype(np.int32) * tokens,
            "attention_mask": mask, "token_type_ids": np.zeros_like(tokens, np.int32), "tokens": tokens}


def outputs_and_gradients(options: ModelOptions, params: Any, batch: dict[str, np.ndarray]
                          ) -> tuple[jax.Array, Any, str]:
    """The encoder's last hidden state, the gradients of a loss over the real tokens, and the lowered program."""
    module = head_module(ENCODER, CONFIG, options)
    tokens = jnp.asarray(batch["tokens"], jnp.float32)[..., None]

    def loss(params: Any) -> tuple[jax.Array, jax.Array]:
        hidden = module.apply({"params": params}, batch["input_ids"], batch["attention_mask"],
                              batch["token_type_ids"]).last_hidden_state.astype(jnp.float32)
        return jnp.sum((hidden * tokens) ** 2) / jnp.sum(tokens), hidden

    step = jax.jit(jax.value_and_grad(loss, has_aux=True))
    (_, hidden), gradients = step(params)
    return hidden, gradients, step.lower(params).as_text()


def relative_error(ours: Any, reference: Any) -> float:
    """|ours - reference| / |reference| over all leaves of two pytrees, in float32."""
    squares = [(float(jnp.sum((jnp.asarray(a, jnp.float32) - jnp.asarray(b, jnp.float32)) ** 2)),
                float(jnp.sum(jnp.asarray(b, jnp.float32) ** 2)))
               for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(reference))]
    return float(np.sqrt(sum(d for d, _ in squares) / sum(r for _, r in squares)))


@pytest.mark.parametrize("packed", [False, True])
def test_cudnn_attention_matches_the_reference_in_bfloat16(packed: bool) -> None:
    """Both in bfloat16 (8 significant bits), with float32 softmax in the reference and float32 accumulation in
    cuDNN: they round differently, by about 2^-8 relative per operation. 3% bounds the difference of the outputs
    at real tokens and of the gradients with room to spare, and is well below what attending to padding does."""
    params = initial_params(ENCODER, CONFIG)
    batch = padded_batch(packed)
    tokens = batch["tokens"]
    reference, reference_gradients, _ = outputs_and_gradients(ModelOptions(dtype=jnp.bfloat16), params, batch)
    cudnn, cudnn_gradients, program = outputs_and_gradients(
        ModelOptions(dtype=jnp.bfloat16, attention="cudnn"), params, batch)
    kernels = set(re.findall(r"__cudnn\$fmha\w+", program))  # cuDNN's, not a fallback to XLA's attention
    assert {name.endswith("Backward") for name in kernels} == {False, True}, kernels
    assert relative_error(np.asarray(cudnn)[tokens], np.asarray(reference)[tokens]) < 0.03
    assert relative_error(cudnn_gradients, reference_gradients) < 0.03


def test_model_matches_pytorch_on_the_gpu(tmp_path: Path) -> None:
    """float32 at full matmul precision on both sides (no TF32), as on CPU: within 1e-5 of the outputs' scale."""
    import torch

    from tests.test_model import padded_batch as tiny_batch
    from tests.test_model import tiny_hf_model, torch_outputs

    model = tiny_hf_model(ENCODER)
    model.save_pretrained(tmp_path)
    batch = tiny_batch(ENCODER)
    torch.backends.cuda.matmul.allow_tf32 = False
    expected = torch_outputs(model.cuda(), ENCODER, batch, device="cuda")
    config, params, _ = load_pretrained(tmp_path, ENCODER)
    module = head_module(ENCODER, config)
    with jax.default_matmul_precision("highest"):
        output = jax.jit(module.apply)({"params": params}, batch["input_ids"], batch["attention_mask"],
                                       batch["token_type_ids"])
    for ours, theirs in ((output.last_hidden_state, expected["last_hidden_state"]),
                         (output.pooled_output, expected["pooled_output"])):
        scale = np.abs(theirs).max()
        np.testing.assert_allclose(np.asarray(ours), theirs, rtol=0, atol=1e-5 * scale)
