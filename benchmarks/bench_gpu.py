"""DragAnything on a GPU at full size: the official pipeline, the library's official preset, the pack through
ComfyUI's own sampler, and stock ComfyUI SVD without control, on one machine; prints one table.

    COMFYUI_DIR=/path/to/ComfyUI [DRAGANYTHING_OFFICIAL_DIR=/path/to/DragAnything \\
        DRAGANYTHING_OFFICIAL_PYTHONPATH=/path/to/site-packages-with-transformers-4.46.3] \\
        python benchmarks/bench_gpu.py --size 320x576 [--size 576x1024] --out results/

Every model has the released architecture with random weights (``benchmarks/fullsize.py``), built on the GPU.
Each run samples 14 frames (``--frames``) with 25 Euler steps on Karras sigmas (``--steps``), CFG batch 2
rising from 1 to 3 per frame, and decodes the video; wall time is the median of ``--repeat`` runs after a
short warm-up run, from the first frame to decoded frames, all models resident; peak is
``torch.cuda.max_memory_allocated`` during the timed runs (resident weights included).

Rows (one subprocess per group, so each group's peak memory is its own):
  official fp32        the official pipeline as shipped (its vendored diffusers), called as demo.py calls it, the
                       entity map handed over on the CPU; only when DRAGANYTHING_OFFICIAL_DIR is set. Its
                       environment needs transformers 4.46.3 and huggingface_hub < 0.26: put them in a folder
                       named by DRAGANYTHING_OFFICIAL_PYTHONPATH (e.g. ``pip install --target``).
  library official     ``DragAnythingPipeline`` with the "official" preset, fp32 (as the official code runs).
  host stock           ComfyUI's own SVD graph: SVD_img2vid_Conditioning, VideoLinearCFGGuidance, KSampler,
                       VAEDecode, on a checkpoint state dict loaded as ImageOnlyCheckpointLoader loads it.
  host + pack          the same graph with Apply DragAnything (the pack's ControlBase) on both conditionings;
                       variants set the loader's dtype and compile options.
  --compile-unet       every host row again with the UNet compiled as ComfyUI's TorchCompileModel node does.
  --vram-budget GB     host rows on a card that shows only GB free (a ballast allocation takes the rest before
                       the models load), the way a small card looks to ComfyUI's loading, batching and decoding.
Per-step time is the median interval between sampler steps; MFU is the model FLOPs of one step (counted once per
size, in a subprocess of its own, by torch.utils.flop_counter on the real networks) over that time, against
790 TFLOP/s (the bf16 matrix rate measured on an H100/H200 of the benchmark's machines) and 989 TFLOP/s (the
H100/H200 SXM datasheet's dense bf16/fp16). Peaks exclude the ballast.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
for folder in (PROJECT_DIR, BENCH_DIR):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

MEASURED_MATRIX_RATE = 790e12
DATASHEET_PEAK = 989e12
RESULT_PREFIX = "RESULT "
GiB = 1024**3
# Bytes held by the --vram-budget ballast; subtracted from every peak.
BALLAST_BYTES = 0


def peak_allocated() -> int:
    import torch

    return torch.cuda.max_memory_allocated() - BALLAST_BYTES if torch.cuda.is_available() else 0


# ------------------------------------------------------------------------------------------------- timing


class _HostEvent:
    """A CPU stand-in for torch.cuda.Event, so the benchmark also runs (slowly) without a GPU."""

    def record(self):
        self.time = time.perf_counter()

    def elapsed_time(self, later) -> float:
        return (later.time - self.time) * 1e3


def new_event():
    import torch

    return torch.cuda.Event(enable_timing=True) if torch.cuda.is_available() else _HostEvent()


def synchronize() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def compute_device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextlib.contextmanager
def phase():
    """Seconds and peak allocated bytes of one phase of a run (synchronised at both ends)."""
    import torch

    cuda = torch.cuda.is_available()
    record = {}
    synchronize()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    record["resident"] = torch.cuda.memory_allocated() - BALLAST_BYTES if cuda else 0
    start = time.perf_counter()
    yield record
    synchronize()
    record["s"] = time.perf_counter() - start
    record["peak"] = peak_allocated()


class StepClock:
    """Events recorded at every sampler step (no host synchronisation inside the loop)."""

    def __init__(self):
        self.events = []

    def tick(self, *args, **kwargs):
        event = new_event()
        event.record()
        self.events.append(event)
        return {}

    def step_ms(self) -> float | None:
        intervals = [a.elapsed_time(b) for a, b in zip(self.events[:-1], self.events[1:])]
        return statistics.median(intervals) if intervals else None


def timed_runs(run, repeat: int, warmup) -> dict:
    """Warm up once, then ``repeat`` timed runs; wall (median), per-step ms (median), peak bytes."""
    import torch

    cuda = torch.cuda.is_available()
    synchronize()
    started = time.perf_counter()
    warmup()
    synchronize()
    first_run_s = time.perf_counter() - started  # includes compilation, CUDA graph capture, kernel selection
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    walls, steps, extras = [], [], {}
    for _ in range(repeat):
        clock = StepClock()
        synchronize()
        start = time.perf_counter()
        extras = run(clock) or {}
        synchronize()
        walls.append(time.perf_counter() - start)
        steps.append(clock.step_ms())
    measured_steps = [step for step in steps if step is not None]
    peak = peak_allocated()
    peak = max([peak] + [extras[key] for key in ("sampling_peak_bytes", "decode_peak_bytes") if key in extras])
    return {"wall_s": statistics.median(walls), "walls_s": walls, "first_run_s": first_run_s,
            "step_ms": statistics.median(measured_steps) if measured_steps else None, **extras, "peak_bytes": peak}


def device_name() -> str:
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"


def emit(result: dict) -> None:
    print(RESULT_PREFIX + json.dumps(result), flush=True)


# ------------------------------------------------------------------------------------------------ workers


def worker_flops(args) -> None:
    """Model FLOPs of one step (UNet, ControlNet, condition embedder) for this size and frame count, counted once
    on the real networks in fp32; every group's rows take their MFU from it."""
    import fullsize
    import torch

    device = compute_device()
    height, width, frames = args.height, args.width, args.frames
    unet = fullsize.svd_unet(device, torch.float32)
    network = fullsize.controlnet(device, torch.float32)
    emit({"kind": "flops", "size": f"{height}x{width}", "frames": frames,
          **fullsize.flops_per_step(unet, network, height, width, frames)})


