"""Training stages on micro models: losses fall, frozen parts stay frozen, checkpoints resume exactly, and two
processes train as one with the same global batch."""

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from diffusers import DDPMScheduler, EulerDiscreteScheduler
from safetensors.torch import load_file

from draganything.base_features import sigma_for_ddpm_timestep
from draganything.components import build_components, load_components
from draganything.errors import DragAnythingError
from draganything.train.config import TINY_CONFIGS_DIR, TrainConfig, parse_override
from draganything.train.edm import denoised_from_v, edm_loss, input_scale
from draganything.train.recipe import export_float16
from draganything.train.synthetic import SceneConfig, write_dataset
from draganything.train.trainer import DiffusionObjective, VaeObjective, train, weights_digest
from draganything.weights import load_controlnet

SIZE, FRAMES = 64, 2
MICRO = {
    "unet": {"block_out_channels": [32, 32, 32, 32], "num_attention_heads": [1, 1, 1, 1], "sample_size": 8},
    "vae": {"block_out_channels": [32, 32, 32, 32], "sample_size": SIZE},
    "image_encoder": {},
    "controlnet": {},
}


@pytest.fixture(scope="module")
def micro_configs(tmp_path_factory) -> Path:
    """The shipped tiny configs, shrunk further so a CPU runs a training step in about a second."""
    folder = tmp_path_factory.mktemp("configs")
    for name, changes in MICRO.items():
        config = json.loads((TINY_CONFIGS_DIR / f"{name}.json").read_text())
        config.update(changes)
        (folder / f"{name}.json").write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="module")
def micro_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_dataset(root, range(4), SceneConfig(height=SIZE, width=SIZE, num_frames=(FRAMES, FRAMES), sprites=(1, 2),
                                              sprite_size=(12, 20)))
    return root


@pytest.fixture(scope="module")
def micro_data_128(tmp_path_factory) -> Path:
    """Clips at 128 px: the micro UNet's deepest blocks are then 2x2 latents. At 64 px they are 1x1, where each
    GroupNorm group (one channel) normalises a single value, i.e. rounding noise divided by sqrt(eps), so a batch
    of two and two batches of one differ by more than rounding (measured: ControlNet residuals 2e-4 relative at
    64 px, 3e-6 at 128 px)."""
    root = tmp_path_factory.mktemp("data128")
    write_dataset(root, range(4), SceneConfig(height=128, width=128, num_frames=(FRAMES, FRAMES), sprites=(1, 2),
                                              sprite_size=(20, 36)))
    return root


def _config(stage, data, configs, output, **overrides) -> TrainConfig:
    values = {"stage": stage, "data_root": str(data), "output_dir": str(output), "configs_dir": str(configs),
              "num_frames": FRAMES, "height": SIZE, "width": SIZE, "batch_size": 2, "warmup_steps": 1,
              "log_every": 1, "checkpoint_every": 1000, "num_workers": 0, "max_steps": 10, "learning_rate": 2e-3}
    values.update(overrides)
    return TrainConfig(**values)


def _losses(output: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (output / "losses.jsonl").read_text().splitlines()]


def _falls(losses: list[float]) -> bool:
    return sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3


def test_vae_stage_loss_falls_and_sets_scaling_factor(micro_data, micro_configs, tmp_path):
    model = train(_config("vae", micro_data, micro_configs, tmp_path / "vae"))
    assert _falls(_losses(tmp_path / "vae")), _losses(tmp_path / "vae")
    vae_config = json.loads((model / "vae" / "config.json").read_text())
    assert vae_config["scaling_factor"] != 0.18215 and vae_config["scaling_factor"] > 0


def test_base_stage_loss_falls(micro_data, micro_configs, tmp_path):
    # One noise level (p_std 0) so that the loss measures fitting, not the draw of sigmas.
    train(_config("base", micro_data, micro_configs, tmp_path / "base", max_steps=12, p_std=0.0))
    assert _falls(_losses(tmp_path / "base")), _losses(tmp_path / "base")


