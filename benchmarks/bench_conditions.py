"""Wall time of building the conditioning maps: 2 entities x 20 frames at 320x576 (the official demo's size).

    python benchmarks/bench_conditions.py [--repeat 5] [--reference-frames 20]

Prints one table. The scene mirrors the official ship_@ case: a 1092x776 source, one entity moving across the
frame (side 50) and one anchor (side 41), synthetic disc masks, random 320x40x72 "DIFT" features (feature
extraction itself is a UNet forward and is not timed here).

The last rows time the official construction style, re-implemented here only for comparison: for each frame a
[H, W, 320] zero tensor, a cv2.circle per entity, and a Python loop writing the entity value pixel by pixel,
then the channel-pair average. ``--reference-frames`` runs it on fewer frames and scales the time to 20.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from draganything.conditions import build_conditions  # noqa: E402
from draganything.entity import entity_embeddings, entity_index_maps, entity_maps, pool_features  # noqa: E402
from draganything.gaussian import analytic_gaussian_maps, template_gaussian_maps  # noqa: E402
from draganything.trajectory import Entity, Trajectories  # noqa: E402

HEIGHT, WIDTH, FRAMES = 320, 576, 20
SOURCE_W, SOURCE_H = 1092, 776


def scene():
    moving = np.stack([np.linspace(652, 266, FRAMES), np.linspace(547, 612, FRAMES)], axis=1)
    entities = [Entity(id="1", points=moving), Entity(id="2", points=[[1042, 707]] * FRAMES)]
    masks = []
    for centre, radius in (((652, 547), 140), ((1042, 707), 80)):
        mask = np.zeros((SOURCE_H, SOURCE_W), np.uint8)
        cv2.circle(mask, centre, radius, 255, -1)
        masks.append(mask)
    return Trajectories(entities, width=SOURCE_W, height=SOURCE_H), masks


def timed(function, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def official_style_entity_maps(points, sides, vectors, frames: int):
    """The per-pixel loop of the official demo, for timing only (scalar vec[0] painting, as the demo)."""
    out = []
    for frame in range(frames):
        ids = torch.zeros(HEIGHT, WIDTH, 320)
        for (x, y), side, vector in zip(points[:, frame], sides, vectors):
            disc = np.zeros((HEIGHT, WIDTH), np.float32)
            cv2.circle(disc, (int(x), int(y)), int(side), 1, -1)
            for row, col in np.column_stack(np.where(disc != 0)):
                ids[row, col] = vector[0]
        out.append(torch.nn.functional.avg_pool1d(ids, kernel_size=2, stride=2))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reference-frames", type=int, default=2,
                        help="frames of the official-style loop to run (its time is scaled to 20 frames)")
    args = parser.parse_args()

    trajectories, masks = scene()
    features = torch.randn(1, 320, HEIGHT // 8, WIDTH // 8, generator=torch.Generator().manual_seed(0))
    built = build_conditions(trajectories, masks, features)
    points, sides = built.points, built.sides
    grid_masks = [cv2.resize((m > 0).astype(np.uint8), (WIDTH // 8, HEIGHT // 8)) for m in masks]

    rows = []

    def add(name, function, repeat=args.repeat):
        seconds, result = timed(function, repeat)
        rows.append((name, seconds))
        return result

    add("Gaussian maps, template (official), uint8 [20,320,576]",
        lambda: template_gaussian_maps(points, sides, HEIGHT, WIDTH))
    add("Gaussian maps, analytic, float32 [20,320,576]",
        lambda: analytic_gaussian_maps(points + 0.5, sides, HEIGHT, WIDTH))
    add("entity index map, int16 [20,320,576]", lambda: entity_index_maps(points, sides, HEIGHT, WIDTH))
    add("mask pooling + pair average, 2 x 320 -> 2 x 160",
        lambda: entity_embeddings(pool_features(features, grid_masks)))
    for mode in ("official_demo", "trained"):
        add(f"build_conditions, entity_mode={mode} (Gaussian + index map + embeddings)",
            lambda mode=mode: build_conditions(trajectories, masks, features, entity_mode=mode))
    demo = build_conditions(trajectories, masks, features, entity_mode="official_demo")
    add("dense entity map, official_demo: one scalar map expanded [20,160,320,576]", demo.entity_map)
    index, embeddings = built.entity_index, built.embeddings
    add("dense entity map, trained: gather fp32 [20,160,320,576] (2.36 GB, fresh)",
        lambda: entity_maps(index, embeddings), repeat=min(args.repeat, 3))
    add("dense entity map, trained: gather bf16 [20,160,320,576] (1.18 GB, fresh)",
        lambda: entity_maps(index, embeddings, dtype=torch.bfloat16), repeat=min(args.repeat, 3))

    frames = max(1, min(args.reference_frames, FRAMES))
    seconds, _ = timed(lambda: official_style_entity_maps(points, sides, built.embeddings, frames), 1)
    rows.append((f"official-style per-pixel loop, entity map ({frames} frame(s) run, scaled to 20)",
                 seconds * FRAMES / frames))

    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__} "
          f"with {torch.get_num_threads()} threads, numpy {np.__version__}, OpenCV {cv2.__version__}{load}")
    print(f"# 2 entities x {FRAMES} frames at {HEIGHT}x{WIDTH}; median of {args.repeat} runs (dense gathers: "
          f"{min(args.repeat, 3)}), seconds")
    width = max(len(name) for name, _ in rows)
    print(f"| {'step'.ljust(width)} | seconds |")
    print(f"|{'-' * (width + 2)}|--------:|")
    for name, seconds in rows:
        print(f"| {name.ljust(width)} | {seconds:7.3f} |")


if __name__ == "__main__":
    main()
