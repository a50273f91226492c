"""The ControlNet's residuals and the UNet's output with injected residuals, against the official modules.

Both sides load one state dict (small configs, every tensor random, zero convolutions included) and see the same
inputs. The official side is `models/DragAnything.py: DragAnythingSDVModel` and
`models/unet_spatio_temporal_condition_controlnet.py: UNetSpatioTemporalConditionControlNetModel` on the
vendored diffusers 0.25; ours is `draganything.controlnet.DragAnythingControlNet` and diffusers'
`UNetSpatioTemporalConditionModel` with `draganything.unet.unet_forward_with_residuals`.

Tolerances: in float64 both implementations agree to ~1e-15 relative (measured); the fp32 bound is set from the
official code's own fp32 rounding error, measured against its float64 run on the same inputs (about 1e-6 relative
here), with a margin of ~20x for a different summation order in matmul/conv kernels.
"""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.parity

HEIGHT, WIDTH, FRAMES = 64, 192, 4  # latent 8x24; the deepest level is 1x3 (odd, like 5x9 at 320x576)
FP32_REL = 2e-5
FP64_REL = 1e-12


def _controlnet_inputs(batch_size: int, seed: int) -> dict[str, torch.Tensor]:
    from draganything.testing import SMALL_CONTEXT_DIM

    generator = torch.Generator().manual_seed(seed)
    latent_h, latent_w = HEIGHT // 8, WIDTH // 8
    return {
        "sample": torch.randn(batch_size, FRAMES, 8, latent_h, latent_w, generator=generator),
        "timestep": torch.tensor(1.2345),
        # Distinct contexts per batch entry, as with CFG (zeros vs the CLIP embedding), so a context mix-up shows.
        "encoder_hidden_states": torch.randn(batch_size, 1, SMALL_CONTEXT_DIM, generator=generator),
        "added_time_ids": torch.tensor([[6.0, 128.0, 0.02]]).repeat(batch_size, 1),
        "controlnet_cond": torch.rand(batch_size, FRAMES, 3, HEIGHT, WIDTH, generator=generator) * 255,
        "ID_feature": torch.randn(batch_size, FRAMES, 160, HEIGHT, WIDTH, generator=generator),
    }


@pytest.fixture(scope="module")
def parity_models(official, perturbed, tmp_path_factory):
    from draganything.testing import (
        random_controlnet,
        small_controlnet_config,
        random_unet,
        small_unet_config,
    )

    workdir = tmp_path_factory.mktemp("parity_models")
    controlnet = random_controlnet(seed=11)
    unet = perturbed(random_unet(seed=12), seed=13)
    controlnet_weights = str(workdir / "controlnet.safetensors")
    unet_weights = str(workdir / "unet.safetensors")
    official.write_tensors(controlnet_weights, controlnet.state_dict())
    official.write_tensors(unet_weights, unet.state_dict())

    inputs_b1 = _controlnet_inputs(1, seed=21)
    inputs_b2 = _controlnet_inputs(2, seed=22)
    with torch.no_grad():
        down, mid = controlnet(
            inputs_b1["sample"], inputs_b1["timestep"], inputs_b1["encoder_hidden_states"],
            inputs_b1["added_time_ids"], gaussian=inputs_b1["controlnet_cond"], entity=inputs_b1["ID_feature"],
            return_dict=False,
        )
    unet_inputs = {key: inputs_b1[key] for key in ("sample", "timestep", "encoder_hidden_states", "added_time_ids")}
    unet_inputs.update({f"down_{index:02d}": residual for index, residual in enumerate(down)})
    unet_inputs["mid"] = mid

    paths = {
        "b1": official.write_tensors(workdir / "controlnet_b1.safetensors", inputs_b1),
        "b2": official.write_tensors(workdir / "controlnet_b2.safetensors", inputs_b2),
        "unet": official.write_tensors(workdir / "unet_inputs.safetensors", unet_inputs),
    }
    controlnet_config = small_controlnet_config()
    unet_config = small_unet_config()
    jobs = [
        {"task": "controlnet", "config": controlnet_config, "weights": controlnet_weights, "inputs": paths["b1"]},
        {"task": "controlnet", "config": controlnet_config, "weights": controlnet_weights, "inputs": paths["b1"],
         "dtype": "float64"},
        {"task": "controlnet", "config": controlnet_config, "weights": controlnet_weights, "inputs": paths["b2"]},
        {"task": "unet", "config": unet_config, "weights": unet_weights, "inputs": paths["unet"]},
        {"task": "unet", "config": unet_config, "weights": unet_weights, "inputs": paths["unet"],
         "dtype": "float64"},
    ]
    official_b1, official_b1_64, official_b2, official_unet, official_unet_64 = official.run(jobs, workdir)
    return {
        "controlnet": controlnet, "unet": unet, "inputs_b1": inputs_b1, "inputs_b2": inputs_b2,
        "unet_inputs": unet_inputs, "official_b1": official_b1, "official_b1_64": official_b1_64,
        "official_b2": official_b2, "official_unet": official_unet, "official_unet_64": official_unet_64,
    }


