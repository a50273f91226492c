"""DragAnything-Tiny as host models: its diffusers SVD UNet, temporal VAE and CLIP image encoder rebuilt with the
host's own classes, so the stock SVD graph (SVD_img2vid_Conditioning, KSampler, VAEDecode) samples it.

The host recognises only full-size SVD files. Here the host's SVD model is built from a UNet config derived
from the tiny diffusers config, and the diffusers weights are renamed to the host's layout: the image-model
parts through the host's own maps (`comfy.utils.unet_to_diffusers`, `comfy.diffusers_convert`), SVD's temporal
parts by the rules below, which the host has no map for. Every key must land on exactly one host parameter.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import comfy.clip_vision
import comfy.diffusers_convert
import comfy.latent_formats
import comfy.model_management
import comfy.model_patcher
import comfy.sd
import comfy.supported_models
import comfy.utils
import torch
from comfy.ldm.modules.diffusionmodules.openaimodel import Timestep
from comfy.ldm.modules.temporal_ae import VideoDecoder

from ..draganything.errors import DragAnythingError

UNET_WEIGHTS = "unet/diffusion_pytorch_model.safetensors"
VAE_WEIGHTS = "vae/diffusion_pytorch_model.safetensors"
IMAGE_ENCODER_WEIGHTS = "image_encoder/model.safetensors"
# SVD's temporal decoder: a (3, 1, 1) time convolution after the last layer and in every resnet.
VIDEO_KERNEL_SIZE = [3, 1, 1]
# The temporal half of a decoder resnet is the host's UNet-style ResBlock.
TEMPORAL_RESNET_NAMES = {"norm1": "in_layers.0", "conv1": "in_layers.2", "norm2": "out_layers.0",
                         "conv2": "out_layers.3"}


def _read_config(directory: Path, part: str) -> dict:
    path = directory / part / "config.json"
    if not path.is_file():
        raise DragAnythingError("model", f"{path} is missing",
                                "Point at a folder in diffusers layout (unet/, vae/, image_encoder/, controlnet/)")
    return json.loads(path.read_text())


def _check_keys(part: str, converted: dict, expected: dict) -> None:
    missing, unexpected = sorted(set(expected) - set(converted)), sorted(set(converted) - set(expected))
    if missing or unexpected:
        raise DragAnythingError(
            "model", f"the {part} weights do not match the host model built from its config (missing "
            f"{missing[:5]}, unexpected {unexpected[:5]})",
            "Use the shipped DragAnything-Tiny folder, or a folder written by the pack's training code")


# ------------------------------------------------------------------------------------------------------- UNet
def host_unet_config(config: dict) -> dict:
    """The host's SVD UNet config (comfy.ldm openaimodel) for a diffusers UNetSpatioTemporalConditionModel
    config with SVD's block layout (cross-attention in all down blocks but the last, all up blocks but the
    first)."""
    widths = list(config["block_out_channels"])
    layers = config["layers_per_block"]
    down_attention = [int(kind.startswith("CrossAttn")) for kind in config["down_block_types"]]
    up_attention = [int(kind.startswith("CrossAttn")) for kind in config["up_block_types"]]
    heads = config["num_attention_heads"]
    heads = [heads] * len(widths) if isinstance(heads, int) else list(heads)
    head_channels = {width // count for width, count in zip(widths, heads)}
    if len(head_channels) != 1 or config.get("transformer_layers_per_block", 1) != 1:
        raise DragAnythingError("model", "the UNet's attention heads differ in width between blocks",
                                "The host's SVD UNet needs one head width throughout")
    return {
        "use_checkpoint": False, "image_size": config["sample_size"], "use_spatial_transformer": True,
        "legacy": False, "num_classes": "sequential", "adm_in_channels": config["projection_class_embeddings_input_dim"],
        "in_channels": config["in_channels"], "out_channels": config["out_channels"],
        "model_channels": widths[0], "num_res_blocks": [layers] * len(widths),
        "channel_mult": [width // widths[0] for width in widths],
        "transformer_depth": [depth for depth in down_attention for _ in range(layers)],
        # One entry per output block, the last block's first (the host pops them from the end).
        "transformer_depth_output": [depth for depth in reversed(up_attention) for _ in range(layers + 1)],
        "transformer_depth_middle": 1, "num_head_channels": head_channels.pop(),
        "use_linear_in_transformer": True, "context_dim": config["cross_attention_dim"],
        "extra_ff_mix_layer": True, "use_spatial_context": True, "merge_strategy": "learned_with_images",
        "merge_factor": 0.0, "video_kernel_size": [3, 1, 1], "use_temporal_resblock": True,
        "use_temporal_attention": True, "disable_temporal_crossattention": False,
    }


def host_unet_state_dict(diffusers_state: dict, unet_config: dict) -> dict:
    """diffusers SVD UNet weights renamed to the host's layout.

    The host's diffusers map covers the image-model parts. SVD's temporal parts sit beside them in the host's
    blocks: a resnet's temporal half under `<block>.time_stack`, a transformer's temporal block under
    `<block>.time_stack.0`, its frame-position MLP under `time_pos_embed.{0,2}`, the mixers under `time_mixer`.
    """
    base = comfy.utils.unet_to_diffusers(unet_config)

    def host_block(diffusers_prefix: str, probe: str, suffix: str) -> str:
        return base[f"{diffusers_prefix}.{probe}"][: -len(suffix)]

    converted = {}
    for key, tensor in diffusers_state.items():
        resnet = re.match(r"(.*\.resnets\.\d+)\.(spatial_res_block|temporal_res_block|time_mixer)\.(.*)", key)
        attention = re.match(r"(.*\.attentions\.\d+)\.(temporal_transformer_blocks\.0|time_pos_embed|time_mixer)"
                             r"\.(.*)", key)
        if resnet:
            prefix, part, rest = resnet.groups()
            block = host_block(prefix, "norm1.weight", ".in_layers.0.weight")
            if part == "spatial_res_block":
                target = base[f"{prefix}.{rest}"]
            elif part == "temporal_res_block":
                target = base[f"{prefix}.{rest}"].replace(block, block + ".time_stack", 1)
            else:
                target = f"{block}.time_mixer.{rest}"
        elif attention:
            prefix, part, rest = attention.groups()
            block = host_block(prefix, "norm.weight", ".norm.weight")
            if part == "time_pos_embed":
                target = f"{block}.time_pos_embed.{rest.replace('linear_1', '0').replace('linear_2', '2')}"
            elif part == "time_mixer":
                target = f"{block}.time_mixer.{rest}"
            else:
                target = f"{block}.time_stack.0.{rest}"
        elif key in base:
            target = base[key]
        else:
            raise DragAnythingError("model", f"the UNet weight {key!r} has no place in the host's SVD UNet",
                                    "Use a UNetSpatioTemporalConditionModel with SVD's block layout")
        converted[target] = tensor
    return converted


def load_host_svd(directory: Path, dtype: torch.dtype | None = None) -> comfy.model_patcher.ModelPatcher:
    """The tiny UNet as the host's SVD img2vid MODEL (EDM v-prediction, the VAE's own latent scale)."""
    config = _read_config(directory, "unet")
    vae_config = _read_config(directory, "vae")
    unet_config = host_unet_config(config)
    model_config = comfy.supported_models.SVD_img2vid(dict(unet_config))
    # The host's SVD entry fixes 64-channel heads for full-size SVD; the tiny model's heads are its own.
    model_config.unet_config["num_head_channels"] = unet_config["num_head_channels"]
    model_config.latent_format = comfy.latent_formats.SD15(scale_factor=vae_config["scaling_factor"])
    state = host_unet_state_dict(comfy.utils.load_torch_file(str(directory / UNET_WEIGHTS), safe_load=True),
                                 unet_config)
    parameters = comfy.utils.calculate_parameters(state)
    load_device = comfy.model_management.get_torch_device()
    if dtype is None:
        dtype = comfy.model_management.unet_dtype(model_params=parameters,
                                                  supported_dtypes=model_config.supported_inference_dtypes)
    manual_cast = comfy.model_management.unet_manual_cast(dtype, load_device,
                                                          model_config.supported_inference_dtypes)
    model_config.set_inference_dtype(dtype, manual_cast)
    model = model_config.get_model({}, device=comfy.model_management.unet_offload_device())
    # The host embeds SVD's three time ids at 256 channels each; the tiny model was trained at its own width.
    model.embedder = Timestep(config["addition_time_embed_dim"])
    _check_keys("UNet", state, model.diffusion_model.state_dict())
    model.diffusion_model.load_state_dict(state, strict=True)
    return comfy.model_patcher.ModelPatcher(model, load_device=load_device,
                                            offload_device=comfy.model_management.unet_offload_device())


# -------------------------------------------------------------------------------------------------------- VAE
def host_vae_state_dict(diffusers_state: dict) -> dict:
    """AutoencoderKLTemporalDecoder weights in the host's SVD VAE layout (encoder + VideoDecoder).

    The spatial halves go through the host's diffusers VAE map; the temporal ones become the host's `time_stack`
    (resnets), `mix_factor` and `conv_out.time_mix_conv`. `quant_conv` keeps its name (the host's legacy
    autoencoder has one).
    """
    state = dict(diffusers_state)
    temporal, spatial = {}, {}
    for key, tensor in state.items():
        match = re.match(r"(.*\.resnets\.\d+)\.(spatial_res_block|temporal_res_block|time_mixer)\.(.*)", key)
        if key.startswith("decoder.time_conv_out."):
            temporal[key.replace("decoder.time_conv_out.", "decoder.conv_out.time_mix_conv.")] = tensor
        elif match and match.group(2) != "spatial_res_block":
            # Named by the spatial twin's host key, filled in once that is known.
            temporal[key] = tensor
        else:
            spatial[key.replace(".spatial_res_block.", ".")] = tensor
    converted = comfy.diffusers_convert.convert_vae_state_dict(spatial)
    # The host's map turns attention projections into 1x1 convolutions and renames resnets: find each resnet's
    # host name through its spatial norm1 weight, which both layouts have.
    resnet_names = {}
    for key, tensor in spatial.items():
        if key.endswith(".norm1.weight") and ".resnets." in key:
            probe = comfy.diffusers_convert.convert_vae_state_dict({key: tensor})
            resnet_names[key[: -len(".norm1.weight")]] = next(iter(probe))[: -len(".norm1.weight")]
    for key, tensor in temporal.items():
        match = re.match(r"(.*\.resnets\.\d+)\.(temporal_res_block|time_mixer)\.(.*)", key)
        if match is None:
            converted[key] = tensor
            continue
        prefix, part, rest = match.groups()
        block = resnet_names[prefix]
        if part == "temporal_res_block":
            layer, parameter = rest.split(".")
            converted[f"{block}.time_stack.{TEMPORAL_RESNET_NAMES[layer]}.{parameter}"] = tensor
        else:
            converted[f"{block}.{rest}"] = tensor
    return converted


def load_host_vae(directory: Path) -> comfy.sd.VAE:
    """The tiny temporal VAE as the host's VAE: the host's encoder and SVD VideoDecoder at the tiny widths."""
    config = _read_config(directory, "vae")
    widths = list(config["block_out_channels"])
    ddconfig = {"double_z": True, "z_channels": config["latent_channels"], "resolution": config["sample_size"],
                "in_channels": config["in_channels"], "out_ch": config["out_channels"], "ch": widths[0],
                "ch_mult": [width // widths[0] for width in widths], "num_res_blocks": config["layers_per_block"],
                "attn_resolutions": [], "dropout": 0.0}
    state = host_vae_state_dict(comfy.utils.load_torch_file(str(directory / VAE_WEIGHTS), safe_load=True))
    # The host's VAE takes a custom architecture only as a plain image autoencoder; SVD's video decoder (what the
    # host builds for full-size SVD files) is put in its place, before any weights move to a device.
    decoder = VideoDecoder(**ddconfig, video_kernel_size=VIDEO_KERNEL_SIZE, alpha=0.0)
    decoder_state = {key.removeprefix("decoder."): value for key, value in state.items()
                     if key.startswith("decoder.")}
    # diffusers' temporal decoder runs its middle attention only between resnets, so with one resnet per block
    # the middle block is that resnet alone. The host's has a fixed resnet-attention-resnet: the attention and
    # the second resnet become identities (both are residual; their output projections are zeroed).
    if "mid.block_2.norm1.weight" not in decoder_state:
        identities = {key: torch.zeros_like(value) for key, value in decoder.state_dict().items()
                      if key.startswith(("mid.block_2.", "mid.attn_1.proj_out."))}
        decoder_state.update(identities)
    _check_keys("VAE decoder", decoder_state, decoder.state_dict())
    decoder.load_state_dict(decoder_state, strict=True)
    image_state = {key: value for key, value in state.items() if not key.startswith("decoder.")}
    # Without a post-quant convolution in the tiny VAE, the legacy autoencoder's one is the identity.
    channels = config["latent_channels"]
    image_state["post_quant_conv.weight"] = torch.eye(channels)[:, :, None, None]
    image_state["post_quant_conv.bias"] = torch.zeros(channels)
    # The decoder's spatial weights go in too, only so that the host finds nothing missing; its decoder is then
    # replaced by the video decoder.
    spatial_decoder = {f"decoder.{key}": value for key, value in decoder_state.items()}
    vae = comfy.sd.VAE(sd={**image_state, **spatial_decoder},
                       config={"params": {"embed_dim": channels, "ddconfig": ddconfig}})
    _check_keys("VAE encoder", {key: None for key in image_state},
                {key: None for key in vae.first_stage_model.state_dict() if not key.startswith("decoder.")})
    vae.first_stage_model.decoder = decoder.to(vae.vae_dtype).eval()
    vae.size = None  # recomputed for the decoder now in place
    vae.model_size()
    return vae


# ------------------------------------------------------------------------------------------------ CLIP vision
class SingleLayerClipVision(comfy.clip_vision.ClipVisionModel):
    """The host's CLIP vision model for an encoder of one layer.

    The host's encode_image also returns the penultimate layer's states, which a one-layer encoder does not
    have; here they are the one layer's states. The image embedding, all SVD conditioning uses, is computed
    as the host computes it.
    """

    def encode_image(self, image, crop=True):
        comfy.model_management.load_model_gpu(self.patcher)
        pixel_values = comfy.clip_vision.clip_preprocess(image.to(self.load_device), size=self.image_size,
                                                         mean=self.image_mean, std=self.image_std, crop=crop).float()
        last_hidden_state, all_states, image_embeds, projected = self.model(pixel_values=pixel_values,
                                                                            intermediate_output="all")
        device = comfy.model_management.intermediate_device()
        outputs = comfy.clip_vision.Output()
        outputs["last_hidden_state"] = last_hidden_state.to(device)
        outputs["image_embeds"] = image_embeds.to(device)
        outputs["penultimate_hidden_states"] = all_states[:, -1].to(device)
        outputs["mm_projected"] = projected
        return outputs


def load_host_clip_vision(directory: Path) -> comfy.clip_vision.ClipVisionModel:
    """The tiny CLIPVisionModelWithProjection as the host's CLIP_VISION (same key names as transformers)."""
    clip_vision = SingleLayerClipVision(str(directory / "image_encoder" / "config.json"))
    state = comfy.utils.load_torch_file(str(directory / IMAGE_ENCODER_WEIGHTS), safe_load=True)
    expected = {key: None for key in clip_vision.get_sd() if not key.endswith("position_ids")}
    _check_keys("image encoder", state, expected)
    clip_vision.load_sd(state)
    return clip_vision
