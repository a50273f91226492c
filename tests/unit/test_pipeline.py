"""The headless sampler, end to end on small random components (CPU).

Golden behaviour comes from diffusers' own StableVideoDiffusionPipeline: with a freshly initialised ControlNet
(zero output convolutions) DragAnything adds nothing, so our sampler must reproduce SVD's, and the official
preset must reproduce SVD run with the official pipeline's choices (un-normalised CLIP input, time ids
(6, 128, 0.02), the pre-0.28 temporal context layout).
"""

import dataclasses

import numpy as np
import pytest
import torch
from diffusers import StableVideoDiffusionPipeline
from PIL import Image
from transformers import CLIPImageProcessor

from draganything.errors import DragAnythingError
from draganything.pipeline import (
    OFFICIAL_PRESET,
    DragAnythingPipeline,
    SamplingCancelled,
    build_scheduler,
    load_pipeline,
)
from draganything.testing import random_conditions, random_pipeline
from draganything.unet import legacy_temporal_context

NUM_FRAMES, SIZE, STEPS = 2, 64, 2
SAME = {"rtol": 1e-3, "atol": 1e-3}  # final latents: float rounding only


def assert_differs(first: torch.Tensor, second: torch.Tensor) -> None:
    """Far beyond float rounding: the change being tested has an effect."""
    assert (first - second).abs().max() > 10 * SAME["atol"]


@pytest.fixture(scope="module")
def pipeline() -> DragAnythingPipeline:
    pipeline = random_pipeline(seed=0)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


@pytest.fixture(scope="module")
def zero_control_pipeline() -> DragAnythingPipeline:
    pipeline = random_pipeline(seed=0, randomise_controlnet=False)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


@pytest.fixture(scope="module")
def first_frame() -> Image.Image:
    pixels = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


@pytest.fixture(scope="module")
def conditions():
    return random_conditions(NUM_FRAMES, SIZE, SIZE)


def svd_reference(components: DragAnythingPipeline, image, seed, *, normalize_clip=True, **kwargs) -> torch.Tensor:
    """diffusers' SVD pipeline on the same components; its final latents [1,F,4,h,w]."""
    # Mean 0 / std 1 turns the feature extractor's normalisation off, as the official pipeline has it.
    extractor = CLIPImageProcessor(**({} if normalize_clip else {"image_mean": [0.0] * 3, "image_std": [1.0] * 3}))
    svd = StableVideoDiffusionPipeline(
        vae=components.vae, image_encoder=components.image_encoder, unet=components.unet,
        scheduler=build_scheduler(), feature_extractor=extractor,
    )  # fmt: skip
    svd.set_progress_bar_config(disable=True)
    return svd(
        image, height=SIZE, width=SIZE, num_frames=NUM_FRAMES, num_inference_steps=STEPS,
        generator=torch.Generator().manual_seed(seed), output_type="latent", **kwargs,
    ).frames  # fmt: skip


def test_scheduler_is_svd_karras_v_prediction():
    scheduler = build_scheduler()
    scheduler.set_timesteps(25)
    # Spec §5.3 (verified against the official run).
    expected_head = [700.0, 545.73, 421.57, 322.45, 244.02, 182.55, 134.85, 98.27, 70.54, 49.81]
    expected_tail = [0.678, 0.339, 0.157, 0.0664, 0.0248, 0.0079, 0.002, 0.0]
    np.testing.assert_allclose(scheduler.sigmas[:10].numpy(), expected_head, rtol=1e-4)
    np.testing.assert_allclose(scheduler.sigmas[-8:].numpy(), expected_tail, rtol=5e-3, atol=1e-6)  # 3 digits
    assert scheduler.timesteps[0].item() == pytest.approx(1.6378, abs=1e-4)
    assert scheduler.timesteps[-1].item() == pytest.approx(-1.5537, abs=1e-4)
    assert float(scheduler.init_noise_sigma) == pytest.approx(700.0007, abs=1e-4)
    assert scheduler.config.prediction_type == "v_prediction"


