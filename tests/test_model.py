"""The model against transformers' PyTorch BERT: every head, both layer layouts, every computation option."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
import transformers
from flax.traverse_util import flatten_dict
from jax._src.cudnn import fused_attention_stablehlo

from bertjax.convert import ENCODER, HF_CLASS_NAMES, head_module, load_pretrained
from bertjax.errors import ConfigError
from bertjax.model import BertConfig, BertForSequenceClassification, ModelOptions, packed_attention_mask, \
    sinusoidal_table
from bertjax.model.attention import kernel_mask, reference_attention
from bertjax.model.dropout import Dropout
from bertjax.model.layout import is_stacked, stack_layers

TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
            type_vocab_size=2, max_position_embeddings=64)
NUM_LABELS = 3
ALL_HEADS = list(HF_CLASS_NAMES)


def quick_jit(function: Any) -> Any:
    """`jax.jit` without LLVM's optimisations: these tiny programs run once, so optimising costs more than it saves."""
    return jax.jit(function, compiler_options={"xla_backend_optimization_level": 0})
HF_OUTPUTS = {  # our output name -> transformers' output field, per head
    ENCODER: {"last_hidden_state": "last_hidden_state", "pooled_output": "pooler_output",
              "hidden_states": "hidden_states", "attentions": "attentions"},
    "pretraining": {"mlm_logits": "prediction_logits", "nsp_logits": "seq_relationship_logits"},
    "masked_lm": {"mlm_logits": "logits"},
    "next_sentence": {"nsp_logits": "logits"},
    "sequence_classification": {"logits": "logits"},
    "token_classification": {"logits": "logits"},
    "question_answering": {"start_logits": "start_logits", "end_logits": "end_logits"},
    "multiple_choice": {"logits": "logits"},
}


