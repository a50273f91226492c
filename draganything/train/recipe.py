"""The whole DragAnything-Tiny recipe in one command: data, then the VAE, base and ControlNet stages.

``python -m draganything.train.recipe --work DIR [--videos N] [--stages vae,base,extract,controlnet] [--minutes
vae=1.5,base=4,controlnet=3] [--export DIR]`` generates the synthetic training set under ``DIR/data/train``
(skipped when present), runs each stage from ``draganything/tiny/configs/train_<stage>.json`` with paths under
``DIR`` (each stage resumes from its checkpoints when run again), and with ``--export`` writes the trained
components in float16 (the shipped form). The Gaussian-only ablation is the controlnet stage with
``use_entity_map=false`` (stage name ``controlnet_gaussian``). One process; for several GPUs run a stage with
``accelerate launch --multi_gpu --num_processes N -m draganything.train CONFIG --set ...`` instead (the model
card's "Training on several GPUs").
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from ..errors import DragAnythingError
from ..components import load_components
from .config import TINY_CONFIGS_DIR, TrainConfig
from .synthetic import SceneConfig, write_dataset

STAGE_CONFIGS = {"vae": "train_vae.json", "base": "train_base.json", "extract": None,
                 "controlnet": "train_controlnet.json", "controlnet_gaussian": "train_controlnet.json"}
# The tiny model's clips: 8 frames (the sampler's cost on a CPU grows with the frame count).
TINY_SCENE = SceneConfig(num_frames=(8, 8))
# Seeds of the training clips start here; the held-out test clips use TEST_SEED_BASE and up.
TRAIN_SEED_BASE = 0
TEST_SEED_BASE = 10_000_000


def stage_config(stage: str, work: Path, minutes: float | None, overrides: dict | None = None) -> TrainConfig:
    values = json.loads((TINY_CONFIGS_DIR / STAGE_CONFIGS[stage]).read_text())
    values["data_root"] = str(work / "data" / "train")
    values["output_dir"] = str(work / "runs" / stage)
    if stage == "base":
        values["init_dir"] = str(work / "runs" / "vae" / "model")
    elif stage.startswith("controlnet"):
        values["init_dir"] = str(work / "runs" / "base" / "model")
        values["use_entity_map"] = stage == "controlnet"
    values["max_minutes"] = minutes
    values.update(overrides or {})
    return TrainConfig(**values)


def export_float16(model_dirs: list[Path], destination: Path) -> Path:
    """Merge the components of several stage outputs (later folders win) and save them in float16."""
    merged = None
    for folder in model_dirs:
        loaded = load_components(folder, require=())
        if merged is None:
            merged = loaded
        else:
            for name in ("unet", "vae", "image_encoder", "controlnet"):
                if getattr(loaded, name) is not None:
                    setattr(merged, name, getattr(loaded, name))
    return merged.save(destination, dtype=torch.float16)


def extract_in_parallel(work: Path, processes: int) -> None:
    """Entity embeddings of the training set from the trained base, in ``processes`` shards at once."""
    started = time.monotonic()
    config = stage_config("controlnet", work, None)
    command = [sys.executable, "-m", "draganything.train.extract", "--data", config.data_root,
               "--model", config.init_dir, "--height", str(config.height), "--width", str(config.width),
               "--frames", str(config.num_frames)]
    jobs = [subprocess.Popen(command + ["--shard", f"{index}/{processes}"]) for index in range(processes)]
    failed = [job.args[-1] for job in jobs if job.wait() != 0]
    if failed:
        raise DragAnythingError("extract", f"shards {failed} failed", "Read their output above.")
    print(f"[extract] {processes} shards in {time.monotonic() - started:.1f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m draganything.train.recipe", description=__doc__)
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--videos", type=int, default=6000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--stages", default="vae,base,extract,controlnet")
    parser.add_argument("--minutes", default="", help="per-stage wall-time limits, e.g. vae=1.5,base=4")
    parser.add_argument("--set", action="append", default=[], metavar="STAGE.KEY=VALUE",
                        help="override one stage's config field (value parsed as JSON when possible)")
    parser.add_argument("--export", type=Path, help="write the trained components here in float16")
    parser.add_argument("--extract-processes", type=int, default=8,
                        help="processes sharing the entity-embedding extraction (stage 'extract')")
    args = parser.parse_args(argv)
    try:
        minutes = {key: float(value) for key, value in (item.split("=") for item in args.minutes.split(",") if item)}
        overrides: dict[str, dict] = {}
        for item in args.set:
            target, raw = item.split("=", 1)
            stage, key = target.split(".", 1)
            try:
                overrides.setdefault(stage, {})[key] = json.loads(raw)
            except json.JSONDecodeError:
                overrides.setdefault(stage, {})[key] = raw
        stages = [stage for stage in args.stages.split(",") if stage]
        unknown = [stage for stage in stages if stage not in STAGE_CONFIGS]
        if unknown:
            raise DragAnythingError("--stages", f"unknown stages {unknown}", f"Use {', '.join(STAGE_CONFIGS)}.")
        data_root = args.work / "data" / "train"
        if not (data_root / "imgs").is_dir():
            started = time.monotonic()
            write_dataset(data_root, range(TRAIN_SEED_BASE, TRAIN_SEED_BASE + args.videos), TINY_SCENE,
                          workers=args.workers)
            print(f"[data] {args.videos} clips in {time.monotonic() - started:.1f} s", flush=True)
        from .trainer import train

        for stage in stages:
            if stage == "extract":
                extract_in_parallel(args.work, args.extract_processes)
            else:
                train(stage_config(stage, args.work, minutes.get(stage), overrides.get(stage)))
        if args.export:
            done = [args.work / "runs" / stage / "model" for stage in ("vae", "base", "controlnet")
                    if (args.work / "runs" / stage / "model").is_dir()]
            if done:
                export_float16(done, args.export)
            ablation = args.work / "runs" / "controlnet_gaussian" / "model"
            if ablation.is_dir():
                # The Gaussian-only ablation's ControlNet, kept apart from the model it is compared with.
                controlnet = load_components(ablation, require=("controlnet",)).controlnet
                controlnet.to(torch.float16).save_pretrained(args.export / "gaussian_only" / "controlnet",
                                                             safe_serialization=True)
            print(f"[export] float16 components in {args.export}", flush=True)
    except DragAnythingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
