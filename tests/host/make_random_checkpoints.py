"""Write random-weight checkpoints in the real file layouts the host and the pack load, for the server tests.

    python tests/host/make_random_checkpoints.py --comfyui-dir /path/to/ComfyUI --out ~/.cache/draganything-tests

Writes (fp16, about 7.5 GB in all, once; the tests reuse them):
  svd_random.safetensors        SVD img2vid single file (UNet, temporal VAE, OpenCLIP ViT-H image encoder), what
                                ImageOnlyCheckpointLoader reads; the host recognises SVD only at full size.
  sd15_random.safetensors       SD-1.5 single file (UNet, CLIP-L text encoder, VAE) for Load Checkpoint.
  DragAnything/                 config.json + diffusion_pytorch_model.safetensors, the released ControlNet's layout.
The networks are built with the host's and the library's own classes and saved with the host's checkpoint
writer, so the layouts are theirs, not a copy. Runs in its own process so the memory is returned afterwards.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
FILES = ("svd_random.safetensors", "sd15_random.safetensors", "DragAnything/diffusion_pytorch_model.safetensors")


def _randomise(module, seed: int, std: float = 0.02) -> None:
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            noise = torch.randn(parameter.shape, generator=generator, dtype=torch.float32) * std
            parameter.data = noise.to(torch.float16)


def _unet_config(model_channels, channel_mult, context_dim, video: bool) -> dict:
    config = {
        "use_checkpoint": False, "image_size": 32, "use_spatial_transformer": True, "legacy": False,
        "in_channels": 8 if video else 4, "out_channels": 4, "model_channels": model_channels,
        "num_res_blocks": [2, 2, 2, 2], "channel_mult": channel_mult,
        "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0],
        # From the last output block to the first: the three deepest output blocks have no attention.
        "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
        "transformer_depth_middle": 1, "context_dim": context_dim,
        "use_temporal_resblock": video, "use_temporal_attention": video,
    }
    if video:
        config.update({"num_classes": "sequential", "adm_in_channels": 768, "use_linear_in_transformer": True,
                       "extra_ff_mix_layer": True, "use_spatial_context": True,
                       "merge_strategy": "learned_with_images", "merge_factor": 0.0, "video_kernel_size": [3, 1, 1],
                       "disable_temporal_crossattention": False})
    else:
        config.update({"use_linear_in_transformer": False, "num_heads": 8, "num_head_channels": -1})
    return config


def _patcher(model_config):
    import comfy.model_patcher
    import torch

    model_config.set_inference_dtype(torch.float16, None)
    model = model_config.get_model({})
    _randomise(model.diffusion_model, seed=0)
    cpu = torch.device("cpu")
    return comfy.model_patcher.ModelPatcher(model, load_device=cpu, offload_device=cpu)


def write_svd(path: Path) -> None:
    import comfy.clip_vision
    import comfy.sd
    import comfy.supported_models
    import torch

    patcher = _patcher(comfy.supported_models.SVD_img2vid(_unet_config(320, [1, 2, 4, 4], 1024, video=True)))
    vae = comfy.sd.VAE(sd={"decoder.mid.block_1.mix_factor": torch.zeros(1)})  # the temporal-decoder VAE
    _randomise(vae.first_stage_model, seed=1)
    config = Path(comfy.clip_vision.__file__).with_name("clip_vision_config_h.json")
    clip_vision = comfy.clip_vision.ClipVisionModel(str(config))
    _randomise(clip_vision.model, seed=2)
    comfy.sd.save_checkpoint(str(path), patcher, vae=vae, clip_vision=clip_vision)


def write_sd15(path: Path) -> None:
    import comfy.sd
    import comfy.supported_models
    import torch

    model_config = comfy.supported_models.SD15(_unet_config(320, [1, 2, 4, 4], 768, video=False))
    patcher = _patcher(model_config)
    clip = comfy.sd.CLIP(target=model_config.clip_target())
    _randomise(clip.cond_stage_model, seed=3)
    # The keys the host's VAE detection reads to pick the SD-1.x layout (4 latent channels, four levels).
    vae = comfy.sd.VAE(sd={"decoder.conv_in.weight": torch.zeros(512, 4, 3, 3),
                           "decoder.up.3.upsample.conv.weight": torch.zeros(512, 512, 3, 3)})
    _randomise(vae.first_stage_model, seed=4)
    comfy.sd.save_checkpoint(str(path), patcher, clip=clip, vae=vae)


def write_controlnet(folder: Path) -> None:
    import torch
    from safetensors.torch import save_file

    sys.path.insert(0, str(PROJECT_DIR))
    from draganything.controlnet import OFFICIAL_CONFIG, DragAnythingControlNet

    with torch.device("meta"):
        network = DragAnythingControlNet.from_config(OFFICIAL_CONFIG)
    network = network.to_empty(device="cpu")
    _randomise(network, seed=5)
    folder.mkdir(parents=True, exist_ok=True)
    network.save_config(folder)
    save_file({name: tensor.contiguous() for name, tensor in network.state_dict().items()},
              str(folder / "diffusion_pytorch_model.safetensors"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comfyui-dir", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    arguments = parser.parse_args()
    sys.path.insert(0, str(arguments.comfyui_dir))
    sys.argv = sys.argv[:1]
    import comfy.cli_args

    comfy.cli_args.args.cpu = True
    arguments.out.mkdir(parents=True, exist_ok=True)
    writers = {FILES[0]: write_svd, FILES[1]: write_sd15}
    for name, writer in writers.items():
        target = arguments.out / name
        if not target.exists():
            partial = target.with_suffix(".partial")
            writer(partial)
            partial.rename(target)
            print(f"wrote {target}", flush=True)
    if not (arguments.out / FILES[2]).exists():
        write_controlnet(arguments.out / "DragAnything")
        print(f"wrote {arguments.out / FILES[2]}", flush=True)


if __name__ == "__main__":
    main()
