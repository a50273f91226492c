"""Random weights of a trained network's scale, filled on the device; torch only (the official-code worker,
which runs with another diffusers, imports it too)."""

from __future__ import annotations

import math

import torch


def random_value_(name: str, tensor: torch.Tensor, generator: torch.Generator) -> None:
    """Fill one parameter in place with values of a trained network's scale.

    Matrices and kernels: uniform within +-1/sqrt(fan_in) (PyTorch's default layer initialisation), so
    activations neither vanish nor explode through the depth of the network. Norm scales: 1 +- 0.1. Anything
    else (biases, mixing factors, class embeddings): uniform within +-0.02. Zero-initialised layers (the
    ControlNet's output convolutions) get random values too, so every parameter shapes the result.
    """
    if tensor.ndim >= 2:
        bound = 1.0 / math.sqrt(tensor[0].numel())
        tensor.uniform_(-bound, bound, generator=generator)
    elif name.endswith("weight") and tensor.ndim == 1:
        tensor.uniform_(0.9, 1.1, generator=generator)
    else:
        tensor.uniform_(-0.02, 0.02, generator=generator)


@torch.no_grad()
def fill_random_(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Fill every floating-point parameter of ``module`` on its own device (see :func:`random_value_`)."""
    devices = {parameter.device for parameter in module.parameters()}
    generators = {device: torch.Generator(device).manual_seed(seed) for device in devices}
    for name, parameter in module.named_parameters():
        if parameter.is_floating_point():
            random_value_(name, parameter.data, generators[parameter.device])
    return module


def materialise(factory, device, dtype: torch.dtype, seed: int) -> torch.nn.Module:
    """``factory()`` built on the meta device, allocated on ``device`` in ``dtype`` and filled randomly.

    Buffers are recomputed by building a second, real copy only of modules that have any (none of the
    diffusers SVD networks do; the CLIP encoder's position ids are rebuilt here).
    """
    with torch.device("meta"):
        module = factory()
    module = module.to_empty(device=device)
    buffers = dict(module.named_buffers())
    if buffers:
        for name, buffer in buffers.items():
            if name.endswith("position_ids"):
                buffer.copy_(torch.arange(buffer.shape[-1], device=buffer.device).expand_as(buffer))
            else:
                raise RuntimeError(f"cannot rebuild buffer {name} of a meta-built {type(module).__name__}")
    fill_random_(module, seed)
    if dtype != torch.float32:
        module = module.to(dtype=dtype)
    return module.eval().requires_grad_(False)