def tiny_hf_model(head: str, seed: int = 0) -> torch.nn.Module:
    """A tiny transformers model of `head` whose every weight is random (biases non-zero, LayerNorm not ones)."""
    torch.manual_seed(seed)
    num_labels = 2 if head == "question_answering" else NUM_LABELS  # its qa_outputs are (start, end)
    config = transformers.BertConfig(**TINY, num_labels=num_labels, attn_implementation="eager")
    model = getattr(transformers, HF_CLASS_NAMES[head])(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return model


def padded_batch(head: str) -> dict[str, np.ndarray]:
    """Three rows of lengths 10, 7 and 4 (token id 0 after the end), segments A (type 0) then B (type 1);
    multiple choice pairs each row with the rows reversed: [3, 2, 10]."""
    rng = np.random.default_rng(0)
    lengths, seq = (10, 7, 4), 10
    input_ids = np.zeros((3, seq), np.int32)
    token_type_ids = np.zeros((3, seq), np.int32)
    for row, length in enumerate(lengths):
        input_ids[row, :length] = rng.integers(1, TINY["vocab_size"], length)
        token_type_ids[row, length // 2:length] = 1
    batch = {"input_ids": input_ids, "attention_mask": (input_ids > 0).astype(np.int32),
             "token_type_ids": token_type_ids}
    if head == "multiple_choice":
        batch = {name: np.stack([array, array[::-1]], axis=1) for name, array in batch.items()}
    return batch


def torch_outputs(model: torch.nn.Module, head: str, batch: dict[str, np.ndarray], device: str = "cpu"
                  ) -> dict[str, Any]:
    """The model's outputs on `batch`, computed on `device` (where the model is), as numpy arrays."""
    with torch.no_grad():
        output = model(**{name: torch.from_numpy(array).long().to(device) for name, array in batch.items()},
                       output_hidden_states=True, output_attentions=True)
    return {ours: _to_numpy(getattr(output, theirs)) for ours, theirs in HF_OUTPUTS[head].items()}


def _to_numpy(value: Any) -> Any:
    return [tensor.cpu().numpy() for tensor in value] if isinstance(value, tuple) else value.cpu().numpy()


def our_outputs(config: BertConfig, head: str, params: Any, batch: dict[str, np.ndarray],
                options: ModelOptions = ModelOptions(), attentions: bool = True) -> dict[str, Any]:
    """The head's outputs; for the bare encoder all hidden states and (optionally) attentions.

    Run op by op, not under `jax.jit`: the heads share the encoder's operations, whose compiled kernels are cached
    once for all of them, which for models this small is several times faster than compiling each head whole.
    """
    module = head_module(head, config, options)
    extra = dict(output_hidden_states=True, output_attentions=attentions) if head == ENCODER else {}
    output = module.apply({"params": params}, batch["input_ids"], batch["attention_mask"], batch["token_type_ids"],
                          **extra)
    if head == ENCODER:
        output = {name: getattr(output, name) for name in HF_OUTPUTS[ENCODER] if getattr(output, name) is not None}
    return jax.tree.map(np.asarray, output)


def assert_outputs_close(ours: dict[str, Any], theirs: dict[str, Any], atol: float) -> None:
    assert set(ours) == set(theirs)
    for name in theirs:
        jax.tree.map(lambda a, b, name=name: np.testing.assert_allclose(a, b, rtol=0, atol=atol, err_msg=name),
                     list(ours[name]) if isinstance(theirs[name], list) else ours[name], theirs[name])


@pytest.fixture(scope="module", params=ALL_HEADS)
def converted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Per head: the PyTorch model's outputs on the padded batch and the folder it was saved to."""
    head = request.param
    model = tiny_hf_model(head, seed=ALL_HEADS.index(head))
    directory = tmp_path_factory.mktemp(head)
    model.save_pretrained(directory)
    batch = padded_batch(head)
    return {"head": head, "directory": directory, "batch": batch, "expected": torch_outputs(model, head, batch)}


def test_parity_with_pytorch(converted: dict[str, Any]) -> None:
    _check_parity(converted, scan_layers=False)


@pytest.mark.parametrize("converted", [ENCODER, "pretraining"], indirect=True)
def test_parity_with_pytorch_scanned(converted: dict[str, Any]) -> None:
    """The layer stack is the same under every head: checked under the encoder (all hidden states and attentions)
    and the pretraining heads."""
    _check_parity(converted, scan_layers=True)


def _check_parity(converted: dict[str, Any], scan_layers: bool) -> None:
    head = converted["head"]
    options = ModelOptions(scan_layers=scan_layers)
    config, params, report = load_pretrained(converted["directory"], head, options=options)
    assert report.missing == report.unexpected == ()
    assert is_stacked(params) == scan_layers
    assert_outputs_close(our_outputs(config, head, params, converted["batch"], options), converted["expected"],
                         atol=1e-5)


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> tuple[BertConfig, Any, dict[str, np.ndarray]]:
    directory = tmp_path_factory.mktemp("encoder")
    tiny_hf_model(ENCODER).save_pretrained(directory)
    config, params, _ = load_pretrained(directory, ENCODER)
    return config, params, padded_batch(ENCODER)


def test_fused_attention_matches_reference(encoder: tuple) -> None:
    config, params, batch = encoder
    reference = our_outputs(config, ENCODER, params, batch, attentions=False)
    fused = our_outputs(config, ENCODER, params, batch, ModelOptions(attention="fused"), attentions=False)
    assert_outputs_close(fused, reference, atol=1e-5)


def test_cudnn_mask_arguments_attend_as_the_reference() -> None:
    """What the cudnn kernel is given for a mask, run by XLA's kernel (no cuDNN here), attends as the reference
    attention does: a padding mask as each row's length, a block-diagonal mask as it is. A row without tokens (a
    last batch's filler) stays finite; its outputs are ignored, so they need not match."""
    rng = np.random.default_rng(0)
    query, key, value = (jnp.asarray(rng.normal(size=(4, 10, 2, 8)), jnp.float32) for _ in range(3))
    padding = (np.arange(10)[None] < np.array([[10], [7], [4], [0]])).astype(np.int32)  # [4, 10]
    packed = packed_attention_mask(jnp.asarray([[1] * 4 + [2] * 5 + [0]] * 4))  # [4, 10, 10]
    for mask, compared in ((jnp.asarray(padding), slice(0, 3)), (packed, slice(None))):
        expected, _ = reference_attention(query, key, value, mask, Dropout(rate=0.0), deterministic=True)
        arguments = kernel_mask(mask, "cudnn")
        assert ("key_value_seq_lengths" in arguments) == (mask.ndim == 2)
        context = jax.nn.dot_product_attention(query, key, value, **arguments, implementation="xla")
        assert np.isfinite(context).all()
        np.testing.assert_allclose(context[compared], expected[compared], rtol=0, atol=1e-6)


@pytest.mark.parametrize("packed", [False, True])
def test_cudnn_attention_passes_cudnns_checks(encoder: tuple, monkeypatch: pytest.MonkeyPatch, packed: bool) -> None:
    """cuDNN's flash kernel checks shapes and dtypes while JAX traces the program, before anything runs: the model
    in bfloat16 with the cudnn kernel, forward and backward, traced here with cuDNN's version query answered. (A
    padding mask broadcast over the queries, as the fused kernel takes it, is refused: "Bias must have same seq
    length as QKV".)"""
    monkeypatch.setattr(fused_attention_stablehlo, "check_cudnn_version", lambda: 91000)
    config, params, batch = encoder
    mask = batch["attention_mask"]
    if packed:  # two sequences in each row, and the row's padding
        mask = packed_attention_mask(jnp.asarray(mask * np.where(np.arange(mask.shape[1]) < 3, 1, 2)))
    module = head_module(ENCODER, config, ModelOptions(attention="cudnn", dtype=jnp.bfloat16))

    def loss(params: Any) -> jax.Array:
        output = module.apply({"params": params}, batch["input_ids"], mask, batch["token_type_ids"])
        return jnp.sum(output.last_hidden_state.astype(jnp.float32) ** 2)

    program = str(jax.make_jaxpr(jax.grad(loss))(params))
    assert "dot_product_attention_fwd" in program and "dot_product_attention_bwd" in program


def _loss_and_gradients(config: BertConfig, params: Any, batch: dict[str, np.ndarray], options: ModelOptions
                        ) -> tuple[jax.Array, Any]:
    module = head_module(ENCODER, config, options)
    program = str(jax.make_jaxpr(module.apply)({"params": params}, batch["input_ids"]))
    assert ("remat" in program) == (options.remat != "none")  # jax.checkpoint shows as a remat primitive

    def loss(params: Any) -> jax.Array:
        output = module.apply({"params": params}, batch["input_ids"], batch["attention_mask"],
                              batch["token_type_ids"])
        return jnp.sum(output.last_hidden_state ** 2) + jnp.sum(output.pooled_output)

    return quick_jit(jax.value_and_grad(loss))(params)


def test_full_remat_gives_identical_outputs_and_gradients(encoder: tuple) -> None:
    """Rematerialisation recomputes activations in the backward pass instead of storing them: the same function,
    but XLA fuses the recomputing program differently, so sums may round differently by a few float32 ulp (the
    key biases, whose exact gradient is zero, hold only such rounding noise, hence the absolute tolerance).
    Checked with scanned layers, the layout remat is used with."""
    config, params, batch = encoder
    params = stack_layers(params)
    plain = _loss_and_gradients(config, params, batch, ModelOptions(scan_layers=True))
    remat = _loss_and_gradients(config, params, batch, ModelOptions(scan_layers=True, remat="full"))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5), remat, plain)


