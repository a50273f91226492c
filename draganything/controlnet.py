"""The DragAnything ControlNet: a copy of the SVD UNet encoder driven by trajectory and entity conditions.

The network is the SVD img2vid UNet's ``conv_in``, time embeddings, four down blocks and mid block, plus a
two-branch condition embedder: one branch reads the 3-channel 2D Gaussian trajectory map (values 0..255), the
other the 160-channel entity map, both at pixel resolution; their sum is added after ``conv_in``. Thirteen
zero-initialised 1x1 convolutions turn the encoder's skip activations and mid output into residuals for the
frozen SVD UNet. Parameter names are the keys of the released checkpoint (``weijiawu/DragAnything``), so its
state dict loads as it is.

The released weights were trained against a UNet that adds skip residual ``i`` ``RESIDUAL_MULTIPLICITIES[i]``
times (a loop indented one level too deep in the training code). Those factors are part of the model; they are
applied where residuals enter the UNet (:func:`residuals_as_injected`), never inside this network's output.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.unets.unet_3d_blocks import UNetMidBlockSpatioTemporal, get_down_block
from diffusers.utils import BaseOutput
from torch import nn
from torch.nn import functional as F

from .errors import DragAnythingError, check_positive_int

# How many times the official UNet adds each of the 12 skip residuals (conv_in, then each down block's
# outputs): a residual produced by down block k is added once after block k and again after every later block.
RESIDUAL_MULTIPLICITIES: tuple[int, ...] = (4, 4, 4, 4, 3, 3, 3, 2, 2, 2, 1, 1)
MID_RESIDUAL_MULTIPLICITY = 1

# SVD's own conditioning values that the official pipeline sends whatever the caller asks for:
# fps id 6 (fps 7 minus one), motion bucket 128, noise augmentation 0.02.
OFFICIAL_TIME_IDS: tuple[float, float, float] = (6.0, 128.0, 0.02)

# The released checkpoint's config: the SVD img2vid UNet's values plus the condition embedder's.
OFFICIAL_CONFIG: dict = {
    "sample_size": 96,
    "in_channels": 8,
    "out_channels": 4,
    "down_block_types": (
        "CrossAttnDownBlockSpatioTemporal",
        "CrossAttnDownBlockSpatioTemporal",
        "CrossAttnDownBlockSpatioTemporal",
        "DownBlockSpatioTemporal",
    ),
    "up_block_types": (
        "UpBlockSpatioTemporal",
        "CrossAttnUpBlockSpatioTemporal",
        "CrossAttnUpBlockSpatioTemporal",
        "CrossAttnUpBlockSpatioTemporal",
    ),
    "block_out_channels": (320, 640, 1280, 1280),
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 768,
    "layers_per_block": 2,
    "cross_attention_dim": 1024,
    "transformer_layers_per_block": 1,
    "num_attention_heads": (5, 10, 20, 20),
    "num_frames": 14,
    "conditioning_channels": 3,
    "conditioning_embedding_out_channels": (16, 32, 96, 256),
}

# Config keys shared with diffusers' UNetSpatioTemporalConditionModel (what from_unet copies).
_UNET_CONFIG_KEYS = (
    "sample_size",
    "in_channels",
    "out_channels",
    "down_block_types",
    "up_block_types",
    "block_out_channels",
    "addition_time_embed_dim",
    "projection_class_embeddings_input_dim",
    "layers_per_block",
    "cross_attention_dim",
    "transformer_layers_per_block",
    "num_attention_heads",
    "num_frames",
)


def _per_block(value, num_blocks: int) -> tuple:
    return (value,) * num_blocks if isinstance(value, int) else tuple(value)


def _zero_conv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Conv2d:
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def _conv_stack(channels: Sequence[int]) -> nn.ModuleList:
    """Per resolution step: a 3x3 conv at constant width, then a stride-2 3x3 conv to the next width."""
    layers = nn.ModuleList()
    for channels_in, channels_out in itertools.pairwise(channels):
        layers.append(nn.Conv2d(channels_in, channels_in, 3, padding=1))
        layers.append(nn.Conv2d(channels_in, channels_out, 3, padding=1, stride=2))
    return layers


class DragAnythingConditionEmbedding(nn.Module):
    """Encodes the Gaussian map [N,3,H,W] (0..255) and the entity map [N,160,H,W] to [N,C,H/8,W/8].

    Two independent conv stacks (SiLU after every conv but the zero-initialised output convs), summed. The
    entity branch has no input conv: its first block reads the entity channels directly.
    """

    def __init__(
        self,
        out_channels: int,
        gaussian_channels: int,
        gaussian_widths: Sequence[int],
        entity_widths: Sequence[int],
    ):
        super().__init__()
        self.conv_in = nn.Conv2d(gaussian_channels, gaussian_widths[0], 3, padding=1)
        self.blocks = _conv_stack(gaussian_widths)
        self.conv_out = _zero_conv(gaussian_widths[-1], out_channels, 3)
        self.blocks_feature = _conv_stack(entity_widths)
        self.conv_out_feature = _zero_conv(entity_widths[-1], out_channels, 3)

    def forward(self, gaussian: torch.Tensor, entity: torch.Tensor) -> torch.Tensor:
        gaussian_embedding = F.silu(self.conv_in(gaussian))
        for conv in self.blocks:
            gaussian_embedding = F.silu(conv(gaussian_embedding))
        entity_embedding = entity
        for conv in self.blocks_feature:
            entity_embedding = F.silu(conv(entity_embedding))
        return self.conv_out(gaussian_embedding) + self.conv_out_feature(entity_embedding)


@dataclass
class DragAnythingControlNetOutput(BaseOutput):
    """Residuals for the SVD UNet, already multiplied by ``conditioning_scale`` but not by the multiplicities.

    ``down_block_res_samples``: 12 tensors [B*F,C,h,w] for the skips (conv_in, then each down block's outputs).
    ``mid_block_res_sample``: [B*F,C,h,w] for the mid block output.
    """

    down_block_res_samples: tuple[torch.Tensor, ...]
    mid_block_res_sample: torch.Tensor


class DragAnythingControlNet(ModelMixin, ConfigMixin):
    """The DragAnything ControlNet for Stable Video Diffusion, with the released checkpoint's parameter names.

    Config keys are those of the released ``config.json`` (the SVD UNet's plus ``conditioning_channels`` and
    ``conditioning_embedding_out_channels``; ``out_channels``, ``up_block_types``, ``sample_size`` and
    ``num_frames`` are kept for compatibility and unused). ``entity_embedding_channels`` is not in the released
    config: the official code hard-codes (160, 160, 256, 256), the first being the entity map's channel count.
    """

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        sample_size: int | None = None,
        in_channels: int = 8,
        out_channels: int = 4,
        down_block_types: Sequence[str] = OFFICIAL_CONFIG["down_block_types"],
        up_block_types: Sequence[str] = OFFICIAL_CONFIG["up_block_types"],
        block_out_channels: Sequence[int] = (320, 640, 1280, 1280),
        addition_time_embed_dim: int = 256,
        projection_class_embeddings_input_dim: int = 768,
        layers_per_block: int | Sequence[int] = 2,
        cross_attention_dim: int | Sequence[int] = 1024,
        transformer_layers_per_block: int | Sequence[int] = 1,
        num_attention_heads: int | Sequence[int] = (5, 10, 20, 20),
        num_frames: int = 25,
        conditioning_channels: int = 3,
        conditioning_embedding_out_channels: Sequence[int] = (16, 32, 96, 256),
        entity_embedding_channels: Sequence[int] = (160, 160, 256, 256),
    ):
        super().__init__()
        num_blocks = len(down_block_types)
        if len(block_out_channels) != num_blocks:
            raise DragAnythingError(
                "ControlNet config",
                f"block_out_channels has {len(block_out_channels)} entries for {num_blocks} down blocks",
                "give one output width per entry of down_block_types",
            )
        if 3 * addition_time_embed_dim != projection_class_embeddings_input_dim:
            raise DragAnythingError(
                "ControlNet config",
                f"projection_class_embeddings_input_dim is {projection_class_embeddings_input_dim} but the three SVD "
                f"time ids embed to 3 x addition_time_embed_dim = {3 * addition_time_embed_dim}",
                "set projection_class_embeddings_input_dim to three times addition_time_embed_dim",
            )
        layers = _per_block(layers_per_block, num_blocks)
        heads = _per_block(num_attention_heads, num_blocks)
        context_dims = _per_block(cross_attention_dim, num_blocks)
        transformer_layers = _per_block(transformer_layers_per_block, num_blocks)

        self.conv_in = nn.Conv2d(in_channels, block_out_channels[0], 3, padding=1)

        time_embed_dim = 4 * block_out_channels[0]
        self.time_proj = Timesteps(block_out_channels[0], flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(block_out_channels[0], time_embed_dim)
        self.add_time_proj = Timesteps(addition_time_embed_dim, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.add_embedding = TimestepEmbedding(projection_class_embeddings_input_dim, time_embed_dim)

        self.controlnet_cond_embedding = DragAnythingConditionEmbedding(
            out_channels=block_out_channels[0],
            gaussian_channels=conditioning_channels,
            gaussian_widths=conditioning_embedding_out_channels,
            entity_widths=entity_embedding_channels,
        )

        # Skip widths in the order the encoder produces them: conv_in, then per block its layers and downsampler.
        skip_channels = [block_out_channels[0]]
        self.down_blocks = nn.ModuleList()
        for index, block_type in enumerate(down_block_types):
            is_last = index == num_blocks - 1
            self.down_blocks.append(
                get_down_block(
                    block_type,
                    num_layers=layers[index],
                    transformer_layers_per_block=transformer_layers[index],
                    in_channels=block_out_channels[max(index - 1, 0)],
                    out_channels=block_out_channels[index],
                    temb_channels=time_embed_dim,
                    add_downsample=not is_last,
                    resnet_eps=1e-5,
                    cross_attention_dim=context_dims[index],
                    num_attention_heads=heads[index],
                    resnet_act_fn="silu",
                )
            )
            skip_channels += [block_out_channels[index]] * (layers[index] + (0 if is_last else 1))

        self.mid_block = UNetMidBlockSpatioTemporal(
            block_out_channels[-1],
            temb_channels=time_embed_dim,
            transformer_layers_per_block=transformer_layers[-1],
            cross_attention_dim=context_dims[-1],
            num_attention_heads=heads[-1],
        )

        self.controlnet_down_blocks = nn.ModuleList(_zero_conv(c, c, 1) for c in skip_channels)
        self.controlnet_mid_block = _zero_conv(block_out_channels[-1], block_out_channels[-1], 1)

    @classmethod
    def from_unet(
        cls,
        unet: nn.Module,
        *,
        copy_add_embedding: bool = False,
        conditioning_channels: int = 3,
        conditioning_embedding_out_channels: Sequence[int] = (16, 32, 96, 256),
        entity_embedding_channels: Sequence[int] = (160, 160, 256, 256),
    ) -> DragAnythingControlNet:
        """A new ControlNet initialised from a diffusers ``UNetSpatioTemporalConditionModel``.

        Copies ``conv_in``, ``time_embedding``, ``down_blocks`` and ``mid_block``; every output conv stays zero,
        so the new network adds nothing until trained. The official initialisation leaves ``add_embedding``
        (the fps / motion / noise-augmentation embedding) random; ``copy_add_embedding=True`` copies it too,
        which is the sensible start when training a new model.
        """
        config = {key: unet.config[key] for key in _UNET_CONFIG_KEYS}
        controlnet = cls(
            **config,
            conditioning_channels=conditioning_channels,
            conditioning_embedding_out_channels=tuple(conditioning_embedding_out_channels),
            entity_embedding_channels=tuple(entity_embedding_channels),
        )
        copied = ["conv_in", "time_embedding", "down_blocks", "mid_block"]
        if copy_add_embedding:
            copied.append("add_embedding")
        for name in copied:
            getattr(controlnet, name).load_state_dict(getattr(unet, name).state_dict())
        return controlnet.to(dtype=unet.dtype, device=unet.device)

    def embed_conditions(
        self,
        gaussian: torch.Tensor,
        entity: torch.Tensor,
        frame_chunk_size: int | None = None,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        """The condition embedding [B*F,C,H/8,W/8] that ``forward`` adds after ``conv_in``.

        ``gaussian`` is [B,F,3,H,W] or [F,3,H,W] with values 0..255 (as the weights were trained); ``entity`` is
        [B,F,160,H,W] or [F,160,H,W]. The result depends on neither the timestep nor the latents: compute it
        once per video and pass it to every step and both CFG halves. ``frame_chunk_size`` bounds memory by
        embedding that many frames at a time (the result is the same; frames are independent here). ``device`` is
        where the maps are embedded, by default the network's; ``dtype`` is what they are computed in, by default
        the weights' dtype. A host that keeps some layers offloaded, or stores weights in a dtype it cannot compute
        in (fp8), and casts them per call names its compute device and dtype.
        """
        config = self.config
        entity_channels = config.entity_embedding_channels[0]
        if gaussian.ndim not in (4, 5) or gaussian.shape[-3] != config.conditioning_channels:
            raise DragAnythingError(
                "gaussian",
                f"expected [B,F,{config.conditioning_channels},H,W] or [F,{config.conditioning_channels},H,W], "
                f"got shape {tuple(gaussian.shape)}",
                "pass the Gaussian trajectory maps with channels third from the end",
            )
        if entity.ndim != gaussian.ndim or entity.shape[-3] != entity_channels:
            raise DragAnythingError(
                "entity",
                f"expected {'[B,F' if gaussian.ndim == 5 else '[F'},{entity_channels},H,W] like the Gaussian maps, "
                f"got shape {tuple(entity.shape)}",
                f"pass the entity maps with {entity_channels} channels and the same leading dimensions as the "
                "Gaussian maps",
            )
        if gaussian.shape[:-3] != entity.shape[:-3] or gaussian.shape[-2:] != entity.shape[-2:]:
            raise DragAnythingError(
                "entity",
                f"shape {tuple(entity.shape)} does not match the Gaussian maps' {tuple(gaussian.shape)} in frames "
                "or size",
                "build both maps for the same frames at the same resolution",
            )
        if frame_chunk_size is not None:
            check_positive_int("frame_chunk_size", frame_chunk_size, "a number of frames")
        parameter = self.conv_in.weight
        device = parameter.device if device is None else device
        dtype = parameter.dtype if dtype is None else dtype
        gaussian = gaussian.reshape(-1, *gaussian.shape[-3:]).to(device=device, dtype=dtype)
        entity = entity.reshape(-1, *entity.shape[-3:]).to(device=device, dtype=dtype)
        chunk = frame_chunk_size or gaussian.shape[0]
        return torch.cat(
            [
                self.controlnet_cond_embedding(gaussian_chunk, entity_chunk)
                for gaussian_chunk, entity_chunk in zip(gaussian.split(chunk), entity.split(chunk))
            ]
        )

    def time_embedding_for(
        self,
        timestep: torch.Tensor | float,
        added_time_ids: torch.Tensor,
        batch_size: int,
        dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        """The summed timestep and time-id embedding [B, 4*C0], as SVD's UNet computes it, on the time ids' device,
        in ``dtype`` (by default the weights')."""
        dtype = self.conv_in.weight.dtype if dtype is None else dtype
        timesteps = torch.as_tensor(timestep, device=added_time_ids.device).reshape(-1).expand(batch_size)
        emb = self.time_embedding(self.time_proj(timesteps).to(dtype))
        time_id_features = self.add_time_proj(added_time_ids.flatten()).reshape(batch_size, -1)
        return emb + self.add_embedding(time_id_features.to(emb.dtype))

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float,
        encoder_hidden_states: torch.Tensor,
        added_time_ids: torch.Tensor,
        condition_embedding: torch.Tensor | None = None,
        *,
        gaussian: torch.Tensor | None = None,
        entity: torch.Tensor | None = None,
        conditioning_scale: float = 1.0,
        return_dict: bool = True,
    ) -> DragAnythingControlNetOutput | tuple:
        """Residuals for one denoising step.

        ``sample`` [B,F,8,h,w] is the scaled noisy latent concatenated with the image latents, as the SVD UNet
        receives it; ``encoder_hidden_states`` [B,1,D] the CLIP image embedding; ``added_time_ids`` [B,3].
        ``condition_embedding`` comes from :meth:`embed_conditions`, either for the whole batch ([B*F,...]) or
        for one video ([F,...], then shared by every batch entry, e.g. both CFG halves). Raw ``gaussian`` and
        ``entity`` maps are accepted instead for convenience; they are then embedded on every call.
        """
        batch_size, num_frames = sample.shape[:2]
        if condition_embedding is None:
            if gaussian is None or entity is None:
                raise DragAnythingError(
                    "condition_embedding",
                    "neither a condition embedding nor both raw condition maps (gaussian and entity) were given",
                    "pass condition_embedding=controlnet.embed_conditions(gaussian, entity), or both maps",
                )
            condition_embedding = self.embed_conditions(gaussian, entity, device=sample.device, dtype=sample.dtype)
        if condition_embedding.shape[0] not in (num_frames, batch_size * num_frames):
            raise DragAnythingError(
                "condition_embedding",
                f"it holds {condition_embedding.shape[0]} frames but the sample is {batch_size} x {num_frames}",
                "embed the conditions for the same number of frames as the latent video",
            )
        if condition_embedding.shape[-2:] != sample.shape[-2:]:
            raise DragAnythingError(
                "condition_embedding",
                f"it is {tuple(condition_embedding.shape[-2:])} but the latent is {tuple(sample.shape[-2:])}",
                "build the conditions at the latent size times 8 (the video's pixel size)",
            )

        # The sample's dtype is the compute dtype (the weights' unless a host casts them per call).
        emb = self.time_embedding_for(timestep, added_time_ids, batch_size, sample.dtype)
        emb = emb.repeat_interleave(num_frames, dim=0)
        encoder_hidden_states = encoder_hidden_states.repeat_interleave(num_frames, dim=0)
        image_only_indicator = torch.zeros(batch_size, num_frames, dtype=sample.dtype, device=sample.device)

        # One video's embedding broadcasts over the batch (both CFG halves) without a copy per step.
        hidden_states = self.conv_in(sample.flatten(0, 1)).unflatten(0, (batch_size, num_frames))
        hidden_states = hidden_states + condition_embedding.to(sample.dtype).unflatten(0, (-1, num_frames))
        hidden_states = hidden_states.flatten(0, 1)
        skips = [hidden_states]
        for block in self.down_blocks:
            block_inputs = {"hidden_states": hidden_states, "temb": emb, "image_only_indicator": image_only_indicator}
            if getattr(block, "has_cross_attention", False):
                block_inputs["encoder_hidden_states"] = encoder_hidden_states
            hidden_states, block_skips = block(**block_inputs)
            skips.extend(block_skips)
        hidden_states = self.mid_block(
            hidden_states=hidden_states,
            temb=emb,
            encoder_hidden_states=encoder_hidden_states,
            image_only_indicator=image_only_indicator,
        )

        down_residuals = tuple(
            zero_conv(skip) * conditioning_scale for skip, zero_conv in zip(skips, self.controlnet_down_blocks)
        )
        mid_residual = self.controlnet_mid_block(hidden_states) * conditioning_scale
        if not return_dict:
            return down_residuals, mid_residual
        return DragAnythingControlNetOutput(down_block_res_samples=down_residuals, mid_block_res_sample=mid_residual)


# Device memory of the ControlNet per latent cell (videos x frames x latent height x latent width) and per byte of
# the compute dtype, measured with fp16 compute on an NVIDIA H200 (bench_gpu.py --runs activation, PyTorch SDPA
# attention, whose memory grows linearly with the tokens; benchmarks/results/2026-12-05-h200/): the residuals one
# forward returns, which stay alive while the UNet runs, and the forward's whole transient peak (activations and
# residuals), which comes and goes before the UNet runs. The 2-frame condition embedding peaks at ~41,350 bytes
# per latent cell of one frame and byte (1.42 GiB at 576x1024 in fp16), once per video, also before the UNet.
RESIDUAL_BYTES_PER_LATENT_CELL_BYTE = 1643.0
FORWARD_PEAK_BYTES_PER_LATENT_CELL_BYTE = 8029.0


def activation_memory_bytes(videos: int, frames: int, latent_height: int, latent_width: int, element_size: int) -> int:
    """Device memory the ControlNet holds while the UNet it controls runs, for ``videos`` videos of ``frames``
    frames at a latent size (pixel size / 8) in a dtype of ``element_size`` bytes: the residuals of one forward
    and the condition embedding kept for every step ([frames, C0, h, w]). The forward's own transient peak
    (:data:`FORWARD_PEAK_BYTES_PER_LATENT_CELL_BYTE`, 16 kB per cell in fp16) is smaller than the UNet's
    activations at the same latent, which the host plans for anyway, and is over before the UNet starts."""
    cells = latent_height * latent_width
    residuals = RESIDUAL_BYTES_PER_LATENT_CELL_BYTE * element_size * videos * frames * cells
    kept_embedding = frames * OFFICIAL_CONFIG["block_out_channels"][0] * cells * element_size
    return int(residuals + kept_embedding)


def residuals_as_injected(
    down_block_res_samples: Sequence[torch.Tensor], mid_block_res_sample: torch.Tensor
) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """The residuals multiplied by the official injection multiplicities, ready to add once to each skip.

    This is the net effect of the official UNet's residual loop; a host integration that adds ControlNet
    residuals once per skip gets the trained behaviour by adding these.
    """
    if len(down_block_res_samples) != len(RESIDUAL_MULTIPLICITIES):
        raise DragAnythingError(
            "down_block_res_samples",
            f"got {len(down_block_res_samples)} skip residuals, the SVD UNet has {len(RESIDUAL_MULTIPLICITIES)}",
            "use a ControlNet built from the SVD UNet layout (four down blocks of two layers)",
        )
    down = tuple(residual * factor for residual, factor in zip(down_block_res_samples, RESIDUAL_MULTIPLICITIES))
    return down, mid_block_res_sample * MID_RESIDUAL_MULTIPLICITY


def time_ids(
    fps_id: float,
    motion_bucket_id: float,
    noise_aug_strength: float,
    batch_size: int = 1,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """SVD's ``added_time_ids`` [batch_size, 3]: (fps id, motion bucket, noise-augmentation strength).

    SVD was conditioned on the frame rate minus one, so a 7 fps video has fps id 6. The official DragAnything
    pipeline always sends :data:`OFFICIAL_TIME_IDS`.
    """
    values = torch.tensor([fps_id, motion_bucket_id, noise_aug_strength], dtype=dtype, device=device)
    return values.expand(batch_size, 3).clone()
