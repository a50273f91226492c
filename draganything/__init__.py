"""DragAnything: entity-level motion control for Stable Video Diffusion.

The library owns every piece of math and every file format of the pack. It never imports the ComfyUI host.
"""

from .errors import DragAnythingError

__version__ = "0.1.0"

__all__ = ["DragAnythingError", "__version__"]