@pytest.mark.parametrize("chunks", [3, 2])
def test_attention_in_batch_slices_gives_the_same_outputs_and_gradients(encoder: tuple, chunks: int) -> None:
    """Dropout active: the mask is drawn for the whole batch, so slicing changes nothing but the matmuls' order
    (2 does not divide the batch of 3: one slice then). Gradients: the key biases' exact gradient is zero and holds
    only rounding noise, hence the absolute tolerance."""
    config, params, batch = encoder
    config = config.replace(attention_probs_dropout_prob=0.3, hidden_dropout_prob=0.2)

    def loss_and_gradients(options: ModelOptions) -> tuple[jax.Array, Any]:
        module = head_module(ENCODER, config, options)

        def loss(params: Any) -> jax.Array:
            output = module.apply({"params": params}, batch["input_ids"], batch["attention_mask"],
                                  batch["token_type_ids"], deterministic=False, rngs={"dropout": jax.random.key(5)})
            return jnp.sum(output.last_hidden_state ** 2) + jnp.sum(output.pooled_output)

        return quick_jit(jax.value_and_grad(loss))(params)

    assert ModelOptions(attention_chunks=chunks).batch_chunks(3, config.hidden_size) == (3 if chunks == 3 else 1)
    whole = loss_and_gradients(ModelOptions(attention_chunks=1))
    sliced = loss_and_gradients(ModelOptions(attention_chunks=chunks))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5), sliced, whole)


