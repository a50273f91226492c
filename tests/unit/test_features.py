"""DIFT entity features with a tiny random SD-1.5-architecture UNet, VAE and CLIP text encoder."""

import json

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from draganything.errors import DragAnythingError
from draganything.features import (
    DIFT_TIMESTEP,
    DiffusersFeatureExtractor,
    dift_features,
    image_to_vae_input,
    sd1_noise_scheduler,
)

HEIGHT, WIDTH = 64, 128  # latent 8x16: not square, so a transposed axis would show


def tiny_sd_unet(first_block_channels: int = 32) -> UNet2DConditionModel:
    """SD-1.5's block layout (three cross-attention down blocks, one plain; mirrored up) at tiny widths."""
    torch.manual_seed(0)
    return UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(first_block_channels, 32, 64, 64),
        layers_per_block=1,
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=16,
    ).eval()


def tiny_vae() -> AutoencoderKL:
    torch.manual_seed(1)
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=4,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 16, 16),
    ).eval()


def tiny_text_encoder(tmp_path):
    (tmp_path / "vocab.json").write_text(json.dumps({"<|startoftext|>": 0, "<|endoftext|>": 1, "a</w>": 2}))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(vocab_file=str(tmp_path / "vocab.json"), merges_file=str(tmp_path / "merges.txt"),
                              model_max_length=77)
    torch.manual_seed(2)
    config = CLIPTextConfig(vocab_size=len(tokenizer) + 4, hidden_size=32, intermediate_size=37, num_hidden_layers=1,
                            num_attention_heads=2, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
                            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return CLIPTextModel(config).eval(), tokenizer


@pytest.fixture(scope="module")
def extractor(tmp_path_factory):
    text_encoder, tokenizer = tiny_text_encoder(tmp_path_factory.mktemp("tokenizer"))
    return DiffusersFeatureExtractor(tiny_sd_unet(), tiny_vae(), text_encoder, tokenizer)


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(3)
    return image_to_vae_input(rng.integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8))


def seeded(seed):
    return torch.Generator().manual_seed(seed)


def test_noise_schedule_is_sd1_at_t261():
    alpha_bar = sd1_noise_scheduler().alphas_cumprod[DIFT_TIMESTEP]
    assert float(alpha_bar) == pytest.approx(0.65567, abs=5e-6)  # spec section 3


def test_image_conversion_to_minus_one_one():
    converted = image_to_vae_input(np.array([[[0, 255, 128]]], np.uint8))
    assert converted.shape == (1, 3, 1, 1)
    assert converted.flatten().tolist() == pytest.approx([-1.0, 1.0, 128 / 255 * 2 - 1], abs=1e-6)
    with pytest.raises(DragAnythingError, match="uint8 RGB"):
        image_to_vae_input(np.zeros((4, 4), np.uint8))