# Videos (CFG halves), frames and latent sizes of the activation-memory grid.
ACTIVATION_GRID = [(videos, frames, latent) for latent in ((40, 72), (72, 128)) for frames in (8, 14, 25)
                   for videos in (1, 2)]


def worker_activation(args) -> None:
    """Peak memory of one ControlNet forward above its inputs and weights (activations and the residuals it
    returns) over a grid of videos, frames and latent sizes, and of embedding the condition maps two frames at a
    time; fp16, under inference mode as the host runs it. Fits bytes = per_cell * videos*frames*h*w + fixed."""
    import fullsize
    import numpy as np
    import torch
    from draganything.controlnet import residuals_as_injected

    device = compute_device()
    dtype = torch.float16
    network = fullsize.controlnet(device, dtype)
    generator = torch.Generator(device).manual_seed(0)
    cells, peaks = [], []
    with torch.inference_mode():
        for videos, frames, (height, width) in ACTIVATION_GRID:
            sample = torch.randn(videos, frames, 8, height, width, device=device, dtype=dtype, generator=generator)
            embedding = torch.randn(frames, 320, height, width, device=device, dtype=dtype, generator=generator)
            context = torch.randn(videos, 1, 1024, device=device, dtype=dtype, generator=generator)
            time_ids = torch.tensor([[6.0, 128.0, 0.02]] * videos, device=device, dtype=dtype)
            timestep = torch.full((videos,), 500.0, device=device)
            synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
            down, mid = residuals_as_injected(*network(sample, timestep, context, time_ids, embedding,
                                                       return_dict=False))
            synchronize()
            peak = torch.cuda.max_memory_allocated() - before
            residual_bytes = sum(t.numel() * t.element_size() for t in (*down, mid))
            del down, mid
            cells.append(videos * frames * height * width)
            peaks.append(peak)
            emit({"kind": "activation", "videos": videos, "frames": frames, "latent": [height, width],
                  "dtype": "fp16", "forward_peak_bytes": peak, "residual_bytes": residual_bytes,
                  "device": device_name()})
        for height, width in sorted({latent for _, _, latent in ACTIVATION_GRID}):
            synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
            gaussian = torch.rand(2, 3, height * 8, width * 8, device=device, dtype=dtype, generator=generator)
            entity = torch.rand(2, 160, height * 8, width * 8, device=device, dtype=dtype, generator=generator)
            embedded = network.embed_conditions(gaussian, entity)
            synchronize()
            emit({"kind": "embedding", "frames": 2, "latent": [height, width], "dtype": "fp16",
                  "peak_bytes": torch.cuda.max_memory_allocated() - before, "device": device_name()})
            del gaussian, entity, embedded
    per_cell, fixed = np.polyfit(np.array(cells, float), np.array(peaks, float), 1)
    predicted = per_cell * np.array(cells, float) + fixed
    emit({"kind": "activation_fit", "dtype": "fp16", "bytes_per_cell": float(per_cell), "fixed_bytes": float(fixed),
          "max_relative_error": float(np.max(np.abs(predicted - peaks) / np.array(peaks, float))),
          "device": device_name()})


