"""The DragAnything ControlBase inside the host's real sampler (in-process, small random SVD, CPU, fp32)."""

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.host

FRAMES, SIZE, STEPS, CFG, MIN_CFG = 2, 64, 2, 2.5, 1.0


def conditions(host, num_frames=None, resampling="pchip"):
    trajectory = host.module("draganything.trajectory")
    resolution_free = host.module("draganything.resolution_free")
    entities = [
        trajectory.Entity(id="ball", points=[[20, 20], [40, 36]]),
        trajectory.Entity(id="ground", points=[[32, 56]], anchor=True),
    ]
    trajectories = trajectory.Trajectories(entities, width=SIZE, height=SIZE, num_frames=num_frames)
    masks = np.zeros((2, SIZE, SIZE), dtype=bool)
    masks[0, 12:30, 12:30] = True
    masks[1, 48:, :] = True
    pooled = torch.randn(2, 320, generator=torch.Generator().manual_seed(3))
    return resolution_free.ResolutionFreeConditions(trajectories, masks, pooled, resampling=resampling)


def svd_conditioning():
    generator = torch.Generator().manual_seed(4)
    context = torch.randn(1, 1, 32, generator=generator)
    image_latent = torch.randn(1, 4, SIZE // 8, SIZE // 8, generator=generator)
    options = {"motion_bucket_id": 128, "fps": 7, "augmentation_level": 0.02}
    positive = [[context, {**options, "concat_latent_image": image_latent}]]
    negative = [[torch.zeros_like(context), {**options, "concat_latent_image": torch.zeros_like(image_latent)}]]
    return positive, negative


def sample(host, patcher, positive, negative, sampler="euler", scheduler="karras"):
    import comfy.sample
    from comfy_extras.nodes_video_model import VideoLinearCFGGuidance

    guided = VideoLinearCFGGuidance().patch(patcher, MIN_CFG)[0]
    latent = torch.zeros(FRAMES, 4, SIZE // 8, SIZE // 8)
    noise = comfy.sample.prepare_noise(latent, 7)
    return comfy.sample.sample(guided, noise, STEPS, CFG, sampler, scheduler, positive, negative, latent,
                               disable_pbar=True, seed=7)


@pytest.fixture(scope="module")
def models(host):
    patcher = host.random_svd_patcher()
    _, controlnet = host.random_controlnet()
    return patcher, controlnet


def apply(host, controlnet, positive, negative, cond, strength=1.0, start=0.0, end=1.0):
    attach = host.module("nodes.apply_node").attach_control
    return attach(positive, negative, controlnet, cond, strength, start, end)


def test_strength_zero_and_end_percent_zero_are_bitwise_the_graph_without_apply(host, models):
    patcher, controlnet = models
    positive, negative = svd_conditioning()
    reference = sample(host, patcher, positive, negative)
    for strength, end in ((0.0, 1.0), (1.0, 0.0)):
        controlled = sample(host, patcher, *apply(host, controlnet, positive, negative, conditions(host),
                                                  strength=strength, end=end))
        assert torch.equal(controlled, reference), (strength, end)


def test_control_changes_the_video_and_every_residual_lands(host, models, caplog):
    patcher, controlnet = models
    positive, negative = svd_conditioning()
    reference = sample(host, patcher, positive, negative)
    with caplog.at_level(logging.WARNING):
        controlled = sample(host, patcher, *apply(host, controlnet, positive, negative, conditions(host)))
    # The host only logs (never raises) when a residual does not fit its skip connection.
    assert "control could not be applied" not in caplog.text
    assert (controlled - reference).abs().max() > 1e-3


@pytest.mark.parametrize("sampler,scheduler", [("dpmpp_2m", "normal"), ("euler_ancestral", "exponential")])
def test_other_samplers_and_schedulers_drive_the_control(host, models, sampler, scheduler):
    patcher, controlnet = models
    positive, negative = svd_conditioning()
    controlled = sample(host, patcher, *apply(host, controlnet, positive, negative, conditions(host)),
                        sampler=sampler, scheduler=scheduler)
    assert torch.isfinite(controlled).all()


def test_chained_controls_add_up(host, models):
    patcher, controlnet = models
    positive, negative = svd_conditioning()
    once = apply(host, controlnet, positive, negative, conditions(host))
    twice = apply(host, controlnet, *once, conditions(host))
    control = twice[0][0][1]["control"]
    assert control.previous_controlnet is once[0][0][1]["control"]
    assert twice[1][0][1]["control"] is control  # one object on both halves: one batched ControlNet call
    assert not torch.equal(sample(host, patcher, *once), sample(host, patcher, *twice))


def test_each_frame_is_embedded_once_per_run(host, models, monkeypatch):
    patcher, controlnet = models
    positive, negative = svd_conditioning()
    embedded_frames = []
    original = controlnet.network.embed_conditions

    def counting(gaussian, entity, *args, **kwargs):
        embedded_frames.append(gaussian.shape[0])
        return original(gaussian, entity, *args, **kwargs)

    monkeypatch.setattr(controlnet.network, "embed_conditions", counting)
    sample(host, patcher, *apply(host, controlnet, positive, negative, conditions(host)))
    # STEPS steps x 2 CFG halves reuse one embedding of the FRAMES frames.
    assert sum(embedded_frames) == FRAMES


def test_non_svd_model_is_refused_with_a_clear_error(host, models):
    import comfy.model_patcher
    import comfy.supported_models

    _, controlnet = models
    sd15_config = comfy.supported_models.SD15({
        "use_checkpoint": False, "image_size": 32, "use_spatial_transformer": True, "legacy": False,
        "in_channels": 4, "out_channels": 4, "model_channels": 32, "num_res_blocks": [1, 1], "channel_mult": [1, 2],
        "transformer_depth": [1, 1], "transformer_depth_output": [1, 1, 1, 1], "transformer_depth_middle": 1,
        "context_dim": 768, "use_linear_in_transformer": False, "num_heads": 2, "num_head_channels": -1,
        "use_temporal_resblock": False, "use_temporal_attention": False})
    sd15_config.set_inference_dtype(torch.float32, None)
    sd15 = comfy.model_patcher.ModelPatcher(sd15_config.get_model({}), torch.device("cpu"), torch.device("cpu"))
    positive = [[torch.zeros(1, 77, 768), {}]]
    negative = [[torch.zeros(1, 77, 768), {}]]
    positive, negative = apply(host, controlnet, positive, negative, conditions(host))
    error = host.module("draganything.errors").DragAnythingError
    with pytest.raises(error, match="Stable Video Diffusion img2vid only"):
        import comfy.sample

        latent = torch.zeros(1, 4, 8, 8)
        comfy.sample.sample(sd15, latent, 1, 1.0, "euler", "normal", positive, negative, latent, disable_pbar=True)


def test_context_windows_are_refused(host, models):
    from comfy_extras.nodes_context_windows import ContextWindowsManualNode

    patcher, controlnet = models
    windowed = ContextWindowsManualNode.execute(patcher, context_length=1, context_overlap=0,
                                                context_schedule="standard_static", context_stride=1,
                                                closed_loop=False, fuse_method="pyramid", dim=0,
                                                freenoise=False).result[0]
    positive, negative = svd_conditioning()
    error = host.module("draganything.errors").DragAnythingError
    with pytest.raises(error, match="context windows"):
        sample(host, windowed, *apply(host, controlnet, positive, negative, conditions(host)))


def test_frame_count_the_conditions_cannot_serve_is_refused(host, models):
    patcher, controlnet = models
    positive, negative = svd_conditioning()
    drawn_for_14 = conditions(host, num_frames=14, resampling="index")
    error = host.module("draganything.errors").DragAnythingError
    with pytest.raises(error, match="14 frames"):
        sample(host, patcher, *apply(host, controlnet, positive, negative, drawn_for_14))


def test_sampler_custom_advanced_path_gives_the_ksampler_result(host, models):
    """SamplerCustomAdvanced's pieces (CFGGuider, sampler object, scheduler sigmas) drive the same control."""
    import comfy.sample
    import comfy.samplers
    from comfy_extras.nodes_video_model import VideoLinearCFGGuidance

    patcher, controlnet = models
    positive, negative = apply(host, controlnet, *svd_conditioning(), conditions(host))
    reference = sample(host, patcher, positive, negative)

    guided = VideoLinearCFGGuidance().patch(patcher, MIN_CFG)[0]
    guider = comfy.samplers.CFGGuider(guided)
    guider.set_conds(positive, negative)
    guider.set_cfg(CFG)
    sigmas = comfy.samplers.calculate_sigmas(guided.get_model_object("model_sampling"), "karras", STEPS)
    latent = torch.zeros(FRAMES, 4, SIZE // 8, SIZE // 8)
    noise = comfy.sample.prepare_noise(latent, 7)
    custom = guider.sample(noise, latent, comfy.samplers.sampler_object("euler"), sigmas, disable_pbar=True, seed=7)
    assert torch.equal(custom, reference)


def host_nodes(comfyui_dir):
    """The host's own top-level `nodes` module (KSampler, KSamplerAdvanced), not this pack's package."""
    import importlib

    module = importlib.import_module("nodes")
    assert Path(module.__file__).parent == comfyui_dir
    return module


def test_ksampler_advanced_drives_the_control_in_one_pass_and_in_two_stages(host, models, comfyui_dir):
    """KSamplerAdvanced over all steps is KSampler; split into two stages (leftover noise handed on, none added
    in the second) it makes the same video, with the control active in both."""
    from comfy_extras.nodes_video_model import VideoLinearCFGGuidance

    nodes = host_nodes(comfyui_dir)
    patcher, controlnet = models
    positive, negative = apply(host, controlnet, *svd_conditioning(), conditions(host))
    reference = sample(host, patcher, positive, negative)
    guided = VideoLinearCFGGuidance().patch(patcher, MIN_CFG)[0]
    latent = {"samples": torch.zeros(FRAMES, 4, SIZE // 8, SIZE // 8)}
    advanced = nodes.KSamplerAdvanced()

    def run(latent_in, add_noise, start, end, leftover):
        return advanced.sample(guided, add_noise, 7, STEPS, CFG, "euler", "karras", positive, negative, latent_in,
                               start, end, leftover)[0]

    one_pass = run(latent, "enable", 0, 10000, "disable")["samples"]
    assert torch.equal(one_pass, reference)
    first = run(latent, "enable", 0, 1, "enable")
    two_stages = run(first, "disable", 1, 10000, "disable")["samples"]
    # Only the hand-over's latent scaling (divide, then multiply by 0.18215) rounds differently: measured 6e-8.
    print(f"two stages vs one pass: max difference {(two_stages - reference).abs().max().item():.1e}")
    assert torch.allclose(two_stages, reference, rtol=1e-5, atol=1e-5)
    uncontrolled = sample(host, patcher, *svd_conditioning())
    assert not torch.allclose(two_stages, uncontrolled, rtol=1e-3, atol=1e-3)


def test_entity_features_are_the_last_up_block_output_and_the_model_is_untouched(host):
    """The object-patch capture returns exactly what a forward pre-hook on the UNet's head sees."""
    import comfy.model_patcher
    import comfy.sd
    import comfy.supported_models

    features_module = host.module("draganything.features")
    host_features = host.module("nodes.host_features")
    sd15_config = comfy.supported_models.SD15({
        "use_checkpoint": False, "image_size": 32, "use_spatial_transformer": True, "legacy": False,
        "in_channels": 4, "out_channels": 4, "model_channels": 32, "num_res_blocks": [1, 1], "channel_mult": [1, 2],
        "transformer_depth": [1, 1], "transformer_depth_output": [1, 1, 1, 1], "transformer_depth_middle": 1,
        "context_dim": 768, "use_linear_in_transformer": False, "num_heads": 2, "num_head_channels": -1,
        "use_temporal_resblock": False, "use_temporal_attention": False})
    sd15_config.set_inference_dtype(torch.float32, None)
    cpu = torch.device("cpu")
    model = comfy.model_patcher.ModelPatcher(sd15_config.get_model({}), cpu, cpu)
    clip = comfy.sd.CLIP(target=sd15_config.clip_target())
    vae = comfy.sd.VAE(sd={"decoder.conv_in.weight": torch.zeros(512, 4, 3, 3),
                           "decoder.up.3.upsample.conv.weight": torch.zeros(512, 512, 3, 3)})
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in (model.model.diffusion_model, clip.cond_stage_model, vae.first_stage_model):
            for parameter in module.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    head = model.model.diffusion_model.out
    image = (torch.rand(64, 64, 3, generator=generator) * 255).to(torch.uint8).numpy()

    captured = host_features.host_dift_features(model, clip, vae, image, torch.Generator().manual_seed(9), 261, 2)
    assert model.model.diffusion_model.out is head  # the user's MODEL keeps its head

    seen = []
    hook = head.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    try:
        def unet_features(noisy, timesteps, text):
            model.model.diffusion_model(noisy, timesteps=timesteps, context=text, transformer_options={})
            return seen[-1].float()

        with torch.inference_mode():
            expected = features_module.dift_features(
                host_features.vae_posterior(vae, image), unet_features, host_features.empty_prompt_embedding(clip),
                scaling_factor=model.model.latent_format.scale_factor, generator=torch.Generator().manual_seed(9),
                timestep=261, ensemble_size=2, member_batch_size=host_features.MEMBERS_PER_CALL)
    finally:
        hook.remove()
    assert captured.shape == (1, 32, 8, 8)
    assert torch.equal(captured, expected)


def test_one_node_sampler_makes_videos_with_successive_seeds(host, models, tmp_path):
    """DragAnything SVD Sampler: `videos` videos, video k being exactly the single video of seed + k."""
    import comfy.clip_vision
    import comfy.sd

    patcher, controlnet = models
    config = {"attention_dropout": 0.0, "dropout": 0.0, "hidden_act": "gelu", "hidden_size": 32, "image_size": 224,
              "initializer_factor": 1.0, "initializer_range": 0.02, "intermediate_size": 37, "layer_norm_eps": 1e-5,
              "model_type": "clip_vision_model", "num_attention_heads": 4, "num_channels": 3,
              "num_hidden_layers": 2, "patch_size": 32, "projection_dim": 32}
    (tmp_path / "clip_vision.json").write_text(__import__("json").dumps(config))
    clip_vision = comfy.clip_vision.ClipVisionModel(str(tmp_path / "clip_vision.json"))
    vae = comfy.sd.VAE(sd={"decoder.mid.block_1.mix_factor": torch.zeros(1)})  # SVD's temporal-decoder VAE
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for module in (clip_vision.model, vae.first_stage_model):
            for parameter in module.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.02)
    image = torch.rand(1, SIZE, SIZE, 3, generator=generator)
    sampler = host.module("nodes.sampler_node").DragAnythingSVDSampler
    settings = {"width": SIZE, "height": SIZE, "video_frames": FRAMES, "steps": 1, "cfg": CFG, "min_cfg": MIN_CFG,
                "sampler_name": "euler", "scheduler": "karras", "fps": 7, "motion_bucket_id": 128,
                "augmentation_level": 0.02, "strength": 1.0}
    both = sampler.execute(patcher, clip_vision, vae, image, controlnet, conditions(host), seed=5, videos=2,
                           **settings).result
    second = sampler.execute(patcher, clip_vision, vae, image, controlnet, conditions(host), seed=6, videos=1,
                             **settings).result
    assert both[0].shape == (2 * FRAMES, SIZE, SIZE, 3)
    assert torch.equal(both[1]["samples"][FRAMES:], second[1]["samples"])
    assert not torch.equal(both[1]["samples"][:FRAMES], second[1]["samples"])


# ------------------------------------------------------------------------------------------ speed options
# The ControlNet compiled by the loader's `compile` option, the host's own TorchCompileModel on the UNet, and the
# timestep's precision. Compiled and eager runs are two implementations of the same arithmetic (inductor fuses and
# reorders), so they agree to float rounding, not bit for bit; each comparison is checked against the control's
# own effect.

# Inductor's fused fp32 kernels against eager fp32 over a few sampler steps.
COMPILED_TOLERANCE = 1e-4


def relative_max(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.fixture(scope="module")
def eager_videos(host, models):
    """The controlled and uncontrolled videos of the uncompiled networks."""
    patcher, controlnet = models
    positive, negative = svd_conditioning()
    return (sample(host, patcher, *apply(host, controlnet, positive, negative, conditions(host))),
            sample(host, patcher, positive, negative))


def controlled(host, patcher, controlnet):
    return sample(host, patcher, *apply(host, controlnet, *svd_conditioning(), conditions(host)))


@pytest.mark.slow
def test_compiled_controlnet_gives_the_eager_video(host, models, eager_videos):
    from torch._dynamo.utils import counters

    patcher, _ = models
    reference, uncontrolled = eager_videos
    _, compiled = host.random_controlnet(compile=True)  # the same seed: the eager network's weights
    assert compiled.compiled
    graphs_before = counters["stats"]["unique_graphs"]
    video = controlled(host, patcher, compiled)
    graphs_after_first_run = counters["stats"]["unique_graphs"]
    assert graphs_after_first_run > graphs_before  # dynamo really compiled the forward
    difference = relative_max(video, reference)
    print(f"compiled ControlNet vs eager: relative max {difference:.1e}")
    assert difference <= COMPILED_TOLERANCE
    assert relative_max(reference, uncontrolled) > 100 * COMPILED_TOLERANCE
    # Static shapes: the next run of the same size reuses the compiled graph (no compilation per run).
    assert torch.equal(controlled(host, patcher, compiled), video)
    assert counters["stats"]["unique_graphs"] == graphs_after_first_run


@pytest.mark.slow
def test_host_torch_compile_model_on_the_unet_keeps_the_control(host, models, eager_videos):
    """ComfyUI's TorchCompileModel node compiles the UNet; the residuals still land where they should."""
    from comfy_extras.nodes_torch_compile import TorchCompileModel

    patcher, _ = models
    compiled_unet = TorchCompileModel.execute(patcher, "inductor").result[0]
    _, compiled = host.random_controlnet(compile=True)
    video = controlled(host, compiled_unet, compiled)
    difference = relative_max(video, eager_videos[0])
    print(f"compiled UNet + compiled ControlNet vs eager: relative max {difference:.1e}")
    assert difference <= COMPILED_TOLERANCE


def test_a_failed_compilation_names_the_compile_option(host, models):
    control = host.module("nodes.control")
    error = host.module("draganything.errors").DragAnythingError
    patcher, eager = models

    def failing_backend(graph, example_inputs):
        raise RuntimeError("no compiler here")

    broken = dataclasses.replace(eager, residual_function=torch.compile(control.injected_residuals,
                                                                        backend=failing_backend))
    with pytest.raises(error, match=r"^compile: torch.compile could not compile .*Set compile to false"):
        controlled(host, patcher, broken)


def test_the_controlnet_gets_an_fp32_timestep_whatever_it_computes_in(host, models, monkeypatch):
    """As in the host's UNet, only the sinusoidal embedding's output is cast: a bf16 timestep would be rounded
    to 3 significant digits before its frequencies are taken."""
    control = host.module("nodes.control")
    patcher, _ = models
    network, _ = host.random_controlnet()
    half = control.wrap_controlnet(network.to(torch.bfloat16), torch.bfloat16, "random bf16")
    half = dataclasses.replace(half, compute_dtype=torch.bfloat16)
    seen = []
    forward = half.network.forward

    def spy(sample, timestep, *args, **kwargs):
        seen.append((sample.dtype, timestep.dtype))
        return forward(sample, timestep, *args, **kwargs)

    monkeypatch.setattr(half.network, "forward", spy)
    video = controlled(host, patcher, half)
    assert torch.isfinite(video).all()
    assert seen and all(dtypes == (torch.bfloat16, torch.float32) for dtypes in seen)


@pytest.fixture(scope="module")
def fp32_weight_video(host, models):
    patcher, controlnet = models
    positive, negative = svd_conditioning()
    return sample(host, patcher, *apply(host, controlnet, positive, negative, conditions(host)))


@pytest.mark.parametrize("fp8_compute", [False, True], ids=["cast per layer", "host fp8 matmul"])
@pytest.mark.parametrize("dtype", [torch.float8_e4m3fn, torch.float8_e5m2], ids=["e4m3fn", "e5m2"])
def test_fp8_weights_sample_through_the_host_layers(host, models, fp32_weight_video, monkeypatch, dtype,
                                                    fp8_compute):
    """fp8 weights stay fp8 in the host's layer classes, which cast them per call (or, where the host can
    multiply in fp8 -- forced here as its --supports-fp8-compute does -- use its fp8 matrix multiplication)."""
    import comfy.model_management

    monkeypatch.setattr(comfy.model_management, "SUPPORT_FP8_OPS", fp8_compute)
    patcher, eager = models
    network = type(eager.network).from_config(eager.network.config).eval()
    network.load_state_dict(eager.network.state_dict())
    control = host.module("nodes.control")
    loaded = control.wrap_controlnet(network.to(dtype), dtype, "tiny fp8", fp8_matrix_multiplication=True)
    attention = loaded.network.down_blocks[0].attentions[0].transformer_blocks[0].attn1.to_q
    assert type(attention).__qualname__ == ("fp8_ops.Linear" if fp8_compute else "manual_cast.Linear")
    assert attention.weight.dtype == dtype and loaded.compute_dtype == torch.float32

    positive, negative = svd_conditioning()
    video = sample(host, patcher, *apply(host, loaded, positive, negative, conditions(host)))
    uncontrolled = sample(host, patcher, positive, negative)
    assert torch.isfinite(video).all()
    distance = relative_rms(video, fp32_weight_video)
    control_effect = relative_rms(uncontrolled, fp32_weight_video)
    print(f"{dtype} (fp8 compute {fp8_compute}): {distance:.3f} from the fp32-weight video; the control itself "
          f"moves it {control_effect:.3f}")
    # Measured (CPU, ComfyUI 0.8.0): e4m3fn 0.038, e5m2 0.071 from the fp32-weight video; the control 0.66.
    assert distance < 0.15 < control_effect


def relative_rms(a, b):
    return float((a - b).norm() / b.norm())


def test_the_control_reports_its_activation_memory_for_the_latent_it_will_sample(host, models):
    """The host plans loading and CFG batching with inference_memory_requirements before the first step: the
    control reports the ControlNet's measured activation memory for the conditioning's latent size (frames from
    the trajectories, else SVD's 14), then for the latent it last sampled."""
    patcher, controlnet = models
    controlnet_module = host.module("draganything.controlnet")

    def estimate(size, num_frames=None):
        positive, negative = svd_conditioning()
        for conditioning in (positive, negative):
            conditioning[0][1]["concat_latent_image"] = torch.zeros(1, 4, size // 8, size // 8)
        positive, _ = apply(host, controlnet, positive, negative, conditions(host, num_frames))
        control = positive[0][1]["control"]
        return control, control.inference_memory_requirements(torch.float16)

    _, small = estimate(64)
    _, large = estimate(128)
    _, longer = estimate(64, num_frames=25)
    assert 0 < small < longer and small < large
    assert small == controlnet_module.activation_memory_bytes(2, 14, 8, 8, torch.float32.itemsize)

    control, _ = estimate(64, num_frames=25)
    positive, negative = svd_conditioning()
    positive[0][1]["control"] = negative[0][1]["control"] = control
    sample(host, patcher, positive, negative)  # FRAMES frames at SIZE
    assert control.inference_memory_requirements(torch.float16) == controlnet_module.activation_memory_bytes(
        2, FRAMES, SIZE // 8, SIZE // 8, torch.float32.itemsize)
