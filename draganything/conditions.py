"""Trajectories + first-frame masks + DIFT features -> the two tensors the DragAnything ControlNet consumes.

:func:`build_conditions` does, in order: resample every track to the video's frame count, map points and masks
to the model frame exactly as the first frame is mapped (:class:`draganything.framing.Framing`), apply the
off-frame policy, binarise the masks, take each entity's radius (inscribed circle of its mask at model
resolution, capped; or the entity's own radius), pool the features inside each mask, and build

- the 2D Gaussian map, float32 [F, 3, H, W] in 0..255 (:mod:`draganything.gaussian`), and
- the entity map, [F, D, H, W] (D = 160 for DIFT), kept in its compact form (index map + embedding table,
  :mod:`draganything.entity`) until :meth:`ConditionMaps.entity_map` gathers it on the consuming device.

The defaults reproduce the official demo's inputs (320x576, 20 frames, stretch framing, "index" resampling,
``==255`` mask binarisation, template Gaussians, side = min(r, 50)) except the entity map's values, which are
the full vectors the weights were trained with; ``entity_mode="official_demo"`` paints the demo's scalar.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from .entity import (
    EMBEDDING_MODES,
    binarize_mask,
    entity_embeddings,
    entity_index_maps,
    entity_maps,
    entity_sides,
    inscribed_circle,
    pool_features,
)
from .errors import DragAnythingError, check_choice, check_positive_int
from .framing import MODEL_HEIGHT, MODEL_WIDTH, Framing
from .gaussian import GAUSSIAN_MODES, controlnet_gaussian_input, gaussian_maps
from .trajectory import Trajectories

# The ComfyUI graph's defaults, which its editor previews with (build_conditions and the command line default to
# the official demo's stretch instead): the host's SVD conditioning node centre-crops the first frame, and paths
# drawn by hand are spread over the frames like the official drawing UI's.
GRAPH_FRAMING = "center_crop"
GRAPH_RESAMPLING = "pchip"

# A mask or feature map whose aspect ratio differs from the frame's by more than this (relative) is refused:
# placing it on the frame would be a guess.
ASPECT_TOLERANCE = 0.01


@dataclass
class ConditionMaps:
    """The ControlNet's inputs for one video, plus the geometry they were built from (for previews and tests).

    gaussian: float32 [F, 3, H, W], 0..255. entity_index: int16 [F, H, W], -1 background, else the entity's
    position. embeddings: [N, D] painted values (None when built without features). points: [N, F, 2] model
    pixels as used by the maps; visible: [N, F]; sides: [N] disc/box radii in model pixels; radii: [N] the
    inscribed radii of the masks at model resolution (before the cap); masks: bool [N, H, W], the binarised
    masks framed to the model; anchors: bool [N], the entities that hold still.
    """

    gaussian: torch.Tensor
    entity_index: torch.Tensor
    embeddings: torch.Tensor | None
    entity_mode: str
    points: np.ndarray
    visible: np.ndarray
    sides: np.ndarray
    radii: np.ndarray
    masks: np.ndarray
    anchors: np.ndarray

    @property
    def num_frames(self) -> int:
        return self.gaussian.shape[0]

    def entity_map(self, device=None, dtype=None, frames: slice | None = None) -> torch.Tensor:
        """The dense entity map [F, D, H, W] on ``device`` (default: the embeddings' device).

        In "official_demo" mode every channel holds the same scalar, so the map is gathered once and expanded
        over channels (a view; no D-fold copy). In "trained" mode it is a full gather (2.4 GB in fp32 at
        320x576x20): build it where it is consumed, and pass ``frames`` (a slice) to build one chunk of frames at
        a time.
        """
        if self.embeddings is None:
            raise DragAnythingError("features", "these conditions were built without entity features",
                                    "Pass the DIFT feature map of the first frame to build_conditions().")
        index = self.entity_index if frames is None else self.entity_index[frames]
        if self.entity_mode == "official_demo":
            scalar = entity_maps(index, self.embeddings[:, :1], device=device, dtype=dtype)
            return scalar.expand(-1, self.embeddings.shape[1], -1, -1)
        return entity_maps(index, self.embeddings, device=device, dtype=dtype)


def build_conditions(
    trajectories: Trajectories,
    masks,
    features: torch.Tensor | None = None,
    *,
    entity_vectors: torch.Tensor | None = None,
    height: int = MODEL_HEIGHT,
    width: int = MODEL_WIDTH,
    num_frames: int = 20,
    framing: str = "stretch",
    resample: str = "index",
    offframe: str = "invisible",
    entity_mode: str = "trained",
    gaussian_mode: str = "template",
    binarize: str = "official",
    threshold: float = 0.5,
    side_cap: int | None | str = "scaled",
    radius_overrides: Sequence[float | None] | None = None,
    source_size: tuple[int, int] | None = None,
) -> ConditionMaps:
    """Build the ControlNet inputs. Every bad input raises :class:`DragAnythingError`.

    trajectories: entities in compositing order, points in source pixels.
    masks: one first-frame mask per entity, in the same order, at the source size (a list of arrays, or an
        [N, h, w] array such as a host MASK batch); any dtype :func:`draganything.entity.binarize_mask` takes.
        A mask of the image's aspect ratio but another size is resized to it with a warning; one of another
        aspect ratio is refused (the mapping would be a guess).
    features: the DIFT map of the first frame at model resolution, [1, C, h, w] or [C, h, w], pooled inside
        each mask here.
    entity_vectors: instead of ``features``, one already pooled vector per entity, [N, C] (e.g. stand-ins for
        previews). With neither, everything but the embeddings is built.
    height, width, num_frames: the model's frame size and count.
    framing: "stretch" (official demo) or "center_crop" (the host's SVD node); see :class:`Framing`.
    resample: how tracks become ``num_frames`` points ("index", "pchip", "arc_length", "time").
    offframe: "invisible" (points outside the frame draw nothing in that frame) or "clip" (moved to the edge).
    entity_mode: "trained" (full vectors) or "official_demo" (the demo's scalar); see :mod:`entity`.
    gaussian_mode: "template" (official, bit-exact) or "analytic"; see :mod:`gaussian`.
    binarize, threshold: mask binarisation ("official" keeps exact 255s; "threshold" compares with threshold).
    side_cap: cap on mask-derived radii: "scaled" (50 px at a 320 short edge, scaled), an int, or None.
    radius_overrides: per entity, a radius in model pixels or None. Precedence: this, then the entity's own
        ``radius`` (source pixels, scaled by the framing), then the mask's inscribed radius (capped). Explicit
        radii are not capped (:func:`map_radii`, the rule every preview uses too).
    source_size: (width, height) of the source frame; defaults to the trajectories' stored size, else the
        first mask's size.
    """
    # Checked before any mask work, so a misspelt option fails at once.
    check_choice("entity_mode", entity_mode, EMBEDDING_MODES, "an entity map mode")
    check_choice("gaussian_mode", gaussian_mode, GAUSSIAN_MODES, "a Gaussian map mode")
    entities = list(trajectories)
    if not entities:
        raise DragAnythingError("trajectories", "there are no entities", "Add at least one entity with a track.")
    if features is not None and entity_vectors is not None:
        raise DragAnythingError("entity_vectors", "both a feature map and pooled entity vectors were given",
                                "Pass one of them: features (pooled here) or entity_vectors (already pooled).")
    if entity_vectors is not None and (entity_vectors.ndim != 2 or entity_vectors.shape[0] != len(entities)):
        raise DragAnythingError("entity_vectors", f"expected [{len(entities)}, C], got {tuple(entity_vectors.shape)}",
                                "Give one vector per entity, in the entities' order.")
    names = [entity.id for entity in entities]
    masks = _mask_list(masks, len(entities))
    src_w, src_h = _source_size(trajectories, masks, source_size)
    _check_frames(trajectories, num_frames, resample)

    to_model = Framing(src_w, src_h, width, height, framing)
    binary = [_source_mask(mask, name, src_w, src_h, binarize, threshold) for mask, name in zip(masks, names)]
    model_masks = [to_model.mask(mask).astype(np.uint8) for mask in binary]
    for mask, name in zip(model_masks, names):
        if not mask.any():
            raise DragAnythingError(
                f"mask of entity {name!r}",
                f"nothing of it is left in the {width}x{height} model frame after {framing} framing",
                "Select the entity inside the part of the image the video shows"
                + (", or use 'stretch' framing." if framing != "stretch" else "; a larger mask survives the resize."))
    radii = np.array([inscribed_circle(mask).radius for mask in model_masks])
    sides = map_radii(to_model, radii, [entity.radius for entity in entities], radius_overrides, cap=side_cap).sides
    points, visible = model_tracks(trajectories, to_model, num_frames, resample, offframe, gaussian_mode)
    maps = gaussian_maps(points, sides, height, width, mode=gaussian_mode, visible=visible)
    index = entity_index_maps(points, sides, height, width, visible=visible)

    embeddings = None
    if features is not None:
        _check_feature_grid(features, height, width)
        embeddings = entity_embeddings(pool_entity_features(features, binary, framing, names), entity_mode)
    elif entity_vectors is not None:
        embeddings = entity_embeddings(entity_vectors, entity_mode)

    return ConditionMaps(
        gaussian=controlnet_gaussian_input(maps),
        entity_index=torch.from_numpy(index),
        embeddings=embeddings,
        entity_mode=entity_mode,
        points=points,
        visible=visible,
        sides=sides,
        radii=radii,
        masks=np.stack(model_masks).astype(bool),
        anchors=np.array([entity.anchor for entity in entities], dtype=bool),
    )


class MapRadii(NamedTuple):
    """The radius each entity's Gaussian and disc get: ``sides`` int64 [N] in model pixels (what the maps use) and
    ``source`` float64 [N], the same radii in source pixels (for drawing them over the source frame)."""

    sides: np.ndarray
    source: np.ndarray


def map_radii(to_model: Framing, mask_radii: Sequence[float], radii: Sequence[float | None] | None = None,
              overrides: Sequence[float | None] | None = None, cap: int | None | str = "scaled") -> MapRadii:
    """The one rule for the radius the maps use, shared by :func:`build_conditions` and every preview.

    Per entity, the first that is given: ``overrides[k]`` (model pixels), ``radii[k]`` (the entity's own radius,
    source pixels, scaled by the framing), ``mask_radii[k]`` (the inscribed radius of its mask framed to the model,
    model pixels) capped by ``cap`` (see :func:`draganything.entity.entity_sides`). Explicit radii are not capped.
    Sides are whole model pixels, truncated as the official ``int()``.
    """
    model_radii = np.asarray(mask_radii, dtype=np.float64).reshape(-1)
    count = len(model_radii)
    for name, values in (("radius_overrides", overrides), ("radii", radii)):
        if values is not None and len(values) != count:
            raise DragAnythingError(name, f"{len(values)} values for {count} entities",
                                    "Give one radius (or None) per entity.")
    sides = entity_sides(model_radii, to_model.dst_h, to_model.dst_w, cap=cap)
    for k in range(count):
        override = overrides[k] if overrides is not None else None
        own = radii[k] if radii is not None else None
        explicit = override if override is not None else (to_model.radius(own) if own is not None else None)
        if explicit is not None:
            sides[k] = entity_sides([explicit], to_model.dst_h, to_model.dst_w, cap=None)[0]
    return MapRadii(sides, np.array([to_model.radius_to_source(side) for side in sides], dtype=np.float64))


def model_tracks(trajectories: Trajectories, to_model: Framing, num_frames: int, resample: str,
                 offframe: str = "invisible", gaussian_mode: str = "template") -> tuple[np.ndarray, np.ndarray]:
    """Every entity's points at the model frame, as the maps place them: points [N, F, 2], visible [N, F].

    Resampled to ``num_frames`` in source pixels, framed, off-frame policy applied; template Gaussians take the
    official integer positions.
    """
    source_points, source_visible = trajectories.resampled(num_frames, resample)
    return to_model.tracks(source_points, source_visible, offframe=offframe,
                           official_rounding=gaussian_mode == "template")


def pool_entity_features(features: torch.Tensor, masks, framing: str = "stretch",
                         names: Sequence[str] | None = None) -> torch.Tensor:
    """Mean of a first-frame feature map inside each entity's mask: [N, C].

    features: [C, h, w] or [1, C, h, w], computed from the first frame framed to the model. masks: binary
    [N, Hs, Ws] (or a list) at the source size. Each mask is framed onto the feature grid exactly as the frame was
    framed onto the model, then pooled (:func:`draganything.entity.pool_features`).
    """
    grid_h, grid_w = features.shape[-2:]
    source_h, source_w = np.asarray(masks[0]).shape[-2:]
    to_grid = Framing(source_w, source_h, grid_w, grid_h, framing)
    return pool_features(features, [to_grid.mask(mask).astype(np.uint8) for mask in masks], names)


def _mask_list(masks, count: int) -> list[np.ndarray]:
    if isinstance(masks, torch.Tensor):
        masks = masks.detach().cpu().numpy()
    if isinstance(masks, np.ndarray):
        if masks.ndim == 2:
            masks = masks[None]
        masks = list(masks)
    masks = [np.asarray(mask.detach().cpu() if isinstance(mask, torch.Tensor) else mask) for mask in masks]
    if len(masks) != count:
        raise DragAnythingError(
            "masks", f"{len(masks)} mask(s) for {count} entit{'y' if count == 1 else 'ies'}",
            "Give exactly one first-frame mask per entity, in the entities' order (several entities may share "
            "the same mask).")
    return masks


def _source_size(trajectories: Trajectories, masks: list[np.ndarray], source_size) -> tuple[int, int]:
    if source_size is not None:
        if not isinstance(source_size, Sequence) or isinstance(source_size, str) or len(source_size) != 2:
            raise DragAnythingError("source_size", f"{source_size!r} is not a (width, height) pair",
                                    "Pass the source frame's width and height in pixels, or leave it out.")
        width, height = (check_positive_int("source_size", value, "a size in pixels") for value in source_size)
        return width, height
    if trajectories.width is not None and trajectories.height is not None:
        return int(trajectories.width), int(trajectories.height)
    height, width = masks[0].shape[:2]
    return int(width), int(height)


def _check_frames(trajectories: Trajectories, num_frames: int, resample: str) -> None:
    if resample == "index" and trajectories.num_frames is not None and trajectories.num_frames != num_frames:
        raise DragAnythingError(
            "num_frames",
            f"the trajectories were made for {trajectories.num_frames} frames (one point per frame) but "
            f"{num_frames} were asked for",
            f"Ask for {trajectories.num_frames} frames, or use the 'arc_length', 'pchip' or 'time' resampling to "
            "spread the points over another frame count.")
    if resample == "time":
        for entity in trajectories:
            if entity.frames is not None and entity.frames.size and entity.frames.max() >= num_frames:
                raise DragAnythingError(
                    f"entity {entity.id!r}",
                    f"it has a point stamped at frame {int(entity.frames.max())} but the video has {num_frames} "
                    f"frames (0..{num_frames - 1})",
                    "Ask for more frames or move the point's frame stamp inside the video.")


def _source_mask(mask: np.ndarray, name: str, src_w: int, src_h: int, mode: str, threshold: float) -> np.ndarray:
    """Binarised {0, 1} mask at the source size (resized if only its scale differs)."""
    input_name = f"mask of entity {name!r}"
    binary = binarize_mask(mask, mode=mode, threshold=threshold, input_name=input_name)
    mask_h, mask_w = binary.shape
    if (mask_w, mask_h) != (src_w, src_h):
        if not _same_aspect(mask_w, mask_h, src_w, src_h):
            raise DragAnythingError(
                input_name,
                f"it is {mask_w}x{mask_h} but the image is {src_w}x{src_h}, another aspect ratio, so it cannot be "
                "placed on the image without guessing",
                "Use a mask made on this image (same width and height).")
        warnings.warn(f"{input_name} is {mask_w}x{mask_h}, the image {src_w}x{src_h}; resizing the mask to the "
                      "image (same aspect ratio).", stacklevel=3)
        binary = Framing(mask_w, mask_h, src_w, src_h, "stretch").mask(binary).astype(np.uint8)
    if not binary.any():
        raise DragAnythingError(
            input_name,
            "it is empty (no foreground pixel)" + (" with the official ==255 rule; soft or dark masks need the "
                                                   "threshold rule" if mode == "official" else ""),
            "Select the entity again, or use binarize='threshold' for masks that are not pure 0/255.")
    return binary


def _check_feature_grid(features: torch.Tensor, height: int, width: int) -> None:
    if features.ndim not in (3, 4) or (features.ndim == 4 and features.shape[0] != 1):
        raise DragAnythingError("features", f"expected [1, C, h, w] or [C, h, w], got {tuple(features.shape)}",
                                "Pass the DIFT feature map of the first frame.")
    grid_h, grid_w = features.shape[-2:]
    if not _same_aspect(grid_w, grid_h, width, height):
        raise DragAnythingError(
            "features",
            f"the feature map is {grid_w}x{grid_h}, not the {width}x{height} frame's aspect ratio",
            f"Extract the features from the first frame at the model size ({width}x{height} gives "
            f"{width // 8}x{height // 8}).")


def _same_aspect(width: int, height: int, frame_width: int, frame_height: int) -> bool:
    return abs(width / height - frame_width / frame_height) <= ASPECT_TOLERANCE * (frame_width / frame_height)