def _our_residuals(controlnet, inputs, dtype=torch.float32, legacy_context=False):
    from draganything.unet import legacy_temporal_context

    model = controlnet.to(dtype)
    cast = {k: v.to(dtype) if v.is_floating_point() else v for k, v in inputs.items()}
    try:
        with torch.no_grad():
            if legacy_context:
                with legacy_temporal_context(model):
                    return _forward(model, cast)
            return _forward(model, cast)
    finally:
        controlnet.to(torch.float32)


def _forward(model, inputs):
    embedding = model.embed_conditions(inputs["controlnet_cond"], inputs["ID_feature"])
    return model(
        inputs["sample"], inputs["timestep"], inputs["encoder_hidden_states"], inputs["added_time_ids"],
        embedding, return_dict=False,
    )


def _official_residuals(outputs):
    return [outputs[f"down_{index:02d}"] for index in range(12)], outputs["mid"]


def test_controlnet_residuals_batch1(parity_models, compare):
    down, mid = _our_residuals(parity_models["controlnet"], parity_models["inputs_b1"])
    official_down, official_mid = _official_residuals(parity_models["official_b1"])
    official64_down, official64_mid = _official_residuals(parity_models["official_b1_64"])
    assert len(down) == len(official_down) == 12
    for index, (ours, theirs, exact) in enumerate(zip(down, official_down, official64_down)):
        compare.record(f"controlnet b1 down_{index:02d}: official fp32 vs fp64 (noise)", theirs, exact)
        compare.assert_matches(f"controlnet b1 down_{index:02d} fp32", ours, theirs, rel=FP32_REL)
    compare.record("controlnet b1 mid: official fp32 vs fp64 (noise)", official_mid, official64_mid)
    compare.assert_matches("controlnet b1 mid fp32", mid, official_mid, rel=FP32_REL)


def test_controlnet_residuals_batch1_float64(parity_models, compare):
    down, mid = _our_residuals(parity_models["controlnet"], parity_models["inputs_b1"], dtype=torch.float64)
    official_down, official_mid = _official_residuals(parity_models["official_b1_64"])
    for index, (ours, theirs) in enumerate(zip(down, official_down)):
        compare.assert_matches(f"controlnet b1 down_{index:02d} fp64", ours, theirs, rel=FP64_REL)
    compare.assert_matches("controlnet b1 mid fp64", mid, official_mid, rel=FP64_REL)


def test_controlnet_residuals_batch2_legacy_temporal_context(parity_models, compare):
    """Batch 2 with distinct contexts: the official diffusers 0.25 mixes them up in the temporal cross-attention;
    ours reproduces it only inside `legacy_temporal_context` (and differs clearly without it)."""
    inputs = parity_models["inputs_b2"]
    official_down, official_mid = _official_residuals(parity_models["official_b2"])
    down, mid = _our_residuals(parity_models["controlnet"], inputs, legacy_context=True)
    for index, (ours, theirs) in enumerate(zip(down, official_down)):
        compare.assert_matches(f"controlnet b2 legacy ctx down_{index:02d}", ours, theirs, rel=FP32_REL)
    compare.assert_matches("controlnet b2 legacy ctx mid", mid, official_mid, rel=FP32_REL)

    _, modern_mid = _our_residuals(parity_models["controlnet"], inputs, legacy_context=False)
    _, modern_rel = compare.record("controlnet b2 mid WITHOUT legacy ctx (must differ)", modern_mid, official_mid)
    assert modern_rel > 50 * FP32_REL, "the batch-2 inputs no longer exercise the temporal context layout"


def _our_unet_output(unet, inputs, dtype=torch.float32):
    from draganything.unet import unet_forward_with_residuals

    model = unet.to(dtype)
    cast = {k: v.to(dtype) if v.is_floating_point() else v for k, v in inputs.items()}
    try:
        with torch.no_grad():
            return unet_forward_with_residuals(
                model, cast["sample"], cast["timestep"], cast["encoder_hidden_states"], cast["added_time_ids"],
                [cast[f"down_{index:02d}"] for index in range(12)], cast["mid"],
            )
    finally:
        unet.to(torch.float32)


def test_unet_with_injected_residuals(parity_models, compare):
    official_sample = parity_models["official_unet"]["sample"]
    compare.record("unet b1 output: official fp32 vs fp64 (noise)", official_sample,
           parity_models["official_unet_64"]["sample"])
    ours = _our_unet_output(parity_models["unet"], parity_models["unet_inputs"])
    compare.assert_matches("unet b1 output with residuals fp32", ours, official_sample, rel=FP32_REL)


def test_unet_with_injected_residuals_float64(parity_models, compare):
    ours = _our_unet_output(parity_models["unet"], parity_models["unet_inputs"], dtype=torch.float64)
    compare.assert_matches("unet b1 output with residuals fp64", ours, parity_models["official_unet_64"]["sample"],
                   rel=FP64_REL)


def test_residuals_matter_in_the_unet(parity_models, compare):
    """The injected residuals must change the output, or the UNet comparison would prove nothing."""
    inputs = parity_models["unet_inputs"]
    unet = parity_models["unet"]
    with torch.no_grad():
        plain = unet(inputs["sample"], inputs["timestep"], inputs["encoder_hidden_states"],
                     inputs["added_time_ids"], return_dict=False)[0]
    _, rel = compare.record("unet b1 output WITHOUT residuals (must differ)", plain, parity_models["official_unet"]["sample"])
    assert rel > 1e-2