def test_attention_chunks_default_to_small_models_on_cpu() -> None:
    assert jax.default_backend() == "cpu"
    assert ModelOptions().attention_chunks_for(256) == 4 and ModelOptions().attention_chunks_for(768) == 1
    assert ModelOptions(attention_chunks=2).attention_chunks_for(768) == 2
    assert [ModelOptions().batch_chunks(batch, 256) for batch in (1, 2, 3, 6, 8, 16)] == [1, 2, 3, 3, 4, 4]
    with pytest.raises(ConfigError, match="attention_chunks"):
        ModelOptions(attention_chunks=0)


def test_cudnn_attention_needs_half_precision() -> None:
    with pytest.raises(ConfigError, match="bfloat16 or float16, not float32"):
        ModelOptions(attention="cudnn")
    assert ModelOptions.from_names("bfloat16", attention="cudnn").attention == "cudnn"


def test_training_steps_compile_for_sliced_attention_only_where_it_runs() -> None:
    small = BertConfig(hidden_size=256, num_attention_heads=4, intermediate_size=1024)
    assert ModelOptions().chunks_attention(small)
    assert not ModelOptions().chunks_attention(small.replace(hidden_size=768, num_attention_heads=12))
    assert not ModelOptions(attention_chunks=1).chunks_attention(small)
    # The fused kernel is not sliced, but it falls back to the reference attention for attention dropout.
    assert not ModelOptions(attention="fused").chunks_attention(small.replace(attention_probs_dropout_prob=0.0))
    assert ModelOptions(attention="fused").chunks_attention(small)


def test_bfloat16_compute_stays_close_to_float32(encoder: tuple) -> None:
    """bfloat16 keeps 8 significant bits: each matmul input is rounded by up to 2^-9 (0.2%) relative. Hidden states
    after LayerNorm are O(1) (here |x| < 5), and the rounding of two layers' matmuls, softmax inputs and residual
    sums adds up to a few hundredths at worst: 0.1 absolute bounds it with margin, while a wrong computation (a
    missing residual, a dropped mask) moves values by O(1)."""
    config, params, batch = encoder
    reference = our_outputs(config, ENCODER, params, batch, attentions=False)
    half = our_outputs(config, ENCODER, params, batch, ModelOptions(dtype=jnp.bfloat16), attentions=False)
    assert half["last_hidden_state"].dtype == jnp.bfloat16
    for name in ("last_hidden_state", "pooled_output"):
        error = np.abs(half[name].astype(np.float32) - reference[name])
        assert 0 < error.max() < 0.1, name


@pytest.mark.parametrize("options", [{}, {"scan_layers": True, "remat": "dots"}])
def test_bfloat16_training_gradients_run_and_stay_close_to_float32(options: dict) -> None:
    """A jitted bfloat16 training gradient at 16 rows (the attention in 4 slices, whose backward products once
    reached XLA's CPU fallback matmul, which has no bfloat16 x bfloat16 -> float32), against float32: products
    of 8-bit mantissas accumulated in float32 keep the gradient within a few percent overall."""
    config = BertConfig(**TINY, id2label={index: str(index) for index in range(NUM_LABELS)})
    batch = {name: np.concatenate([array] * 6)[:16] for name, array in padded_batch("sequence_classification").items()}
    params = jax.jit(BertForSequenceClassification(config).init)(jax.random.key(0), batch["input_ids"])["params"]
    params = stack_layers(params) if options else params

    def gradient(dtype: Any) -> Any:
        model = BertForSequenceClassification(config, ModelOptions(dtype=dtype, **options))
        loss = lambda p: jnp.sum(jnp.sin(model.apply({"params": p}, batch["input_ids"], batch["attention_mask"],
                                                     batch["token_type_ids"])["logits"].astype(jnp.float32)))
        return jax.tree.leaves(jax.jit(jax.grad(loss))(params))

    half, full = gradient(jnp.bfloat16), gradient(jnp.float32)
    difference = sum(float(jnp.abs(a - b).sum()) for a, b in zip(half, full))
    assert all(leaf.dtype == jnp.float32 for leaf in half)
    assert 0 < difference < 0.05 * sum(float(jnp.abs(b).sum()) for b in full)


