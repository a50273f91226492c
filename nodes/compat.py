"""Schema options that only newer hosts understand, detected on the host's own classes instead of assumed.

The pack declares ComfyUI >= 0.8.0, whose V3 schema has neither search aliases (words the node search also
matches), nor per-input "advanced" (inputs the frontend folds away until asked), nor the CURVE type (a Curve
Editor node's output). On such a host all three are left out, so /object_info is exactly what it was; a host whose
classes take them gets them.
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


def host_curve_type(io_module=io):
    """The host's CURVE type (io.Curve), or None where it has none."""
    return getattr(io_module, "Curve", None)


CURVE = host_curve_type()


def curve_socket(input_id: str, tooltip: str) -> list:
    """An optional CURVE socket, as a list to spread into a schema's inputs: empty on a host without CURVE.

    A socket, not a widget: the frontend draws a CURVE input as a curve editor unless it is forced to a socket, and
    such a widget would add a value to the node's saved widgets_values (the CURVE comes from a Curve Editor node).
    io.Curve.Input takes no force_input argument; its widget base class writes the attribute as "forceInput".
    """
    if CURVE is None:
        return []
    curve_input = CURVE.Input(input_id, optional=True, tooltip=tooltip, socketless=False)
    curve_input.force_input = True
    return [curve_input]


def node_schema(*, search_aliases: list[str], **fields) -> io.Schema:
    """io.Schema(**fields), with the search aliases where the host lists them."""
    if SEARCH_ALIASES:
        fields["search_aliases"] = list(search_aliases)
    return io.Schema(**fields)