def test_controlnet_stage_trains_only_the_controlnet(micro_data, micro_configs, tmp_path):
    base = train(_config("base", micro_data, micro_configs, tmp_path / "base", max_steps=1))
    model = train(_config("controlnet", micro_data, micro_configs, tmp_path / "cn", init_dir=str(base),
                          max_steps=3))
    before = load_file(str(base / "unet" / "diffusion_pytorch_model.safetensors"))
    after = load_file(str(model / "unet" / "diffusion_pytorch_model.safetensors"))
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    controlnet = load_file(str(model / "controlnet" / "diffusion_pytorch_model.safetensors"))
    # from_unet starts the zero convolutions at zero; training moves them
    assert controlnet["controlnet_mid_block.weight"].abs().sum() > 0
    assert controlnet["controlnet_cond_embedding.conv_out_feature.weight"].abs().sum() > 0
    assert (tmp_path / "cn" / "summary.json").is_file()


def test_gaussian_only_stage_feeds_no_entity_map(micro_data, micro_configs, tmp_path):
    base = train(_config("base", micro_data, micro_configs, tmp_path / "base", max_steps=1))
    short, longer = (load_file(str(train(_config("controlnet", micro_data, micro_configs, tmp_path / f"cn{steps}",
                                                init_dir=str(base), max_steps=steps, use_entity_map=False,
                                                weight_decay=0.0)) / "controlnet" /
                                   "diffusion_pytorch_model.safetensors")) for steps in (1, 3))
    # The entity branch's first convolution only ever sees zeros, so its weights get no gradient and keep their
    # (seeded) initial values; the Gaussian branch's first convolution learns.
    first_entity_conv = "controlnet_cond_embedding.blocks_feature.0.weight"
    assert torch.equal(short[first_entity_conv], longer[first_entity_conv])
    assert not torch.equal(short["controlnet_cond_embedding.conv_in.weight"],
                           longer["controlnet_cond_embedding.conv_in.weight"])