def worker_library(args) -> None:
    """The library's DragAnythingPipeline, "official" preset, fp32."""
    import fullsize
    import torch

    device = compute_device()
    height, width, frames = args.height, args.width, args.frames
    pipeline = fullsize.library_pipeline(device, torch.float32)
    pipeline.set_progress_bar_config(disable=True)

    image = torch.rand(3, height, width, generator=torch.Generator().manual_seed(0))
    conditions = fullsize.scene(height, width, frames)

    def run(clock, steps=args.steps):
        gaussian = conditions.gaussian.to(device)
        entity = conditions.entity_map(device=device)
        output = pipeline(image, gaussian, entity, preset="official", num_inference_steps=steps,
                          decode_chunk_size=8, seed=0, callback=lambda *a: clock.tick())
        return {"finite": bool(torch.isfinite(output.latents).all())}

    result = timed_runs(run, args.repeat, warmup=lambda: run(StepClock(), steps=2))
    if args.profile_dir and torch.cuda.is_available():
        _profile(run, Path(args.profile_dir) / f"profile_{height}x{width}_library.txt")
    emit({"kind": "run", "row": "library official preset", "dtype": "fp32", "control": "library",
          "size": f"{height}x{width}", "frames": frames, "steps": args.steps, "device": device_name(), **result})


