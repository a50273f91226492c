"""Training configuration: one dataclass, read from JSON, overridable from the command line."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import DragAnythingError
from .dataset import EMBEDDINGS_DIR

STAGES = ("vae", "base", "controlnet")
TINY_CONFIGS_DIR = Path(__file__).resolve().parents[1] / "tiny" / "configs"


@dataclass
class TrainConfig:
    """Everything a training stage needs. Paths are strings so the config round-trips through JSON.

    stage: "vae" (autoencoder), "base" (image-to-video UNet, VAE frozen) or "controlnet" (DragAnything
        ControlNet, everything else frozen).
    data_root: a VIPSeg-layout folder (see draganything.train.dataset).
    output_dir: checkpoints, the loss log and the trained model folder (``<output_dir>/model``) go here.
    init_dir: a model folder holding the components trained by earlier stages (the VAE for "base"; VAE, UNet and
        image encoder for "controlnet"); for "vae" and "base", None builds the missing parts from ``configs_dir``.
    batch_size: samples per process and micro-step; an optimizer step's global batch is batch_size x processes x
        gradient_accumulation_steps (on two GPUs, half the one-GPU batch_size keeps the global batch).
    max_minutes: stop (and save) once this much wall time has passed, whatever max_steps says.
    p_mean / p_std: the log-normal noise-level distribution (ln sigma ~ N(p_mean, p_std^2)).
    condition_dropout: probability of zeroing the image conditioning (CLIP embedding and image latents), which is
        what the sampler's unconditional half of classifier-free guidance sees.
    use_entity_map: False trains the Gaussian-only ablation (the entity map is all zeros).
    embeddings_dir: folder (under data_root) of precomputed entity embeddings, one safetensors file per video
        (``python -m draganything.train.extract``); when it holds none, the controlnet stage computes them.
    """

    stage: str
    data_root: str
    output_dir: str
    init_dir: str | None = None
    configs_dir: str = str(TINY_CONFIGS_DIR)
    num_frames: int = 14
    height: int = 128
    width: int = 128
    max_videos: int | None = None
    batch_size: int = 8
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-4
    weight_decay: float = 1e-2
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_epsilon: float = 1e-8
    warmup_steps: int = 100
    max_steps: int = 1000
    max_minutes: float | None = None
    max_grad_norm: float = 1.0
    mixed_precision: str = "no"
    seed: int = 0
    log_every: int = 20
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    num_workers: int = 4
    p_mean: float = 0.7
    p_std: float = 1.6
    condition_dropout: float = 0.1
    noise_aug_strength: float = 0.02
    time_ids: tuple[float, float, float] = (6.0, 128.0, 0.02)
    kl_weight: float = 1e-6
    use_entity_map: bool = True
    embeddings_dir: str | None = EMBEDDINGS_DIR
    gaussian_mode: str = "template"

    def __post_init__(self):
        if self.stage not in STAGES:
            raise DragAnythingError("stage", f"unknown stage {self.stage!r}", f"Use one of {', '.join(STAGES)}.")
        if self.stage == "controlnet" and not self.init_dir:
            raise DragAnythingError("init_dir", "the controlnet stage needs a trained base",
                                    "Set init_dir to the model folder written by the base stage.")
        self.adam_betas = tuple(self.adam_betas)
        self.time_ids = tuple(self.time_ids)

    @classmethod
    def from_json(cls, path: str | Path, overrides: dict | None = None) -> TrainConfig:
        try:
            values = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise DragAnythingError("config", f"{path} could not be read as JSON ({error})",
                                    "Pass a JSON file with the TrainConfig fields.") from None
        values.update(overrides or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise DragAnythingError("config", f"unknown keys {unknown}", f"Use only: {', '.join(sorted(known))}.")
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)


def parse_override(text: str) -> tuple[str, object]:
    """``key=value`` with value parsed as JSON when it can be (numbers, true/false, null, lists), else a string."""
    if "=" not in text:
        raise DragAnythingError("--set", f"{text!r} is not key=value", "Write overrides as key=value.")
    key, raw = text.split("=", 1)
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw
