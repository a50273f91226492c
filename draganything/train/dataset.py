"""Training samples from a video segmentation data set on disk (VIPSeg layout), built with the library's code.

Layout (what :func:`draganything.train.synthetic.write_dataset` writes and what VIPSeg ships)::

    root/imgs/<video>/<frame>.{jpg,png}    frames, sorted by the integer in the file name
    root/panomasks/<video>/<frame>.png     panoptic ids per pixel: 8- or 16-bit single channel, or RGB with
                                           id = R + 256 G + 256^2 B (the COCO panoptic encoding); 0 is void
    root/<embeddings>/<video>.safetensors  optional: one pooled entity feature vector per id (key = str(id)),
                                           written by :func:`draganything.train.features.write_entity_embeddings`

A sample follows the official training data: the first ``num_frames`` frames, resized to the model size; the
entities are the ids of the first frame's mask; in every frame each entity's point is the centre of the largest
circle inscribed in *that frame's* mask (an entity missing from a frame is invisible there). Maps are built by
:mod:`draganything.gaussian` and :mod:`draganything.entity`, exactly as at inference. One deliberate difference
from the official loader: the radius (Gaussian ``side`` and disc radius) is the first-frame inscribed radius,
capped as at inference (:func:`draganything.entity.entity_sides`), where the official loader used each frame's
uncapped radius; at inference only the first frame's mask exists, so training on that radius matches what the
model will be given.

The entity map travels in its compact form (an index map plus an embedding table); the collate function merges
tables across the batch and :func:`dense_entity_maps` expands it on the device that trains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from safetensors.torch import load_file
from torch.utils.data import Dataset

from ..entity import (
    BACKGROUND,
    entity_index_maps,
    entity_maps,
    entity_sides,
    inscribed_circle,
    resize_mask,
)
from ..errors import DragAnythingError
from ..gaussian import gaussian_maps

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
VOID_ID = 0
# Where precomputed entity embeddings live under a data root (one safetensors file per video).
EMBEDDINGS_DIR = "entity_embeddings"
# Pixels per latent cell (the SVD VAE's downsampling).
LATENT_FACTOR = 8


def _frame_files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Files of a video folder sorted by the integer in their name (official: int(name.split('.')[0]))."""
    files = [path for path in folder.iterdir() if path.suffix.lower() in suffixes]
    numbered = []
    for path in files:
        digits = re.findall(r"\d+", path.stem)
        if not digits:
            raise DragAnythingError(str(path), "the frame file name holds no frame number",
                                    "Name frames by their index, e.g. 00000.jpg, 00001.jpg.")
        numbered.append((int(digits[-1]), path))
    return [path for _, path in sorted(numbered)]