def worker_host(args) -> None:
    """ComfyUI's SVD graph without control, then with the pack's Apply node (and the requested variants)."""
    import comfy_host
    import fullsize
    import torch

    host_version = comfy_host.load_host(os.environ["COMFYUI_DIR"], cpu=not torch.cuda.is_available(),
                                        flags=args.host_flags.split())
    import comfy.model_management
    import comfy.sample
    from comfy_extras.nodes_video_model import SVD_img2vid_Conditioning, VideoLinearCFGGuidance

    device = compute_device()
    height, width, frames = args.height, args.width, args.frames
    unet = fullsize.svd_unet(device)
    encoder = fullsize.svd_image_encoder(device)
    state = comfy_host.svd_checkpoint_state_dict(unet, encoder, device)
    del unet, encoder
    if args.vram_budget is not None:
        # As from a checkpoint file: the weights start on the CPU and the host moves what fits.
        state = {name: tensor.cpu() for name, tensor in state.items()}
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    ballast = _take_all_but(args.vram_budget) if args.vram_budget is not None else None
    model, clip_vision, vae = comfy_host.load_svd(state)
    del state
    unet_dtype = str(model.model.get_dtype()).replace("torch.", "")
    image = torch.rand(1, height, width, 3, generator=torch.Generator().manual_seed(0))
    attach = comfy_host.pack_module("nodes.apply_node").attach_control

    @torch.inference_mode()  # as the host's executor runs every node
    def graph(clock, steps=args.steps, controlnet=None, conditions=None, unet_model=model):
        torch.manual_seed(0)  # the host's conditioning draws its augmentation noise from the global RNG
        positive, negative, latent = SVD_img2vid_Conditioning().encode(clip_vision, image, vae, width, height,
                                                                       frames, 128, 7, 0.02)
        if controlnet is not None:
            positive, negative = attach(positive, negative, controlnet, conditions, 1.0, 0.0, 1.0)
        guided = VideoLinearCFGGuidance().patch(unet_model, 1.0)[0]
        samples = latent["samples"]
        noise = comfy.sample.prepare_noise(samples, 0)
        with phase() as sampling:
            samples = comfy.sample.sample(guided, noise, steps, 3.0, "euler", "karras", positive, negative,
                                          samples, callback=lambda *a: clock.tick(), disable_pbar=True, seed=0)
        with phase() as decoding:
            frames_out = vae.decode(samples)
        return {"finite": bool(torch.isfinite(samples).all() and torch.isfinite(frames_out).all()),
                "sampling_s": sampling["s"], "sampling_peak_bytes": sampling["peak"],
                "resident_before_sampling_bytes": sampling["resident"],
                "decode_s": decoding["s"], "decode_peak_bytes": decoding["peak"], "samples": samples.float().cpu()}

    base = {"size": f"{height}x{width}", "frames": frames, "steps": args.steps, "device": device_name(),
            "vram_budget_gb": args.vram_budget, "host": host_version}
    unet_models = [("", model)]
    if args.compile_unet:
        unet_models.append((" [UNet compiled]", _compiled_like_torch_compile_node(model)))
    conditions = comfy_host.resolution_free_conditions(width, height)
    # Each speed option must not change the video beyond half-precision rounding: every row's final latents are
    # compared with the first row of its kind (stock, pack), all sampled from the same noise.
    references = {}
    for suffix, unet_model in unet_models:
        unet_base = {**base, "unet": "compiled" if suffix else "eager"}

        def stock(clock, steps=args.steps, unet_model=unet_model):
            return graph(clock, steps, unet_model=unet_model)

        try:
            if args.pack_only:
                raise _Skipped
            result = timed_runs(stock, args.repeat, warmup=lambda: stock(StepClock(), steps=2))
            result.update(_compare_with_reference(references, "none", result.pop("samples")))
            emit({"kind": "run", "row": "host stock SVD" + suffix, "dtype": unet_dtype, "control": "none",
                  **unet_base, **result})
        except _Skipped:
            pass
        except Exception as error:  # noqa: BLE001 (one failed row must not cost the others)
            emit({"kind": "error", "row": "host stock SVD" + suffix, "error": repr(error)[:500]})
        for variant in args.variants:
            try:
                row = _pack_row(variant, suffix, unet_model, graph, conditions, args, unet_base, unet_dtype, device)
                row.update(_compare_with_reference(references, "pack", row.pop("samples")))
                emit(row)
            except Exception as error:  # noqa: BLE001
                emit({"kind": "error", "row": f"host + pack {variant['name']}{suffix}", "error": repr(error)[:500]})
            gc.collect()
            comfy.model_management.cleanup_models_gc()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
    del ballast


class _Skipped(Exception):
    """A row left out on request (--pack-only)."""


def _compare_with_reference(references: dict, kind: str, samples) -> dict:
    """Relative RMS distance of these final latents from the first row of ``kind`` (which becomes the reference)."""
    reference = references.setdefault(kind, samples)
    if reference is samples:
        return {}
    return {"latents_vs_first_row_rel_rms": float((samples - reference).norm() / reference.norm())}


