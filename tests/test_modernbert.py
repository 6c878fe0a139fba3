"""ModernBERT against transformers' PyTorch ModernBERT: every head in both conversion directions, padded and packed
batches, MLM gradients, every computation option, and bad input."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
import transformers
from flax.traverse_util import unflatten_dict
from jax._src.cudnn import fused_attention_stablehlo
from safetensors.numpy import load_file
from test_model import assert_outputs_close, quick_jit

from bertjax.convert import ENCODER, load_model_dir, load_pretrained, save_model_dir, save_pretrained
from bertjax.convert.architecture import FAMILY_CLASS_NAMES, expected_params, head_module, initial_params
from bertjax.convert.names import state_dict_from_params
from bertjax.errors import ConfigError
from bertjax.model import BertModel, ModelOptions, ModernBertConfig, packed_attention_mask, read_config_file
from bertjax.model.layout import is_stacked, stack_layers

REPOSITORY = Path(__file__).resolve().parents[1]
CLASS_NAMES = FAMILY_CLASS_NAMES["modernbert"]
HEADS = list(CLASS_NAMES)
TOKENS = dict(vocab_size=99, pad_token_id=0, bos_token_id=1, cls_token_id=1, eos_token_id=2, sep_token_id=2)
SHAPES = {
    # ModernBERT-base's choices, small: global attention in layers 0 and 3, a window of +-2 tokens elsewhere,
    # rotary bases 160,000 (global) and 10,000 (local), no biases, [CLS] pooling.
    "modernbert": dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=48,
                       local_attention=4),
    # Ettin's: one rotary base for all layers, mean pooling (and its +-4 window).
    "ettin": dict(hidden_size=48, num_hidden_layers=3, num_attention_heads=3, intermediate_size=64,
                  local_attention=8, global_rope_theta=160000.0, local_rope_theta=160000.0,
                  classifier_pooling="mean"),
    # Every other choice: biases everywhere but the decoder, other activations, an irregular layer pattern.
    "biased": dict(hidden_size=24, num_hidden_layers=3, num_attention_heads=2, intermediate_size=40,
                   local_attention=6, layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                   global_rope_theta=5000.0, local_rope_theta=300.0, attention_bias=True, mlp_bias=True,
                   norm_bias=True, classifier_bias=True, decoder_bias=False, hidden_activation="silu",
                   classifier_activation="gelu_pytorch_tanh", norm_eps=1e-6),
}
# Rows many windows long: ModernBERT's pattern (global, local, local) with a window of +-8 tokens.
LONG_ROW_SHAPES = {"windows": dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=48,
                                   local_attention=16)}
NUM_LABELS = 3
HF_OUTPUTS = {  # our output name -> transformers' output field, per head
    ENCODER: {"last_hidden_state": "last_hidden_state", "hidden_states": "hidden_states",
              "attentions": "attentions"},
    "masked_lm": {"mlm_logits": "logits"},
    "sequence_classification": {"logits": "logits"},
    "token_classification": {"logits": "logits"},
    "question_answering": {"start_logits": "start_logits", "end_logits": "end_logits"},
    "multiple_choice": {"logits": "logits"},
}
SEQUENCE_LENGTHS = (12, 9, 5)  # each longer than every shape's window
PACKED = ((5, 4), (7, 5))  # two rows of 12 tokens: the first ends in 3 padding tokens


def hf_config(shape: str, head: str = ENCODER) -> transformers.ModernBertConfig:
    num_labels = 2 if head == "question_answering" else NUM_LABELS  # its classifier gives start and end
    return transformers.ModernBertConfig(**TOKENS, **{**SHAPES, **LONG_ROW_SHAPES}[shape], num_labels=num_labels,
                                         attn_implementation="eager")


def tiny_hf_model(shape: str, head: str, seed: int = 0) -> torch.nn.Module:
    """A tiny transformers ModernBERT of `head` whose every weight is random (biases non-zero, norms not ones)."""
    torch.manual_seed(seed)
    model = getattr(transformers, CLASS_NAMES[head])(hf_config(shape, head)).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return model


def random_params(head: str, config: ModernBertConfig, seed: int) -> dict[str, Any]:
    """Params of `head` with every value random (norm scales around 1), without running an initialiser."""
    rng = np.random.default_rng(seed)
    return unflatten_dict({
        path: (rng.normal(0.0, 0.05, shape.shape) + (path[-1] == "scale")).astype(np.float32)
        for path, shape in expected_params(head, config).items()})


def padded_batch(head: str) -> dict[str, np.ndarray]:
    """Rows of `SEQUENCE_LENGTHS` tokens, padded with token 0; multiple choice pairs each row with the rows
    reversed: [3, 2, 12]."""
    rng = np.random.default_rng(0)
    input_ids = np.zeros((len(SEQUENCE_LENGTHS), max(SEQUENCE_LENGTHS)), np.int32)
    for row, length in enumerate(SEQUENCE_LENGTHS):
        input_ids[row, :length] = rng.integers(3, TOKENS["vocab_size"], length)
    batch = {"input_ids": input_ids, "attention_mask": (input_ids > 0).astype(np.int32)}
    if head == "multiple_choice":
        batch = {name: np.stack([array, array[::-1]], axis=1) for name, array in batch.items()}
    return batch


def torch_outputs(model: torch.nn.Module, head: str, batch: dict[str, np.ndarray]) -> dict[str, Any]:
    extra = dict(output_hidden_states=True, output_attentions=True) if head == ENCODER else {}
    with torch.no_grad():
        output = model(**{name: torch.from_numpy(array).long() for name, array in batch.items()}, **extra)
    return {ours: jax.tree.map(lambda tensor: tensor.numpy(), tuple(value) if isinstance(
        value := getattr(output, theirs), tuple) else value) for ours, theirs in HF_OUTPUTS[head].items()}


def our_outputs(config: ModernBertConfig, head: str, params: Any, batch: dict[str, Any],
                options: ModelOptions = ModelOptions(), attentions: bool = True) -> dict[str, Any]:
    """The head's outputs; for the bare encoder all hidden states and (optionally) attentions.

    Compiled whole without LLVM's optimisations: each shape's program is compiled once, in a quarter of the time
    that running these models op by op takes to compile its operations.
    """
    module = head_module(head, config, options)
    extra = dict(output_hidden_states=True, output_attentions=attentions) if head == ENCODER else {}

    def apply(params: Any, batch: dict[str, Any]) -> Any:
        output = module.apply({"params": params}, batch["input_ids"], batch["attention_mask"],
                              position_ids=batch.get("position_ids"), **extra)
        if head == ENCODER:
            return {name: getattr(output, name) for name in HF_OUTPUTS[ENCODER] if getattr(output, name) is not None}
        return output

    output = quick_jit(apply)(params, batch)
    return jax.tree.map(np.asarray, {name: list(value) if isinstance(value, tuple) else value
                                     for name, value in output.items()})


def _comparable(outputs: dict[str, Any]) -> dict[str, Any]:
    return {name: list(value) if isinstance(value, tuple) else value for name, value in outputs.items()}


def assert_parity(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    assert_outputs_close(ours, _comparable(theirs), atol=1e-5)


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("shape", list(SHAPES))
def test_conversion_both_ways_keeps_the_outputs(tmp_path: Path, shape: str, head: str) -> None:
    """A transformers checkpoint loaded gives its outputs; random params saved give ours in transformers, and load
    back unchanged."""
    model = tiny_hf_model(shape, head, seed=HEADS.index(head))
    model.save_pretrained(tmp_path / "transformers")
    config, params, report = load_pretrained(tmp_path / "transformers", head)
    assert report.missing == report.unexpected == ()
    batch = padded_batch(head)
    assert_parity(our_outputs(config, head, params, batch), torch_outputs(model, head, batch))

    params = random_params(head, config, seed=len(head))
    save_pretrained(tmp_path / "bertjax", config, params, head)
    theirs, info = getattr(transformers, CLASS_NAMES[head]).from_pretrained(
        tmp_path / "bertjax", output_loading_info=True, attn_implementation="eager")
    assert {kind: sorted(names) for kind, names in info.items()} == {
        "missing_keys": [], "unexpected_keys": [], "mismatched_keys": [], "error_msgs": []}
    assert_parity(our_outputs(config, head, params, batch), torch_outputs(theirs.eval(), head, batch))
    loaded_config, loaded, _ = load_pretrained(tmp_path / "bertjax", head)
    assert loaded_config == config
    jax.tree.map(np.testing.assert_array_equal, loaded, params)


def packed_batch() -> tuple[dict[str, np.ndarray], list[tuple[int, slice]]]:
    """Rows of sequences `PACKED` one after another, with `sequence_ids` (0 = padding) and positions restarting at
    each sequence; and where each sequence lies (row, columns)."""
    rng = np.random.default_rng(1)
    seq = max(sum(lengths) for lengths in PACKED)
    input_ids, sequence_ids, position_ids = (np.zeros((len(PACKED), seq), np.int32) for _ in range(3))
    places = []
    for row, lengths in enumerate(PACKED):
        start = 0
        for number, length in enumerate(lengths, start=1):
            columns = slice(start, start + length)
            input_ids[row, columns] = rng.integers(3, TOKENS["vocab_size"], length)
            sequence_ids[row, columns] = number
            position_ids[row, columns] = np.arange(length)
            places.append((row, columns))
            start += length
    return {"input_ids": input_ids, "sequence_ids": sequence_ids, "position_ids": position_ids}, places


@pytest.mark.parametrize("head", [ENCODER, "masked_lm"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_packed_rows_give_each_sequence_as_alone(tmp_path: Path, shape: str, head: str) -> None:
    """Sequences packed in rows, each longer than the local window (and the window crossing into its neighbours):
    the block-diagonal mask and the restarting positions give each sequence what transformers gives it alone."""
    model = tiny_hf_model(shape, head, seed=7)
    model.save_pretrained(tmp_path)
    config, params, _ = load_pretrained(tmp_path, head)
    packed, places = packed_batch()
    batch = {**packed, "attention_mask": packed_attention_mask(jnp.asarray(packed["sequence_ids"]))}
    # The bare encoder without its pooling (which reads each row's first sequence only).
    module = BertModel(config, add_pooling_layer=False) if head == ENCODER else head_module(head, config)
    output = quick_jit(lambda params, batch: module.apply({"params": params}, batch["input_ids"],
                                                          batch["attention_mask"],
                                                          position_ids=batch["position_ids"]))(params, batch)
    ours = {"last_hidden_state": output.last_hidden_state} if head == ENCODER else output
    for row, columns in places:
        alone = {"input_ids": packed["input_ids"][row:row + 1, columns]}
        expected = torch_outputs(model, head, {**alone, "attention_mask": np.ones_like(alone["input_ids"])})
        for name, value in ours.items():
            np.testing.assert_allclose(np.asarray(value)[row:row + 1, columns], expected[name], rtol=0, atol=1e-5,
                                       err_msg=f"{name} of the sequence at row {row}, columns {columns}")


@pytest.mark.parametrize("shape", list(SHAPES))
def test_packed_sequences_are_classified_each_as_alone(tmp_path: Path, shape: str) -> None:
    """The sequence classifier pooled at each packed sequence's first token ([CLS] pooling, or the mean over the
    tokens it attends to): each sequence's logits are those transformers gives it alone."""
    head = "sequence_classification"
    model = tiny_hf_model(shape, head, seed=11)
    model.save_pretrained(tmp_path)
    config, params, _ = load_pretrained(tmp_path, head)
    packed, places = packed_batch()
    starts = np.asarray([[columns.start for row_of, columns in places if row_of == row] for row in range(len(PACKED))],
                        np.int32)  # [rows, sequences]
    module = head_module(head, config)
    logits = quick_jit(lambda params, batch: module.apply(
        {"params": params}, batch["input_ids"], packed_attention_mask(batch["sequence_ids"]),
        position_ids=batch["position_ids"], pooled_positions=batch["starts"])["logits"])(
        params, {**packed, "starts": starts})
    assert logits.shape == (len(PACKED), 2, NUM_LABELS)
    for row, columns in places:
        alone = {"input_ids": packed["input_ids"][row:row + 1, columns]}
        expected = torch_outputs(model, head, {**alone, "attention_mask": np.ones_like(alone["input_ids"])})
        slot = list(starts[row]).index(columns.start)
        np.testing.assert_allclose(np.asarray(logits)[row, slot], expected["logits"][0], rtol=0, atol=1e-5,
                                   err_msg=f"logits of the sequence at row {row}, columns {columns}")