def read_panoptic(path: Path) -> np.ndarray:
    """Panoptic ids (int64 [H, W]) from an 8/16-bit single-channel PNG or a COCO-style RGB-encoded PNG."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise DragAnythingError(str(path), "the panoptic mask could not be read as an image",
                                "Write panoptic masks as PNG files.")
    if raw.ndim == 2:
        return raw.astype(np.int64)
    if raw.ndim == 3 and raw.shape[2] in (3, 4):
        rgb = raw[..., 2::-1].astype(np.int64)  # cv2 reads BGR(A)
        return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]
    raise DragAnythingError(str(path), f"unexpected mask array of shape {raw.shape}",
                            "Use a single-channel id PNG or an RGB-encoded panoptic PNG.")


@dataclass
class SampleConditions:
    """Per-sample entity geometry (model pixels): points [N, F, 2], visible [N, F], sides [N], ids [N]."""

    points: np.ndarray
    visible: np.ndarray
    sides: np.ndarray
    ids: np.ndarray


def mask_tracks(panoptic: np.ndarray, ids, height: int, width: int) -> SampleConditions:
    """Per-frame inscribed-circle centres of each id's mask (official training tracks) and first-frame sides.

    ``panoptic``: int [F, H, W] at model resolution. An id absent from a frame is invisible there (its point is
    then carried over from the last frame where it was seen, so maps and overlays stay defined).
    """
    ids = np.asarray(ids, np.int64)
    num_frames = panoptic.shape[0]
    points = np.zeros((len(ids), num_frames, 2), np.float64)
    visible = np.zeros((len(ids), num_frames), bool)
    radii = np.zeros(len(ids))
    for row, entity in enumerate(ids):
        masks = panoptic == entity
        present = masks.reshape(num_frames, -1).any(axis=1)
        for frame in np.flatnonzero(present):
            circle = inscribed_circle(masks[frame])
            points[row, frame] = circle.x, circle.y
            if frame == 0:
                radii[row] = circle.radius
        visible[row] = present
        seen = np.flatnonzero(present)
        if seen.size:
            # carry the last seen point forward (and the first one backward) over frames without the entity
            fill = np.maximum.accumulate(np.where(present, np.arange(num_frames), -1))
            fill[fill < 0] = seen[0]
            points[row] = points[row, fill]
    return SampleConditions(points, visible, entity_sides(radii, height, width), ids)


class VideoSegmentationDataset(Dataset):
    """Videos with panoptic masks -> training samples for the base (frames) and the ControlNet (maps).

    Each item is a dict:
      ``frames`` uint8 [F, 3, H, W]; ``gaussian`` uint8/float32 [F, H, W] (0..255); ``entity_index`` int16
      [F, H, W] (row of ``embeddings`` or -1); ``embeddings`` float32 [N, D] (empty when the data set has no
      embeddings); ``points`` float32 [N, F, 2]; ``visible`` bool [N, F]; ``ids`` int64 [N]; ``first_panoptic``
      int32 [H, W] (the first frame's ids, for pooling entity features); ``video`` str.

    ``conditions=False`` skips the maps (base and VAE training only read frames). ``entity_keep_probability``
    drops entities at random (at least one stays) so the model learns to leave undragged content to itself;
    1.0 keeps every entity, as the official loader does.
    """

    def __init__(
        self,
        root: str | Path,
        num_frames: int,
        height: int,
        width: int,
        *,
        conditions: bool = True,
        embeddings_dir: str | None = EMBEDDINGS_DIR,
        gaussian_mode: str = "template",
        entity_keep_probability: float = 1.0,
        void_id: int | None = VOID_ID,
        videos: list[str] | None = None,
        seed: int = 0,
    ):
        self.root = Path(root)
        image_root, mask_root = self.root / "imgs", self.root / "panomasks"
        if not image_root.is_dir():
            raise DragAnythingError("data root", f"{self.root} has no imgs/ folder",
                                    "Point at a folder laid out as imgs/<video>/<frame> + panomasks/<video>/<frame>.")
        if conditions and not mask_root.is_dir():
            raise DragAnythingError("data root", f"{self.root} has no panomasks/ folder",
                                    "Conditioning maps come from panoptic masks; add panomasks/<video>/<frame>.png.")
        self.num_frames, self.height, self.width = num_frames, height, width
        self.conditions = conditions
        self.gaussian_mode = gaussian_mode
        self.entity_keep_probability = entity_keep_probability
        self.void_id = void_id
        self.seed = seed
        self.embeddings_root = self.root / embeddings_dir if (conditions and embeddings_dir) else None
        names = sorted(videos) if videos is not None else sorted(p.name for p in image_root.iterdir() if p.is_dir())
        self.videos: list[tuple[str, list[Path], list[Path]]] = []
        self.skipped: list[str] = []
        for name in names:
            images = _frame_files(image_root / name, IMAGE_SUFFIXES)[:num_frames]
            masks = _frame_files(mask_root / name, (".png",))[:num_frames] if conditions else []
            if len(images) < num_frames or (conditions and len(masks) < num_frames):
                self.skipped.append(name)
                continue
            self.videos.append((name, images, masks))
        if not self.videos:
            raise DragAnythingError("data root", f"no video in {self.root} has {num_frames} frames"
                                    + (" and masks" if conditions else ""),
                                    "Generate or add longer videos, or lower num_frames.")

    def __len__(self) -> int:
        return len(self.videos)

    def _read_frames(self, files: list[Path]) -> np.ndarray:
        frames = []
        for path in files:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise DragAnythingError(str(path), "the frame could not be read as an image",
                                        "Store frames as JPEG or PNG.")
            if image.shape[:2] != (self.height, self.width):
                image = cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_AREA)
            frames.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        return np.stack(frames)

    def _read_masks(self, files: list[Path]) -> np.ndarray:
        masks = []
        for path in files:
            ids = read_panoptic(path)
            if ids.shape != (self.height, self.width):
                # nearest neighbour: ids are labels, never blended
                ids = cv2.resize(ids.astype(np.float64), (self.width, self.height), interpolation=cv2.INTER_NEAREST)
            masks.append(ids.astype(np.int64))
        return np.stack(masks)

    def embeddings_for(self, video: str) -> dict[int, torch.Tensor]:
        """The video's pooled entity vectors by id, or {} when the data set has none for it."""
        if self.embeddings_root is None:
            return {}
        path = self.embeddings_root / f"{video}.safetensors"
        if not path.is_file():
            return {}
        return {int(key): value.float() for key, value in load_file(str(path)).items()}

    def entity_ids(self, first_panoptic: np.ndarray) -> np.ndarray:
        """The entities of a video: ids of its first frame's mask, less void and those too small to pool.

        As in the official loader, an entity whose first-frame mask vanishes on the latent grid is dropped (it
        would have no embedding).
        """
        ids = np.unique(first_panoptic)
        if self.void_id is not None:
            ids = ids[ids != self.void_id]
        grid_w, grid_h = self.width // LATENT_FACTOR, self.height // LATENT_FACTOR
        return np.array([entity for entity in ids
                         if resize_mask((first_panoptic == entity).astype(np.uint8), grid_w, grid_h).any()], np.int64)

    def first_frame(self, index: int) -> tuple[str, np.ndarray, np.ndarray]:
        """(video name, first frame uint8 [H, W, 3], first panoptic mask int64 [H, W]) at model size."""
        name, image_files, mask_files = self.videos[index]
        return name, self._read_frames(image_files[:1])[0], self._read_masks(mask_files[:1])[0]

    def __getitem__(self, index: int) -> dict:
        name, image_files, mask_files = self.videos[index]
        frames = self._read_frames(image_files)
        item = {"video": name, "frames": torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous()}
        if not self.conditions:
            return item
        panoptic = self._read_masks(mask_files)
        vectors = self.embeddings_for(name)
        ids = self.entity_ids(panoptic[0])
        if vectors:
            ids = np.array([entity for entity in ids if entity in vectors], np.int64)
        if self.entity_keep_probability < 1.0 and len(ids) > 1:
            rng = np.random.default_rng([self.seed, index, torch.initial_seed() % (2**32)])
            keep = rng.random(len(ids)) < self.entity_keep_probability
            keep[rng.integers(len(ids))] = True
            ids = ids[keep]
        geometry = mask_tracks(panoptic, ids, self.height, self.width)
        item["gaussian"] = torch.from_numpy(gaussian_maps(geometry.points, geometry.sides, self.height, self.width,
                                                          mode=self.gaussian_mode, visible=geometry.visible))
        item["entity_index"] = torch.from_numpy(entity_index_maps(geometry.points, geometry.sides, self.height,
                                                                  self.width, visible=geometry.visible))
        item["embeddings"] = (torch.stack([vectors[int(entity)] for entity in geometry.ids]) if vectors
                              else torch.zeros(len(geometry.ids), 0))
        item["points"] = torch.from_numpy(geometry.points.astype(np.float32))
        item["visible"] = torch.from_numpy(geometry.visible)
        item["ids"] = torch.from_numpy(geometry.ids)
        item["first_panoptic"] = torch.from_numpy(panoptic[0].astype(np.int32))
        return item


def collate(items: list[dict]) -> dict:
    """Stack frames and maps; concatenate the embedding tables and shift each sample's index map to its rows."""
    batch = {"video": [item["video"] for item in items],
             "frames": torch.stack([item["frames"] for item in items])}
    if "gaussian" not in items[0]:
        return batch
    batch["gaussian"] = torch.stack([item["gaussian"] for item in items])
    offsets = np.cumsum([0] + [len(item["ids"]) for item in items[:-1]])
    batch["entity_index"] = torch.stack([
        torch.where(item["entity_index"] == BACKGROUND, item["entity_index"], item["entity_index"] + int(offset))
        for item, offset in zip(items, offsets)])
    batch["embeddings"] = torch.cat([item["embeddings"] for item in items])
    batch["points"] = [item["points"] for item in items]
    batch["visible"] = [item["visible"] for item in items]
    batch["ids"] = [item["ids"] for item in items]
    batch["first_panoptic"] = torch.stack([item["first_panoptic"] for item in items])
    return batch


def dense_entity_maps(entity_index: torch.Tensor, embeddings: torch.Tensor, dtype=None) -> torch.Tensor:
    """[B, F, H, W] index maps + [N, D] table -> [B, F, D, H, W] entity maps on the table's device."""
    batch, frames = entity_index.shape[:2]
    dense = entity_maps(entity_index.flatten(0, 1), embeddings, dtype=dtype)
    return dense.reshape(batch, frames, *dense.shape[1:])
