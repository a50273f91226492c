"""Schema options that only newer hosts understand, detected on the host's own classes instead of assumed.

The pack declares ComfyUI >= 0.8.0, whose V3 schema has neither search aliases (words the node search also
matches) nor per-input "advanced" (inputs the frontend folds away until asked). On such a host both are left out,
so /object_info is exactly what it was; a host whose classes take them gets them.
"""

from __future__ import annotations

import dataclasses
import inspect

from comfy_api.latest import io

# Every widget input class the pack marks advanced.
WIDGET_INPUTS = (io.Boolean.Input, io.Int.Input, io.Float.Input, io.String.Input, io.Combo.Input)


def takes_search_aliases(schema_class=io.Schema) -> bool:
    return any(field.name == "search_aliases" for field in dataclasses.fields(schema_class))


def takes_advanced(input_classes=WIDGET_INPUTS) -> bool:
    return all("advanced" in inspect.signature(input_class.__init__).parameters for input_class in input_classes)


SEARCH_ALIASES = takes_search_aliases()
# Spread into a widget input: `io.Int.Input("timestep", ..., **ADVANCED)`.
ADVANCED = {"advanced": True} if takes_advanced() else {}


def node_schema(*, search_aliases: list[str], **fields) -> io.Schema:
    """io.Schema(**fields), with the search aliases where the host lists them."""
    if SEARCH_ALIASES:
        fields["search_aliases"] = list(search_aliases)
    return io.Schema(**fields)
