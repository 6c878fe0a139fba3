"""Weight conversion: exact round trips, transformers loading our folders, every checkpoint spelling, bad input."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest
import torch
import transformers
from flax.traverse_util import flatten_dict, unflatten_dict
from safetensors.numpy import load_file, save_file
from test_model import TINY, assert_outputs_close, our_outputs, padded_batch, tiny_hf_model, torch_outputs

from bertjax.convert import (ENCODER, HF_CLASS_NAMES, load_model_dir, load_pretrained, save_model_dir,
                             save_pretrained)
from bertjax.convert.architecture import expected_params, head_module, initial_params
from bertjax.convert.placement import DevicePlacement
from bertjax.data.tokenizer import load_tokenizer
from bertjax.errors import CheckpointError, ConfigError, DependencyError
from bertjax.model import BertConfig, ModelOptions
from bertjax.model.layout import is_stacked, stack_layers, unstack_layers
from bertjax.train.sharding import make_mesh, replicate

REPOSITORY = Path(__file__).resolve().parents[1]
CONFIG = BertConfig(**TINY, id2label={0: "a", 1: "b", 2: "c"})


def random_params(head: str, config: BertConfig = CONFIG, seed: int = 0) -> dict[str, Any]:
    """Params of `head` with every value random (LayerNorm scales around 1), without running an initialiser."""
    rng = np.random.default_rng(seed)
    return unflatten_dict({
        path: (rng.normal(0.0, 0.05, shape.shape) + (path[-1] == "scale")).astype(np.float32)
        for path, shape in expected_params(head, config).items()})


def assert_trees_equal(actual: Any, expected: Any) -> None:
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    jax.tree.map(np.testing.assert_array_equal, actual, expected)


def hf_from_pretrained(directory: Path, head: str) -> torch.nn.Module:
    """Loads our folder with transformers, asserting that every weight matched by name and shape."""
    model, info = getattr(transformers, HF_CLASS_NAMES[head]).from_pretrained(
        directory, output_loading_info=True, attn_implementation="eager")
    assert {kind: sorted(names) for kind, names in info.items()} == {
        "missing_keys": [], "unexpected_keys": [], "mismatched_keys": [], "error_msgs": []}
    return model.eval()


@pytest.mark.parametrize("head", list(HF_CLASS_NAMES))
def test_round_trip_through_transformers(tmp_path: Path, head: str) -> None:
    params = random_params(head, seed=len(head))
    save_pretrained(tmp_path, CONFIG, params, head)
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == [HF_CLASS_NAMES[head]]
    config, loaded, report = load_pretrained(tmp_path, head)
    # A question answering folder carries no labels: transformers sizes its two span outputs by num_labels.
    assert config == (CONFIG.replace(id2label=None) if head == "question_answering" else CONFIG)
    assert report.missing == report.unexpected == ()
    assert_trees_equal(loaded, params)
    batch = padded_batch(head)
    assert_outputs_close(our_outputs(config, head, params, batch),
                         torch_outputs(hf_from_pretrained(tmp_path, head), head, batch), atol=1e-5)


def test_sinusoidal_model_saves_its_table(tmp_path: Path) -> None:
    config = CONFIG.replace(position_embedding_type="sinusoidal")
    params = random_params("masked_lm", config)
    save_pretrained(tmp_path, config, params, "masked_lm")
    batch = padded_batch("masked_lm")
    assert_outputs_close(our_outputs(config, "masked_lm", params, batch),
                         torch_outputs(hf_from_pretrained(tmp_path, "masked_lm"), "masked_lm", batch), atol=1e-5)
    loaded_config, loaded, report = load_pretrained(tmp_path, "masked_lm")
    assert loaded_config.position_embedding_type == "sinusoidal" and report.unexpected == ()
    assert_trees_equal(loaded, params)


def test_sinusoidal_table_trained_in_transformers_is_not_dropped(tmp_path: Path) -> None:
    """transformers trains the exported table like any weight: loading it back as the fixed table would change the
    outputs silently, so it is refused with the way to load it as learned positions, which matches transformers."""
    config = CONFIG.replace(position_embedding_type="sinusoidal")
    save_pretrained(tmp_path, config, random_params("masked_lm", config), "masked_lm")
    model = hf_from_pretrained(tmp_path, "masked_lm")
    with torch.no_grad():
        model.bert.embeddings.position_embeddings.weight.add_(0.01)  # a training step's worth
    model.save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match=r"'bert.embeddings.position_embeddings.weight' is not the sinusoidal "
                                              r"table.*config_changes=\{'position_embedding_type': 'absolute'\}"):
        load_pretrained(tmp_path, "masked_lm")
    learned, params, _ = load_pretrained(tmp_path, "masked_lm", config_changes={"position_embedding_type": "absolute"})
    batch = padded_batch("masked_lm")
    assert_outputs_close(our_outputs(learned, "masked_lm", params, batch), torch_outputs(model, "masked_lm", batch),
                         atol=1e-5)


def test_stacked_params_save_like_per_layer_ones(tmp_path: Path) -> None:
    params = random_params("pretraining")
    save_pretrained(tmp_path / "per-layer", CONFIG, params, "pretraining")
    save_pretrained(tmp_path / "stacked", CONFIG, stack_layers(params), "pretraining")
    assert_trees_equal(load_file(tmp_path / "stacked" / "model.safetensors"),
                       load_file(tmp_path / "per-layer" / "model.safetensors"))
    _, loaded, _ = load_pretrained(tmp_path / "stacked", "pretraining", options=ModelOptions(scan_layers=True))
    assert is_stacked(loaded)
    assert_trees_equal(loaded, stack_layers(params))


def test_layer_layouts_round_trip() -> None:
    params = random_params("sequence_classification")
    stacked = stack_layers(params)
    assert is_stacked(stacked) and not is_stacked(params)
    query = stacked["bert"]["encoder"]["layer"]["attention"]["self"]["query"]["kernel"]  # [layers, hidden, hidden]
    assert query.shape == (2, 32, 32)
    np.testing.assert_array_equal(query[1], params["bert"]["encoder"]["layer_1"]["attention"]["self"]["query"]
                                  ["kernel"])
    module = head_module("sequence_classification", CONFIG, ModelOptions(scan_layers=True))
    scanned = jax.eval_shape(module.init, jax.random.key(0), np.zeros((1, 1), np.int32))["params"]
    assert jax.tree.map(np.shape, stacked) == jax.tree.map(lambda leaf: leaf.shape, scanned)
    assert_trees_equal(unstack_layers(stacked), params)
    assert_trees_equal(unstack_layers(stack_layers(params["bert"])), params["bert"])  # a bare encoder too
    assert_trees_equal(unstack_layers(jax.tree.map(jax.numpy.asarray, stacked)), params)


@pytest.fixture(scope="module")
def pretraining_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path]:
    model = tiny_hf_model("pretraining")
    directory = tmp_path_factory.mktemp("pretraining")
    model.save_pretrained(directory)
    return model, directory


def _rewritten(source: Path, target: Path, rename: Any = None, drop: tuple[str, ...] = ()) -> Path:
    """A copy of a checkpoint folder whose weights are renamed by `rename(name)` and without the `drop` names."""
    target.mkdir()
    (target / "config.json").write_text((source / "config.json").read_text())
    weights = load_file(source / "model.safetensors")
    save_file({(rename or str)(name): value for name, value in weights.items() if name not in drop},
              target / "model.safetensors", metadata={"format": "pt"})
    return target


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "before-pytorch-1.6"])
def test_pytorch_bin_with_tied_decoder(pretraining_checkpoint: tuple, tmp_path: Path, zip_format: bool) -> None:
    model, directory = pretraining_checkpoint
    _, expected, _ = load_pretrained(directory, "pretraining")
    (tmp_path / "config.json").write_text((directory / "config.json").read_text())
    state_dict = model.state_dict()  # holds the tied decoder weight and bias, as older checkpoints do
    assert "cls.predictions.decoder.weight" in state_dict and "cls.predictions.decoder.bias" in state_dict
    # Zip archives are mapped, not read; the older format cannot be and is read whole.
    torch.save(state_dict, tmp_path / "pytorch_model.bin", _use_new_zipfile_serialization=zip_format)
    _, params, report = load_pretrained(tmp_path, "pretraining")
    assert report.missing == report.unexpected == ()
    assert_trees_equal(params, expected)


def test_pytorch_bin_without_torch_names_the_extra(pretraining_checkpoint: tuple, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    model, directory = pretraining_checkpoint
    (tmp_path / "config.json").write_text((directory / "config.json").read_text())
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(DependencyError, match=r"pytorch_model\.bin.*torch.*\[test\]"):
        load_pretrained(tmp_path, "pretraining")


def test_bare_encoder_checkpoint_into_heads(tmp_path: Path) -> None:
    tiny_hf_model(ENCODER).save_pretrained(tmp_path)
    assert all(not name.startswith("bert.") for name in load_file(tmp_path / "model.safetensors"))
    _, encoder, _ = load_pretrained(tmp_path, ENCODER)
    _, params, report = load_pretrained(tmp_path, "sequence_classification", seed=1)
    assert report.missing == ("classifier.bias", "classifier.weight") and report.unexpected == ()
    assert_trees_equal(params["bert"], encoder)
    # Only the missing classifier is initialised, to the values a whole initialisation gives it.
    assert_trees_equal(params["classifier"], initial_params("sequence_classification", CONFIG, seed=1)["classifier"])
    assert abs(float(np.std(params["classifier"]["kernel"])) - CONFIG.initializer_range) < 0.01


def test_initialising_some_parameters_gives_their_values_in_a_whole_initialisation() -> None:
    paths = [("classifier", "kernel"), ("bert", "encoder", "layer_1", "output", "dense", "kernel")]
    some = flatten_dict(initial_params("sequence_classification", CONFIG, seed=3, paths=paths))
    whole = flatten_dict(initial_params("sequence_classification", CONFIG, seed=3))
    assert sorted(some) == sorted(paths)
    assert_trees_equal(some, {path: whole[path] for path in paths})


@pytest.mark.parametrize("scan_layers", [False, True], ids=["per-layer", "stacked"])
def test_loading_holds_one_weight_at_a_time_on_the_host(tmp_path: Path, scan_layers: bool) -> None:
    """Weights are read, converted and placed one by one: the host never holds the checkpoint beside the params.

    tracemalloc sees numpy's host arrays, not the device buffers (but for arrays XLA adopts, below), so its peak is
    what loading holds on the host.
    Reading the whole file and converting every weight before placing them (as loading once did) peaks at twice
    the parameters. One weight at a time peaks at a third of them here: the largest weight read and transposed,
    and the Python objects of loading. Stacked for `nn.scan`, a leaf's layers are gathered before it is placed, so
    the peak adds the largest stacked leaf (a sixth of the parameters); taken layer by layer instead of leaf by
    leaf, the layers would gather the whole encoder.
    """
    config = BertConfig(vocab_size=300, hidden_size=128, num_hidden_layers=6, num_attention_heads=4,
                        intermediate_size=512, max_position_embeddings=64)
    params = random_params("sequence_classification", config)
    save_pretrained(tmp_path, config, params, "sequence_classification")
    total = sum(leaf.nbytes for leaf in jax.tree.leaves(params))
    largest = max(leaf.nbytes for leaf in jax.tree.leaves(params))
    assert largest < total / 15
    options = ModelOptions(scan_layers=scan_layers)
    load_pretrained(tmp_path, "sequence_classification", options)  # traces and compiles what loading needs, untraced
    tracemalloc.start()
    try:
        _, loaded, _ = load_pretrained(tmp_path, "sequence_classification", options)
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # XLA on CPU takes a 64-byte-aligned numpy array over as the device buffer instead of copying it, so whichever
    # weights happened to be aligned are still traced, as the loaded params: only what loading held beyond them
    # counts.
    held = peak - kept
    bound = total * (0.6 if scan_layers else 0.5)
    assert held < bound, f"loading held {held} bytes on the host for {total} bytes of parameters"
    assert all(isinstance(leaf, jax.Array) for leaf in jax.tree.leaves(loaded))
    assert_trees_equal(loaded, stack_layers(params) if scan_layers else params)


def test_loaded_params_are_placed_once() -> None:
    """Params already on the mesh's one device are replicated as they are: a training state takes over their
    buffers instead of copying them."""
    params = {"kernel": jax.device_put(np.ones((3, 4), np.float32))}
    placed = replicate(params, make_mesh(jax.devices()[:1]))
    assert placed["kernel"] is params["kernel"]
    copied = replicate({"kernel": np.ones((3, 4), np.float32)}, make_mesh(jax.devices()[:1]))
    assert isinstance(copied["kernel"], jax.Array)
    assert_trees_equal(copied, params)


def test_stacked_placement_orders_layers_by_number() -> None:
    placement = DevicePlacement(num_layers=12)
    for index in reversed(range(12)):
        placement.add(("bert", "encoder", f"layer_{index}", "output", "bias"), np.full(2, index, np.float32))
    placement.add(("classifier", "bias"), np.zeros(3, np.float32))
    params = placement.params()
    np.testing.assert_array_equal(params["bert"]["encoder"]["layer"]["output"]["bias"][:, 0], np.arange(12))
    incomplete = DevicePlacement(num_layers=2)
    incomplete.add(("encoder", "layer_0", "output", "bias"), np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="layers missing from stacked parameters: encoder/layer/output/bias"):
        incomplete.params()


def test_prefixed_checkpoint_into_bare_encoder(pretraining_checkpoint: tuple) -> None:
    _, directory = pretraining_checkpoint
    _, head_params, _ = load_pretrained(directory, "pretraining")
    _, encoder, report = load_pretrained(directory, ENCODER)
    assert report.missing == () and all(name.startswith("cls.") for name in report.unexpected)
    assert_trees_equal(encoder, head_params["bert"])


def test_legacy_layer_norm_names_and_decoder_bias(pretraining_checkpoint: tuple, tmp_path: Path) -> None:
    _, directory = pretraining_checkpoint
    _, expected, _ = load_pretrained(directory, "pretraining")

    def legacy(name: str) -> str:
        name = name.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        return name.replace("cls.predictions.bias", "cls.predictions.decoder.bias")

    legacy_dir = _rewritten(directory, tmp_path / "legacy", rename=legacy)
    assert any(name.endswith("LayerNorm.gamma") for name in load_file(legacy_dir / "model.safetensors"))
    _, params, report = load_pretrained(legacy_dir, "pretraining")
    assert report.missing == report.unexpected == ()
    assert_trees_equal(params, expected)


def test_sharded_checkpoint(pretraining_checkpoint: tuple, tmp_path: Path) -> None:
    _, directory = pretraining_checkpoint
    _, expected, _ = load_pretrained(directory, "pretraining")
    (tmp_path / "config.json").write_text((directory / "config.json").read_text())
    weights = load_file(directory / "model.safetensors")
    names = sorted(weights)
    shards = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    for shard, shard_names in shards.items():
        save_file({name: weights[name] for name in shard_names}, tmp_path / shard, metadata={"format": "pt"})
    weight_map = {name: shard for shard, shard_names in shards.items() for name in shard_names}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    assert_trees_equal(load_pretrained(tmp_path, "pretraining")[1], expected)


def test_new_labels_reinitialise_the_classifier(tmp_path: Path) -> None:
    tiny_hf_model("sequence_classification").save_pretrained(tmp_path)  # 3 labels
    labels = {index: f"label {index}" for index in range(5)}
    config, params, report = load_pretrained(tmp_path, "sequence_classification",
                                             config_changes={"id2label": labels})
    assert config.num_labels == 5 and params["classifier"]["kernel"].shape == (32, 5)
    assert report.reinitialised == ("classifier.bias", "classifier.weight")
    assert any("new labels" in line for line in report.describe())


def test_model_dir_round_trip(tmp_path: Path, minilm_dir: Path) -> None:
    tokenizer = load_tokenizer(minilm_dir)
    params = random_params("token_classification")
    save_model_dir(tmp_path / "model", CONFIG, stack_layers(params), "token_classification", tokenizer=tokenizer)
    assert {"config.json", "params.msgpack", "tokenizer.json", "vocab.txt"} <= set(os.listdir(tmp_path / "model"))
    config, head, loaded = load_model_dir(tmp_path / "model")
    assert (config, head) == (CONFIG, "token_classification")
    assert_trees_equal(loaded, params)
    assert_trees_equal(load_model_dir(tmp_path / "model", ModelOptions(scan_layers=True))[2], stack_layers(params))
    # A bertjax folder is also a starting point for fine-tuning, which reads folders with load_pretrained.
    _, same, report = load_pretrained(tmp_path / "model", "token_classification")
    assert report.missing == report.unexpected == () and report.source.endswith("params.msgpack")
    assert_trees_equal(same, params)
    assert load_tokenizer(tmp_path / "model").tokenize("Hello World") == tokenizer.tokenize("Hello World")


def test_convert_script_both_ways(pretraining_checkpoint: tuple, tmp_path: Path) -> None:
    _, directory = pretraining_checkpoint
    environment = {**os.environ, "JAX_PLATFORMS": "cpu"}
    for command in (["hf-to-bertjax", str(directory), str(tmp_path / "bertjax")],
                    ["bertjax-to-hf", str(tmp_path / "bertjax"), str(tmp_path / "hf")]):
        result = subprocess.run([sys.executable, "scripts/convert.py", *command], cwd=REPOSITORY,
                                capture_output=True, text=True, env=environment, timeout=300)
        assert result.returncode == 0, result.stderr
        assert str(tmp_path) in result.stdout and "pretraining" in result.stdout
    assert load_model_dir(tmp_path / "bertjax")[1] == "pretraining"
    assert_trees_equal(load_file(tmp_path / "hf" / "model.safetensors"), load_file(directory / "model.safetensors"))
    hf_from_pretrained(tmp_path / "hf", "pretraining")


def test_convert_script_reports_errors_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    main = runpy.run_path(str(REPOSITORY / "scripts" / "convert.py"))["main"]
    assert main(["bertjax-to-hf", str(tmp_path / "absent"), str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1 and "absent" in error
    with pytest.raises(CheckpointError):
        main(["--debug", "bertjax-to-hf", str(tmp_path / "absent"), str(tmp_path / "out")])


def test_missing_directory_and_weights(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'absent'}: no such directory"):
        load_pretrained(tmp_path / "absent", "pretraining")
    (tmp_path / "config.json").write_text(json.dumps(CONFIG.to_dict()))
    with pytest.raises(CheckpointError, match=f"{tmp_path}: no weights file.*model.safetensors.*config.json"):
        load_pretrained(tmp_path, "pretraining")


def test_corrupt_safetensors(pretraining_checkpoint: tuple, tmp_path: Path) -> None:
    _, directory = pretraining_checkpoint
    (tmp_path / "config.json").write_text((directory / "config.json").read_text())
    data = (directory / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=rf"{tmp_path / 'model.safetensors'}: .*corrupt or truncated"):
        load_pretrained(tmp_path, "pretraining")


def test_shape_mismatch_names_parameter_and_shapes(pretraining_checkpoint: tuple) -> None:
    _, directory = pretraining_checkpoint
    with pytest.raises(CheckpointError) as caught:
        load_pretrained(directory, "pretraining", config_changes={"vocab_size": 100})
    message = str(caught.value)
    assert "'bert.embeddings.word_embeddings.weight'" in message and "(99, 32)" in message and "(100, 32)" in message
    assert str(directory / "model.safetensors") in message


def test_unsupported_config_names_the_file(pretraining_checkpoint: tuple, tmp_path: Path) -> None:
    _, directory = pretraining_checkpoint
    target = _rewritten(directory, tmp_path / "relative")
    values = json.loads((target / "config.json").read_text())
    (target / "config.json").write_text(json.dumps({**values, "position_embedding_type": "relative_key"}))
    with pytest.raises(ConfigError, match=rf"{target / 'config.json'}.*position_embedding_type.*relative_key"):
        load_pretrained(target, "pretraining")
    with pytest.raises(ConfigError, match="config_changes.*hidden_size"):
        load_pretrained(directory, "pretraining", config_changes={"hidden_size": 30})
    with pytest.raises(ConfigError, match="unknown head 'encoder'"):
        load_pretrained(directory, "encoder")


def test_untied_word_embeddings_are_refused_only_where_a_decoder_uses_them(tmp_path: Path) -> None:
    """tie_word_embeddings=false changes nothing for heads without an MLM decoder, as in transformers; bertjax's
    decoder is always tied, so an untied masked-LM checkpoint is refused rather than loaded wrongly."""
    model = tiny_hf_model("sequence_classification")
    model.config.tie_word_embeddings = False
    model.save_pretrained(tmp_path / "classifier")
    config, params, _ = load_pretrained(tmp_path / "classifier", "sequence_classification")
    assert not config.tie_word_embeddings
    batch = padded_batch("sequence_classification")
    assert_outputs_close(our_outputs(config, "sequence_classification", params, batch),
                         torch_outputs(model, "sequence_classification", batch), atol=1e-5)
    with pytest.raises(ConfigError, match="'tie_word_embeddings' is false"):
        load_pretrained(tmp_path / "classifier", "masked_lm")


def test_params_that_do_not_fit_the_head_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="do not fit a sequence_classification model.*missing classifier"):
        save_pretrained(tmp_path / "out", CONFIG, random_params("token_classification") | {"classifier": {}},
                        "sequence_classification")
    assert not (tmp_path / "out").exists()


class _FailingTokenizer:
    model_max_length = 512

    def save_pretrained(self, directory: str) -> None:
        raise OSError("disk full")


def test_failed_save_leaves_the_previous_folder(tmp_path: Path) -> None:
    params = random_params("question_answering")
    save_pretrained(tmp_path / "model", CONFIG, params, "question_answering")
    before = {path.name: path.read_bytes() for path in (tmp_path / "model").iterdir()}
    changed = jax.tree.map(lambda leaf: leaf + 1, params)
    with pytest.raises(OSError, match="disk full"):
        save_pretrained(tmp_path / "model", CONFIG, changed, "question_answering", tokenizer=_FailingTokenizer())
    assert {path.name: path.read_bytes() for path in (tmp_path / "model").iterdir()} == before
    assert os.listdir(tmp_path) == ["model"]  # no temporary folder left behind
    save_pretrained(tmp_path / "model", CONFIG, changed, "question_answering")
    assert_trees_equal(load_pretrained(tmp_path / "model", "question_answering")[1], changed)
    assert os.listdir(tmp_path) == ["model"]


def test_a_folder_holding_other_files_is_refused_not_replaced(tmp_path: Path) -> None:
    """Only a folder whose every file the new model rewrites is replaced: notes, other runs or the weights of the
    model being converted stay, and nothing is written."""
    params = random_params("question_answering")
    folder = tmp_path / "out"
    (folder / "run1").mkdir(parents=True)
    (folder / "notes.md").write_text("mine")
    with pytest.raises(CheckpointError, match=r"out: already holds notes.md, run1, which writing the model here "
                                              r"would delete; choose a new or empty folder"):
        save_pretrained(folder, CONFIG, params, "question_answering")
    assert sorted(os.listdir(folder)) == ["notes.md", "run1"] and os.listdir(tmp_path) == ["out"]
    save_pretrained(tmp_path / "hf", CONFIG, params, "question_answering")
    with pytest.raises(CheckpointError, match="already holds model.safetensors"):  # converted in place
        save_model_dir(tmp_path / "hf", CONFIG, params, "question_answering")
    assert_trees_equal(load_pretrained(tmp_path / "hf", "question_answering")[1], params)


def test_the_working_directory_is_not_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = random_params("question_answering")
    save_pretrained(tmp_path / "model", CONFIG, params, "question_answering")
    monkeypatch.chdir(tmp_path / "model")
    with pytest.raises(CheckpointError, match="is the working directory or holds it.*new folder inside it"):
        save_pretrained(".", CONFIG, params, "question_answering")
    save_pretrained("hf", CONFIG, params, "question_answering")
    assert sorted(os.listdir(tmp_path)) == ["model"] and (tmp_path / "model" / "hf" / "config.json").is_file()


def test_a_failed_swap_puts_the_old_folder_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = random_params("question_answering")
    save_pretrained(tmp_path / "model", CONFIG, params, "question_answering")
    before = {path.name: path.read_bytes() for path in (tmp_path / "model").iterdir()}
    replace = os.replace

    def failing_second_rename(source: Any, target: Any) -> None:
        if Path(source).name.startswith(".model.writing-"):
            raise OSError(16, "Device or resource busy")
        replace(source, target)

    monkeypatch.setattr(os, "replace", failing_second_rename)
    with pytest.raises(CheckpointError, match="cannot move the written folder into place .Device or resource busy."):
        save_pretrained(tmp_path / "model", CONFIG, jax.tree.map(lambda leaf: leaf + 1, params), "question_answering")
    assert {path.name: path.read_bytes() for path in (tmp_path / "model").iterdir()} == before
    assert os.listdir(tmp_path) == ["model"]


def test_chinese_checkpoint_converts_both_ways(chinese_bert_dir: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    """A folder in bert-base-chinese's format (its extra config.json fields, a 21,128-entry vocabulary) converts
    with the script both ways, and the masked-LM logits on Chinese text with English and digits equal
    transformers'."""
    main = runpy.run_path(str(REPOSITORY / "scripts" / "convert.py"))["main"]
    for command in (["hf-to-bertjax", str(chinese_bert_dir), str(tmp_path / "bertjax")],
                    ["bertjax-to-hf", str(tmp_path / "bertjax"), str(tmp_path / "hf")]):
        assert main(command) == 0
        assert "masked_lm" in capsys.readouterr().out
    config, head, params = load_model_dir(tmp_path / "bertjax")
    assert head == "masked_lm" and config.vocab_size == 21_128
    tokenizer = load_tokenizer(tmp_path / "hf")
    batch = dict(tokenizer(["高勇：男，1966年出生，MBA学位。", "苹果发布了MacBook Pro。"], padding=True,
                           return_tensors="np"))
    assert tokenizer.convert_ids_to_tokens(batch["input_ids"][1][6:9].tolist()) == ["mac", "##book", "pro"]
    reference = hf_from_pretrained(tmp_path / "hf", "masked_lm")
    assert_outputs_close(our_outputs(config, head, params, batch), torch_outputs(reference, head, batch), atol=1e-5)
    original = torch_outputs(transformers.BertForMaskedLM.from_pretrained(chinese_bert_dir).eval(), head, batch)
    assert_outputs_close(our_outputs(config, head, params, batch), original, atol=1e-5)