def assert_mlm_gradients_equal(model: torch.nn.Module, config: ModernBertConfig, params: Any,
                               batch: dict[str, np.ndarray], positions: np.ndarray) -> None:
    """The MLM loss (cross entropy over the tokens at `positions` [batch, predictions]) and its gradient for every
    weight, the tied word embeddings included, as transformers computes them."""
    labels = np.take_along_axis(batch["input_ids"], positions, axis=1)
    torch_labels = np.full(batch["input_ids"].shape, -100)
    np.put_along_axis(torch_labels, positions, labels, axis=1)
    model.train()  # no dropout in these configs; train mode as a training step runs it
    loss = model(input_ids=torch.from_numpy(batch["input_ids"]).long(),
                 attention_mask=torch.from_numpy(batch["attention_mask"]).long(),
                 labels=torch.from_numpy(torch_labels)).loss
    loss.backward()
    module = head_module("masked_lm", config)

    def our_loss(params: Any) -> jax.Array:
        logits = module.apply({"params": params}, batch["input_ids"], batch["attention_mask"],
                              masked_positions=positions)["mlm_logits"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    value, gradients = quick_jit(jax.value_and_grad(our_loss))(params)
    np.testing.assert_allclose(value, loss.item(), rtol=1e-6)
    ours = state_dict_from_params(gradients, "modernbert")
    theirs = {name: parameter.grad.numpy() for name, parameter in model.named_parameters()}
    assert sorted(ours) == sorted(theirs)
    for name, gradient in theirs.items():
        np.testing.assert_allclose(ours[name], gradient, rtol=0, atol=1e-4, err_msg=name)


@pytest.mark.parametrize("shape", ["modernbert", "biased"])
def test_masked_lm_gradients_equal_transformers(tmp_path: Path, shape: str) -> None:
    model = tiny_hf_model(shape, "masked_lm", seed=3)
    model.save_pretrained(tmp_path)
    config, params, _ = load_pretrained(tmp_path, "masked_lm")
    positions = np.array([[1, 6, 10], [0, 4, 8], [2, 3, 4]], np.int32)  # [batch, predictions], inside each row
    assert_mlm_gradients_equal(model, config, params, padded_batch("masked_lm"), positions)


def test_rows_of_many_windows_equal_transformers(tmp_path: Path) -> None:
    """Rows ten windows long (+-8 tokens), where the local layers attend over their band only: padded rows (one of
    five and a half windows, one shorter than a window) give transformers' hidden states and MLM gradients."""
    lengths, seq = (80, 45, 6), 80
    model = tiny_hf_model("windows", "masked_lm", seed=5)
    model.save_pretrained(tmp_path)
    config, params, _ = load_pretrained(tmp_path, "masked_lm")
    assert config.architecture.windows == (None, 8, 8)
    rng = np.random.default_rng(2)
    input_ids = np.zeros((len(lengths), seq), np.int32)
    for row, length in enumerate(lengths):
        input_ids[row, :length] = rng.integers(3, TOKENS["vocab_size"], length)
    batch = {"input_ids": input_ids, "attention_mask": (input_ids > 0).astype(np.int32)}
    encoder = transformers.ModernBertModel(hf_config("windows")).eval()
    encoder.load_state_dict(model.model.state_dict())
    assert_parity(our_outputs(config, ENCODER, params["model"], batch, attentions=False),
                  {name: value for name, value in torch_outputs(encoder, ENCODER, batch).items()
                   if name != "attentions"})
    positions = np.array([[0, 37, 79], [3, 30, 44], [0, 2, 5]], np.int32)
    assert_mlm_gradients_equal(model, config, params, batch, positions)


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModernBertConfig, Any, dict[str, np.ndarray]]:
    directory = tmp_path_factory.mktemp("modernbert-encoder")
    tiny_hf_model("modernbert", ENCODER).save_pretrained(directory)
    config, params, _ = load_pretrained(directory, ENCODER)
    return config, params, padded_batch(ENCODER)


