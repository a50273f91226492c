"""The DragAnything ControlNet: layout of the released checkpoint, condition embedding, residuals, from_unet."""

import inspect
import json

import pytest
import torch

from draganything.controlnet import (
    OFFICIAL_CONFIG,
    OFFICIAL_TIME_IDS,
    RESIDUAL_MULTIPLICITIES,
    DragAnythingControlNet,
    residuals_as_injected,
    time_ids,
)
from draganything.errors import DragAnythingError
from draganything.testing import SMALL_CONTEXT_DIM, random_conditions, random_controlnet, random_unet

NUM_FRAMES, HEIGHT, WIDTH = 2, 64, 64


@pytest.fixture(scope="module")
def official_layout() -> dict[str, torch.Size]:
    with torch.device("meta"):
        controlnet = DragAnythingControlNet.from_config(OFFICIAL_CONFIG)
    return {name: tensor.shape for name, tensor in controlnet.state_dict().items()}


@pytest.fixture(scope="module")
def controlnet() -> DragAnythingControlNet:
    return random_controlnet(seed=1)


def step_inputs(batch_size: int = 1, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {
        "sample": torch.randn(batch_size, NUM_FRAMES, 8, HEIGHT // 8, WIDTH // 8, generator=generator),
        "timestep": torch.tensor(0.8),
        "encoder_hidden_states": torch.randn(batch_size, 1, SMALL_CONTEXT_DIM, generator=generator),
        "added_time_ids": time_ids(*OFFICIAL_TIME_IDS, batch_size=batch_size),
    }


# Golden figures: the released checkpoint (spec §0, §2.4, §2.8).
def test_official_config_has_the_released_tensor_and_parameter_counts(official_layout):
    assert len(official_layout) == 685
    assert sum(shape.numel() for shape in official_layout.values()) == 684_999_873
    embedder = [shape for name, shape in official_layout.items() if name.startswith("controlnet_cond_embedding.")]
    assert sum(shape.numel() for shape in embedder) == 4_064_816


def test_official_layout_uses_the_released_key_names(official_layout):
    prefixes = {name.split(".")[0] for name in official_layout}
    assert prefixes == {
        "conv_in", "time_embedding", "add_embedding", "down_blocks", "mid_block",
        "controlnet_down_blocks", "controlnet_mid_block", "controlnet_cond_embedding",
    }  # fmt: skip
    zero_convs = {name for name in official_layout if name.startswith("controlnet_down_blocks.")}
    assert zero_convs == {f"controlnet_down_blocks.{i}.{p}" for i in range(12) for p in ("weight", "bias")}
    embedder = {name.rsplit(".", 1)[0] for name in official_layout if name.startswith("controlnet_cond_embedding.")}
    expected = {"conv_in", "conv_out", "conv_out_feature"}
    expected |= {f"blocks.{i}" for i in range(6)} | {f"blocks_feature.{i}" for i in range(6)}
    assert embedder == {f"controlnet_cond_embedding.{name}" for name in expected}
    examples = {
        "conv_in.weight": (320, 8, 3, 3),
        "add_embedding.linear_1.weight": (1280, 768),
        "down_blocks.0.resnets.0.temporal_res_block.conv1.weight": (320, 320, 3, 1, 1),
        "down_blocks.0.resnets.0.time_mixer.mix_factor": (1,),
        "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight": (320, 1024),
        "down_blocks.0.attentions.0.temporal_transformer_blocks.0.ff_in.net.0.proj.weight": (2560, 320),
        "down_blocks.0.attentions.0.time_pos_embed.linear_1.weight": (1280, 320),
        "down_blocks.0.downsamplers.0.conv.weight": (320, 320, 3, 3),
        "controlnet_down_blocks.11.weight": (1280, 1280, 1, 1),
        "controlnet_mid_block.weight": (1280, 1280, 1, 1),
        "controlnet_cond_embedding.conv_in.weight": (16, 3, 3, 3),
        "controlnet_cond_embedding.blocks.5.weight": (256, 96, 3, 3),
        "controlnet_cond_embedding.conv_out.weight": (320, 256, 3, 3),
        "controlnet_cond_embedding.blocks_feature.0.weight": (160, 160, 3, 3),
        "controlnet_cond_embedding.blocks_feature.3.weight": (256, 160, 3, 3),
        "controlnet_cond_embedding.conv_out_feature.weight": (320, 256, 3, 3),
    }
    assert {name: tuple(official_layout[name]) for name in examples} == examples


# The released config.json's keys, from the official class's register_to_config (spec, "Config key" table).
RELEASED_CONFIG_KEYS = {
    "sample_size", "in_channels", "out_channels", "down_block_types", "up_block_types", "block_out_channels",
    "addition_time_embed_dim", "projection_class_embeddings_input_dim", "layers_per_block", "cross_attention_dim",
    "transformer_layers_per_block", "num_attention_heads", "num_frames", "conditioning_channels",
    "conditioning_embedding_out_channels",
}  # fmt: skip


def test_config_parameter_names_are_the_released_ones_plus_the_entity_widths(tmp_path):
    """Config keys are a contract: the released config.json must load as it is, and saved configs must read back."""
    parameters = set(inspect.signature(DragAnythingControlNet.__init__).parameters) - {"self"}
    assert parameters == RELEASED_CONFIG_KEYS | {"entity_embedding_channels"}
    assert set(OFFICIAL_CONFIG) == RELEASED_CONFIG_KEYS
    random_controlnet().save_config(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert {key for key in saved if not key.startswith("_")} == parameters


def test_small_config_has_the_released_key_names(official_layout, controlnet):
    assert controlnet.state_dict().keys() == official_layout.keys()


def test_fresh_network_adds_nothing():
    controlnet = DragAnythingControlNet.from_config(random_controlnet().config).eval()
    gaussian, entity = random_conditions(NUM_FRAMES, HEIGHT, WIDTH)
    with torch.no_grad():
        assert not controlnet.embed_conditions(gaussian, entity).any()
        output = controlnet(**step_inputs(), gaussian=gaussian, entity=entity)
    assert not any(residual.any() for residual in output.down_block_res_samples)
    assert not output.mid_block_res_sample.any()


def test_condition_embedding_shape_and_layouts(controlnet):
    gaussian, entity = random_conditions(NUM_FRAMES, HEIGHT, WIDTH)
    with torch.no_grad():
        per_video = controlnet.embed_conditions(gaussian, entity)
        batched = controlnet.embed_conditions(torch.stack([gaussian] * 2), torch.stack([entity] * 2))
        chunked = controlnet.embed_conditions(gaussian, entity, frame_chunk_size=1)
    assert per_video.shape == (NUM_FRAMES, 32, HEIGHT // 8, WIDTH // 8)
    # Convolution algorithms change with the batch size: equal up to float rounding.
    tolerance = {"rtol": 1e-4, "atol": 1e-5 * per_video.abs().max().item()}
    torch.testing.assert_close(batched, torch.cat([per_video] * 2), **tolerance)
    torch.testing.assert_close(chunked, per_video, **tolerance)


def test_both_condition_branches_reach_the_embedding(controlnet):
    gaussian, entity = random_conditions(NUM_FRAMES, HEIGHT, WIDTH)
    with torch.no_grad():
        reference = controlnet.embed_conditions(gaussian, entity)
        assert not torch.allclose(controlnet.embed_conditions(gaussian * 0.5, entity), reference)
        assert not torch.allclose(controlnet.embed_conditions(gaussian, entity * 0.5), reference)


def test_residual_shapes_follow_the_svd_encoder(controlnet):
    gaussian, entity = random_conditions(NUM_FRAMES, HEIGHT, WIDTH)
    with torch.no_grad():
        down, mid = controlnet(**step_inputs(), gaussian=gaussian, entity=entity, return_dict=False)
    # Spec §2.3 for widths (32, 64, 96, 96) and an 8x8 latent.
    expected = [(32, 8)] * 3 + [(32, 4)] + [(64, 4)] * 2 + [(64, 2)] + [(96, 2)] * 2 + [(96, 1)] * 3
    assert [(r.shape[1], r.shape[-1]) for r in down] == expected
    assert all(r.shape[0] == NUM_FRAMES for r in down)
    assert mid.shape == (NUM_FRAMES, 96, 1, 1)
    assert len(down) == len(RESIDUAL_MULTIPLICITIES)


def test_precomputed_embedding_matches_raw_conditions_and_is_shared_across_the_batch(controlnet):
    gaussian, entity = random_conditions(NUM_FRAMES, HEIGHT, WIDTH)
    inputs = step_inputs(batch_size=2)
    with torch.no_grad():
        embedding = controlnet.embed_conditions(gaussian, entity)
        from_raw = controlnet(**inputs, gaussian=torch.stack([gaussian] * 2), entity=torch.stack([entity] * 2))
        from_embedding = controlnet(**inputs, condition_embedding=embedding)
    for raw, cached in zip(from_raw.down_block_res_samples, from_embedding.down_block_res_samples):
        torch.testing.assert_close(raw, cached)
    torch.testing.assert_close(from_raw.mid_block_res_sample, from_embedding.mid_block_res_sample)


def test_conditioning_scale_scales_every_residual(controlnet):
    gaussian, entity = random_conditions(NUM_FRAMES, HEIGHT, WIDTH)
    with torch.no_grad():
        embedding = controlnet.embed_conditions(gaussian, entity)
        full = controlnet(**step_inputs(), condition_embedding=embedding)
        half = controlnet(**step_inputs(), condition_embedding=embedding, conditioning_scale=0.5)
    full_residuals = [*full.down_block_res_samples, full.mid_block_res_sample]
    half_residuals = [*half.down_block_res_samples, half.mid_block_res_sample]
    for residual, halved in zip(full_residuals, half_residuals, strict=True):
        torch.testing.assert_close(halved, residual * 0.5)


def test_from_unet_copies_the_encoder_and_reproduces_its_activations():
    unet = random_unet(seed=3)
    controlnet = DragAnythingControlNet.from_unet(unet, copy_add_embedding=True).eval()
    for name in ("conv_in", "time_embedding", "add_embedding", "down_blocks", "mid_block"):
        ours, theirs = getattr(controlnet, name).state_dict(), getattr(unet, name).state_dict()
        assert all(torch.equal(ours[key], theirs[key]) for key in theirs)
    assert not any(conv.weight.any() for conv in controlnet.controlnet_down_blocks)
    assert not controlnet.controlnet_mid_block.weight.any()

    # With identity output convs and a zero condition embedding, the residuals are the UNet's own activations.
    with torch.no_grad():
        for conv in [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]:
            conv.weight.copy_(torch.eye(conv.in_channels)[:, :, None, None])
    captured = {}
    unet.mid_block.register_forward_hook(lambda module, args, output: captured.setdefault("mid", output))
    unet.conv_in.register_forward_hook(lambda module, args, output: captured.setdefault("conv_in", output))
    inputs = step_inputs()
    gaussian, entity = random_conditions(NUM_FRAMES, HEIGHT, WIDTH)
    with torch.no_grad():
        unet(**inputs)
        down, mid = controlnet(**inputs, gaussian=gaussian, entity=entity, return_dict=False)
    torch.testing.assert_close(down[0], captured["conv_in"])
    torch.testing.assert_close(mid, captured["mid"])


def test_from_unet_leaves_add_embedding_uncopied_by_default():
    unet = random_unet(seed=3)
    controlnet = DragAnythingControlNet.from_unet(unet)
    assert not torch.equal(controlnet.add_embedding.linear_1.weight, unet.add_embedding.linear_1.weight)
    assert torch.equal(controlnet.time_embedding.linear_1.weight, unet.time_embedding.linear_1.weight)


def test_residuals_as_injected_applies_the_official_multiplicities():
    down = tuple(torch.full((1,), 1.0) for _ in range(12))
    scaled, mid = residuals_as_injected(down, torch.ones(1))
    assert [int(r.item()) for r in scaled] == [4, 4, 4, 4, 3, 3, 3, 2, 2, 2, 1, 1]
    assert mid.item() == 1
    with pytest.raises(DragAnythingError, match="12"):
        residuals_as_injected(down[:10], torch.ones(1))


def test_time_ids():
    ids = time_ids(6, 128, 0.02, batch_size=2, dtype=torch.float64)
    assert ids.shape == (2, 3) and ids.dtype == torch.float64
    assert ids[1].tolist() == [6.0, 128.0, 0.02]


@pytest.mark.parametrize(
    ("gaussian_shape", "entity_shape", "names"),
    [
        ((NUM_FRAMES, 1, HEIGHT, WIDTH), (NUM_FRAMES, 160, HEIGHT, WIDTH), "gaussian"),
        ((NUM_FRAMES, 3, HEIGHT, WIDTH), (NUM_FRAMES, 320, HEIGHT, WIDTH), "entity"),
        ((NUM_FRAMES, 3, HEIGHT, WIDTH), (NUM_FRAMES + 1, 160, HEIGHT, WIDTH), "entity"),
        ((NUM_FRAMES, 3, HEIGHT, WIDTH), (NUM_FRAMES, 160, HEIGHT, WIDTH // 2), "entity"),
        ((3, HEIGHT, WIDTH), (160, HEIGHT, WIDTH), "gaussian"),
    ],
)
def test_malformed_conditions_are_rejected(controlnet, gaussian_shape, entity_shape, names):
    with pytest.raises(DragAnythingError, match=names):
        controlnet.embed_conditions(torch.zeros(gaussian_shape), torch.zeros(entity_shape))


def test_a_frame_chunk_size_must_be_a_positive_count(controlnet):
    gaussian, entity = torch.zeros(NUM_FRAMES, 3, HEIGHT, WIDTH), torch.zeros(NUM_FRAMES, 160, HEIGHT, WIDTH)
    with pytest.raises(DragAnythingError, match="^frame_chunk_size: -1 is not a number of frames"):
        controlnet.embed_conditions(gaussian, entity, frame_chunk_size=-1)


def test_forward_needs_conditions_for_every_frame_and_pixel(controlnet):
    gaussian, entity = random_conditions(NUM_FRAMES + 1, HEIGHT, WIDTH)
    with pytest.raises(DragAnythingError, match="condition_embedding"):
        controlnet(**step_inputs())
    with torch.no_grad(), pytest.raises(DragAnythingError, match="frames"):
        controlnet(**step_inputs(), condition_embedding=controlnet.embed_conditions(gaussian, entity))
    gaussian, entity = random_conditions(NUM_FRAMES, HEIGHT, WIDTH * 2)
    with torch.no_grad(), pytest.raises(DragAnythingError, match=r"it is \(8, 16\) but the latent is \(8, 8\)"):
        controlnet(**step_inputs(), gaussian=gaussian, entity=entity)
