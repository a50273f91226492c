"""Running diffusers' SVD UNet the way the official DragAnything code ran it, without forking its class.

Two behaviours of the official run are reproduced with forward hooks on the UNet's own submodules, installed
for the duration of a ``with`` block and always removed afterwards:

* :func:`adding_residuals`: the ControlNet residuals. Skip ``i`` enters its up block with
  ``RESIDUAL_MULTIPLICITIES[i]`` times residual ``i`` added (the net effect of the official residual loop), and
  the mid block's output gets the mid residual. The activation passed from one down block to the next is
  untouched, as in the official code, which is why the residuals are added where the skips are consumed (the
  up blocks' ``res_hidden_states_tuple``) rather than where they are produced.
* :func:`legacy_temporal_context`: the temporal cross-attention context layout of diffusers before 0.28
  (fixed upstream in "Fix SVD bug (shape of time_context)"), which the official weights were run with. With a
  batch of B videos and hw spatial tokens, temporal token (b, s) then attends to the first-frame context of
  video ``(b*hw + s) mod B``; with B = 1 it changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager

import torch
from diffusers.models.attention import TemporalBasicTransformerBlock
from torch import nn

from .controlnet import residuals_as_injected
from .errors import DragAnythingError


@contextmanager
def adding_residuals(
    unet: nn.Module, down_block_res_samples: Sequence[torch.Tensor], mid_block_res_sample: torch.Tensor
) -> Iterator[None]:
    """Within the block, ``unet``'s forward adds the ControlNet residuals as the official UNet does.

    ``unet`` is a diffusers ``UNetSpatioTemporalConditionModel``; the residuals are a ControlNet's raw output
    (the multiplicities are applied here).
    """
    down, mid = residuals_as_injected(down_block_res_samples, mid_block_res_sample)

    # Each up block consumes the last len(resnets) skips still unconsumed, deepest first.
    up_block_skips = []
    end = len(down)
    for up_block in unet.up_blocks:
        start = end - len(up_block.resnets)
        up_block_skips.append(down[start:end])
        end = start
    if end != 0:
        raise DragAnythingError(
            "unet",
            f"its up blocks consume {len(down) - end} skips but the ControlNet produced {len(down)}",
            "use an SVD UNet with the same block layout as the ControlNet",
        )

    def add_skip_residuals(residuals):
        def hook(module, args, kwargs):
            # diffusers passes the skips by keyword; the positional form is the up blocks' own signature.
            if "res_hidden_states_tuple" in kwargs:
                kwargs["res_hidden_states_tuple"] = add(kwargs["res_hidden_states_tuple"])
            else:
                args = (args[0], add(args[1]), *args[2:])
            return args, kwargs

        def add(skips):
            return tuple(skip + residual.to(skip.dtype) for skip, residual in zip(skips, residuals, strict=True))

        return hook

    def add_mid_residual(module, args, output):
        return output + mid.to(output.dtype)

    handles = [
        up_block.register_forward_pre_hook(add_skip_residuals(residuals), with_kwargs=True)
        for up_block, residuals in zip(unet.up_blocks, up_block_skips)
    ]
    handles.append(unet.mid_block.register_forward_hook(add_mid_residual))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def unet_forward_with_residuals(
    unet: nn.Module,
    sample: torch.Tensor,
    timestep: torch.Tensor | float,
    encoder_hidden_states: torch.Tensor,
    added_time_ids: torch.Tensor,
    down_block_res_samples: Sequence[torch.Tensor],
    mid_block_res_sample: torch.Tensor,
) -> torch.Tensor:
    """The UNet's prediction [B,F,C,h,w] with the ControlNet residuals injected as the official UNet does."""
    with adding_residuals(unet, down_block_res_samples, mid_block_res_sample):
        return unet(sample, timestep, encoder_hidden_states, added_time_ids, return_dict=False)[0]


def _legacy_context_hook(module, args, kwargs):
    context = kwargs.get("encoder_hidden_states")
    if context is None:
        return None
    hidden_states = args[0] if args else kwargs["hidden_states"]
    num_frames = kwargs["num_frames"]
    batch_size = hidden_states.shape[0] // num_frames
    tokens = hidden_states.shape[1]
    # Current diffusers lays the context out (batch, token); the old code broadcast it as (token, batch) and
    # flattened that, so row r holds video r mod B's context.
    per_video = context.unflatten(0, (batch_size, tokens))[:, 0]
    kwargs["encoder_hidden_states"] = per_video.repeat(tokens, 1, 1)
    return args, kwargs


@contextmanager
def legacy_temporal_context(*models: nn.Module) -> Iterator[None]:
    """Within the block, the SVD temporal transformer blocks of ``models`` see the pre-0.28 context layout."""
    with ExitStack() as stack:
        for model in models:
            for module in model.modules():
                if isinstance(module, TemporalBasicTransformerBlock):
                    stack.callback(module.register_forward_pre_hook(_legacy_context_hook, with_kwargs=True).remove)
        yield
