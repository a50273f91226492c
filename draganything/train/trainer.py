"""Training stages (VAE, image-to-video base, DragAnything ControlNet) on one GPU or several via accelerate.

Launch with ``python -m draganything.train CONFIG.json`` (one process) or ``accelerate launch --multi_gpu
--num_processes N -m draganything.train CONFIG.json`` (data parallel: accelerate wraps the objective in
DistributedDataParallel, which averages gradients; every process holds the preloaded data set).

Batches: ``batch_size`` is per process and micro-step, so an optimizer step sees a global batch of batch_size x
processes x gradient_accumulation_steps samples. Sample ``position`` of step ``step``'s global batch (micro-step
m, process r, row i: position (m * processes + r) * batch_size + i) draws its video, noise level, noise and
condition dropout from a generator seeded by (seed, step, position) alone. The global batch of a step is
therefore the same however it is split over processes and accumulation steps: one process with batch_size 2B
trains as two with B, up to the order of floating-point sums.

Each stage is an ``nn.Module`` objective whose forward returns the loss, so the distributed wrapper sees one
forward per step. The data set is read once through :class:`VideoSegmentationDataset` (DataLoader workers) and
kept on the training device as uint8 frames, Gaussian maps and entity index maps; frozen parts' outputs that do
not change (latents, CLIP embeddings, entity embeddings) are computed once.

Resuming: ``<output_dir>/checkpoints/step-XXXXXXX`` holds accelerate's full state (model, optimiser, LR schedule)
plus ``trainer_state.json`` (the step and global batch, written last: a folder without it is incomplete and
ignored); a run started on the same ``output_dir`` continues from the newest one, on any number of processes, as
long as the global batch stays the same. Only the main process writes the loss log
(``<output_dir>/losses.jsonl``), the summary and the trained parts (``<output_dir>/model``, safetensors,
float32); ``summary.json`` records a digest of the trained weights as every process held them at the end.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import gather_object, set_seed
from torch import nn
from torch.utils.data import DataLoader

from ..base_features import timesteps_for
from ..entity import BACKGROUND
from ..errors import DragAnythingError
from ..unet import unet_forward_with_residuals
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
        # diffusers' temporal decoder mid block runs attention i only before resnet i + 1: with one layer per block
        # (the tiny VAE) its attention never runs. Weights that get no gradient must not train (DDP rejects them).
        mid_block = vae.decoder.mid_block
        for attention in list(mid_block.attentions)[len(mid_block.resnets) - 1:]:
            attention.requires_grad_(False)

    def forward(self, frames: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``noise`` [B, F, C, h, w]: the posterior sample's standard normal draw."""
        num_frames = frames.shape[1]
        pixels = to_unit_range(frames.flatten(0, 1))
        posterior = self.vae.encode(pixels).latent_dist
        latents = posterior.mean + posterior.std * noise.flatten(0, 1).to(posterior.mean.dtype)
        reconstruction = self.vae.decode(latents, num_frames=num_frames).sample.float()
        error = reconstruction - pixels
        return error.abs().mean() + error.pow(2).mean() + self.kl_weight * posterior.kl().mean()


class DiffusionObjective(nn.Module):
    """EDM v-prediction loss of the SVD UNet, optionally steered by a ControlNet (then the UNet is frozen)."""

    def __init__(self, components: Components, config: TrainConfig):
        super().__init__()
        self.unet = components.unet
        self.controlnet = components.controlnet
        self.config = config

    def forward(self, latents, conditioning_latents, embeddings, sigmas, noise, keep, gaussian=None,
                entity=None) -> torch.Tensor:
        """``sigmas`` [B] noise levels, ``noise`` like ``latents``, ``keep`` [B] bool: False drops the image
        conditioning (the unconditional half of CFG sees zero image latents and a zero CLIP embedding: train it
        too)."""
        config = self.config
        batch, num_frames = latents.shape[:2]
        noisy = latents + sigmas.reshape(-1, 1, 1, 1, 1) * noise
        scaled = noisy * input_scale(sigmas).reshape(-1, 1, 1, 1, 1)
        keep = keep.to(latents.dtype)
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


CHECKPOINT_STATE = "trainer_state.json"