def test_without_control_the_default_preset_is_diffusers_svd(zero_control_pipeline, first_frame, conditions):
    ours = zero_control_pipeline(
        first_frame, *conditions, num_inference_steps=STEPS, generator=torch.Generator().manual_seed(3),
        fps=9, motion_bucket_id=100, noise_aug_strength=0.05, decode=False,
    ).latents  # fmt: skip
    reference = svd_reference(
        zero_control_pipeline, first_frame, 3, fps=9, motion_bucket_id=100, noise_aug_strength=0.05
    )
    # Same computation in another order (CLIP preprocessing, float rounding at sigma = 700): equal to ~1e-4.
    torch.testing.assert_close(ours, reference, **SAME)


def test_a_pipeline_without_a_controlnet_samples_what_a_zero_controlnet_adds_nothing_to(
    zero_control_pipeline, first_frame, conditions
):
    components = {name: getattr(zero_control_pipeline, name) for name in ("vae", "image_encoder", "unet", "scheduler")}
    uncontrolled = DragAnythingPipeline(**components, controlnet=None)
    uncontrolled.set_progress_bar_config(disable=True)
    assert uncontrolled.vae_scale_factor == 8
    for preset in ("default", "official"):
        ours, reference = (
            pipeline(first_frame, *conditions, preset=preset, num_inference_steps=STEPS, seed=5, decode=False).latents
            for pipeline in (uncontrolled, zero_control_pipeline)
        )
        torch.testing.assert_close(ours, reference, rtol=0, atol=0)


def test_without_control_the_official_preset_is_svd_with_the_official_choices(
    zero_control_pipeline, first_frame, conditions
):
    ours = zero_control_pipeline(
        first_frame, *conditions, preset="official", num_inference_steps=STEPS,
        generator=torch.Generator().manual_seed(4), fps=25, motion_bucket_id=180,  # ignored by the preset
        decode=False,
    ).latents  # fmt: skip
    with legacy_temporal_context(zero_control_pipeline.unet):
        reference = svd_reference(
            zero_control_pipeline, first_frame, 4, normalize_clip=False, fps=7, motion_bucket_id=128,
            noise_aug_strength=0.02,
        )  # fmt: skip
    # Same computation in another order (CLIP preprocessing, float rounding at sigma = 700): equal to ~1e-4.
    torch.testing.assert_close(ours, reference, **SAME)
    # And the preset's differences are real: the default preset gives another video.
    default = zero_control_pipeline(
        first_frame, *conditions, num_inference_steps=STEPS, generator=torch.Generator().manual_seed(4), decode=False
    ).latents
    assert_differs(default, ours)


def test_controls_change_the_video(pipeline, zero_control_pipeline, first_frame, conditions):
    common = {"num_inference_steps": 1, "seed": 5, "decode": False}
    controlled = pipeline(first_frame, *conditions, **common).latents
    uncontrolled = zero_control_pipeline(first_frame, *conditions, **common).latents
    assert_differs(controlled, uncontrolled)
    conditional_only = dataclasses.replace(OFFICIAL_PRESET, control_unconditional=False)
    official = pipeline(first_frame, *conditions, preset="official", **common).latents
    assert_differs(pipeline(first_frame, *conditions, preset=conditional_only, **common).latents, official)


