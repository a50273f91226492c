"""Speed options inside the host's sampler (in-process, tiny random SVD, CPU, fp32): the ControlNet compiled by
the loader's `compile` option, the host's own TorchCompileModel on the UNet, and the timestep's precision.

Compiled and eager runs are two implementations of the same arithmetic (inductor fuses and reorders), so they
agree to float rounding, not bit for bit; each comparison is checked against the control's own effect."""

import dataclasses

import pytest
import torch

pytestmark = [pytest.mark.host, pytest.mark.slow]

# Inductor's fused fp32 kernels against eager fp32 over a few sampler steps.
COMPILED_TOLERANCE = 1e-4


def base():
    """The shared scene, sampler and conditioning helpers of the in-host control tests."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).with_name("test_control_in_host_sampler.py")
    spec = importlib.util.spec_from_file_location("control_in_host_sampler", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def scene(host):
    helpers = base()
    patcher = host.tiny_svd_patcher()
    _, eager = host.tiny_controlnet()
    positive, negative = helpers.svd_conditioning()
    reference = helpers.sample(host, patcher, *helpers.apply(host, eager, positive, negative,
                                                             helpers.conditions(host)))
    uncontrolled = helpers.sample(host, patcher, positive, negative)
    return {"helpers": helpers, "patcher": patcher, "eager": eager, "positive": positive, "negative": negative,
            "reference": reference, "uncontrolled": uncontrolled}


def relative_max(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def controlled(host, scene, patcher, controlnet):
    helpers = scene["helpers"]
    return helpers.sample(host, patcher, *helpers.apply(host, controlnet, scene["positive"], scene["negative"],
                                                        helpers.conditions(host)))


def test_compiled_controlnet_gives_the_eager_video(host, scene):
    from torch._dynamo.utils import counters

    _, compiled = host.tiny_controlnet(compile=True)  # the same seed: the eager network's weights
    assert compiled.compiled
    graphs_before = counters["stats"]["unique_graphs"]
    video = controlled(host, scene, scene["patcher"], compiled)
    graphs_after_first_run = counters["stats"]["unique_graphs"]
    assert graphs_after_first_run > graphs_before  # dynamo really compiled the forward
    difference = relative_max(video, scene["reference"])
    print(f"compiled ControlNet vs eager: relative max {difference:.1e}")
    assert difference <= COMPILED_TOLERANCE
    assert relative_max(scene["reference"], scene["uncontrolled"]) > 100 * COMPILED_TOLERANCE
    # Static shapes: the next run of the same size reuses the compiled graph (no compilation per run).
    assert torch.equal(controlled(host, scene, scene["patcher"], compiled), video)
    assert counters["stats"]["unique_graphs"] == graphs_after_first_run


def test_host_torch_compile_model_on_the_unet_keeps_the_control(host, scene):
    """ComfyUI's TorchCompileModel node compiles the UNet; the residuals still land where they should."""
    from comfy_extras.nodes_torch_compile import TorchCompileModel

    compiled_unet = TorchCompileModel.execute(scene["patcher"], "inductor").result[0]
    _, compiled = host.tiny_controlnet(compile=True)
    video = controlled(host, scene, compiled_unet, compiled)
    difference = relative_max(video, scene["reference"])
    print(f"compiled UNet + compiled ControlNet vs eager: relative max {difference:.1e}")
    assert difference <= COMPILED_TOLERANCE


def test_a_failed_compilation_names_the_compile_option(host, scene):
    control = host.module("nodes.control")
    error = host.module("draganything.errors").DragAnythingError

    def failing_backend(graph, example_inputs):
        raise RuntimeError("no compiler here")

    _, eager = host.tiny_controlnet()
    broken = dataclasses.replace(eager, residual_function=torch.compile(control.injected_residuals,
                                                                        backend=failing_backend))
    with pytest.raises(error, match=r"^compile: torch.compile could not compile .*Set compile to false"):
        controlled(host, scene, scene["patcher"], broken)


def test_the_controlnet_gets_an_fp32_timestep_whatever_it_computes_in(host, scene, monkeypatch):
    """As in the host's UNet, only the sinusoidal embedding's output is cast: a bf16 timestep would be rounded
    to 3 significant digits before its frequencies are taken."""
    control = host.module("nodes.control")
    network, _ = host.tiny_controlnet()
    half = control.wrap_controlnet(network.to(torch.bfloat16), torch.bfloat16, "tiny bf16")
    half = dataclasses.replace(half, compute_dtype=torch.bfloat16)
    seen = []
    forward = half.network.forward

    def spy(sample, timestep, *args, **kwargs):
        seen.append((sample.dtype, timestep.dtype))
        return forward(sample, timestep, *args, **kwargs)

    monkeypatch.setattr(half.network, "forward", spy)
    video = controlled(host, scene, scene["patcher"], half)
    assert torch.isfinite(video).all()
    assert seen and all(dtypes == (torch.bfloat16, torch.float32) for dtypes in seen)
