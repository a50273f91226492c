"""The shipped DragAnything-Tiny: its files, its loading, and that it drives sprites along their paths."""

import json

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLTemporalDecoder, UNetSpatioTemporalConditionModel
from PIL import Image
from transformers import CLIPVisionModelWithProjection

from draganything import tiny
from draganything.controlnet import DragAnythingControlNet
from draganything.errors import DragAnythingError
from draganything.metrics import score_video
from draganything.train.config import TINY_CONFIGS_DIR
from draganything.train.extract import video_entity_embeddings

# Budget of the shipped weights (they travel with every clone).
MAX_WEIGHT_BYTES = 16_000_000
# On the demo scene the full model keeps each dragged sprite's colour-tracked centre within this many pixels of
# its path on average (measured: see MODEL_CARD.md), and at most this fraction of the base model's error.
OBJMC_BOUND_PX = 6.0
OBJMC_RATIO_TO_NO_CONTROL = 0.5


@pytest.fixture(scope="module")
def model():
    return tiny.load_tiny()


def test_shipped_weights_are_float16_and_within_budget():
    files = sorted(tiny.TINY_DIR.glob("*/*.safetensors"))
    assert [f.parent.name for f in files] == ["controlnet", "image_encoder", "unet", "vae"]
    assert sum(f.stat().st_size for f in files) <= MAX_WEIGHT_BYTES
    from safetensors import safe_open

    for path in files:
        with safe_open(str(path), "pt") as handle:
            assert {handle.get_slice(key).get_dtype() for key in handle.keys()} == {"F16"}  # noqa: SIM118


def test_shipped_model_is_plain_diffusers_components_plus_the_controlnet(model):
    assert isinstance(model.unet, UNetSpatioTemporalConditionModel)
    assert isinstance(model.vae, AutoencoderKLTemporalDecoder)
    assert isinstance(model.image_encoder, CLIPVisionModelWithProjection)
    assert isinstance(model.controlnet, DragAnythingControlNet)
    assert model.unet.dtype == torch.float32  # loaded in the requested dtype, not the file's
    configured = json.loads((TINY_CONFIGS_DIR / "unet.json").read_text())
    for key in ("block_out_channels", "num_attention_heads", "down_block_types", "up_block_types"):
        assert list(model.unet.config[key]) == configured[key]
    for key in ("in_channels", "cross_attention_dim", "layers_per_block", "addition_time_embed_dim"):
        assert model.unet.config[key] == configured[key]
    keys = model.controlnet.state_dict().keys()
    assert "controlnet_cond_embedding.blocks_feature.0.weight" in keys and "controlnet_mid_block.weight" in keys
    assert model.controlnet.config.entity_embedding_channels[0] * 2 == model.unet.config.block_out_channels[0]


def test_load_tiny_rejects_a_folder_without_a_controlnet(tmp_path):
    with pytest.raises(DragAnythingError, match="controlnet"):
        tiny.load_tiny(controlnet=tmp_path)


def test_run_demo_validates_its_arguments(tmp_path):
    with pytest.raises(DragAnythingError, match=".gif"):
        tiny.run_demo(tmp_path / "demo.mp4")
    with pytest.raises(DragAnythingError, match="step"):
        tiny.run_demo(tmp_path / "demo.gif", steps=0)


def test_drag_conditions_reject_mismatched_tracks(model):
    clip = tiny.held_out_scene(0)
    masks = np.stack([clip.panoptic[0] == entity for entity in clip.ids])
    with pytest.raises(DragAnythingError, match="tracks"):
        tiny.drag_conditions(model, clip.frames[0], masks, clip.tracks[:-1])


def test_drag_conditions_embed_the_entities_as_training_did(model):
    # Inference pools each mask through build_conditions; training pooled the regions of the panoptic id image.
    clip = tiny.held_out_scene(0)
    masks = np.stack([clip.panoptic[0] == entity for entity in clip.ids])
    conditions = tiny.drag_conditions(model, clip.frames[0], masks, clip.tracks, seed=3)
    trained = video_entity_embeddings(model, clip.frames[0], clip.panoptic[0], clip.ids, tiny.TRAINED_TIME_IDS, seed=3)
    assert conditions.embeddings.shape == (len(clip.ids), 16)
    torch.testing.assert_close(conditions.embeddings, trained)


@pytest.mark.slow
def test_shipped_model_drives_the_dragged_sprites_along_their_paths(model):
    clip = tiny.held_out_scene(tiny.DEMO_SCENE)
    masks = np.stack([clip.panoptic[0] == entity for entity in clip.ids])
    conditions = tiny.drag_conditions(model, clip.frames[0], masks, clip.tracks, anchors=clip.still)
    moving = np.flatnonzero(~clip.still)
    scores = {mode: score_video(tiny.generate(model, clip.frames[0], conditions, mode=mode), clip, moving)
              for mode in ("full", "no_control")}
    assert scores["full"]["objmc_colour"] < OBJMC_BOUND_PX, scores
    assert scores["full"]["objmc_colour"] < OBJMC_RATIO_TO_NO_CONTROL * scores["no_control"]["objmc_colour"], scores
    assert scores["full"]["iou_moving"] > scores["no_control"]["iou_moving"], scores


@pytest.mark.slow
def test_run_demo_writes_a_side_by_side_gif(tmp_path):
    path = tiny.run_demo(tmp_path / "demo.gif", steps=2)
    with Image.open(path) as gif:
        assert gif.n_frames == tiny.NUM_FRAMES
        size = tiny.WIDTH * tiny.DEMO_UPSCALE
        assert gif.size == (2 * size + 6, size)
