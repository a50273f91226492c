"""Offline entity embeddings for a data set, like the official pre-extraction (one file of vectors per video).

``python -m draganything.train.extract --data ROOT --model MODEL_DIR [--shard I/N] [--device cuda]`` pools the
trained base's DIFT-style features of every video's first frame inside each entity's first-frame mask and writes
``ROOT/entity_embeddings/<video>.safetensors`` ({str(id): [C/2] float32}). Shards split the videos so that
several processes (or GPUs) share the work; each video's randomness is seeded by its name, so the result does
not depend on the sharding.
"""

from __future__ import annotations

import argparse
import sys
import zlib
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from ..base_features import frame_features
from ..components import load_components
from ..entity import entity_embeddings, pool_features
from ..errors import DragAnythingError
from .config import TrainConfig
from .dataset import EMBEDDINGS_DIR, VideoSegmentationDataset


def video_seed(name: str, seed: int = 0) -> int:
    return zlib.crc32(name.encode()) + seed * 2**32


@torch.no_grad()
def extract_entity_embeddings(data_root: str | Path, model_dir: str | Path, *, height: int, width: int,
                              num_frames: int, time_ids=TrainConfig.time_ids, shard: tuple[int, int] = (0, 1),
                              device: str = "cpu", seed: int = 0, output_dir: str = EMBEDDINGS_DIR) -> int:
    """Write the embeddings of this shard's videos; returns how many videos were written."""
    index, count = shard
    if not 0 <= index < count:
        raise DragAnythingError("--shard", f"{index}/{count} is not a shard", "Use I/N with 0 <= I < N.")
    components = load_components(model_dir, device=device)
    dataset = VideoSegmentationDataset(data_root, num_frames, height, width, embeddings_dir=None)
    target = Path(data_root) / output_dir
    target.mkdir(parents=True, exist_ok=True)
    written = 0
    for position in range(index, len(dataset), count):
        name, frame, panoptic = dataset.first_frame(position)
        ids = dataset.entity_ids(panoptic)
        vectors = video_entity_embeddings(components, frame, panoptic, ids, time_ids,
                                          seed=video_seed(name, seed))
        save_file({str(int(entity)): vector.contiguous().cpu() for entity, vector in zip(ids, vectors)},
                  str(target / f"{name}.safetensors"))
        written += 1
    return written


@torch.no_grad()
def video_entity_embeddings(components, frame: np.ndarray, panoptic: np.ndarray, ids, time_ids, *,
                            seed: int) -> torch.Tensor:
    """Embeddings [N, C/2] of the entities ``ids`` of one video from its first frame (uint8 [H, W, 3]) and its
    panoptic id image: the base's features pooled inside each id's region, channel pairs averaged."""
    generator = torch.Generator(device=components.unet.device).manual_seed(seed)
    features = frame_features(components, frame, time_ids, generator=generator)
    masks = [(np.asarray(panoptic) == int(entity)).astype(np.uint8) for entity in ids]
    return entity_embeddings(pool_features(features, masks, [str(int(entity)) for entity in ids]), mode="trained")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m draganything.train.extract", description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--shard", default="0/1")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    try:
        index, count = (int(part) for part in args.shard.split("/"))
        written = extract_entity_embeddings(args.data, args.model, height=args.height, width=args.width,
                                            num_frames=args.frames, shard=(index, count), device=args.device)
    except (DragAnythingError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"[extract] shard {args.shard}: {written} videos")
    return 0


if __name__ == "__main__":
    sys.exit(main())
