"""Loading the ControlNet weights: the release's layouts, and an actionable error for every kind of wrong file."""

import json
import pickle
import struct

import pytest
import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import save_file

from draganything.controlnet import OFFICIAL_CONFIG, DragAnythingControlNet
from draganything.errors import DragAnythingError
from draganything.testing import random_controlnet, small_controlnet_config, random_unet
from draganything.weights import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    check_layout,
    load_controlnet,
    parse_dtype,
    read_header,
)


@pytest.fixture(scope="module")
def network() -> DragAnythingControlNet:
    return random_controlnet(seed=7)


def released_style_config(config: dict) -> dict:
    """A config.json as the release writes it: the official class name, no key the official class lacks."""
    return {"_class_name": "DragAnythingSDVModel", "_diffusers_version": "0.25.0.dev0", **config}


@pytest.fixture
def release_folder(tmp_path, network):
    """A folder in the released layout (config.json + diffusion_pytorch_model.safetensors), small widths."""
    folder = tmp_path / "DragAnything"
    folder.mkdir()
    (folder / CONFIG_NAME).write_text(json.dumps(released_style_config(small_controlnet_config())))
    save_file(network.state_dict(), folder / WEIGHTS_NAME)
    return folder


def assert_same_weights(loaded, network, dtype=torch.float32):
    reference = network.state_dict()
    loaded_state = loaded.state_dict()
    assert loaded_state.keys() == reference.keys()
    for name, tensor in reference.items():
        assert loaded_state[name].dtype == dtype, name
        assert torch.equal(loaded_state[name], tensor.to(dtype)), name


def test_loads_a_release_folder(release_folder, network):
    loaded = load_controlnet(release_folder)
    assert_same_weights(loaded, network)
    assert not loaded.training
    assert list(loaded.config.block_out_channels) == list(network.config.block_out_channels)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_loads_in_a_chosen_dtype(release_folder, network, dtype):
    assert_same_weights(load_controlnet(release_folder, dtype=dtype, device="cpu"), network, dtype)


def test_a_dtype_can_be_named(release_folder, network):
    assert_same_weights(load_controlnet(release_folder, dtype="bf16"), network, torch.bfloat16)
    assert parse_dtype("float16") is parse_dtype("fp16") is parse_dtype("torch.float16") is torch.float16


@pytest.mark.parametrize("dtype", ["fp8", "int8", torch.int8, None])
def test_a_dtype_that_is_not_a_weight_dtype_is_refused(release_folder, dtype):
    with pytest.raises(DragAnythingError, match=r"dtype: .* is not a weight dtype\. Use one of float32, fp32"):
        load_controlnet(release_folder, dtype=dtype)


def test_loads_a_single_file_with_the_config_beside_it(release_folder, network):
    assert_same_weights(load_controlnet(release_folder / WEIGHTS_NAME), network)


def test_loads_what_save_pretrained_writes(tmp_path, network):
    network.save_pretrained(tmp_path / "saved")
    assert_same_weights(load_controlnet(tmp_path / "saved"), network)


def test_an_explicit_config_is_used_for_a_lone_file(tmp_path, network):
    save_file(network.state_dict(), tmp_path / "draganything.safetensors")
    loaded = load_controlnet(tmp_path / "draganything.safetensors", config=small_controlnet_config())
    assert_same_weights(loaded, network)


def test_a_lone_file_defaults_to_the_released_config(tmp_path, network):
    # Small weights have the released key names but not its shapes: the error names the config that was used.
    save_file(network.state_dict(), tmp_path / "draganything.safetensors")
    with pytest.raises(DragAnythingError, match="other shapes.*released config") as error:
        load_controlnet(tmp_path / "draganything.safetensors")
    assert "conv_in.weight is [32, 8, 3, 3], expected [320, 8, 3, 3]" in str(error.value)


