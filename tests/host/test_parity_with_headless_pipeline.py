"""The native path is the method: the host's sampler with Apply DragAnything gives the library's headless
pipeline's latents for the same weights, noise, sigmas and conditions (small random SVD, CPU, fp32)."""

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.host

FRAMES, SIZE, STEPS = 3, 64, 3
FPS, MOTION, AUGMENTATION, MIN_CFG, CFG = 7, 128, 0.02, 1.0, 3.0
# Measured on CPU fp32 (torch 2.14.1, ComfyUI 0.8.0, this test's seeds): the two implementations of the same
# UNet and Euler/Karras arithmetic differ by 9.6e-4 of the latents' range after 3 steps WITHOUT control (fp32
# rounding of x ~ 700 * noise at the first sigma dominates) and by 6.6e-5 with it. The bound is twice the
# uncontrolled floor; the control itself moves the result by far more (second test).
RELATIVE_TOLERANCE = 2e-3


def build(host):
    from diffusers import UNetSpatioTemporalConditionModel

    testing = host.module("draganything.testing")
    pipeline_module = host.module("draganything.pipeline")
    trajectory = host.module("draganything.trajectory")
    resolution_free = host.module("draganything.resolution_free")

    torch.manual_seed(0)
    unet = UNetSpatioTemporalConditionModel.from_config(host.diffusers_unet_config()).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in unet.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    network, controlnet = host.random_controlnet()
    # The host wrapper owns its network (it swaps the time-id projection); the pipeline gets the same weights.
    headless_network = host.module("draganything.controlnet").DragAnythingControlNet.from_config(network.config)
    state = network.state_dict()
    state.update({key: value for key, value in headless_network.state_dict().items() if key.startswith("add_time")})
    headless_network.load_state_dict(state)
    pipeline = pipeline_module.DragAnythingPipeline(
        vae=testing.random_vae(), image_encoder=testing.random_image_encoder(), unet=unet,
        scheduler=pipeline_module.build_scheduler(), controlnet=headless_network.eval())

    patcher = host.random_svd_patcher()
    unet_config = dict(patcher.model.model_config.unet_config)
    patcher.model.diffusion_model.load_state_dict(
        host.host_state_dict_from_diffusers(unet.state_dict(), unet_config), strict=True)

    entities = [trajectory.Entity(id="ball", points=[[18, 20], [44, 40]]),
                trajectory.Entity(id="rest", points=[[50, 12]], anchor=True)]
    masks = np.zeros((2, SIZE, SIZE), dtype=bool)
    masks[0, 10:28, 10:28] = True
    masks[1, 4:20, 40:60] = True
    pooled = torch.randn(2, 320, generator=torch.Generator().manual_seed(5))
    conditions = resolution_free.ResolutionFreeConditions(
        trajectory.Trajectories(entities, width=SIZE, height=SIZE), masks, pooled)
    return pipeline, patcher, controlnet, conditions


def test_host_sampler_with_apply_matches_the_headless_pipeline(host):
    import comfy.sample
    from comfy_extras.nodes_video_model import VideoLinearCFGGuidance

    pipeline, patcher, controlnet, conditions = build(host)
    generator = torch.Generator().manual_seed(11)
    image = torch.rand(1, 3, SIZE, SIZE, generator=generator)
    image_noise = torch.randn(image.shape, generator=generator)
    noise = torch.randn(1, FRAMES, 4, SIZE // 8, SIZE // 8, generator=generator)
    gaussian, entity = conditions.build(SIZE, SIZE, FRAMES)

    reference = pipeline(image, gaussian, entity, preset="default", num_inference_steps=STEPS,
                         min_guidance_scale=MIN_CFG, max_guidance_scale=CFG, fps=FPS, motion_bucket_id=MOTION,
                         noise_aug_strength=AUGMENTATION, noise=noise, image_noise=image_noise, decode=False).latents

    # The same image conditioning, as SVD_img2vid_Conditioning would hand it to the sampler.
    with torch.no_grad():
        image_embedding = pipeline._encode_image(image, normalize=True)
        image_latent = pipeline._encode_vae_image(image, image_noise, AUGMENTATION)
    options = {"fps": FPS, "motion_bucket_id": MOTION, "augmentation_level": AUGMENTATION}
    positive = [[image_embedding, {**options, "concat_latent_image": image_latent}]]
    negative = [[torch.zeros_like(image_embedding), {**options, "concat_latent_image": torch.zeros_like(image_latent)}]]
    attach = host.module("nodes.apply_node").attach_control
    positive, negative = attach(positive, negative, controlnet, conditions, 1.0, 0.0, 1.0)
    guided = VideoLinearCFGGuidance().patch(patcher, MIN_CFG)[0]
    empty = torch.zeros(FRAMES, 4, SIZE // 8, SIZE // 8)
    native = comfy.sample.sample(guided, noise[0], STEPS, CFG, "euler", "karras", positive, negative, empty,
                                 disable_pbar=True, seed=0)
    # The host returns latents divided by the SD latent scale (its process_latent_out); the pipeline does not.
    native = native * patcher.model.latent_format.scale_factor

    difference = (native - reference[0]).abs().max().item()
    scale = reference.abs().max().item()
    print(f"max |native - headless| = {difference:.3e}, max |latent| = {scale:.3e}, "
          f"relative = {difference / scale:.3e}")
    assert difference <= RELATIVE_TOLERANCE * scale


def test_control_is_what_makes_the_pipelines_agree(host):
    """Guards the parity test against passing vacuously: the control moves the result far beyond the tolerance."""
    pipeline, _, _, conditions = build(host)
    generator = torch.Generator().manual_seed(11)
    image = torch.rand(1, 3, SIZE, SIZE, generator=generator)
    image_noise = torch.randn(image.shape, generator=generator)
    noise = torch.randn(1, FRAMES, 4, SIZE // 8, SIZE // 8, generator=generator)
    gaussian, entity = conditions.build(SIZE, SIZE, FRAMES)
    kwargs = {"preset": "default", "num_inference_steps": STEPS, "min_guidance_scale": MIN_CFG,
              "max_guidance_scale": CFG, "fps": FPS, "motion_bucket_id": MOTION, "noise_aug_strength": AUGMENTATION,
              "noise": noise, "image_noise": image_noise, "decode": False}
    controlled = pipeline(image, gaussian, entity, **kwargs).latents
    uncontrolled = pipeline(image, gaussian, entity, conditioning_scale=0.0, **kwargs).latents
    effect = (controlled - uncontrolled).abs().max() / controlled.abs().max()
    print(f"relative effect of the control = {effect:.3e}")
    assert effect > 10 * RELATIVE_TOLERANCE
