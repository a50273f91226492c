"""ComfyUI entry point: registers the DragAnything nodes and the editor's web directory. Nothing else."""

from .nodes import comfy_entrypoint

WEB_DIRECTORY = "./web"

__all__ = ["comfy_entrypoint", "WEB_DIRECTORY"]