@pytest.mark.parametrize("options", [ModelOptions(scan_layers=True), ModelOptions(scan_layers=True, remat="full"),
                                     ModelOptions(attention="fused")], ids=["scanned", "scanned-remat", "fused"])
def test_computation_options_give_the_same_outputs(encoder: tuple, options: ModelOptions) -> None:
    """Scanned, the first layer (which has no attention norm) runs on its own and the other three under nn.scan,
    their windows and rotary tables looked up by layer; the fused kernel takes the window as a mask."""
    config, params, batch = encoder
    expected = our_outputs(config, ENCODER, params, batch, attentions=False)
    if options.scan_layers:
        params = stack_layers(params, config.architecture.first_scanned_layer)
        assert sorted(params["encoder"]) == ["layer", "layer_0"]
        assert "attn_norm" in params["encoder"]["layer"] and "attn_norm" not in params["encoder"]["layer_0"]
    assert_outputs_close(our_outputs(config, ENCODER, params, batch, options, attentions=False), expected, atol=1e-5)


@pytest.mark.parametrize("attention", ["reference", "fused"])
def test_bfloat16_compute_stays_close_to_float32(encoder: tuple, attention: str) -> None:
    """ModernBERT's rotary and sliding-window layers in bfloat16 (products accumulated in float32, rotation and
    softmax in float32) against float32: within the few hundredths that rounding every matmul input to 8 significant
    bits adds over four layers (test_model's bound for BERT), where a wrong window or rotation moves values by O(1)."""
    config, params, batch = encoder
    reference = our_outputs(config, ENCODER, params, batch, attentions=False)["last_hidden_state"]
    half = our_outputs(config, ENCODER, params, batch, ModelOptions(dtype=jnp.bfloat16, attention=attention),
                       attentions=False)["last_hidden_state"]
    assert half.dtype == jnp.bfloat16
    error = np.abs(half.astype(np.float32) - reference)[batch["attention_mask"] > 0]
    assert 0 < error.max() < 0.1


