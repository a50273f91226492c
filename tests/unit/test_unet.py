"""Residual injection and the legacy temporal context, checked against literal emulations of the official code."""

import pytest
import torch
from diffusers.models.attention import TemporalBasicTransformerBlock

from draganything.controlnet import OFFICIAL_TIME_IDS, RESIDUAL_MULTIPLICITIES, time_ids
from draganything.errors import DragAnythingError
from draganything.unet import adding_residuals, legacy_temporal_context, unet_forward_with_residuals
from draganything.testing import SMALL_CONTEXT_DIM, random_unet

NUM_FRAMES, LATENT_SIZE = 2, 8


@pytest.fixture(scope="module")
def unet():
    return random_unet(seed=5)


def step_inputs(batch_size: int = 1, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {
        "sample": torch.randn(batch_size, NUM_FRAMES, 8, LATENT_SIZE, LATENT_SIZE, generator=generator),
        "timestep": torch.tensor(0.3),
        "encoder_hidden_states": torch.randn(batch_size, 1, SMALL_CONTEXT_DIM, generator=generator),
        "added_time_ids": time_ids(*OFFICIAL_TIME_IDS, batch_size=batch_size),
    }


def random_residuals(unet, batch_frames: int, seed: int = 1) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Residuals shaped like the skips of ``unet`` for an 8x8 latent, captured from a plain forward."""
    skips = []
    hooks = [block.register_forward_hook(lambda m, a, out: skips.extend(out[1])) for block in unet.down_blocks]
    hooks.append(unet.conv_in.register_forward_hook(lambda m, a, out: skips.append(out)))
    with torch.no_grad():
        unet(**step_inputs(batch_frames // NUM_FRAMES))
    for hook in hooks:
        hook.remove()
    generator = torch.Generator().manual_seed(seed)
    down = [torch.randn(skip.shape, generator=generator) for skip in skips]
    mid_channels = unet.mid_block.resnets[0].spatial_res_block.out_channels
    return down, torch.randn(batch_frames, mid_channels, 1, 1, generator=generator)


def official_unet_forward(unet, sample, timestep, encoder_hidden_states, added_time_ids, down_residuals, mid):
    """The official UNet's forward as the spec (§2.5) describes it, on diffusers' submodules.

    After each down block, every skip collected so far gets its residual added again (the zip stops at the
    shorter list); the activation passed to the next block is never modified; the mid residual is added once.
    """
    batch_size, num_frames = sample.shape[:2]
    emb = unet.time_embedding(unet.time_proj(timestep.reshape(1).expand(batch_size)))
    emb = emb + unet.add_embedding(unet.add_time_proj(added_time_ids.flatten()).reshape(batch_size, -1))
    emb = emb.repeat_interleave(num_frames, dim=0)
    context = encoder_hidden_states.repeat_interleave(num_frames, dim=0)
    indicator = torch.zeros(batch_size, num_frames)
    hidden = unet.conv_in(sample.flatten(0, 1))
    skips = (hidden,)
    for block in unet.down_blocks:
        if getattr(block, "has_cross_attention", False):
            hidden, block_skips = block(hidden, emb, encoder_hidden_states=context, image_only_indicator=indicator)
        else:
            hidden, block_skips = block(hidden, emb, image_only_indicator=indicator)
        skips += block_skips
        updated = ()
        for skip, residual in zip(skips, down_residuals):
            updated = updated + (skip + residual,)
        skips = updated
    hidden = unet.mid_block(hidden, emb, encoder_hidden_states=context, image_only_indicator=indicator) + mid
    for block in unet.up_blocks:
        block_skips, skips = skips[-len(block.resnets) :], skips[: -len(block.resnets)]
        kwargs = {"encoder_hidden_states": context} if getattr(block, "has_cross_attention", False) else {}
        hidden = block(hidden, block_skips, emb, image_only_indicator=indicator, **kwargs)
    hidden = unet.conv_out(unet.conv_act(unet.conv_norm_out(hidden)))
    return hidden.reshape(batch_size, num_frames, *hidden.shape[1:])


def test_multiplicities_are_the_net_effect_of_the_official_loop():
    # Count additions per skip: the loop above with one-hot counters in place of tensors.
    skips_per_block = [3, 3, 3, 2]  # 2 layers + downsampler; the last block has no downsampler
    counts = [0]  # conv_in's skip, collected before the first block
    for block_skips in skips_per_block:
        counts += [0] * block_skips
        counts = [count + 1 for count in counts]
    assert tuple(counts) == RESIDUAL_MULTIPLICITIES


def test_injection_matches_the_official_unet(unet):
    inputs = step_inputs(batch_size=2)
    down, mid = random_residuals(unet, 2 * NUM_FRAMES)
    with torch.no_grad():
        official = official_unet_forward(unet, *inputs.values(), down, mid)
        ours = unet_forward_with_residuals(unet, *inputs.values(), down, mid)
        plain = unet(**inputs).sample
    torch.testing.assert_close(ours, official, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(ours, plain, atol=1e-2)


def test_each_skip_residual_counts_with_its_multiplicity(unet):
    # A residual r at skip i must act exactly like residual r * m_i added once: probe one skip at a time.
    inputs = step_inputs()
    zeros, mid = random_residuals(unet, NUM_FRAMES)
    zeros, mid = [torch.zeros_like(r) for r in zeros], torch.zeros_like(mid)
    for index in (0, 4, 9, 11):
        down = list(zeros)
        down[index] = torch.randn(zeros[index].shape) * 0.1
        with torch.no_grad():
            ours = unet_forward_with_residuals(unet, *inputs.values(), down, mid)
            official = official_unet_forward(unet, *inputs.values(), down, mid)
        torch.testing.assert_close(ours, official, rtol=1e-4, atol=1e-4)


def test_hooks_are_removed_even_after_an_error(unet):
    inputs = step_inputs()
    down, mid = random_residuals(unet, NUM_FRAMES)
    with torch.no_grad():
        plain = unet(**inputs).sample
        with pytest.raises(RuntimeError), adding_residuals(unet, down, mid):
            raise RuntimeError("interrupted")
        torch.testing.assert_close(unet(**inputs).sample, plain)


def test_wrong_residual_count_is_rejected(unet):
    down, mid = random_residuals(unet, NUM_FRAMES)
    with pytest.raises(DragAnythingError, match="12"), adding_residuals(unet, down[:-1], mid):
        pass


def capture_temporal_contexts(unet, inputs) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(temporal hidden states [B*F, hw, C], attn2 context) for every temporal block call."""
    captured = []

    def hook(module, args, kwargs):
        captured.append((args[0], kwargs["encoder_hidden_states"]))

    blocks = [m for m in unet.modules() if isinstance(m, TemporalBasicTransformerBlock)]
    handles = [block.register_forward_pre_hook(hook, with_kwargs=True) for block in blocks]
    with torch.no_grad():
        unet(**inputs)
    for handle in handles:
        handle.remove()
    return captured


def test_legacy_temporal_context_reproduces_the_old_layout(unet):
    inputs = step_inputs(batch_size=2)
    current = capture_temporal_contexts(unet, inputs)
    with legacy_temporal_context(unet):
        legacy = capture_temporal_contexts(unet, inputs)
    assert len(legacy) == len(current) > 0
    for (hidden, context), (_, legacy_context) in zip(current, legacy, strict=True):
        tokens, width = hidden.shape[1], context.shape[-1]
        per_video = context.unflatten(0, (2, tokens))[:, 0]  # [B, 1, C]: each video's first-frame context
        # The pre-0.28 code: broadcast to (tokens, batch), then flatten, ignoring the tokens' (batch, token) order.
        old = per_video[None].broadcast_to(tokens, 2, 1, width).reshape(2 * tokens, 1, width)
        torch.testing.assert_close(legacy_context, old)
        # Spec §2.7: token (b, s) reads the context of video (b*hw + s) mod 2.
        video = (torch.arange(2)[:, None] * tokens + torch.arange(tokens)) % 2
        torch.testing.assert_close(legacy_context.unflatten(0, (2, tokens)), per_video[video])


def test_legacy_temporal_context_changes_nothing_for_one_video(unet):
    inputs = step_inputs(batch_size=1)
    with torch.no_grad():
        plain = unet(**inputs).sample
        with legacy_temporal_context(unet):
            legacy = unet(**inputs).sample
        batched = step_inputs(batch_size=2)
        with legacy_temporal_context(unet):
            legacy_batched = unet(**batched).sample
        plain_batched = unet(**batched).sample
    torch.testing.assert_close(legacy, plain)
    assert not torch.allclose(legacy_batched, plain_batched)