def write_header_only(path, layout: dict[str, tuple[int, ...]]) -> None:
    """A safetensors file with a real header and all-zero (sparse) data, so a 2.7 GB layout costs no disk."""
    entries, offset = {}, 0
    for name, shape in layout.items():
        size = 4 * torch.Size(shape).numel()
        entries[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    header = json.dumps(entries).encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as stream:
        stream.write(struct.pack("<Q", len(header)) + header)
        stream.truncate(8 + len(header) + offset)


def test_a_full_size_release_header_is_accepted(tmp_path):
    with torch.device("meta"):
        state = DragAnythingControlNet.from_config(OFFICIAL_CONFIG).state_dict()
    layout = {name: tuple(tensor.shape) for name, tensor in state.items()}
    path = tmp_path / WEIGHTS_NAME
    write_header_only(path, layout)
    assert path.stat().st_size > 2_739_999_492  # the release's fp32 data (sparse here)
    header = read_header(path)
    assert len(header) == 685
    assert sum(torch.Size(shape).numel() for _, shape in header.values()) == 684_999_873
    check_layout(header, layout, path)  # accepted

    del layout["controlnet_cond_embedding.conv_out_feature.bias"]
    write_header_only(path, layout | {"controlnet_cond_embedding.conv_out_features.bias": (320,)})
    with pytest.raises(DragAnythingError, match="1 missing keys.*conv_out_feature.bias.*1 unexpected keys"):
        load_controlnet(path)


def test_missing_path(tmp_path):
    with pytest.raises(DragAnythingError, match="does not exist.*weijiawu/DragAnything"):
        load_controlnet(tmp_path / "nowhere")


def test_folder_without_weights_lists_what_it_holds(tmp_path):
    (tmp_path / "diffusion_pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(DragAnythingError, match=r"no diffusion_pytorch_model.safetensors \(it holds: diffusion_"):
        load_controlnet(tmp_path)


def test_folder_without_config(release_folder):
    (release_folder / CONFIG_NAME).unlink()
    with pytest.raises(DragAnythingError, match="no config.json"):
        load_controlnet(release_folder)


def test_config_of_another_model(release_folder):
    (release_folder / CONFIG_NAME).write_text(json.dumps({"_class_name": "UNetSpatioTemporalConditionModel"}))
    with pytest.raises(DragAnythingError, match="describes a UNetSpatioTemporalConditionModel"):
        load_controlnet(release_folder)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
def test_unreadable_config(release_folder, text):
    (release_folder / CONFIG_NAME).write_text(text)
    with pytest.raises(DragAnythingError, match="controlnet config"):
        load_controlnet(release_folder)


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda path: torch.save({"conv_in.weight": torch.zeros(2)}, path), "PyTorch zip/pickle checkpoint"),
        (lambda path: path.write_bytes(pickle.dumps({"a": 1}, protocol=2)), "Python pickle"),
        (lambda path: path.write_bytes(bytes(range(256)) * 8), "not safetensors"),
        (lambda path: path.write_bytes(b""), "too short"),
        (lambda path: path.write_bytes(struct.pack("<Q", 6) + b"{nope}" + b"\0" * 64), "header is not valid"),
    ],
)
def test_files_that_are_not_safetensors(tmp_path, write, message):
    path = tmp_path / "draganything.safetensors"
    write(path)
    with pytest.raises(DragAnythingError, match=message) as error:
        load_controlnet(path)
    assert "Only .safetensors weights are loaded" in str(error.value)


def test_truncated_download(release_folder):
    weights = release_folder / WEIGHTS_NAME
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(DragAnythingError, match=r"truncated: its header lists .* bytes of data but the file has"):
        load_controlnet(release_folder)


def test_an_sd15_unet_is_named(tmp_path):
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=768, layers_per_block=1,
        norm_num_groups=32, attention_head_dim=8, sample_size=8,
    )  # fmt: skip
    save_file(unet.state_dict(), tmp_path / "unet.safetensors")
    with pytest.raises(DragAnythingError, match=r"looks like an SD-1.x UNet \(diffusers layout\)") as error:
        load_controlnet(tmp_path / "unet.safetensors")
    assert "controlnet_cond_embedding.blocks_feature.0.weight" in str(error.value)


LDM_KEY = "model.diffusion_model.input_blocks.0.0.weight"
SVD_LDM_KEY = "model.diffusion_model.input_blocks.1.0.time_stack.in_layers.2.weight"


@pytest.mark.parametrize(
    ("state_dict", "described"),
    [
        (lambda: random_unet().state_dict(), "a Stable Video Diffusion UNet \\(diffusers layout\\)"),
        (lambda: {LDM_KEY: torch.zeros(1)}, "a complete Stable Diffusion checkpoint in the original \\(LDM\\)"),
        (lambda: {SVD_LDM_KEY: torch.zeros(1)}, "a complete Stable Video Diffusion checkpoint"),
        (lambda: {"encoder.down_blocks.0.weight": torch.zeros(1), "decoder.conv_in.weight": torch.zeros(1)}, "a VAE"),
        (lambda: {"something.else": torch.zeros(1)}, "an unrecognised model"),
    ],
)
def test_checkpoints_of_other_models_are_named(tmp_path, state_dict, described):
    save_file(state_dict(), tmp_path / "other.safetensors")
    with pytest.raises(DragAnythingError, match=f"not hold a DragAnything ControlNet: it looks like {described}"):
        load_controlnet(tmp_path / "other.safetensors")


def test_a_prefixed_state_dict_says_which_prefix(tmp_path, network):
    save_file({f"module.{k}": v for k, v in network.state_dict().items()}, tmp_path / "prefixed.safetensors")
    with pytest.raises(DragAnythingError, match="every key .* starts with 'module.'"):
        load_controlnet(tmp_path / "prefixed.safetensors", config=small_controlnet_config())


def test_missing_and_unexpected_keys_are_listed(release_folder, network):
    state = dict(network.state_dict())
    del state["controlnet_mid_block.bias"]
    state["controlnet_mid_block.extra"] = torch.zeros(1)
    save_file(state, release_folder / WEIGHTS_NAME)
    with pytest.raises(DragAnythingError, match=r"1 missing keys \(controlnet_mid_block.bias\) and 1 unexpected keys"):
        load_controlnet(release_folder)


def test_shape_mismatch_is_listed(release_folder):
    config = small_controlnet_config() | {"conditioning_embedding_out_channels": (8, 32, 96, 256)}
    (release_folder / CONFIG_NAME).write_text(json.dumps(released_style_config(config)))
    with pytest.raises(DragAnythingError, match=r"conv_in.weight is \[16, 3, 3, 3\], expected \[8, 3, 3, 3\]"):
        load_controlnet(release_folder)


def test_integer_tensors_are_rejected(release_folder, network):
    state = dict(network.state_dict())
    state["controlnet_mid_block.bias"] = state["controlnet_mid_block.bias"].to(torch.int8)
    save_file(state, release_folder / WEIGHTS_NAME)
    with pytest.raises(DragAnythingError, match="stores tensors as I8"):
        load_controlnet(release_folder)
