"""Training stages (VAE, image-to-video base, DragAnything ControlNet) on one GPU or several via accelerate.

Launch with ``python -m draganything.train CONFIG.json`` (one process) or ``accelerate launch -m
draganything.train CONFIG.json`` (data parallel: accelerate wraps the objective in DistributedDataParallel and
averages gradients; every process holds the preloaded data set and draws its own batches).

Each stage is an ``nn.Module`` objective whose forward returns the loss, so the distributed wrapper sees one
forward per step. The data set is read once through :class:`VideoSegmentationDataset` (DataLoader workers) and
kept on the training device as uint8 frames, Gaussian maps and entity index maps; frozen parts' outputs that do
not change (latents, CLIP embeddings, entity embeddings) are computed once.

Resuming: ``<output_dir>/checkpoints/step-XXXXXXX`` holds accelerate's full state (model, optimiser, LR schedule,
RNG) plus the step; a run started on the same ``output_dir`` continues from the newest one. Losses go to
``<output_dir>/losses.jsonl``; the trained parts are saved to ``<output_dir>/model`` (safetensors, float32).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch import nn
from torch.utils.data import DataLoader

from ..entity import BACKGROUND
from ..unet import unet_forward_with_residuals
from ..base_features import timesteps_for
from ..components import (
    Components,
    build_components,
    image_embedding,
    image_latents,
    load_components,
    new_controlnet,
)
from .config import TrainConfig
from .dataset import VideoSegmentationDataset, collate, dense_entity_maps
from .edm import edm_loss, input_scale, sample_sigmas
from .extract import video_entity_embeddings, video_seed

# ------------------------------------------------------------------------------------------------------- data


@dataclass
class PreloadedData:
    """The whole data set as tensors. ``entity_index`` rows point into ``embeddings`` (shared by all videos)."""

    videos: list[str]
    frames: torch.Tensor  # uint8 [S, F, 3, H, W]
    gaussian: torch.Tensor | None = None  # uint8/float [S, F, H, W]
    entity_index: torch.Tensor | None = None  # int32 [S, F, H, W], -1 = no entity
    first_panoptic: torch.Tensor | None = None  # int32 [S, H, W]
    entity_ids: list[torch.Tensor] | None = None  # per video, the ids of its table rows
    embeddings: torch.Tensor | None = None  # [R, D]
    latents: torch.Tensor | None = None  # float32 [S, F, 4, h, w], scaled VAE means
    clip: torch.Tensor | None = None  # float32 [S, 1, D], first-frame CLIP embeddings

    def __len__(self) -> int:
        return self.frames.shape[0]

    def to(self, device) -> PreloadedData:
        for name in ("frames", "gaussian", "entity_index", "first_panoptic", "embeddings"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, value.to(device))
        return self


def preload(config: TrainConfig, conditions: bool) -> PreloadedData:
    """Read every usable video of ``config.data_root`` once (through DataLoader workers)."""
    dataset = VideoSegmentationDataset(config.data_root, config.num_frames, config.height, config.width,
                                       conditions=conditions, embeddings_dir=config.embeddings_dir,
                                       gaussian_mode=config.gaussian_mode, seed=config.seed)
    if config.max_videos is not None:
        dataset.videos = dataset.videos[:config.max_videos]
    loader = DataLoader(dataset, batch_size=32, num_workers=config.num_workers, collate_fn=collate)
    videos, frames, gaussian, index, panoptic, ids, tables = [], [], [], [], [], [], []
    rows = 0
    for batch in loader:
        videos += batch["video"]
        frames.append(batch["frames"])
        if conditions:
            gaussian.append(batch["gaussian"])
            # collate offsets each sample's rows within the batch; add the rows of earlier batches
            local = batch["entity_index"].to(torch.int32)
            index.append(torch.where(local == BACKGROUND, local, local + rows))
            panoptic.append(batch["first_panoptic"])
            ids += batch["ids"]
            rows += sum(len(entity) for entity in batch["ids"])
            tables.append(batch["embeddings"])
    data = PreloadedData(videos, torch.cat(frames))
    if conditions:
        data.gaussian, data.entity_index = torch.cat(gaussian), torch.cat(index)
        data.first_panoptic, data.entity_ids = torch.cat(panoptic), ids
        # Precomputed embeddings are used only when every video has them (else they are computed later).
        if {table.shape[1] for table in tables} != {0} and all(table.shape[1] for table in tables):
            data.embeddings = torch.cat(tables).float()
    return data


def to_unit_range(frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames -> float32 in [-1, 1]."""
    return frames.float() / 127.5 - 1.0


