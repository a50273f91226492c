"""Motion from a video: how closely the weight-free entity tracker follows the synthetic sprite videos' ground truth.

    python benchmarks/bench_tracking.py [--videos 100] [--first-seed 20000000]

Prints one table. Each video is a procedural clip of `draganything.train.synthetic` (128x128, 14 frames, 2-4
textured or solid sprites moving along smooth paths or held still, a textured background, a camera pan in about a
third of them; seeds outside the tiny model's training and test sets). Every entity, background included, is
tracked from its ground-truth first-frame point and mask; the error is the distance to its ground-truth point in
every later frame where that point is visible (not occluded, in the frame). A sprite wholly hidden in the first
frame has no mask and is left out. "lost" is the share of those frames
in which the tracker did not see the entity (it coasted; frames where its point left the picture do not count). The last row runs the evaluation's simpler tracker
(`metrics.track_entity_lk`: grey 15x15 LK, median displacement, points die for good) on the same sprites.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from draganything.metrics import track_entity_lk  # noqa: E402
from draganything.tracking import track_entities  # noqa: E402
from draganything.train.synthetic import generate_clip  # noqa: E402
from draganything.trajectory import Entity, Trajectories  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=100)
    parser.add_argument("--first-seed", type=int, default=20_000_000)
    args = parser.parse_args()

    rows = {"background": [], "moving sprites": [], "still sprites": []}
    lost = {name: [] for name in rows}
    previous = []
    seconds = 0.0
    for seed in range(args.first_seed, args.first_seed + args.videos):
        clip = generate_clip(seed)
        masks = np.stack([clip.panoptic[0] == entity for entity in clip.ids])
        seen = np.flatnonzero(masks.any(axis=(1, 2)))  # a sprite wholly hidden in frame 0 has no mask to track
        masks = masks[seen]
        prompt = Trajectories([Entity(str(clip.ids[row]), [clip.tracks[row, 0]]) for row in seen], 128, 128)
        started = time.perf_counter()
        tracked = track_entities(clip.frames, masks, prompt=prompt)
        seconds += time.perf_counter() - started
        counted = clip.visible.copy()
        counted[:, 0] = False
        for row, entity, mask in zip(seen, tracked, masks):
            name = "background" if row == 0 else "still sprites" if clip.still[row] else "moving sprites"
            distance = np.linalg.norm(entity.points - clip.tracks[row], axis=1)
            rows[name] += list(distance[counted[row]])
            inside = ((entity.points >= 0) & (entity.points <= 128)).all(axis=1)
            lost[name] += list((~entity.visibility & inside)[counted[row]])
            if row:
                old, _ = track_entity_lk(clip.frames, mask, clip.tracks[row, 0])
                previous += list(np.linalg.norm(old - clip.tracks[row], axis=1)[counted[row]])

    print(f"{args.videos} videos (seeds {args.first_seed}..{args.first_seed + args.videos - 1}), "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"{seconds / args.videos:.2f} s per video (all entities)")
    print("| entities | frames | mean px | median px | 90th pct px | 99th pct px | lost |")
    print("|---|---|---|---|---|---|---|")
    everything = [value for values in rows.values() for value in values]
    all_lost = [value for values in lost.values() for value in values]
    for name, values in [*rows.items(), ("all", everything)]:
        share = np.mean(lost[name] if name in lost else all_lost)
        print(f"| {name} | {len(values)} | {np.mean(values):.2f} | {np.median(values):.2f} | "
              f"{np.percentile(values, 90):.2f} | {np.percentile(values, 99):.2f} | {share:.1%} |")
    print(f"| sprites, metrics.track_entity_lk | {len(previous)} | {np.mean(previous):.2f} | "
          f"{np.median(previous):.2f} | {np.percentile(previous, 90):.2f} | {np.percentile(previous, 99):.2f} | - |")


if __name__ == "__main__":
    main()
