"""Apply DragAnything: attaches the ControlNet and the conditions to positive and negative conditioning."""

from __future__ import annotations

from comfy_api.latest import io

from .compat import node_schema
from .control import DragAnythingControl
from .types import DragConditions, DragControlNet


def attach_control(positive, negative, controlnet, conditions, strength, start_percent, end_percent):
    """Put one DragAnythingControl on every entry of positive and negative, chaining any control already there.

    Entries that already share a control share the new one too, so the host batches both CFG halves through one
    ControlNet call (the official pipeline feeds the same control to both halves).
    """
    if strength == 0:
        return positive, negative
    controls = {}
    conditioned = []
    for conditioning in (positive, negative):
        entries = []
        for embedding, options in conditioning:
            options = options.copy()
            previous = options.get("control", None)
            control = controls.get(previous)
            if control is None:
                # SVD conditioning carries the first frame's latent: the size the host will sample, for the
                # ControlNet's memory estimate before the first step.
                image_latent = options.get("concat_latent_image")
                control = DragAnythingControl(controlnet, conditions,
                                              None if image_latent is None else tuple(image_latent.shape[-2:]))
                control.set_cond_hint(None, strength, (start_percent, end_percent))
                control.set_previous_controlnet(previous)
                controls[previous] = control
            options["control"] = control
            options["control_apply_to_uncond"] = False
            entries.append([embedding, options])
        conditioned.append(entries)
    return conditioned[0], conditioned[1]


class DragAnythingApply(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return node_schema(
            node_id="DragAnythingApply",
            search_aliases=["apply controlnet", "motion control", "trajectory control", "drag control"],
            display_name="Apply DragAnything",
            category="DragAnything",
            description="Attaches the DragAnything ControlNet and its conditions to the SVD conditioning, like a core "
                        "ControlNet: works with KSampler, KSamplerAdvanced, SamplerCustomAdvanced and "
                        "VideoLinearCFGGuidance. The control maps are built at sampling time from the latent's "
                        "actual size and frame count.",
            inputs=[
                io.Conditioning.Input("positive"),
                io.Conditioning.Input("negative"),
                DragControlNet.Input("controlnet"),
                DragConditions.Input("conditions"),
                io.Float.Input("strength", default=1.0, min=0.0, max=10.0, step=0.01,
                               tooltip="Multiplies the ControlNet's residuals. 1.0 is what the weights were "
                                       "trained for; 0 leaves the conditioning untouched."),
                io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.001),
                io.Float.Input("end_percent", default=1.0, min=0.0, max=1.0, step=0.001),
            ],
            outputs=[
                io.Conditioning.Output(display_name="positive"),
                io.Conditioning.Output(display_name="negative"),
            ],
        )

    @classmethod
    def execute(cls, positive, negative, controlnet, conditions, strength, start_percent,
                end_percent) -> io.NodeOutput:
        return io.NodeOutput(*attach_control(positive, negative, controlnet, conditions, strength, start_percent,
                                             end_percent))