def _checkpoints(output_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first (their state file is written last)."""
    return [path for path in sorted((output_dir / "checkpoints").glob("step-*")) if (path / CHECKPOINT_STATE).is_file()]


def _lr_lambda(warmup_steps: int):
    return lambda step: min(1.0, (step + 1) / max(1, warmup_steps))


def sample_seed(seed: int, step: int, position: int) -> int:
    """The generator seed of sample ``position`` of step ``step``'s global batch."""
    return int(np.random.SeedSequence([seed, step, position]).generate_state(1, np.uint64)[0])


def batch_positions(micro_step: int, process_index: int, num_processes: int, batch_size: int) -> range:
    """Positions in the step's global batch of one process's rows at one micro-step."""
    start = (micro_step * num_processes + process_index) * batch_size
    return range(start, start + batch_size)


def sample_draws(config: TrainConfig, num_videos: int, step: int, positions: range, latent_shape: tuple[int, ...],
                 image_shape: tuple[int, ...], device) -> dict[str, torch.Tensor]:
    """The random choices of the samples at ``positions`` of step ``step``'s global batch, one generator each.

    Every stage: ``index`` [B] (videos, drawn with replacement) and ``noise`` [B, *latent_shape] (the VAE's
    posterior draw, or the diffusion noise). Diffusion stages also: ``sigmas`` [B], ``keep`` [B] (False drops the
    image conditioning) and ``image_noise`` [B, *image_shape] (the conditioning frame's noise augmentation).
    """
    generator = torch.Generator(device=device)
    draws: dict[str, list[torch.Tensor]] = {}
    for position in positions:
        generator.manual_seed(sample_seed(config.seed, step, position))
        sample = {"index": torch.randint(num_videos, (), generator=generator, device=device),
                  "noise": torch.randn(latent_shape, generator=generator, device=device)}
        if config.stage != "vae":
            sample["sigmas"] = sample_sigmas(1, config.p_mean, config.p_std, generator=generator, device=device)[0]
            sample["keep"] = torch.rand((), generator=generator, device=device) >= config.condition_dropout
            sample["image_noise"] = torch.randn(image_shape, generator=generator, device=device)
        for name, value in sample.items():
            draws.setdefault(name, []).append(value)
    return {name: torch.stack(values) for name, values in draws.items()}


def weights_digest(module: nn.Module) -> str:
    """SHA-256 of a module's state dict (names, dtypes, shapes and bytes, in order): equal digests, equal weights."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name} {value.dtype} {tuple(value.shape)}\n".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def _check_global_batch(checkpoint: Path, config: TrainConfig, num_processes: int) -> None:
    """A checkpoint resumes on any number of processes, but at the global batch it was trained with."""
    state = json.loads((checkpoint / CHECKPOINT_STATE).read_text())
    saved = state.get("global_batch")  # absent from checkpoints written before it was recorded
    accumulation = config.gradient_accumulation_steps
    this_run = config.batch_size * num_processes * accumulation
    if saved is None or saved == this_run:
        return
    per_process = saved / (num_processes * accumulation)
    fix = (f"--set batch_size={int(per_process)}" if per_process.is_integer() else
           f"batch_size and gradient_accumulation_steps such that {num_processes} x batch_size x "
           f"gradient_accumulation_steps = {saved}")
    raise DragAnythingError(
        "batch_size",
        f"{checkpoint} was trained with a global batch of {saved} ({state.get('processes', '?')} processes), this "
        f"run's is {this_run} ({num_processes} processes x batch_size {config.batch_size} x "
        f"gradient_accumulation_steps {accumulation})",
        f"Resume with {fix}, or train into a new output_dir.")


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
    # The LR schedule counts optimizer steps and is stepped after each one below: accelerate's own stepping
    # would advance it once per process.
    accelerator = Accelerator(mixed_precision=config.mixed_precision,
                              gradient_accumulation_steps=config.gradient_accumulation_steps,
                              step_scheduler_with_optimizer=False)
    # One seed on every process, so that fresh components are the same everywhere (DDP broadcasts the trained
    # module, not the frozen ones); training itself draws from per-sample generators (sample_draws).
    set_seed(config.seed)
    device = accelerator.device
    started = time.monotonic()
    num_processes = accelerator.num_processes
    global_batch = config.batch_size * num_processes * config.gradient_accumulation_steps
    checkpoints = _checkpoints(output_dir)
    if checkpoints:
        _check_global_batch(checkpoints[-1], config, num_processes)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "config.json").write_text(config.to_json())
    accelerator.print(f"[{config.stage}] global batch {global_batch} = batch_size {config.batch_size} x "
                      f"{num_processes} processes x {config.gradient_accumulation_steps} accumulation steps")

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
        factor = 2 ** (len(trainable.config.block_out_channels) - 1)
        latent_shape = (config.num_frames, trainable.config.latent_channels, config.height // factor,
                        config.width // factor)
    else:
        trainable = (components.unet if config.stage == "base" else components.controlnet).requires_grad_(True)
        trainable.train()
        objective = DiffusionObjective(components, config)
        data.latents = encode_latents(components, data.frames)
        data.clip = first_frame_embeddings(components, data.frames)
        if config.stage == "controlnet" and config.use_entity_map and data.embeddings is None:
            data.embeddings = compute_entity_embeddings(components, data, config).to(device)
        latent_shape = tuple(data.latents.shape[1:])
        accelerator.print(f"[{config.stage}] latents {tuple(data.latents.shape)}, latent std "
                          f"{data.latents.std().item():.3f}; ready at {time.monotonic() - started:.1f} s")
    image_shape = tuple(data.frames.shape[2:])

    parameters = [p for p in trainable.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, betas=config.adam_betas,
                                  eps=config.adam_epsilon, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config.warmup_steps))
    objective, optimizer, schedule = accelerator.prepare(objective, optimizer, schedule)

    step = 0
    if checkpoints:
        accelerator.load_state(str(checkpoints[-1]))
        # accelerate restores its micro-step counter only on processes that find their own RNG file in the
        # checkpoint; count accumulation from the step boundary everywhere.
        accelerator.step = 0
        step = json.loads((checkpoints[-1] / CHECKPOINT_STATE).read_text())["step"]
        accelerator.print(f"[{config.stage}] resumed from {checkpoints[-1]} at step {step}")

    log_path = output_dir / "losses.jsonl"
    window, window_start, loop_start, first_step = [], time.monotonic(), time.monotonic(), step
    out_of_time = False
    micro_step = 0
    while step < config.max_steps and not out_of_time:
        positions = batch_positions(micro_step, accelerator.process_index, num_processes, config.batch_size)
        draws = sample_draws(config, len(data), step, positions, latent_shape, image_shape, device)
        micro_step += 1
        with accelerator.accumulate(objective):
            with accelerator.autocast():
                loss = objective(**_batch(config, components, data, draws))
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(parameters, config.max_grad_norm)
            optimizer.step()
            if accelerator.sync_gradients and not optimizer.step_was_skipped:
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
                      "videos_per_s": len(window) * config.batch_size * num_processes / seconds,
                      "elapsed_s": round(time.monotonic() - started, 1)}
            accelerator.print(json.dumps(record))
            if accelerator.is_main_process:
                with log_path.open("a") as log:
                    log.write(json.dumps(record) + "\n")
            window, window_start = [], time.monotonic()
        if step % config.checkpoint_every == 0 or step == config.max_steps or out_of_time:
            _save_checkpoint(accelerator, output_dir, step, config.keep_checkpoints, global_batch)

    accelerator.wait_for_everyone()
    # DDP keeps the trained weights identical on every process; the digests make that checkable.
    digests = gather_object([weights_digest(trainable)])
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
                   "processes": num_processes, "global_batch": global_batch,
                   "trained_weights_sha256_by_process": digests,
                   "device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)}
        (output_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        accelerator.print(json.dumps(summary))
    accelerator.wait_for_everyone()
    if len(set(digests)) > 1:
        raise RuntimeError(f"the processes ended with different {config.stage} weights (digests {digests}); "
                           f"gradients were not synchronised")
    return model_dir


def _batch(config: TrainConfig, components: Components, data: PreloadedData, draws: dict) -> dict:
    indices = draws["index"]
    if config.stage == "vae":
        return {"frames": data.frames[indices], "noise": draws["noise"]}
    with torch.no_grad():
        first = to_unit_range(data.frames[indices, 0])
        conditioning = image_latents(components.vae, first, config.noise_aug_strength, draws["image_noise"]).float()
    batch = {"latents": data.latents[indices], "conditioning_latents": conditioning,
             "embeddings": data.clip[indices], "sigmas": draws["sigmas"], "noise": draws["noise"],
             "keep": draws["keep"]}
    if config.stage == "controlnet":
        gaussian = data.gaussian[indices].float()
        batch["gaussian"] = gaussian[:, :, None].expand(-1, -1, 3, -1, -1)
        if config.use_entity_map:
            batch["entity"] = dense_entity_maps(data.entity_index[indices], data.embeddings)
        else:
            channels = components.controlnet.config.entity_embedding_channels[0]
            batch["entity"] = gaussian.new_zeros(*gaussian.shape[:2], channels, *gaussian.shape[2:])
    return batch


def _save_checkpoint(accelerator: Accelerator, output_dir: Path, step: int, keep: int, global_batch: int) -> None:
    path = output_dir / "checkpoints" / f"step-{step:07d}"
    accelerator.save_state(str(path))
    # Every process's files are in place before the state file marks the checkpoint complete.
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (path / CHECKPOINT_STATE).write_text(json.dumps({"step": step, "global_batch": global_batch,
                                                         "processes": accelerator.num_processes}))
        kept = _checkpoints(output_dir)[-keep:]
        for old in (output_dir / "checkpoints").glob("step-*"):
            if old not in kept:
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