def unconditional_context_is_zero(pipeline, image, conditions, preset) -> dict[str, torch.Tensor]:
    """Per network: which spatial tokens of the unconditional video get a zero temporal cross-attention context."""
    seen = {}

    def recorder(name):
        def hook(module, args, kwargs):
            context = kwargs["encoder_hidden_states"].unflatten(0, (2, -1))  # rows: (video, spatial token)
            seen.setdefault(name, (context[0] == 0).flatten(1).all(1))

        return hook

    handles = [
        network.down_blocks[0].attentions[0].temporal_transformer_blocks[0].attn2.register_forward_pre_hook(
            recorder(name), with_kwargs=True
        )
        for name, network in (("unet", pipeline.unet), ("controlnet", pipeline.controlnet))
    ]
    try:
        pipeline(image, *conditions, preset=preset, num_inference_steps=1, seed=0, decode=False)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def test_official_preset_uses_the_legacy_context_in_both_networks(pipeline, first_frame, conditions):
    legacy = unconditional_context_is_zero(pipeline, first_frame, conditions, OFFICIAL_PRESET)
    modern_preset = dataclasses.replace(OFFICIAL_PRESET, legacy_temporal_context=False)
    modern = unconditional_context_is_zero(pipeline, first_frame, conditions, modern_preset)
    for name in ("unet", "controlnet"):
        assert modern[name].all()  # the unconditional video reads its own (zero) image embedding
        tokens = torch.arange(len(legacy[name]))
        assert torch.equal(legacy[name], tokens % 2 == 0)  # spec §2.7: alternating, even hw
    # Without guidance there is one video and the layouts coincide.
    common = {"num_inference_steps": 1, "seed": 6, "decode": False, "max_guidance_scale": 1.0}
    presets = (OFFICIAL_PRESET, modern_preset)
    without_cfg = [pipeline(first_frame, *conditions, preset=preset, **common).latents for preset in presets]
    torch.testing.assert_close(*without_cfg)


def test_condition_embedding_is_computed_once_per_call(pipeline, first_frame, conditions):
    calls = []
    handle = pipeline.controlnet.controlnet_cond_embedding.register_forward_hook(lambda *args: calls.append(1))
    try:
        pipeline(first_frame, *conditions, num_inference_steps=2, seed=0, decode=False)
    finally:
        handle.remove()
    assert len(calls) == 1