def _take_all_but(budget_gb: float):
    """Allocate all free device memory but ``budget_gb`` GiB and return it, so the host sees a small card.

    ComfyUI sizes weight loading, CFG batching and VAE decode batches from the device's free memory (its
    --reserve-vram only shrinks the first), so a ballast is what makes an 80-141 GB card behave like a 12 GB one.
    """
    import torch

    global BALLAST_BYTES
    if not torch.cuda.is_available():
        return None
    free, _ = torch.cuda.mem_get_info()
    BALLAST_BYTES = max(0, free - int(budget_gb * GiB))
    ballast = torch.empty(BALLAST_BYTES, dtype=torch.uint8, device="cuda")
    print(f"ballast {BALLAST_BYTES / GiB:.1f} GiB: {torch.cuda.mem_get_info()[0] / GiB:.1f} GiB left free", flush=True)
    return ballast


def _compiled_like_torch_compile_node(model):
    """The MODEL with its diffusion model compiled exactly as the host's TorchCompileModel node does (inductor)."""
    from comfy_api.torch_helpers import set_torch_compile_wrapper

    compiled = model.clone()
    set_torch_compile_wrapper(model=compiled, backend="inductor", options={
        "guard_filter_fn": lambda entries: [("transformer_options" not in entry.name) for entry in entries]})
    return compiled


def _pack_row(variant, suffix, unet_model, graph, conditions, args, base, unet_dtype, device) -> dict:
    """One "host + pack" row: a fresh ControlNet in the variant's dtype/layout/compilation, timed in the graph."""
    import comfy_host
    import fullsize
    import torch

    height, width, frames = args.height, args.width, args.frames
    # Under a VRAM budget the ControlNet starts on the CPU, as the loader node leaves it.
    build_device = torch.device("cpu") if args.vram_budget is not None else device
    controlnet = comfy_host.wrap_library_controlnet(fullsize.controlnet(build_device),
                                                    _dtype(variant.get("dtype", "auto")),
                                                    compile=bool(variant.get("compile")),
                                                    fp8_matrix_multiplication=bool(variant.get("fast")))
    network = controlnet.network
    if variant.get("channels_last"):
        for layer in network.modules():
            if isinstance(layer, torch.nn.Conv2d):  # the temporal Conv3d kernels have no 4-D layout
                layer.to(memory_format=torch.channels_last)
    controlnet_ms = _time_residual_calls(controlnet)

    def pack(clock, steps=args.steps):
        controlnet_ms.clear()
        return graph(clock, steps, controlnet, conditions, unet_model)

    result = timed_runs(pack, args.repeat, warmup=lambda: pack(StepClock(), steps=2))
    prepare = ({} if args.vram_budget is not None
               else _time_conditioning(controlnet, conditions, width, height, frames, device))
    result["controlnet_ms"] = statistics.median(controlnet_ms.times()) if controlnet_ms.times() else None
    if args.profile_dir and variant.get("profile") and torch.cuda.is_available():
        _profile(pack, Path(args.profile_dir) / f"profile_{height}x{width}_{variant['name'] or 'pack'}.txt")
    name = "host + pack" + (f" ({variant['name']})" if variant["name"] else "") + suffix
    return {"kind": "run", "row": name, "dtype": f"{unet_dtype} + cn {str(controlnet.compute_dtype).replace('torch.', '')}",
            "control": "pack", **base, **prepare, **result}