def test_cudnn_attention_passes_cudnns_checks(encoder: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windowed layers give cuDNN a [batch, 1, seq, seq] mask (it has no two-sided window); traced as in
    test_model, forward and backward, scanned so that the windows are looked up by layer."""
    monkeypatch.setattr(fused_attention_stablehlo, "check_cudnn_version", lambda: 91000)
    config, params, batch = encoder
    module = head_module(ENCODER, config, ModelOptions(attention="cudnn", dtype=jnp.bfloat16, scan_layers=True))
    params = stack_layers(params, config.architecture.first_scanned_layer)

    def loss(params: Any) -> jax.Array:
        output = module.apply({"params": params}, batch["input_ids"], batch["attention_mask"])
        return jnp.sum(output.last_hidden_state.astype(jnp.float32) ** 2)

    program = str(jax.make_jaxpr(jax.grad(loss))(params))
    assert "dot_product_attention_fwd" in program and "dot_product_attention_bwd" in program


def test_scanned_params_load_and_save_like_per_layer_ones(tmp_path: Path) -> None:
    tiny_hf_model("modernbert", "masked_lm").save_pretrained(tmp_path / "hf")
    config, per_layer, _ = load_pretrained(tmp_path / "hf", "masked_lm")
    _, stacked, _ = load_pretrained(tmp_path / "hf", "masked_lm", options=ModelOptions(scan_layers=True))
    assert is_stacked(stacked)
    jax.tree.map(np.testing.assert_array_equal, stacked, stack_layers(per_layer, 1))
    save_pretrained(tmp_path / "saved", config, stacked, "masked_lm")
    jax.tree.map(np.testing.assert_array_equal, load_file(tmp_path / "saved" / "model.safetensors"),
                 load_file(tmp_path / "hf" / "model.safetensors"))


def test_bertjax_model_folder_round_trip(tmp_path: Path) -> None:
    config = ModernBertConfig.from_dict(hf_config("ettin", "token_classification").to_dict())
    params = random_params("token_classification", config, seed=5)
    save_model_dir(tmp_path, config, params, "token_classification")
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == \
        ["ModernBertForTokenClassification"]
    loaded_config, head, loaded = load_model_dir(tmp_path)
    assert (loaded_config, head) == (config, "token_classification")
    jax.tree.map(np.testing.assert_array_equal, loaded, params)


def test_missing_head_is_initialised_as_transformers_does(tmp_path: Path) -> None:
    """A masked-LM checkpoint loaded as a classifier: its prediction head is kept; the classifier, which it lacks, is
    drawn as transformers draws it (normal of std hidden_size ** -0.5 truncated at 2 std, bias 0) and reported."""
    config = ModernBertConfig(**TOKENS, hidden_size=256, num_hidden_layers=2, num_attention_heads=4,
                              intermediate_size=64, id2label={index: str(index) for index in range(16)})
    save_pretrained(tmp_path, config, random_params("masked_lm", config, seed=0), "masked_lm")
    _, params, report = load_pretrained(tmp_path, "sequence_classification")
    assert report.missing == ("classifier.bias", "classifier.weight") and report.unexpected == ("decoder.bias",)
    assert "initialised as transformers does (not in the checkpoint): classifier.bias, classifier.weight" in \
        report.describe()
    kernel, std = np.asarray(params["classifier"]["kernel"]), 256 ** -0.5
    theirs = transformers.ModernBertForSequenceClassification(transformers.ModernBertConfig(**config.to_dict()))
    reference = theirs.classifier.weight.detach().numpy()
    assert np.abs(kernel).max() <= 2 * std and np.abs(reference).max() <= 2 * std
    assert abs(kernel.std() - reference.std()) < 0.1 * std and abs(kernel.std() - 0.88 * std) < 0.1 * std
    np.testing.assert_array_equal(params["classifier"]["bias"], 0)


def test_fresh_model_is_initialised_as_transformers_does() -> None:
    """Standard deviations of every weight of a fresh masked-LM model against transformers' initialisation."""
    config = ModernBertConfig(**TOKENS, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=64)
    ours = state_dict_from_params(initial_params("masked_lm", config), "modernbert")
    torch.manual_seed(0)
    theirs = transformers.ModernBertForMaskedLM(transformers.ModernBertConfig(**config.to_dict())).state_dict()
    assert sorted(ours) == sorted(name for name in theirs if name != "decoder.weight")
    for name, value in ours.items():
        reference = theirs[name].numpy()
        if np.all(reference == reference.flat[0]):  # norms' ones, biases' zeros
            np.testing.assert_array_equal(value, reference, err_msg=name)
        else:
            assert abs(value.std() - reference.std()) < 0.1 * reference.std(), name
            assert np.abs(value).max() <= np.abs(reference).max() * 1.05, name


@pytest.mark.parametrize("head", ["pretraining", "next_sentence"])
def test_heads_modernbert_lacks_are_refused(tmp_path: Path, head: str) -> None:
    tiny_hf_model("modernbert", "masked_lm").save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match=f"no {head} head.*masked_lm"):
        load_pretrained(tmp_path, head)


