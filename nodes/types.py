"""The pack's own socket types. Host types (IMAGE, MASK, TRACKS, CONDITIONING, ...) are reused as they are.

A distinct type for the loaded ControlNet keeps it out of the stock ControlNet apply nodes, which could only feed
it a three-channel image.
"""

from comfy_api.latest import io

DragControlNet = io.Custom("DRAGANYTHING_CONTROLNET")
DragTrajectories = io.Custom("DRAGANYTHING_TRAJECTORIES")
DragEmbeddings = io.Custom("DRAGANYTHING_EMBEDDINGS")
DragConditions = io.Custom("DRAGANYTHING_CONDITIONS")
DragSam = io.Custom("DRAGANYTHING_SAM")
