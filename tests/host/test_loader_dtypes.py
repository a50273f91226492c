"""The ControlNet loader's dtype choices, read by the library's dtype parser, on a real ControlNet folder (the
shipped tiny one), in-process."""

from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.host

TINY_CONTROLNET = Path(__file__).resolve().parents[2] / "draganything" / "tiny" / "controlnet"


@pytest.mark.parametrize("choice,dtype", [("fp16", torch.float16), ("bf16", torch.bfloat16),
                                          ("fp32", torch.float32), ("fp8_e4m3fn", torch.float8_e4m3fn),
                                          ("fp8_e4m3fn_fast", torch.float8_e4m3fn),
                                          ("fp8_e5m2", torch.float8_e5m2)])
def test_each_dtype_choice_loads_the_weights_in_that_dtype(host, choice, dtype):
    import folder_paths

    loaders = host.module("nodes.loader_nodes")
    host.module("nodes.folders").register_model_folders()
    folder_paths.add_model_folder_path("draganything", str(TINY_CONTROLNET.parent))
    name = "controlnet/diffusion_pytorch_model.safetensors"
    assert loaders.DragAnythingControlNetLoader.validate_inputs(name, choice) is True
    loaded = loaders.DragAnythingControlNetLoader.execute(name, choice).result[0]
    weights = {name: parameter.dtype for name, parameter in loaded.network.named_parameters()
               if not name.endswith("mix_factor")}
    assert set(weights.values()) == {dtype}
    # The blend factors (one number each, outside the host's cast-capable layers) are kept in the compute dtype.
    assert {parameter.dtype for name, parameter in loaded.network.named_parameters()
            if name.endswith("mix_factor")} == {loaded.compute_dtype}
    assert choice in loaders.DragAnythingControlNetLoader.define_schema().inputs[1].options


def test_saved_workflows_keep_their_dtype_choice_positions(host):
    """Saved workflows hold the chosen name; the choices offered before fp8 keep their places."""
    loaders = host.module("nodes.loader_nodes")
    options = loaders.DragAnythingControlNetLoader.define_schema().inputs[1].options
    assert options[:4] == ["auto", "fp16", "bf16", "fp32"]
    assert loaders.DragAnythingControlNetLoader.define_schema().inputs[1].default == "auto"
