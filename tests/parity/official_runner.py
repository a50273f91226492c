"""Run the official DragAnything code on given weights and inputs, and write what it produces.

This script runs in the official code's own environment (its vendored diffusers 0.25.0.dev0 needs
transformers < 4.47 and huggingface_hub < 0.26), never in ours: the parity tests start it in a subprocess with
the interpreter named by DRAGANYTHING_OFFICIAL_PYTHON. It only imports the official modules from the checkout
given on the command line and calls their public classes and functions; devices and the DIFT featurizer are
adapted at run time, no official file is edited.

    python official_runner.py OFFICIAL_DIR REQUEST.json

REQUEST.json holds {"jobs": [...]}; every job names a `task`, an `output` .safetensors path and the task's own
fields (see the `run_*` functions). Each output file gets a JSON sidecar (same path + ".json") for values that
are not tensors.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file


def adapt_devices() -> None:
    """Make the official `.cuda()` calls no-ops when this machine has no CUDA device."""
    if torch.cuda.is_available():
        return
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    torch.nn.Module.cuda = lambda self, *args, **kwargs: self


def write_outputs(path: str, tensors: dict[str, torch.Tensor], extra: dict | None = None) -> None:
    save_file({name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()}, path)
    Path(path + ".json").write_text(json.dumps(extra or {}, indent=1))


def load_inputs(job: dict) -> dict[str, torch.Tensor]:
    """The job's input tensors; floating ones cast to the job's "dtype" (default float32)."""
    tensors = load_file(job["inputs"]) if job.get("inputs") else {}
    dtype = job_dtype(job)
    return {name: tensor.to(dtype) if tensor.is_floating_point() else tensor for name, tensor in tensors.items()}


def job_dtype(job: dict) -> torch.dtype:
    return {"float32": torch.float32, "float64": torch.float64}[job.get("dtype", "float32")]


def build_component(kind: str, config: dict, weights: str):
    """An official-side model built from `config` with the state dict in `weights` loaded strictly (fp32)."""
    if kind == "controlnet":
        from models.DragAnything import DragAnythingSDVModel

        model = DragAnythingSDVModel.from_config(config)
    elif kind == "unet":
        from models.unet_spatio_temporal_condition_controlnet import (
            UNetSpatioTemporalConditionControlNetModel,
        )

        model = UNetSpatioTemporalConditionControlNetModel.from_config(config)
    elif kind == "vae":
        from diffusers.models import AutoencoderKLTemporalDecoder

        model = AutoencoderKLTemporalDecoder.from_config(config)
    elif kind == "image_encoder":
        from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

        model = CLIPVisionModelWithProjection(CLIPVisionConfig(**config))
    else:
        raise ValueError(f"unknown component kind {kind!r}")
    model.load_state_dict(load_file(weights), strict=True)
    return model.float().eval()


# ----------------------------------------------------------------------------------------------------- tasks


def official_get_condition(job: dict, dift: torch.Tensor) -> dict:
    """demo.py's `get_condition` on job["fixture_dir"] at job["height"] x job["width"], capped at
    job["frame_number"] frames, with the DIFT featurizer replaced by one that returns `dift`.

    Returns demo.py's own values (first_frame resized as demo.py resizes it, the Gaussian PIL images, the
    [H, W, 160] entity maps) plus what `get_dift_ID` and the inscribed-circle helper returned, in entity order.
    """
    import demo
    from PIL import Image

    class InjectedFeaturizer:
        def __init__(self, *args, **kwargs):
            pass

        def forward(self, img_tensor, prompt, t=261, up_ft_index=0, ensemble_size=8):
            return dift.clone()

    pooled: list[torch.Tensor] = []
    radii: list[int] = []
    pool_mean = demo.get_dift_ID
    inscribed = demo.find_largest_inner_rectangle_coordinates

    def recording_pool(feature_map, mask):
        vector = pool_mean(feature_map, mask)
        pooled.append(vector.clone())
        return vector

    def recording_inscribed(mask_gray):
        centre, radius = inscribed(mask_gray)
        radii.append(radius)
        return centre, radius

    demo.SDFeaturizer = InjectedFeaturizer
    demo.get_dift_ID = recording_pool
    demo.find_largest_inner_rectangle_coordinates = recording_inscribed
    try:
        fixture_dir = job["fixture_dir"]
        height, width = job["height"], job["width"]
        first_frame = Image.open(os.path.join(fixture_dir, "demo.jpg")).convert("RGB")
        original_width, original_height = first_frame.size
        first_frame = first_frame.resize((width, height))
        gaussian_images, entity_maps, _ = demo.get_condition(
            target_size=(height, width),
            original_size=(original_height, original_width),
            args={"validation_image": fixture_dir, "frame_number": job["frame_number"]},
            first_frame=first_frame,
            side=100,
            model_id=None,
        )
    finally:
        demo.get_dift_ID = pool_mean
        demo.find_largest_inner_rectangle_coordinates = inscribed
    return {
        "first_frame": first_frame,
        "gaussian_images": gaussian_images,
        "entity_maps": entity_maps,
        "pooled": pooled,
        "radii": radii,
        "original_size_hw": [original_height, original_width],
    }


def run_conditions(job: dict) -> None:
    """demo.py's `get_condition` on one fixture folder with an injected DIFT feature map.

    Fields: fixture_dir, height, width, frame_number; inputs["dift"] is the [1, 320, H/8, W/8] feature map the
    featurizer returns. Outputs: "gaussian" [F, H, W] uint8 (the three RGB channels are identical and checked),
    "entity" [F, 160, H, W] float32 written as "entity_scalar" [F, H, W] when all 160 channels are equal (the
    official demo paints a scalar; checked exactly), "pooled" [K, 320] (the vectors `get_dift_ID` returned, in
    entity order), and in the sidecar the radii, the pooled entity count and the original image size.
    """
    condition = official_get_condition(job, load_inputs(job)["dift"])
    gaussian_rgb = np.stack([np.asarray(image) for image in condition["gaussian_images"]])
    if not (np.array_equal(gaussian_rgb[..., 0], gaussian_rgb[..., 1])
            and np.array_equal(gaussian_rgb[..., 0], gaussian_rgb[..., 2])):
        raise AssertionError("official Gaussian map channels differ")
    outputs = {"gaussian": torch.from_numpy(gaussian_rgb[..., 0].copy())}

    # Each official frame is [H, W, 160]; store one channel when the 160 are identical, as demo.py makes them.
    entity_maps = condition.pop("entity_maps")
    channels_equal = all(bool((frame == frame[..., :1]).all()) for frame in entity_maps)
    if channels_equal:
        outputs["entity_scalar"] = torch.stack([frame[..., 0] for frame in entity_maps])
    else:
        outputs["entity"] = torch.stack([frame.permute(2, 0, 1) for frame in entity_maps])
    del entity_maps
    if condition["pooled"]:
        outputs["pooled"] = torch.stack(condition["pooled"])
    write_outputs(
        job["output"],
        outputs,
        {
            "radii": condition["radii"],
            "original_size_hw": condition["original_size_hw"],
            "entity_channels_equal": channels_equal,
            "num_pooled": len(condition["pooled"]),
        },
    )


def run_controlnet(job: dict) -> None:
    """DragAnythingSDVModel forward: {config, weights, inputs, output}, or {pretrained, inputs, output} to load
    the model with the official `DragAnythingSDVModel.from_pretrained(pretrained)` as demo.py does.

    inputs: sample [B,F,8,h,w], timestep [], encoder_hidden_states [B,1,C], added_time_ids [B,3],
    controlnet_cond [B,F,3,H,W], ID_feature [B,F,160,H,W]. Outputs: down_00..down_11, mid.
    """
    if "pretrained" in job:
        from models.DragAnything import DragAnythingSDVModel

        model = DragAnythingSDVModel.from_pretrained(job["pretrained"]).float().eval()
    else:
        model = build_component("controlnet", job["config"], job["weights"])
    model = model.to(job_dtype(job))
    inputs = load_inputs(job)
    with torch.no_grad():
        down, mid = model(
            inputs["sample"],
            inputs["timestep"],
            encoder_hidden_states=inputs["encoder_hidden_states"],
            added_time_ids=inputs["added_time_ids"],
            controlnet_cond=inputs["controlnet_cond"],
            ID_feature=inputs["ID_feature"],
            conditioning_scale=job.get("conditioning_scale", 1.0),
            return_dict=False,
        )
    outputs = {f"down_{index:02d}": residual for index, residual in enumerate(down)}
    outputs["mid"] = mid
    write_outputs(job["output"], outputs)


def run_save_controlnet(job: dict) -> None:
    """{config, weights, directory, output}: the official model's `save_pretrained(directory)` (a diffusers folder
    with config.json and diffusion_pytorch_model.safetensors, as the release ships)."""
    model = build_component("controlnet", job["config"], job["weights"])
    model.save_pretrained(job["directory"], safe_serialization=True)
    write_outputs(job["output"], {}, {"files": sorted(os.listdir(job["directory"]))})


def run_unet(job: dict) -> None:
    """UNetSpatioTemporalConditionControlNetModel forward with residuals: {config, weights, inputs, output}.

    inputs: sample [B,F,8,h,w], timestep [], encoder_hidden_states [B,1,C], added_time_ids [B,3], down_00..,
    mid. Output: "sample" [B,F,4,h,w].
    """
    model = build_component("unet", job["config"], job["weights"]).to(job_dtype(job))
    inputs = load_inputs(job)
    down = [inputs[name] for name in sorted(inputs) if name.startswith("down_")]
    with torch.no_grad():
        sample = model(
            inputs["sample"],
            inputs["timestep"],
            encoder_hidden_states=inputs["encoder_hidden_states"],
            down_block_additional_residuals=down,
            mid_block_additional_residual=inputs["mid"],
            added_time_ids=inputs["added_time_ids"],
            return_dict=False,
        )[0]
    write_outputs(job["output"], {"sample": sample})


def official_pipeline_run(job: dict, inputs: dict, image, gaussian_images, ids_embedding) -> dict:
    """pipeline_svd_DragAnything.StableVideoDiffusionPipeline built from components, with injected noise.

    Fields: configs/weights for unet, controlnet, vae, image_encoder (a CLIPVisionConfig's keyword arguments);
    scheduler_config; num_inference_steps, height, width, num_frames, decode_chunk_size; optional fps and
    motion_bucket_id (demo.py's 7 and 180 by default; the official pipeline ignores both).
    inputs: noise_aug [1,3,H,W] (the draw the pipeline makes for the conditioning image), latents [1,F,4,h,w]
    (before init_noise_sigma). Returns "latents" after the last step, "latents_step_NN" after each step,
    "image_embeddings" and "image_latents" (what the pipeline conditions on; both [zeros, conditional]),
    "image_latents_fp64" (the conditional image latents recomputed in float64), "frames" (decode_latents of the
    final latents, [1,3,F,H,W] in -1..1), and "sigmas"/"timesteps" lists.
    """
    import pipeline.pipeline_svd_DragAnything as official_pipeline
    from diffusers import EulerDiscreteScheduler
    from transformers import CLIPImageProcessor

    components = {
        kind: build_component(kind, job["configs"][kind], job["weights"][kind])
        for kind in ("unet", "controlnet", "vae", "image_encoder")
    }
    pipe = official_pipeline.StableVideoDiffusionPipeline(
        vae=components["vae"],
        image_encoder=components["image_encoder"],
        unet=components["unet"],
        controlnet=components["controlnet"],
        scheduler=EulerDiscreteScheduler.from_config(job["scheduler_config"]),
        feature_extractor=CLIPImageProcessor(),
    )
    pipe.set_progress_bar_config(disable=True)

    noise_aug = inputs["noise_aug"]

    def injected_randn(shape, generator=None, device=None, dtype=None, layout=None):
        if tuple(shape) != tuple(noise_aug.shape):
            raise AssertionError(f"unexpected random draw of shape {tuple(shape)}")
        return noise_aug.to(device=device, dtype=dtype)

    official_pipeline.randn_tensor = injected_randn

    captured: dict[str, torch.Tensor] = {}
    encode_image, encode_vae_image = pipe._encode_image, pipe._encode_vae_image

    def capture_image_embeddings(*args, **kwargs):
        captured["image_embeddings"] = encode_image(*args, **kwargs)
        return captured["image_embeddings"]

    def capture_image_latents(image, *args, **kwargs):
        captured["vae_input"] = image.clone()
        captured["image_latents"] = encode_vae_image(image, *args, **kwargs)
        return captured["image_latents"]

    pipe._encode_image = capture_image_embeddings
    pipe._encode_vae_image = capture_image_latents

    def record_step(pipeline, step, timestep, callback_kwargs):
        captured[f"latents_step_{step:02d}"] = callback_kwargs["latents"].clone()
        return {}

    with torch.no_grad():
        latents = pipe(
            image,
            gaussian_images,
            height=job["height"],
            width=job["width"],
            num_frames=job["num_frames"],
            num_inference_steps=job["num_inference_steps"],
            decode_chunk_size=job["decode_chunk_size"],
            latents=inputs["latents"],
            ids_embedding=ids_embedding,
            output_type="latent",
            callback_on_step_end=record_step,
            fps=job.get("fps", 7),
            motion_bucket_id=job.get("motion_bucket_id", 180),  # demo.py's value; replaced by 128 inside
            controlnet_cond_scale=1.0,
        ).frames
        frames = pipe.decode_latents(latents, job["num_frames"], job["decode_chunk_size"])
        # The same VAE encoding in float64, to measure the official fp32 rounding error of the image latents.
        vae_float64 = copy.deepcopy(pipe.vae).double()
        captured["image_latents_fp64"] = vae_float64.encode(captured.pop("vae_input").double()).latent_dist.mode()
    return {
        "latents": latents,
        "frames": frames,
        **captured,
        "sigmas": pipe.scheduler.sigmas.tolist(),
        "timesteps": pipe.scheduler.timesteps.tolist(),
    }


def run_pipeline(job: dict) -> None:
    """The official pipeline on given conditions (see `official_pipeline_run` for the fields).

    Extra inputs: image uint8 [H,W,3], gaussian uint8 [F,H,W] (made RGB PIL images, as `get_condition` returns
    them), ids_embedding [F,160,H,W].
    """
    from PIL import Image

    inputs = load_inputs(job)
    result = official_pipeline_run(
        job,
        inputs,
        Image.fromarray(inputs["image"].numpy()),
        [Image.fromarray(frame).convert("RGB") for frame in inputs["gaussian"].numpy()],
        inputs["ids_embedding"],
    )
    meta = {"sigmas": result.pop("sigmas"), "timesteps": result.pop("timesteps")}
    write_outputs(job["output"], result, meta)


def run_demo(job: dict) -> None:
    """demo.py's main flow at a small size: `get_condition` (injected DIFT) then the pipeline (injected noise).

    Fields: those of `run_conditions` and `official_pipeline_run` (num_frames = frame_number). inputs: dift,
    noise_aug, latents. Outputs: the pipeline's, plus "gaussian" [F,H,W] uint8 and "image" uint8 [H,W,3] (the
    first frame as demo.py resized it).
    """
    inputs = load_inputs(job)
    condition = official_get_condition(job, inputs["dift"])
    # demo.py: torch.stack(ids_embedding, dim=0).permute(0, 3, 1, 2), then [:frame_number].
    ids_embedding = torch.stack(condition["entity_maps"], dim=0).permute(0, 3, 1, 2)[: job["frame_number"]]
    gaussian_images = condition["gaussian_images"][: job["frame_number"]]
    result = official_pipeline_run(job, inputs, condition["first_frame"], gaussian_images, ids_embedding)
    meta = {"sigmas": result.pop("sigmas"), "timesteps": result.pop("timesteps"), "radii": condition["radii"]}
    result["gaussian"] = torch.from_numpy(np.stack([np.asarray(image)[..., 0] for image in gaussian_images]))
    result["image"] = torch.from_numpy(np.asarray(condition["first_frame"]).copy())
    write_outputs(job["output"], result, meta)


TASKS = {
    "conditions": run_conditions,
    "controlnet": run_controlnet,
    "save_controlnet": run_save_controlnet,
    "unet": run_unet,
    "pipeline": run_pipeline,
    "demo": run_demo,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("official_dir", type=Path, help="checkout of showlab/DragAnything")
    parser.add_argument("request", type=Path, help="JSON file with the jobs to run")
    args = parser.parse_args()

    official_dir = args.official_dir.resolve()
    request = json.loads(args.request.read_text())
    # The official scripts resolve `diffusers`, `models`, `pipeline` and `utils` from their repository root.
    sys.path.insert(0, str(official_dir))
    os.chdir(official_dir)
    torch.manual_seed(0)
    adapt_devices()
    import diffusers

    if not Path(diffusers.__file__).resolve().is_relative_to(official_dir):
        raise SystemExit(f"diffusers resolved to {diffusers.__file__}, not the copy vendored in {official_dir}")
    for job in request["jobs"]:
        TASKS[job["task"]](job)
        print(f"official_runner: {job['task']} -> {job['output']}", flush=True)


if __name__ == "__main__":
    main()