def test_seed_noise_injection_and_videos(pipeline, first_frame, conditions):
    common = {"num_inference_steps": 1, "decode": False}
    first = pipeline(first_frame, *conditions, seed=11, num_videos=2, **common).latents
    again = pipeline(first_frame, *conditions, seed=11, num_videos=2, **common).latents
    other = pipeline(first_frame, *conditions, seed=12, num_videos=2, **common).latents
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert_differs(first, other)
    assert first.shape == (2, NUM_FRAMES, 4, SIZE // 8, SIZE // 8)
    assert_differs(first[0], first[1])
    # The documented draw order: noise augmentation first, then the initial latents.
    generator = torch.Generator().manual_seed(11)
    image_noise = torch.randn(1, 3, SIZE, SIZE, generator=generator)
    noise = torch.randn(2, NUM_FRAMES, 4, SIZE // 8, SIZE // 8, generator=generator)
    injected = pipeline(first_frame, *conditions, image_noise=image_noise, noise=noise, num_videos=2, **common)
    torch.testing.assert_close(injected.latents, first, rtol=0, atol=0)


def test_tensor_and_pil_images_agree_and_frames_are_decoded(pipeline, first_frame, conditions):
    tensor = torch.from_numpy(np.array(first_frame)).permute(2, 0, 1).float() / 255
    from_tensor = pipeline(tensor, *conditions, num_inference_steps=1, seed=2, decode_chunk_size=1)
    from_pil = pipeline(first_frame, *conditions, num_inference_steps=1, seed=2, decode_chunk_size=1)
    torch.testing.assert_close(from_tensor.frames, from_pil.frames)
    assert from_tensor.frames.shape == (1, NUM_FRAMES, 3, SIZE, SIZE)
    assert 0 <= from_tensor.frames.min() and from_tensor.frames.max() <= 1


def test_progress_callback_and_cancellation(pipeline, first_frame, conditions):
    seen = []
    pipeline(first_frame, *conditions, num_inference_steps=2, seed=0, decode=False,
             callback=lambda step, total, latents: seen.append((step, total, tuple(latents.shape))))  # fmt: skip
    assert seen == [(0, 2, (1, NUM_FRAMES, 4, 8, 8)), (1, 2, (1, NUM_FRAMES, 4, 8, 8))]

    seen.clear()
    with pytest.raises(SamplingCancelled, match="before step 2 of 2") as cancelled:
        pipeline(first_frame, *conditions, num_inference_steps=2, seed=0, decode=False,
                 callback=lambda step, *_: seen.append(step), should_cancel=lambda: len(seen) == 1)  # fmt: skip
    assert cancelled.value.step == 1 and seen == [0]


@pytest.mark.parametrize("size", [(96, 64), (64, 72)])
def test_size_must_be_a_multiple_of_64(pipeline, size):
    height, width = size
    gaussian, entity = random_conditions(NUM_FRAMES, height, width)
    with pytest.raises(DragAnythingError, match=f"{height}x{width} .* multiple of 64.*e.g. 320x576"):
        pipeline(torch.rand(3, height, width), gaussian, entity, num_inference_steps=1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"gaussian": torch.zeros(NUM_FRAMES, 3, SIZE, SIZE // 2)}, "gaussian: expected"),
        ({"entity": torch.zeros(NUM_FRAMES + 1, 160, SIZE, SIZE)}, "entity: 3 entity frames for 2 Gaussian"),
        ({"entity": torch.zeros(NUM_FRAMES, 8, SIZE, SIZE)}, "entity: expected"),
        ({"image": torch.rand(3, SIZE, SIZE) * 255}, "image: values must be floats in 0..1"),
        ({"image": torch.rand(2, 3, SIZE, SIZE)}, "image: got a batch of 2"),
        ({"image": torch.rand(SIZE, SIZE, 3)}, r"image: expected a \[3,H,W\]"),
        ({"preset": "fast"}, "preset: 'fast' is not a sampling preset. Use one of default, official"),
        ({"noise": torch.zeros(1, NUM_FRAMES, 4, 4, 4)}, r"noise: expected shape \[1, 2, 4, 8, 8\]"),
        ({"num_videos": 0}, "num_videos: 0 is not a positive integer"),
        ({"seed": 1, "generator": torch.Generator()}, "seed: both a seed and a generator"),
    ],
)
def test_malformed_inputs_are_rejected(pipeline, conditions, change, message):
    inputs = {"image": torch.rand(3, SIZE, SIZE), "gaussian": conditions[0], "entity": conditions[1]} | change
    image, gaussian, entity = inputs.pop("image"), inputs.pop("gaussian"), inputs.pop("entity")
    with pytest.raises(DragAnythingError, match=message):
        pipeline(image, gaussian, entity, num_inference_steps=1, **inputs)


def test_load_pipeline_from_diffusers_folders(tmp_path, pipeline, first_frame, conditions):
    svd = StableVideoDiffusionPipeline(
        vae=pipeline.vae, image_encoder=pipeline.image_encoder, unet=pipeline.unet, scheduler=build_scheduler(),
        feature_extractor=CLIPImageProcessor(),
    )  # fmt: skip
    svd.save_pretrained(tmp_path / "svd")
    pipeline.controlnet.save_pretrained(tmp_path / "controlnet")
    loaded = load_pipeline(tmp_path / "svd", tmp_path / "controlnet")
    loaded.set_progress_bar_config(disable=True)
    common = {"num_inference_steps": 1, "seed": 9, "decode": False}
    reloaded, original = (p(first_frame, *conditions, **common).latents for p in (loaded, pipeline))
    torch.testing.assert_close(reloaded, original, **SAME)
    with pytest.raises(DragAnythingError, match="svd_path: .*no model_index.json"):
        load_pipeline(tmp_path / "controlnet", tmp_path / "controlnet")
    (tmp_path / "svd" / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(DragAnythingError, match="svd_path: .* could not be loaded"):
        load_pipeline(tmp_path / "svd", tmp_path / "controlnet")
