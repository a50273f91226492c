"""Schema options that only newer hosts understand, detected instead of assumed (the pack runs on 0.8.0)."""

from __future__ import annotations

import inspect

from comfy_api.latest import io


def _accepts(callable_, name: str) -> bool:
    return name in inspect.signature(callable_).parameters


# Per-input "advanced" (folded away in the frontend) and node search aliases arrived after 0.8.0.
ADVANCED = {"advanced": True} if _accepts(io.Int.Input.__init__, "advanced") else {}
SEARCH_ALIASES = _accepts(io.Schema.__init__, "search_aliases")


def schema(**fields) -> io.Schema:
    """io.Schema, dropping `search_aliases` on hosts that do not know it."""
    if not SEARCH_ALIASES:
        fields.pop("search_aliases", None)
    return io.Schema(**fields)