def test_resumed_run_matches_an_uninterrupted_one(micro_data, micro_configs, tmp_path):
    straight = train(_config("base", micro_data, micro_configs, tmp_path / "straight", max_steps=4))
    train(_config("base", micro_data, micro_configs, tmp_path / "resumed", max_steps=2, checkpoint_every=2))
    resumed = train(_config("base", micro_data, micro_configs, tmp_path / "resumed", max_steps=4,
                            checkpoint_every=2))
    a = load_file(str(straight / "unet" / "diffusion_pytorch_model.safetensors"))
    b = load_file(str(resumed / "unet" / "diffusion_pytorch_model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [json.loads(line)["step"] for line in (tmp_path / "resumed" / "losses.jsonl").read_text().splitlines()] \
        == [1, 2, 3, 4]


@pytest.mark.parametrize("stage", ["vae", "base", "controlnet"])
def test_every_trainable_weight_gets_a_gradient(micro_configs, stage):
    # DistributedDataParallel (without its slower unused-parameter search) fails on trainable weights that the
    # loss does not reach.
    components = build_components(micro_configs, with_controlnet=stage == "controlnet")
    config = _config(stage, "data", micro_configs, "out", init_dir="model")
    batch, latent = 2, (FRAMES, 4, SIZE // 8, SIZE // 8)
    if stage == "vae":
        objective = VaeObjective(components.vae.requires_grad_(True).train(), config.kl_weight)
        inputs = {"frames": torch.randint(0, 256, (batch, FRAMES, 3, SIZE, SIZE), dtype=torch.uint8),
                  "noise": torch.randn(batch, *latent)}
    else:
        trainable = components.controlnet if stage == "controlnet" else components.unet
        for module in (components.unet, components.vae, components.image_encoder):
            module.requires_grad_(False)
        trainable.requires_grad_(True).train()
        objective = DiffusionObjective(components, config)
        inputs = {"latents": torch.randn(batch, *latent), "conditioning_latents": torch.randn(batch, *latent[1:]),
                  "embeddings": torch.randn(batch, 1, components.unet.config.cross_attention_dim),
                  "sigmas": torch.tensor([0.5, 3.0]), "noise": torch.randn(batch, *latent),
                  "keep": torch.tensor([True, False])}
        if stage == "controlnet":
            channels = components.controlnet.config.entity_embedding_channels[0]
            inputs["gaussian"] = torch.rand(batch, FRAMES, 3, SIZE, SIZE) * 255
            inputs["entity"] = torch.randn(batch, FRAMES, channels, SIZE, SIZE)
    objective(**inputs).backward()
    trained = [name for name, weight in objective.named_parameters() if weight.requires_grad]
    assert trained and [name for name in trained if objective.get_parameter(name).grad is None] == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _launch_two_cpu_processes(config: TrainConfig, folder: Path) -> subprocess.CompletedProcess:
    """``accelerate launch --multi_gpu --num_processes 2 -m draganything.train`` (the multi-GPU command) on CPU.

    ACCELERATE_USE_CPU makes the processes train on the CPU over gloo; the launcher's ``--cpu`` flag instead
    starts one process unless MPI is set up. HF_HOME keeps a user's accelerate config file out of the run.
    """
    path = folder / "config.json"
    path.write_text(config.to_json())
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(_free_port()), "-m", "draganything.train", str(path)]
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1", "HF_HOME": str(folder / "hf"),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="this torch build has no torch.distributed")
def test_two_processes_train_as_one_with_the_same_global_batch(micro_data_128, micro_configs, tmp_path):
    torch.manual_seed(0)
    base = build_components(micro_configs).save(tmp_path / "base")
    # Adam with a large epsilon updates in proportion to the gradient: a wrong gradient scale (summed instead of
    # averaged over processes) shows, and Adam's sign-like first steps do not amplify rounding. The warm-up
    # makes the learning rate differ from step to step, so a schedule stepped once per process shows too.
    settings = {"init_dir": str(base), "height": 128, "width": 128, "max_steps": 3, "weight_decay": 0.0,
                "adam_epsilon": 1.0, "learning_rate": 0.1, "warmup_steps": 3}
    one = tmp_path / "one"
    train(_config("controlnet", micro_data_128, micro_configs, one, batch_size=2, **settings))

    two = tmp_path / "two"
    launched = _launch_two_cpu_processes(
        _config("controlnet", micro_data_128, micro_configs, two, batch_size=1, **{**settings, "max_steps": 1}),
        tmp_path)
    assert launched.returncode == 0, launched.stdout[-3000:] + launched.stderr[-3000:]
    summary = json.loads((two / "summary.json").read_text())
    assert (summary["processes"], summary["global_batch"], summary["steps"]) == (2, 2, 1)
    # Both processes ended with the weights that the pack's loader reads from the model folder.
    exported = load_controlnet(two / "model" / "controlnet")
    assert summary["trained_weights_sha256_by_process"] == [weights_digest(exported)] * 2
    # Only the main process logs.
    assert [json.loads(line)["step"] for line in (two / "losses.jsonl").read_text().splitlines()] == [1]

    # The two processes' checkpoint resumes on one process only at the same global batch ...
    with pytest.raises(DragAnythingError, match="global batch of 2") as error:
        train(_config("controlnet", micro_data_128, micro_configs, two, batch_size=1, **settings))
    assert error.value.input_name == "batch_size"
    # ... and then the run goes on as the one-process run did.
    resumed = train(_config("controlnet", micro_data_128, micro_configs, two, batch_size=2, **settings))
    records = {name: [json.loads(line) for line in (folder / "losses.jsonl").read_text().splitlines()]
               for name, folder in (("one", one), ("two", two))}
    assert [record["step"] for record in records["two"]] == [1, 2, 3]
    assert [record["lr"] for record in records["two"]] == [record["lr"] for record in records["one"]]
    losses_one, losses_two = ([record["loss"] for record in records[name]] for name in ("one", "two"))
    assert all(math.isfinite(loss) for loss in losses_two)
    # The loss at step s is computed with the weights after step s - 1: step 1 checks that both runs drew the
    # same global batch, step 2 the update on two processes, step 3 the update after resuming on one. Only
    # rounding differs: at most 1.4e-7 relative over five random bases (batch 2 against two accumulated batches
    # of 1 in one process); gradients summed instead of averaged over the processes show at 1e-2.
    assert losses_two == pytest.approx(losses_one, rel=1e-5, abs=0)
    resumed_summary = json.loads((two / "summary.json").read_text())
    assert resumed_summary["processes"] == 1 and resumed_summary["steps_this_run"] == 2
    assert resumed_summary["trained_weights_sha256_by_process"] == [
        weights_digest(load_controlnet(resumed / "controlnet"))]
    # The shipped float16 form holds the same weights, rounded.
    trained = load_controlnet(resumed / "controlnet").state_dict()
    half = load_controlnet(export_float16([resumed], tmp_path / "fp16") / "controlnet", dtype=torch.float16)
    assert all(torch.equal(trained[name].half(), value) for name, value in half.state_dict().items())


def test_checkpoint_round_trip_is_exact(micro_configs, tmp_path):
    components = build_components(micro_configs, with_controlnet=True)
    components.save(tmp_path / "fp32")
    loaded = load_components(tmp_path / "fp32", require=("unet", "vae", "image_encoder", "controlnet"))
    components.save(tmp_path / "fp16", dtype=torch.float16)
    half = load_components(tmp_path / "fp16", dtype=torch.float16, require=("unet", "controlnet"))
    for name in ("unet", "vae", "image_encoder", "controlnet"):
        original = getattr(components, name).state_dict()
        assert all(torch.equal(original[k], v) for k, v in getattr(loaded, name).state_dict().items())
        assert all(torch.equal(original[k].half(), v) for k, v in getattr(half, name).state_dict().items())
    # saving in fp16 leaves the in-memory model in its own dtype
    assert next(components.unet.parameters()).dtype == torch.float32


def test_denoised_matches_diffusers_euler_v_prediction():
    scheduler = EulerDiscreteScheduler(prediction_type="v_prediction", use_karras_sigmas=True, sigma_min=0.002,
                                       sigma_max=700.0, timestep_type="continuous", beta_schedule="scaled_linear",
                                       beta_start=0.00085, beta_end=0.012)
    scheduler.set_timesteps(5)
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(1, 2, 4, 4, 4, generator=generator)
    v = torch.randn(sample.shape, generator=generator)
    sigma, sigma_next = scheduler.sigmas[1], scheduler.sigmas[2]
    scheduler._step_index = 1
    previous = scheduler.step(v, scheduler.timesteps[1], sample).prev_sample
    # Euler: prev = x + (x - x0) / sigma * (sigma_next - sigma), so x0 follows from the step diffusers took
    x0 = sample - (previous - sample) * sigma / (sigma_next - sigma)
    torch.testing.assert_close(denoised_from_v(v, sample, sigma.reshape(1)), x0, rtol=1e-4, atol=1e-4)


def test_ddpm_noising_is_the_scaled_edm_input():
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                              beta_schedule="scaled_linear")
    clean, noise = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3)
    timesteps = torch.tensor([261, 900])
    sigmas = sigma_for_ddpm_timestep(scheduler.alphas_cumprod, timesteps)
    expected = scheduler.add_noise(clean, noise, timesteps)
    ours = (clean + sigmas.reshape(-1, 1, 1, 1) * noise) * input_scale(sigmas).reshape(-1, 1, 1, 1)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)
    assert sigmas[0].item() == pytest.approx(((1 - 0.65567) / 0.65567) ** 0.5, rel=1e-4)