def test_unimplemented_architecture_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(transformers.DebertaV2Config().to_dict()))  # no weights: the
    # architecture is named first
    message = f"{tmp_path / 'config.json'}: model_type 'deberta-v2' is not an architecture bertjax implements; it " \
              f"implements bert, modernbert"
    with pytest.raises(ConfigError) as caught:
        read_config_file(tmp_path / "config.json")
    assert str(caught.value) == message
    with pytest.raises(ConfigError, match="'deberta-v2' is not an architecture bertjax implements"):
        load_pretrained(tmp_path, "sequence_classification")


def test_ettin_checkpoint_of_transformers_4_loads(tmp_path: Path) -> None:
    """A random model of Ettin-17m's shape (7 layers of 256, 4 heads, one rotary base of 160,000, norms without
    bias, mean pooling, ModernBERT's vocabulary) whose config.json is spelt as Ettin's are, by transformers 4 and
    its trainer (no layer_types or rope_parameters; keys that change nothing): its outputs, as transformers
    computes them."""
    shape = dict(vocab_size=50368, hidden_size=256, intermediate_size=384, num_hidden_layers=7, num_attention_heads=4,
                 local_attention=128, global_rope_theta=160000.0, local_rope_theta=160000.0,
                 classifier_pooling="mean", max_position_embeddings=7999, pad_token_id=50283)
    torch.manual_seed(0)
    model = transformers.ModernBertForMaskedLM(transformers.ModernBertConfig(**shape)).eval()
    model.save_pretrained(tmp_path)
    written = json.loads((tmp_path / "config.json").read_text())
    del written["layer_types"], written["rope_parameters"]
    written.update(global_attn_every_n_layers=3, global_rope_theta=160000.0, local_rope_theta=160000.0,
                   layer_norm_eps=1e-5, position_embedding_type="sans_pos", reference_compile=None,
                   repad_logits_with_grad=False, deterministic_flash_attn=False, sparse_prediction=False,
                   sparse_pred_ignore_index=-100, mask_token_id=50284, unk_token_id=50280,
                   transformers_version="4.48.2")
    (tmp_path / "config.json").write_text(json.dumps(written))
    config, params, report = load_pretrained(tmp_path, "masked_lm")
    assert report.missing == report.unexpected == ()
    assert config.architecture.rope_thetas == (160000.0,) * 7 and config.architecture.windows[:3] == (None, 64, 64)
    batch = {"input_ids": np.random.default_rng(0).integers(5, 50000, (1, 140)).astype(np.int32)}
    batch["attention_mask"] = np.ones_like(batch["input_ids"])  # 140 tokens: more than the 128-token window
    assert_parity(our_outputs(config, "masked_lm", params, batch), torch_outputs(model, "masked_lm", batch))