# ------------------------------------------------------------------------------------------------ objectives


class VaeObjective(nn.Module):
    """Reconstruction (L1 + MSE) of every frame through the temporal decoder, plus a small KL term."""

    def __init__(self, vae, kl_weight: float):
        super().__init__()
        self.vae = vae
        self.kl_weight = kl_weight

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        num_frames = frames.shape[1]
        pixels = to_unit_range(frames.flatten(0, 1))
        posterior = self.vae.encode(pixels).latent_dist
        reconstruction = self.vae.decode(posterior.sample(), num_frames=num_frames).sample.float()
        error = reconstruction - pixels
        return error.abs().mean() + error.pow(2).mean() + self.kl_weight * posterior.kl().mean()


class DiffusionObjective(nn.Module):
    """EDM v-prediction loss of the SVD UNet, optionally steered by a ControlNet (then the UNet is frozen)."""

    def __init__(self, components: Components, config: TrainConfig):
        super().__init__()
        self.unet = components.unet
        self.controlnet = components.controlnet
        self.config = config

    def forward(self, latents, conditioning_latents, embeddings, gaussian=None, entity=None) -> torch.Tensor:
        config = self.config
        batch, num_frames = latents.shape[:2]
        sigmas = sample_sigmas(batch, config.p_mean, config.p_std, device=latents.device)
        noisy = latents + sigmas.reshape(-1, 1, 1, 1, 1) * torch.randn_like(latents)
        scaled = noisy * input_scale(sigmas).reshape(-1, 1, 1, 1, 1)
        # The unconditional half of CFG sees zero image latents and a zero CLIP embedding: train it too.
        keep = (torch.rand(batch, device=latents.device) >= config.condition_dropout).to(latents.dtype)
        conditioning = (conditioning_latents * keep.reshape(-1, 1, 1, 1))[:, None].expand(-1, num_frames, -1, -1, -1)
        embeddings = embeddings * keep.reshape(-1, 1, 1)
        sample = torch.cat([scaled, conditioning], dim=2)
        timesteps = timesteps_for(sigmas)
        time_ids = torch.tensor([config.time_ids], device=latents.device).expand(batch, -1)
        if self.controlnet is None:
            v = self.unet(sample, timesteps, embeddings, time_ids, return_dict=False)[0]
        else:
            down, mid = self.controlnet(sample, timesteps, embeddings, time_ids, gaussian=gaussian, entity=entity,
                                        return_dict=False)
            v = unet_forward_with_residuals(self.unet, sample, timesteps, embeddings, time_ids, down, mid)
        return edm_loss(v, noisy, latents, sigmas)


# ---------------------------------------------------------------------------------------------------- helpers


def _checkpoints(output_dir: Path) -> list[Path]:
    return sorted((output_dir / "checkpoints").glob("step-*"))


def _lr_lambda(warmup_steps: int):
    return lambda step: min(1.0, (step + 1) / max(1, warmup_steps))


@torch.no_grad()
def encode_latents(components: Components, frames: torch.Tensor, chunk: int = 32) -> torch.Tensor:
    """Scaled VAE means of uint8 frames [S, F, 3, H, W] -> [S, F, 4, h, w] (float32)."""
    vae = components.vae
    out = []
    for start in range(0, frames.shape[0], chunk):
        pixels = to_unit_range(frames[start:start + chunk])
        latents = vae.encode(pixels.flatten(0, 1).to(vae.dtype)).latent_dist.mode().float()
        out.append(latents.unflatten(0, pixels.shape[:2]) * vae.config.scaling_factor)
    return torch.cat(out)


