"""The ComfyUI side of DragAnything: V3 nodes that turn the library into graph building blocks.

Imported by the pack's root `__init__.py`; never import this package as a top-level `nodes` (the host owns that
name). Host modules (comfy, folder_paths, comfy_api, server) are imported only when the host calls the entry point,
so importing the pack outside ComfyUI (pytest collects the project root as a package) needs no host.
"""


async def comfy_entrypoint():
    from . import editor_routes  # noqa: F401  (registers the trajectory editor's HTTP routes on the server)
    from .extension import DragAnythingExtension, register_model_folders

    # The host never calls ComfyExtension.on_load (0.8.0): folders are registered here, before any schema lists
    # their files.
    register_model_folders()
    return DragAnythingExtension()