def test_features_are_the_last_up_block_at_latent_resolution(extractor, image):
    features = extractor(image, seeded(0), ensemble_size=2)
    assert features.shape == (1, 32, HEIGHT // 8, WIDTH // 8) and features.dtype == torch.float32


def test_channel_count_follows_the_unet_configuration(tmp_path, image):
    text_encoder, tokenizer = tiny_text_encoder(tmp_path)
    wide = DiffusersFeatureExtractor(tiny_sd_unet(first_block_channels=320), tiny_vae(), text_encoder, tokenizer)
    assert wide(image, seeded(0), ensemble_size=1).shape == (1, 320, HEIGHT // 8, WIDTH // 8)


def test_hook_reads_what_enters_the_output_norm(extractor):
    latents = torch.randn(1, 4, 8, 16, generator=seeded(4))
    timesteps = torch.tensor([DIFT_TIMESTEP])
    text = extractor.empty_prompt_embedding()
    entering = []
    handle = extractor.unet.conv_norm_out.register_forward_pre_hook(lambda module, args: entering.append(args[0]))
    try:
        features = extractor.unet_features(latents, timesteps, text)
    finally:
        handle.remove()
    assert torch.equal(features, entering[0])
    assert not extractor.unet.up_blocks[-1]._forward_hooks  # the hook is removed again


def test_same_seed_same_features_other_seed_other_features(extractor, image):
    first = extractor(image, seeded(7), ensemble_size=2)
    again = extractor(image, seeded(7), ensemble_size=2)
    other = extractor(image, seeded(8), ensemble_size=2)
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)


def test_ensemble_is_the_mean_of_members_computed_one_by_one(extractor, image):
    seen = []

    def recording_unet(noisy_latents, timesteps, text_embeddings):
        seen.append((noisy_latents, timesteps, text_embeddings))
        return extractor.unet_features(noisy_latents, timesteps, text_embeddings)

    latent_dist = extractor.vae.encode(image).latent_dist
    text = extractor.empty_prompt_embedding()
    features = dift_features(latent_dist, recording_unet, text, scaling_factor=0.18215, generator=seeded(5),
                             ensemble_size=4)
    (noisy, timesteps, texts), = seen
    assert noisy.shape == (4, 4, 8, 16)
    assert timesteps.tolist() == [DIFT_TIMESTEP] * 4
    assert torch.equal(texts, text.expand(4, -1, -1))
    members = [extractor.unet_features(noisy[k:k + 1], timesteps[k:k + 1], text) for k in range(4)]
    torch.testing.assert_close(features, torch.cat(members).mean(dim=0, keepdim=True), rtol=1e-5, atol=1e-6)

    chunked = dift_features(latent_dist, extractor.unet_features, text, scaling_factor=0.18215,
                            generator=seeded(5), ensemble_size=4, member_batch_size=1)
    torch.testing.assert_close(chunked, features, rtol=1e-5, atol=1e-6)


def test_noisy_latents_follow_the_official_recipe(extractor, image):
    """Posterior sample (all members), then the noise, from the generator; scaled; noised at t=261."""
    seen = []

    def latents_as_features(noisy_latents, timesteps, text_embeddings):
        seen.append(noisy_latents)
        return noisy_latents

    latent_dist = extractor.vae.encode(image).latent_dist
    scaling = extractor.vae.config.scaling_factor
    assert scaling == 0.18215
    dift_features(latent_dist, latents_as_features, extractor.empty_prompt_embedding(), scaling_factor=scaling,
                  generator=seeded(6), ensemble_size=3)
    generator = seeded(6)
    posterior = torch.randn(3, 4, 8, 16, generator=generator)
    noise = torch.randn(3, 4, 8, 16, generator=generator)
    latents = (latent_dist.mean + latent_dist.std * posterior) * scaling
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2  # SD-1 "scaled_linear"
    alpha_bar = float(np.cumprod(1 - betas)[DIFT_TIMESTEP])
    expected = alpha_bar ** 0.5 * latents + (1 - alpha_bar) ** 0.5 * noise
    torch.testing.assert_close(seen[0], expected, rtol=1e-5, atol=1e-6)


def test_empty_prompt_embedding_is_computed_once(extractor):
    first = extractor.empty_prompt_embedding()
    assert first.shape == (1, 77, 32)
    assert extractor.empty_prompt_embedding() is first


@pytest.mark.parametrize("kwargs, problem", [
    ({"ensemble_size": 0}, "ensemble_size: 0 is not a number of ensemble members"),
    ({"member_batch_size": -2}, "member_batch_size: -2 is not a number of ensemble members"),
    ({"timestep": 1000}, "timestep"),
    ({"timestep": -1}, "timestep"),
])
def test_bad_settings_are_refused(extractor, image, kwargs, problem):
    with pytest.raises(DragAnythingError, match=problem):
        extractor(image, seeded(0), **kwargs)


def test_bad_shapes_are_refused(extractor, image):
    with pytest.raises(DragAnythingError, match="image"):
        extractor(image[0])
    latent_dist = extractor.vae.encode(torch.cat([image, image])).latent_dist
    with pytest.raises(DragAnythingError, match="latent_dist"):
        dift_features(latent_dist, extractor.unet_features, extractor.empty_prompt_embedding(),
                      scaling_factor=0.18215)
    single = extractor.vae.encode(image).latent_dist
    with pytest.raises(DragAnythingError, match="text_embeddings"):
        dift_features(single, extractor.unet_features, torch.zeros(77, 32), scaling_factor=0.18215)