@torch.no_grad()
def first_frame_embeddings(components: Components, frames: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """CLIP embeddings [S, 1, D] of each video's first frame."""
    return torch.cat([image_embedding(components.image_encoder, (to_unit_range(frames[start:start + chunk, 0]) + 1) / 2)
                      for start in range(0, frames.shape[0], chunk)]).float()


@torch.no_grad()
def compute_entity_embeddings(components: Components, data: PreloadedData, config: TrainConfig) -> torch.Tensor:
    """The entity embedding table [R, D] for every preloaded video (rows in the order of its ids).

    The same computation, seeds included, as ``python -m draganything.train.extract``, which does it offline
    (and in parallel) instead.
    """
    rows = []
    for index, video in enumerate(data.videos):
        frame = data.frames[index, 0].permute(1, 2, 0).cpu().numpy()
        panoptic = data.first_panoptic[index].cpu().numpy()
        rows.append(video_entity_embeddings(components, frame, panoptic, data.entity_ids[index].tolist(),
                                            config.time_ids, seed=video_seed(video, config.seed)))
    return torch.cat(rows).float()


# ------------------------------------------------------------------------------------------------------ train


def train(config: TrainConfig) -> Path:
    """Run (or resume) one stage; returns the folder of the trained model."""
    output_dir = Path(config.output_dir)
    accelerator = Accelerator(mixed_precision=config.mixed_precision,
                              gradient_accumulation_steps=config.gradient_accumulation_steps)
    set_seed(config.seed, device_specific=True)
    device = accelerator.device
    started = time.monotonic()
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "config.json").write_text(config.to_json())

    # Components: those in init_dir (trained by earlier stages, or by an earlier run of this stage, which this
    # run then continues from), the rest fresh from the configs.
    components = build_components(config.configs_dir)
    if config.init_dir:
        loaded = load_components(config.init_dir, require={"vae": ("vae",), "base": ("vae",)}.get(
            config.stage, ("vae", "unet", "image_encoder")))
        wanted = {"vae": ("vae",), "base": ("vae", "unet", "image_encoder"),
                  "controlnet": ("vae", "unet", "image_encoder", "controlnet")}[config.stage]
        for name in wanted:
            if getattr(loaded, name) is not None:
                setattr(components, name, getattr(loaded, name))
                accelerator.print(f"[{config.stage}] {name} from {config.init_dir}")
    if config.stage == "controlnet" and components.controlnet is None:
        components.controlnet = new_controlnet(components.unet, config.configs_dir)
    components.to(device)
    for module in (components.unet, components.vae, components.image_encoder):
        module.requires_grad_(False).eval()

    data = preload(config, conditions=config.stage == "controlnet").to(device)
    accelerator.print(f"[{config.stage}] {len(data)} videos of {config.num_frames} frames at "
                      f"{config.width}x{config.height}; preloaded in {time.monotonic() - started:.1f} s")

    if config.stage == "vae":
        trainable = components.vae.requires_grad_(True).train()
        objective = VaeObjective(trainable, config.kl_weight)
    else:
        trainable = (components.unet if config.stage == "base" else components.controlnet).requires_grad_(True)
        trainable.train()
        objective = DiffusionObjective(components, config)
        data.latents = encode_latents(components, data.frames)
        data.clip = first_frame_embeddings(components, data.frames)
        if config.stage == "controlnet" and config.use_entity_map and data.embeddings is None:
            data.embeddings = compute_entity_embeddings(components, data, config).to(device)
        accelerator.print(f"[{config.stage}] latents {tuple(data.latents.shape)}, latent std "
                          f"{data.latents.std().item():.3f}; ready at {time.monotonic() - started:.1f} s")

    parameters = [p for p in trainable.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, betas=config.adam_betas,
                                  eps=config.adam_epsilon, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config.warmup_steps))
    objective, optimizer, schedule = accelerator.prepare(objective, optimizer, schedule)

    step = 0
    checkpoints = _checkpoints(output_dir)
    if checkpoints:
        accelerator.load_state(str(checkpoints[-1]))
        step = json.loads((checkpoints[-1] / "trainer_state.json").read_text())["step"]
        accelerator.print(f"[{config.stage}] resumed from {checkpoints[-1]} at step {step}")

    # Batch choice and noise augmentation draw from a generator seeded per (step, micro-step, process), and the
    # global RNG states travel in the checkpoints, so a resumed run continues exactly as an uninterrupted one.
    generator = torch.Generator(device=device)
    log_path = output_dir / "losses.jsonl"
    window, window_start, loop_start, first_step = [], time.monotonic(), time.monotonic(), step
    out_of_time = False
    micro_step = 0
    while step < config.max_steps and not out_of_time:
        generator.manual_seed(hash((config.seed, step, micro_step, accelerator.process_index)) % 2**63)
        micro_step += 1
        indices = torch.randint(len(data), (config.batch_size,), device=device, generator=generator)
        with accelerator.accumulate(objective):
            with accelerator.autocast():
                loss = objective(**_batch(config, components, data, indices, generator))
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(parameters, config.max_grad_norm)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
        window.append(loss.detach())
        if not accelerator.sync_gradients:
            continue
        step += 1
        micro_step = 0
        if config.max_minutes is not None:
            elapsed = torch.tensor((time.monotonic() - started) / 60.0, device=device)
            out_of_time = bool(accelerator.reduce(elapsed, reduction="max") >= config.max_minutes)
        if step % config.log_every == 0 or step == config.max_steps or out_of_time:
            mean_loss = accelerator.reduce(torch.stack(window).mean(), reduction="mean").item()
            seconds = time.monotonic() - window_start
            record = {"stage": config.stage, "step": step, "loss": mean_loss, "lr": schedule.get_last_lr()[0],
                      "videos_per_s": len(window) * config.batch_size * accelerator.num_processes / seconds,
                      "elapsed_s": round(time.monotonic() - started, 1)}
            accelerator.print(json.dumps(record))
            if accelerator.is_main_process:
                with log_path.open("a") as log:
                    log.write(json.dumps(record) + "\n")
            window, window_start = [], time.monotonic()
        if step % config.checkpoint_every == 0 or step == config.max_steps or out_of_time:
            _save_checkpoint(accelerator, output_dir, step, config.keep_checkpoints)

    accelerator.wait_for_everyone()
    model_dir = output_dir / "model"
    if accelerator.is_main_process:
        trained = accelerator.unwrap_model(objective)
        components.controlnet = getattr(trained, "controlnet", None)
        if config.stage == "vae":
            components.vae = trained.vae
            _set_scaling_factor(components, data)
        components.save(model_dir)
        steps_run = step - first_step
        summary = {"stage": config.stage, "steps": step, "steps_this_run": steps_run,
                   "train_seconds_this_run": round(time.monotonic() - loop_start, 1),
                   "processes": accelerator.num_processes,
                   "device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)}
        (output_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        accelerator.print(json.dumps(summary))
    accelerator.wait_for_everyone()
    return model_dir


def _batch(config: TrainConfig, components: Components, data: PreloadedData, indices: torch.Tensor,
           generator: torch.Generator) -> dict:
    if config.stage == "vae":
        return {"frames": data.frames[indices]}
    with torch.no_grad():
        first = to_unit_range(data.frames[indices, 0])
        conditioning = image_latents(components.vae, first, config.noise_aug_strength, generator).float()
    batch = {"latents": data.latents[indices], "conditioning_latents": conditioning,
             "embeddings": data.clip[indices]}
    if config.stage == "controlnet":
        gaussian = data.gaussian[indices].float()
        batch["gaussian"] = gaussian[:, :, None].expand(-1, -1, 3, -1, -1)
        if config.use_entity_map:
            batch["entity"] = dense_entity_maps(data.entity_index[indices], data.embeddings)
        else:
            channels = components.controlnet.config.entity_embedding_channels[0]
            batch["entity"] = gaussian.new_zeros(*gaussian.shape[:2], channels, *gaussian.shape[2:])
    return batch


def _save_checkpoint(accelerator: Accelerator, output_dir: Path, step: int, keep: int) -> None:
    path = output_dir / "checkpoints" / f"step-{step:07d}"
    accelerator.save_state(str(path))
    if accelerator.is_main_process:
        (path / "trainer_state.json").write_text(json.dumps({"step": step}))
        for old in _checkpoints(output_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


@torch.no_grad()
def _set_scaling_factor(components: Components, data: PreloadedData, videos: int = 256) -> None:
    """SVD scales latents to unit variance; measure this VAE's latent std and store 1/std in its config."""
    components.vae.eval()
    components.vae.register_to_config(scaling_factor=1.0)
    std = encode_latents(components, data.frames[:videos]).std().item()
    if not math.isfinite(std) or std <= 0:
        raise RuntimeError(f"the trained VAE's latents have standard deviation {std}; the VAE stage diverged")
    components.vae.register_to_config(scaling_factor=float(f"{1.0 / std:.5f}"))
    components.vae.train()