def _profile(run, path: Path) -> None:
    """CUDA kernel time of a 3-step run by kernel, the largest first (where a step's time goes)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as profiler:
        run(StepClock(), steps=3)
        torch.cuda.synchronize()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(profiler.key_averages().table(sort_by="cuda_time_total", row_limit=40, max_name_column_width=90))


def _dtype(name: str):
    import torch

    return {"auto": None, "fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32,
            "fp8_e4m3fn": torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2}[name]


class _CallTimes:
    def __init__(self):
        self.pairs = []

    def clear(self):
        self.pairs.clear()

    def times(self):
        return [start.elapsed_time(end) for start, end in self.pairs]


def _time_residual_calls(controlnet) -> _CallTimes:
    """CUDA-event time of every ControlNet call of the pack's control (its share of a sampler step), taken
    outside the compiled region so that compilation sees the same function as in use."""

    record = _CallTimes()
    residuals = controlnet.residuals

    def timed(*args, **kwargs):
        start, end = new_event(), new_event()
        start.record()
        result = residuals(*args, **kwargs)
        end.record()
        record.pairs.append((start, end))
        return result

    controlnet.residuals = timed
    return record


def _time_conditioning(controlnet, conditions, width, height, frames, device) -> dict:
    """Seconds the pack's ControlBase spends before the first step: building the ControlNet's input maps for the
    latent and embedding them (once per run). Taken after the timed runs (the ControlNet is on the device, as
    at a run's first step) and the second of two calls, so kernel selection is not counted."""
    import comfy_host

    control = comfy_host.pack_module("nodes.control").DragAnythingControl(controlnet, conditions)
    seconds = None
    for _ in range(2):
        control._embedding_key = None
        synchronize()
        start = time.perf_counter()
        control._condition_embedding(frames, height // 8, width // 8, device, controlnet.compute_dtype)
        synchronize()
        seconds = time.perf_counter() - start
    return {"conditioning_s": seconds}


# ------------------------------------------------------------------------------------------- orchestrator


def run_worker(name: str, args, extra_env: dict | None = None, command: list[str] | None = None) -> list[dict]:
    repeat = args.repeat if name == "host" else args.repeat_fp32
    command = command or [sys.executable, str(Path(__file__).resolve()), "--worker", name,
                          "--size", f"{args.height}x{args.width}", "--frames", str(args.frames),
                          "--steps", str(args.steps), "--repeat", str(repeat),
                          "--variants", json.dumps(args.variants)]
    if args.profile_dir:
        command += ["--profile-dir", str(args.profile_dir)]
    if args.compile_unet:
        command.append("--compile-unet")
    if args.vram_budget is not None:
        command += ["--vram-budget", str(args.vram_budget)]
    if args.host_flags:
        command.append(f"--host-flags={args.host_flags}")
    if args.pack_only:
        command.append("--pack-only")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    started = time.perf_counter()
    process = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             check=False)
    results = []
    for line in process.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            results.append(json.loads(line[len(RESULT_PREFIX):]))
        else:
            print(f"  [{name}] {line}", flush=True)
    print(f"  [{name}] exit {process.returncode} after {time.perf_counter() - started:.0f} s", flush=True)
    if process.returncode:
        results.append({"kind": "error", "row": name, "returncode": process.returncode})
    return results


def table(results: list[dict]) -> str:
    flops = {(r["size"], r["frames"]): r for r in results if r.get("kind") == "flops"}
    rows = [r for r in results if r.get("kind") == "run"]
    lines = [("| video | run | dtype | wall s | first run s | peak GiB | sampling s (peak GiB) | decode s | step ms |"
              " CN ms/step | cond. s | step TFLOP | MFU 790 | MFU 989 | vs official fp32 | vs host stock |"
              " vs stock, same UNet | latents vs first row |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        size = row["size"]
        count = flops.get((size, row["frames"]))
        step_flops = None
        if count is not None:
            step_flops = count["unet"]
            if row["control"] != "none":
                step_flops += count["controlnet"]
            if row["control"] == "official":
                step_flops += count["embedder"]
        same_video = [r for r in rows if r["size"] == size and r["frames"] == row["frames"]]
        official = next((r for r in same_video if r["control"] == "official"), None)

        stock_rows = {r.get("unet"): r for r in reversed(same_video) if r["control"] == "none"
                      and r.get("vram_budget_gb") == row.get("vram_budget_gb") and r.get("host") == row.get("host")}
        stock = stock_rows.get("eager")
        same_unet = stock_rows.get(row.get("unet")) if row["control"] == "pack" else None
        step_s = row["step_ms"] / 1e3 if row.get("step_ms") else None

        def fmt(value, pattern):
            return pattern.format(value) if value is not None else "-"

        budget = row.get("vram_budget_gb")
        lines.append("| " + " | ".join([
            f"{row['frames']}x{size}",
            row["row"] + (f" [{budget:g} GiB free]" if budget is not None else "")
            + (f" [ComfyUI {row['host']}]" if row.get("host") else ""),
            row["dtype"], fmt(row["wall_s"], "{:.2f}"), fmt(row.get("first_run_s"), "{:.1f}"),
            fmt(row["peak_bytes"] / GiB, "{:.1f}"),
            (f"{row['sampling_s']:.2f} ({row['sampling_peak_bytes'] / GiB:.1f})" if "sampling_s" in row else "-"),
            fmt(row.get("decode_s"), "{:.2f}"), fmt(row.get("step_ms"), "{:.0f}"),
            fmt(row.get("controlnet_ms"), "{:.0f}"), fmt(row.get("conditioning_s"), "{:.3f}"),
            fmt(step_flops and step_flops / 1e12, "{:.1f}"),
            fmt(step_flops and step_s and step_flops / step_s / MEASURED_MATRIX_RATE, "{:.0%}"),
            fmt(step_flops and step_s and step_flops / step_s / DATASHEET_PEAK, "{:.0%}"),
            fmt(official and official["wall_s"] / row["wall_s"], "{:.2f}x faster"),
            fmt(stock and row["wall_s"] / stock["wall_s"], "{:.2f}x"),
            fmt(same_unet and row["wall_s"] / same_unet["wall_s"], "{:.2f}x"),
            fmt(row.get("latents_vs_first_row_rel_rms"), "{:.1e}"),
        ]) + " |")
    activation = [r for r in results if r.get("kind") == "activation"]
    if activation:
        lines += ["", "| ControlNet forward, fp16 | videos x frames x latent | peak above inputs GiB | residuals GiB |",
                  "|---|---|---|---|"]
        lines += [f"| | {r['videos']} x {r['frames']} x {r['latent'][0]}x{r['latent'][1]} | "
                  f"{r['forward_peak_bytes'] / GiB:.2f} | {r['residual_bytes'] / GiB:.2f} |" for r in activation]
    for r in results:
        if r.get("kind") == "embedding":
            lines.append(f"\nembedding 2 frames at latent {r['latent']}: peak {r['peak_bytes'] / GiB:.2f} GiB")
        if r.get("kind") == "activation_fit":
            lines.append(f"\nfit: {r['bytes_per_cell']:.0f} bytes per latent cell (videos x frames x h x w) + "
                         f"{r['fixed_bytes'] / GiB:.3f} GiB, max relative error {r['max_relative_error']:.1%}")
    devices = sorted({r["device"] for r in results if r.get("device")})
    errors = [f"- {r['row']}: {r.get('error', 'exit code ' + str(r.get('returncode')))}" for r in results
              if r.get("kind") == "error"]
    return "\n".join(lines + [f"\ndevice: {', '.join(devices) or '-'}"] + (["errors:", *errors] if errors else []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", action="append", help="HxW, repeatable (default 320x576)")
    parser.add_argument("--frames", type=int, default=14)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of the host rows")
    parser.add_argument("--repeat-fp32", type=int, default=1, help="timed runs of the fp32 official and library rows")
    parser.add_argument("--runs", default="official,library,host",
                        help="comma-separated groups: official, library, host, activation (ControlNet activation "
                             "memory over a grid of sizes, once)")
    parser.add_argument("--variants", default=json.dumps([{"name": ""}]),
                        help="JSON list of pack variants: name, dtype (auto/fp16/bf16/fp32/fp8_e4m3fn/fp8_e5m2), fast "
                             "(fp8 matrix multiplication), channels_last, compile, profile")
    parser.add_argument("--out", type=Path, help="folder for results.json and table.md")
    parser.add_argument("--profile-dir", help="write a CUDA kernel profile of each pack variant here")
    parser.add_argument("--vram-budget", type=float, help="GiB left free for the host rows, the rest of the card "
                        "taken by a ballast (11.5: a 12 GB card after its CUDA context)")
    parser.add_argument("--host-flags", default="",
                        help="ComfyUI command-line flags for the host rows, e.g. '--disable-dynamic-vram'")
    parser.add_argument("--compile-unet", action="store_true",
                        help="also time the host rows with the UNet compiled as the TorchCompileModel node does")
    parser.add_argument("--table", nargs="+", type=Path, metavar="RESULTS_JSON",
                        help="print the table of saved results.json files (e.g. benchmarks/results/*/) and exit")
    parser.add_argument("--no-flops", action="store_true", help="skip the FLOP count (no MFU columns)")
    parser.add_argument("--pack-only", action="store_true", help="host rows with the pack only (no stock row)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.table:
        print(table([row for path in args.table for row in json.loads(path.read_text())]))
        return
    args.variants = json.loads(args.variants)
    sizes = args.size or ["320x576"]

    if args.worker:
        args.height, args.width = map(int, sizes[0].split("x"))
        {"flops": worker_flops, "library": worker_library, "host": worker_host,
         "activation": worker_activation}[args.worker](args)
        return

    results = []
    groups = args.runs.split(",")
    if "activation" in groups:
        args.height, args.width = map(int, sizes[0].split("x"))
        print("== ControlNet activation memory", flush=True)
        results += run_worker("activation", args)
        groups.remove("activation")
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "results.json").write_text(json.dumps(results, indent=1))
    for size in sizes if groups else []:
        args.height, args.width = map(int, size.split("x"))
        if not args.no_flops:
            print(f"== {size} FLOPs per step", flush=True)
            results += run_worker("flops", args)
        for group in groups:
            print(f"== {size} {group}", flush=True)
            if group == "official":
                official_dir = os.environ.get("DRAGANYTHING_OFFICIAL_DIR")
                if not official_dir:
                    print("  skipped: DRAGANYTHING_OFFICIAL_DIR is not set", flush=True)
                    continue
                results += run_official(args, Path(official_dir))
            elif group == "host" and not os.environ.get("COMFYUI_DIR"):
                print("  skipped: COMFYUI_DIR is not set", flush=True)
            else:
                results += run_worker(group, args)
            if args.out:
                args.out.mkdir(parents=True, exist_ok=True)
                (args.out / "results.json").write_text(json.dumps(results, indent=1))
    text = table(results)
    print(text)
    if args.out:
        (args.out / "table.md").write_text(text + "\n")


def run_official(args, official_dir: Path) -> list[dict]:
    """The official worker in its own environment, on the scene's maps written here by the library."""
    import tempfile

    import fullsize
    import torch
    from safetensors.torch import save_file

    conditions = fullsize.scene(args.height, args.width, args.frames)
    inputs = Path(tempfile.mkdtemp()) / "official_inputs.safetensors"
    save_file({"gaussian": conditions.gaussian[:, 0].round().to(torch.uint8).contiguous(),
               "entity_index": conditions.entity_index.contiguous(),
               "embeddings": conditions.embeddings.float().contiguous()}, str(inputs))
    request = {"height": args.height, "width": args.width, "frames": args.frames, "steps": args.steps,
               "profile": str(Path(args.profile_dir) / f"profile_{args.height}x{args.width}_official.txt")
               if args.profile_dir else None,
               "repeat": args.repeat_fp32, "inputs": str(inputs),
               "configs": {"unet": fullsize.SVD_UNET_CONFIG, "controlnet": fullsize.OFFICIAL_CONFIG,
                           "vae": fullsize.SVD_VAE_CONFIG, "image_encoder": fullsize.SVD_IMAGE_ENCODER_CONFIG,
                           "scheduler": _scheduler_config()}}
    request_path = inputs.with_name("request.json")
    request_path.write_text(json.dumps(request))
    pythonpath = [os.environ.get("DRAGANYTHING_OFFICIAL_PYTHONPATH", ""), str(official_dir), str(BENCH_DIR)]
    env = {"PYTHONPATH": os.pathsep.join(p for p in pythonpath if p)}
    command = [os.environ.get("DRAGANYTHING_OFFICIAL_PYTHON", sys.executable), str(BENCH_DIR / "official_worker.py"),
               str(official_dir), str(request_path)]
    return run_worker("official", args, env, command)


def _scheduler_config() -> dict:
    from draganything.pipeline import SVD_SCHEDULER_CONFIG

    return SVD_SCHEDULER_CONFIG


if __name__ == "__main__":
    main()
