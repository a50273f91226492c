"""DragAnything-Tiny in the host: its weights rebuilt with the host's classes give the diffusers models' outputs,
and the draganything_tiny_cpu template runs on a real server with the shipped model (CPU, nothing downloaded)."""

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.host

PROJECT_DIR = Path(__file__).resolve().parents[2]
TINY_DIR = PROJECT_DIR / "draganything" / "tiny"
TEMPLATE = PROJECT_DIR / "example_workflows" / "api" / "draganything_tiny_cpu.json"
# Measured on CPU fp32 (ComfyUI 0.8.0, torch 2.14.1): host vs diffusers VAE differ by < 1e-6 (encode, decode).
VAE_TOLERANCE = 1e-5


def test_host_vae_matches_the_diffusers_temporal_vae(host):
    from diffusers import AutoencoderKLTemporalDecoder

    vae = host.module("nodes.tiny_model").load_host_vae(TINY_DIR)
    reference = AutoencoderKLTemporalDecoder.from_pretrained(TINY_DIR / "vae").float().eval()
    image = torch.rand(1, 128, 128, 3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        latent = vae.encode(image)
        expected_latent = reference.encode(image.permute(0, 3, 1, 2) * 2 - 1).latent_dist.mode()
        frames = torch.randn(4, 4, 16, 16, generator=torch.Generator().manual_seed(1))
        decoded = vae.decode(frames)
        expected = ((reference.decode(frames, num_frames=4).sample + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1)
    assert (latent - expected_latent).abs().max() < VAE_TOLERANCE
    assert (decoded - expected).abs().max() < VAE_TOLERANCE


def test_host_unet_weights_land_on_every_parameter(host):
    """load_host_svd loads strictly; the host's time-id embedding has the tiny width (3 x 32 = adm channels)."""
    patcher = host.module("nodes.tiny_model").load_host_svd(TINY_DIR, torch.float32)
    model = patcher.model
    y = model.encode_adm(fps=7, motion_bucket_id=128, augmentation_level=0.02)
    assert y.shape == (1, model.model_config.unet_config["adm_in_channels"]) == (1, 96)
    assert model.latent_format.scale_factor == json.loads((TINY_DIR / "vae" / "config.json").read_text())[
        "scaling_factor"]


def read_webp(path: Path) -> np.ndarray:
    from PIL import Image, ImageSequence

    with Image.open(path) as video:
        return np.stack([np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(video)])


def run_template(server, host_base, strength: float) -> np.ndarray:
    prompt = copy.deepcopy(json.loads(TEMPLATE.read_text()))
    for node in prompt.values():
        if node["class_type"] == "DragAnythingApply":
            node["inputs"]["strength"] = strength
        if node["class_type"] == "SaveAnimatedWEBP":
            node["inputs"]["filename_prefix"] += f"_strength{strength:g}"
    entry = server.run(prompt)
    assert entry["status"]["status_str"] == "success", server.error_message(entry)
    saved = [image for output in entry["outputs"].values() for image in output.get("images", [])
             if image.get("type") == "output"]
    assert len(saved) == 1
    path = host_base / "output" / saved[0]["subfolder"] / saved[0]["filename"]
    assert path.is_file() and path.stat().st_size > 0
    return read_webp(path)


def balloon_centroids(video: np.ndarray) -> list[tuple[float, float] | None]:
    """Per frame, the centre of the orange pixels in the upper half (the example's balloon; the sun is paler)."""
    red, green, blue = (video[..., channel].astype(int) for channel in range(3))
    orange = (red > 180) & (green > 90) & (green < 200) & (blue < 110)
    orange[:, video.shape[1] // 2:] = False
    centroids = []
    for mask in orange:
        rows, cols = np.nonzero(mask)
        centroids.append((cols.mean(), rows.mean()) if rows.size > 50 else None)
    return centroids


def template_end_point(entity_id: str) -> np.ndarray:
    """Where the template's path of an entity ends in the 256x128 video (SVD conditioning centre-crops)."""
    prompt = json.loads(TEMPLATE.read_text())
    document = json.loads(next(node["inputs"]["trajectories"] for node in prompt.values()
                               if node["class_type"] == "DragAnythingTrajectories"))
    end = np.array(next(e for e in document["entities"] if e["id"] == entity_id)["points"][-1], float)
    width, height = 256, 128
    scale = max(width / document["width"], height / document["height"])
    offset = (np.array([document["width"], document["height"]]) * scale - [width, height]) / 2
    return end * scale - offset


@pytest.mark.slow
def test_tiny_template_runs_on_a_cpu_server_and_the_balloon_follows_its_path(server, host_base):
    controlled = run_template(server, host_base, 1.0)
    uncontrolled = run_template(server, host_base, 0.0)
    assert controlled.shape == uncontrolled.shape == (8, 128, 256, 3)
    target = template_end_point("balloon")
    tracked = balloon_centroids(controlled)
    free = balloon_centroids(uncontrolled)
    print(f"balloon target end {target.round(1)}; controlled {[None if c is None else np.round(c, 1) for c in tracked]}"
          f"; without control {[None if c is None else np.round(c, 1) for c in free]}")
    # Measured (CPU, ComfyUI 0.8.0): the balloon ends 1.1 px from its target after travelling 43 px; with
    # Pillow 13 / diffusers 0.42.1 it ends 3.8 px away and the colour threshold misses it in one blurred middle
    # frame. Without control it dissolves after frame 1.
    assert tracked[0] is not None and tracked[-1] is not None
    assert sum(centroid is None for centroid in tracked) <= 1
    assert np.linalg.norm(np.subtract(tracked[-1], target)) < 8
    assert np.linalg.norm(np.subtract(tracked[-1], tracked[0])) > 25
    assert free[-1] is None or np.linalg.norm(np.subtract(free[-1], target)) > 8


def test_host_unet_gives_the_diffusers_unet_output(host):
    """Same weights, input, time ids and image embedding: the host's SVD UNet built from the tiny config and the
    diffusers UNet agree (the host embeds the time ids itself, at the tiny width)."""
    from diffusers import UNetSpatioTemporalConditionModel

    patcher = host.module("nodes.tiny_model").load_host_svd(TINY_DIR, torch.float32)
    model = patcher.model
    reference = UNetSpatioTemporalConditionModel.from_pretrained(TINY_DIR / "unet").float().eval()
    frames = 4
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(1, frames, 8, 16, 16, generator=generator)
    embedding = torch.randn(1, 1, 32, generator=generator)
    timestep = torch.tensor([0.3])
    y = model.encode_adm(fps=7, motion_bucket_id=128, augmentation_level=0.02)
    with torch.no_grad():
        expected = reference(sample, timestep, embedding, torch.tensor([[6.0, 128.0, 0.02]])).sample[0]
        native = model.diffusion_model(sample[0], timestep.expand(frames), context=embedding.expand(frames, -1, -1),
                                       y=y.expand(frames, -1), num_video_frames=frames,
                                       image_only_indicator=torch.zeros(1, frames))
    difference = (native - expected).abs().max().item()
    print(f"max |host - diffusers| = {difference:.2e} of max {expected.abs().max().item():.2e}")
    # Measured on CPU fp32: 1.1e-4 with outputs up to 2.35 (4.7e-5 relative; attention and summation order).
    assert difference < 1e-4 * max(1.0, expected.abs().max().item())