def test_convert_script_carries_the_tokenizer_both_ways(modernbert_models: dict[str, Path], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    """A Hugging Face ModernBERT folder with its byte-level BPE tokenizer.json, through a bertjax model folder and
    back: the same weights, the tokenizer carried along, and a folder transformers loads."""
    main = runpy.run_path(str(REPOSITORY / "scripts" / "convert.py"))["main"]
    source = modernbert_models["tagger"]
    assert main(["hf-to-bertjax", str(source), str(tmp_path / "bertjax")]) == 0
    assert "ModernBertForTokenClassification" in capsys.readouterr().out
    assert main(["bertjax-to-hf", str(tmp_path / "bertjax"), str(tmp_path / "hf")]) == 0
    assert {"tokenizer.json", "params.msgpack"} <= {path.name for path in (tmp_path / "bertjax").iterdir()}
    assert not (tmp_path / "hf" / "vocab.txt").exists()  # a WordPiece file would misdescribe a BPE vocabulary
    jax.tree.map(np.testing.assert_array_equal, load_file(tmp_path / "hf" / "model.safetensors"),
                 load_file(source / "model.safetensors"))
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert tokenizer("Paris in the spring")["input_ids"] == \
        transformers.AutoTokenizer.from_pretrained(source)("Paris in the spring")["input_ids"]
    _, info = transformers.ModernBertForTokenClassification.from_pretrained(tmp_path / "hf",
                                                                            output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
