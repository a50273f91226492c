"""The official DragAnything pipeline on a GPU, fp32 as shipped, timed as benchmarks/bench_gpu.py times the rest.

    python benchmarks/official_worker.py OFFICIAL_DIR REQUEST.json

Runs in the official code's environment (its vendored diffusers; transformers 4.46.3 and huggingface_hub < 0.26
first on PYTHONPATH), so it imports nothing from the library. It calls the official classes the way demo.py
does: all models resident on the GPU, the first frame as a PIL image, the Gaussian maps as PIL images, the
entity map as a CPU float32 tensor [F,160,H,W] (a channels-last view, as demo.py stacks and permutes it),
decode_chunk_size 8, motion_bucket_id 180. Models get random weights (benchmarks/random_weights.py).
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from random_weights import materialise
from safetensors.torch import load_file

RESULT_PREFIX = "RESULT "


class _HostEvent:
    """A CPU stand-in for torch.cuda.Event (the worker also runs, slowly, without a GPU)."""

    def record(self):
        self.time = time.perf_counter()

    def elapsed_time(self, later) -> float:
        return (later.time - self.time) * 1e3


def _event():
    return torch.cuda.Event(enable_timing=True) if torch.cuda.is_available() else _HostEvent()


def _synchronize():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def main() -> None:
    official_dir = Path(sys.argv[1]).resolve()
    request = json.loads(Path(sys.argv[2]).read_text())
    sys.path.insert(0, str(official_dir))
    os.chdir(official_dir)
    import diffusers
    import transformers

    if not Path(diffusers.__file__).resolve().is_relative_to(official_dir):
        raise SystemExit(f"diffusers resolved to {diffusers.__file__}, not the copy vendored in {official_dir}")
    import pipeline.pipeline_svd_DragAnything as official_pipeline
    from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler
    from models.DragAnything import DragAnythingSDVModel
    from models.unet_spatio_temporal_condition_controlnet import UNetSpatioTemporalConditionControlNetModel
    from PIL import Image
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    configs = request["configs"]
    pipe = official_pipeline.StableVideoDiffusionPipeline(
        vae=materialise(lambda: AutoencoderKLTemporalDecoder.from_config(configs["vae"]), device, torch.float32, 2),
        image_encoder=materialise(lambda: CLIPVisionModelWithProjection(CLIPVisionConfig(**configs["image_encoder"])),
                                  device, torch.float32, 3),
        unet=materialise(lambda: UNetSpatioTemporalConditionControlNetModel.from_config(configs["unet"]), device,
                         torch.float32, 0),
        controlnet=materialise(lambda: DragAnythingSDVModel.from_config(configs["controlnet"]), device,
                               torch.float32, 1),
        scheduler=EulerDiscreteScheduler.from_config(configs["scheduler"]),
        feature_extractor=CLIPImageProcessor(),
    ).to(device)
    pipe.set_progress_bar_config(disable=True)

    height, width, frames = request["height"], request["width"], request["frames"]
    inputs = load_file(request["inputs"])
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    gaussians = [Image.fromarray(frame).convert("RGB") for frame in inputs["gaussian"].numpy()]
    table = torch.cat([torch.zeros(1, inputs["embeddings"].shape[1]), inputs["embeddings"]])
    # demo.py: a list of [H,W,160] frames, stacked and permuted to [F,160,H,W] on the CPU.
    ids_embedding = torch.nn.functional.embedding(inputs["entity_index"].long() + 1, table).permute(0, 3, 1, 2)

    def run(steps, events):
        def tick(pipeline, step, timestep, callback_kwargs):
            event = _event()
            event.record()
            events.append(event)
            return {}

        return pipe(image, gaussians, decode_chunk_size=8, num_frames=frames, motion_bucket_id=180,
                    controlnet_cond_scale=1.0, height=height, width=width, ids_embedding=ids_embedding,
                    num_inference_steps=steps, callback_on_step_end=tick).frames

    with torch.no_grad():
        run(2, [])
        _synchronize()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        walls, steps = [], []
        for _ in range(request["repeat"]):
            events = []
            _synchronize()
            start = time.perf_counter()
            run(request["steps"], events)
            _synchronize()
            walls.append(time.perf_counter() - start)
            steps.append(statistics.median(a.elapsed_time(b) for a, b in itertools.pairwise(events)))
        if request.get("profile") and cuda:
            from torch.profiler import ProfilerActivity, profile

            with profile(activities=[ProfilerActivity.CUDA]) as profiler:
                run(3, [])
                torch.cuda.synchronize()
            Path(request["profile"]).write_text(profiler.key_averages().table(
                sort_by="cuda_time_total", row_limit=40, max_name_column_width=90))
    result = {"kind": "run", "row": "official pipeline", "dtype": "fp32", "control": "official",
              "size": f"{height}x{width}", "frames": frames, "steps": request["steps"],
              "device": torch.cuda.get_device_name() if cuda else "cpu", "wall_s": statistics.median(walls), "walls_s": walls,
              "step_ms": statistics.median(steps), "peak_bytes": torch.cuda.max_memory_allocated() if cuda else 0,
              "transformers": transformers.__version__, "diffusers": diffusers.__version__}
    print(RESULT_PREFIX + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