def test_edm_loss_is_zero_for_the_exact_velocity():
    clean, noise = torch.randn(1, 2, 4, 3, 3), torch.randn(1, 2, 4, 3, 3)
    sigmas = torch.tensor([2.0])
    noisy = clean + 2.0 * noise
    # v such that c_skip * x + c_out * v = x0
    v = (clean - noisy / 5.0) / (-2.0 / 5.0**0.5)
    assert edm_loss(v, noisy, clean, sigmas).item() == pytest.approx(0.0, abs=1e-10)
    assert edm_loss(v + 1.0, noisy, clean, sigmas).item() == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("values, field", [
    ({"stage": "diffusion"}, "stage"),
    ({"stage": "controlnet"}, "init_dir"),
    ({"stage": "base", "colour": 1}, "config"),
])
def test_bad_config_is_rejected(tmp_path, values, field):
    config = {"data_root": "data", "output_dir": "out", **values}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    with pytest.raises(DragAnythingError) as error:
        TrainConfig.from_json(path)
    assert error.value.input_name == field


def test_config_file_that_is_not_json_is_rejected(tmp_path):
    (tmp_path / "bad.json").write_text("stage: base")
    with pytest.raises(DragAnythingError, match="could not be read as JSON"):
        TrainConfig.from_json(tmp_path / "bad.json")


def test_overrides_parse_json_values():
    assert parse_override("max_steps=12") == ("max_steps", 12)
    assert parse_override("use_entity_map=false") == ("use_entity_map", False)
    assert parse_override("output_dir=runs/a") == ("output_dir", "runs/a")
    with pytest.raises(DragAnythingError):
        parse_override("max_steps")


def test_shipped_training_configs_load():
    for name in ("train_vae", "train_base", "train_controlnet"):
        config = TrainConfig.from_json(TINY_CONFIGS_DIR / f"{name}.json")
        assert config.num_frames == 8 and (config.height, config.width) == (128, 128)