def test_sinusoidal_table_is_the_formula() -> None:
    length, width = 64, 32
    expected = np.zeros((length, width), np.float64)
    for position in range(length):
        for i in range(width // 2):
            angle = position / 10000 ** (2 * i / width)
            expected[position, 2 * i], expected[position, 2 * i + 1] = np.sin(angle), np.cos(angle)
    table = sinusoidal_table(length, width)
    assert table.dtype == np.float32
    np.testing.assert_array_equal(table, expected.astype(np.float32))


def test_sinusoidal_model_adds_the_table(encoder: tuple) -> None:
    config, params, batch = encoder
    config = config.replace(position_embedding_type="sinusoidal")
    embeddings = {name: value for name, value in params["embeddings"].items() if name != "position_embeddings"}
    position_ids = np.broadcast_to(np.arange(10) + 3, (3, 10))  # offset positions pick other rows of the table
    embedded = head_module(ENCODER, config).apply(
        {"params": {**params, "embeddings": embeddings}}, batch["input_ids"], batch["token_type_ids"], position_ids,
        True, method=lambda model, *args: model.embeddings(*args))
    summed = (embeddings["word_embeddings"]["embedding"][batch["input_ids"]]
              + sinusoidal_table(64, 32)[position_ids]
              + embeddings["token_type_embeddings"]["embedding"][batch["token_type_ids"]])
    normalised = (summed - summed.mean(-1, keepdims=True)) / np.sqrt(summed.var(-1, keepdims=True)
                                                                      + config.layer_norm_eps)
    expected = normalised * embeddings["LayerNorm"]["scale"] + embeddings["LayerNorm"]["bias"]
    np.testing.assert_allclose(embedded, expected, rtol=0, atol=1e-5)


def test_sinusoidal_model_learns(tmp_path: Path) -> None:
    """A masked-LM checkpoint loaded as a sinusoidal model (its learned positions are dropped) runs, and one AdamW
    step on a masked-LM batch lowers the masked-LM loss."""
    tiny_hf_model("masked_lm").save_pretrained(tmp_path)
    config, params, report = load_pretrained(tmp_path, "masked_lm",
                                             config_changes={"position_embedding_type": "sinusoidal"})
    assert report.missing == report.unexpected == () and "position_embeddings" not in params["bert"]["embeddings"]
    batch = padded_batch("masked_lm")
    masked_positions = np.array([[1, 5], [2, 6], [0, 3]], np.int32)  # [batch, predictions], inside each row
    labels = np.take_along_axis(batch["input_ids"], masked_positions, axis=1)
    input_ids = batch["input_ids"].copy()
    np.put_along_axis(input_ids, masked_positions, 3, axis=1)  # token 3 stands for [MASK]
    module = head_module("masked_lm", config)

    def loss(params: Any) -> jax.Array:
        logits = module.apply({"params": params}, input_ids, batch["attention_mask"], batch["token_type_ids"],
                              masked_positions=masked_positions)["mlm_logits"]  # [batch, predictions, vocab]
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    optimizer = optax.adamw(1e-2)
    loss_and_gradients = quick_jit(jax.value_and_grad(loss))
    before, gradients = loss_and_gradients(params)
    updates, _ = optimizer.update(gradients, optimizer.init(params), params)
    after, _ = loss_and_gradients(optax.apply_updates(params, updates))
    assert np.isfinite(before) and after < before - 0.05


def test_initialisation_follows_bert() -> None:
    """Kernels and embeddings ~ normal(initializer_range), biases 0, LayerNorm 1 and 0, the padding row 0."""
    config = BertConfig(vocab_size=500, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=256, initializer_range=0.05, pad_token_id=1)
    # Initialised as the scanned model, whose layer is compiled once: the per-layer statistics are the same.
    module = head_module("pretraining", config, ModelOptions(scan_layers=True))
    variables = quick_jit(module.init)(jax.random.key(3), np.ones((1, 4), np.int32))
    params = flatten_dict(variables["params"], sep="/")
    kernels = [np.asarray(value) for name, value in params.items() if name.endswith(("kernel", "embedding"))]
    pooled = np.concatenate([kernel.ravel() for kernel in kernels])
    assert abs(pooled.std() - 0.05) < 0.001 and abs(pooled.mean()) < 0.001
    for name, value in params.items():
        value = np.asarray(value)
        if name.endswith("word_embeddings/embedding"):
            np.testing.assert_array_equal(value[1], 0)
            value = np.delete(value, 1, axis=0)
        if name.endswith(("kernel", "embedding")) and value.size >= 1000:
            assert abs(value.std() - 0.05) < 0.005, name
        elif "LayerNorm/scale" in name:
            np.testing.assert_array_equal(value, 1, err_msg=name)
        elif name.endswith("bias"):
            np.testing.assert_array_equal(value, 0, err_msg=name)
