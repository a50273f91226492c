"""Schema options that only newer hosts understand, detected instead of assumed (the pack runs on 0.8.0)."""

from __future__ import annotations

import inspect

from comfy_api.latest import io

# Per-input "advanced" (folded away by the frontend) arrived after 0.8.0.
ADVANCED = {"advanced": True} if "advanced" in inspect.signature(io.Int.Input.__init__).parameters else {}
