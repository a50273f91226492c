"""The command line: `python -m draganything <command>` (also installed as `draganything`).

Commands:
  conditions  first frame + trajectories + masks -> previews of what the ControlNet is given: the trajectory
              overlay, the 2D Gaussian map (JET, as the official demo shows it) and the entity map.
  generate    the same inputs + model folders -> a video from the headless SVD pipeline.
  track       a video + first-frame entity masks (files, or clicks) -> the entities' trajectories (motion from
              a video).
  demo        the tiny trained model shipped with the package, on a CPU.
  evaluate    the tiny model's ObjMC table.

Exit status: 0 success; 1 bad input (one paragraph on stderr naming the input, the problem and the fix); 2 bad
command line (argparse); 70 an unexpected internal error (rerun with --debug for the traceback); 130 interrupted.

Startup stays fast: torch, diffusers and the library's heavy modules are imported inside the commands.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import DragAnythingError
from .framing import FRAMING_MODES, MODEL_FRAMES, MODEL_HEIGHT, MODEL_WIDTH
from .trajectory import RESAMPLE_CHOICES, resolve_resample_mode
from .trajectory.easing import EASING_PRESETS

if TYPE_CHECKING:  # imported for real inside the commands, to keep startup fast
    import numpy as np

    from .conditions import ConditionMaps
    from .trajectory import Trajectories

EXIT_OK = 0
EXIT_BAD_INPUT = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

# Frame count when the trajectory file does not state one: the released SVD img2vid model's (and the official
# gradio UI's) 14; an official demo folder gets demo.py's 20.
DEFAULT_FRAMES = MODEL_FRAMES
OFFICIAL_DEMO_FRAMES = 20
MASK_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
# Stand-in entity vectors when no DIFT model is given: seeded random unit vectors, one per entity.
STAND_IN_SEED = 0
STAND_IN_CHANNELS = 320


# ------------------------------------------------------------------------------------------------ parsing


def _size(text: str) -> tuple[int, int]:
    """'576x320' -> (576, 320)."""
    parts = text.lower().replace("*", "x").split("x")
    if len(parts) != 2 or not all(part.strip().isdigit() and int(part) > 0 for part in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 576x320 (width x height in pixels)")
    return int(parts[0]), int(parts[1])


def _pair(text: str) -> tuple[float, float]:
    """'112,236' -> (112.0, 236.0): a point or an offset in pixels."""
    parts = text.split(",")
    try:
        x, y = (float(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not two numbers x,y like 112,236") from None
    if not all(map(math.isfinite, (x, y))):
        raise argparse.ArgumentTypeError(f"{text!r} is not two finite numbers x,y like 112,236")
    return x, y


def _positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _add_input_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_argument_group("input (one of --example, --demo-folder, --image)")
    choice = source.add_mutually_exclusive_group(required=True)
    choice.add_argument("--example", action="store_true",
                        help="use the example scene shipped with the package (a car, a balloon, the road held still)")
    choice.add_argument("--demo-folder", type=Path, metavar="DIR",
                        help="an official DragAnything demo folder (demo.jpg, demo.json, the masks it names)")
    choice.add_argument("--image", type=Path, metavar="PATH", help="the first frame (PNG, JPEG, ...)")
    source.add_argument("--trajectories", type=Path, metavar="PATH",
                        help="trajectory file in any supported format (the pack's JSON, official demo.json, KJNodes "
                             "coordinates, nested [x, y] lists, VIPSeg files); required with --image")
    source.add_argument("--masks", type=Path, nargs="+", metavar="PATH",
                        help="first-frame masks, one per entity in the trajectories' order, or one folder; default: "
                             "the mask files the trajectories name, next to the trajectory file or the image")
    source.add_argument("--click", type=_pair, action="append", metavar="X,Y",
                        help="instead of --masks: make an entity's mask from a click on it (pixels of the first "
                             "frame); give one per entity, in the trajectories' order")
    source.add_argument("--sam", type=Path, metavar="PATH",
                        help="segment-anything checkpoint (sam_vit_h_4b8939.pth, sam_vit_l_0b3195.pth or "
                             "sam_vit_b_01ec64.pth) for the --click masks; without it OpenCV GrabCut makes them")
    source.add_argument("--width", type=_positive_int,
                        help="width of the frame the points were drawn on, for formats that do not store it "
                             "(default: the image's)")
    source.add_argument("--height", type=_positive_int, help="height of that frame (default: the image's)")

    camera = parser.add_argument_group(
        "camera move (turns every held entity into its path under the move; see docs/trajectory-format.md)")
    camera.add_argument("--zoom", type=float, default=1.0, metavar="FACTOR",
                        help="size of the held things at the end: above 1 zooms in (default: 1, no zoom)")
    camera.add_argument("--orbit", type=float, default=0.0, metavar="DEGREES",
                        help="degrees the held things turn about the centre by the end, clockwise on screen "
                             "(default: 0)")
    camera.add_argument("--pan", type=_pair, default=(0.0, 0.0), metavar="DX,DY",
                        help="pixels the held things travel on screen by the end (default: 0,0)")
    camera.add_argument("--camera-centre", type=_pair, metavar="X,Y",
                        help="centre of the zoom and orbit in source pixels (default: the frame's centre)")
    camera.add_argument("--camera-easing", choices=EASING_PRESETS,
                        help="pace of the move (default: each held entity's own easing, else linear)")

    maps = parser.add_argument_group("conditioning")
    maps.add_argument("--size", type=_size, default=(MODEL_WIDTH, MODEL_HEIGHT), metavar="WxH",
                      help=f"model resolution, width x height (default: {MODEL_WIDTH}x{MODEL_HEIGHT})")
    maps.add_argument("--frames", type=_positive_int,
                      help=f"frame count (default: the trajectory file's, else {DEFAULT_FRAMES}; "
                           f"{OFFICIAL_DEMO_FRAMES} for --demo-folder)")
    maps.add_argument("--framing", choices=FRAMING_MODES, default="stretch",
                      help="how the first frame becomes the model frame: stretch (the official demo) or "
                           "center_crop (ComfyUI's SVD conditioning node); points and masks follow (default: stretch)")
    maps.add_argument("--resample", choices=RESAMPLE_CHOICES, default="auto",
                      help="how tracks become one point per frame: index (point k drives frame k, official demo), "
                           "pchip (official gradio), arc_length (constant speed), time (per-point frame stamps); "
                           "auto: time for time-stamped tracks that fit the video, index for one point per frame, "
                           "else arc_length")
    maps.add_argument("--offframe", choices=("invisible", "clip"), default="invisible",
                      help="points outside the frame draw nothing (invisible) or are moved to its edge (clip)")
    maps.add_argument("--gaussian-mode", choices=("template", "analytic"), default="template",
                      help="template: the official maps, bit for bit (default); analytic: exact Gaussians, max "
                           "compositing (outside what the released weights saw)")
    maps.add_argument("--entity-mode", choices=("trained", "official_demo"), default="trained",
                      help="trained: full embeddings as in training (default); official_demo: the demo's scalar")
    maps.add_argument("--binarize", choices=("official", "threshold"), default="official",
                      help="mask rule: official keeps pixels equal to 255; threshold compares with --threshold")
    maps.add_argument("--threshold", type=float, default=0.5, help="mask threshold in 0..1 (with --binarize threshold)")

    features = parser.add_argument_group("entity features")
    features.add_argument("--dift", type=Path, metavar="DIR",
                          help="SD-1.5-architecture diffusers folder (unet/, vae/, text_encoder/, tokenizer/) for the "
                               "entity embeddings (officially ChilloutMix)")
    features.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    features.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    features.add_argument("--dtype", choices=("float32", "float16", "bfloat16"), default="float32",
                          help="model precision (default: float32)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m draganything",
        description="DragAnything: drag any entity of a first frame along a path with Stable Video Diffusion.",
        epilog="Exit status: 0 ok, 1 bad input, 2 bad command line, 70 internal error (rerun with --debug).",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of unexpected errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    conditions = commands.add_parser(
        "conditions", help="preview the conditioning maps and the trajectories (no model needed)",
        description="Build the ControlNet's inputs from a first frame, trajectories and masks and write previews: "
                    "conditions.gif ([trajectory overlay | Gaussian map | entity map], per frame), conditions.png "
                    "(a strip of five frames of each), overlay.gif and conditions.npz (the maps themselves). "
                    "Without --dift the entity map uses a "
                    "stand-in vector per entity (distinct random unit vectors): its colours tell entities apart "
                    "but are not DIFT features.",
    )
    _add_input_arguments(conditions)
    conditions.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (created)")
    conditions.add_argument("--mp4", action="store_true", help="also write MP4 files next to the GIFs")
    conditions.set_defaults(run=run_conditions)

    generate = commands.add_parser(
        "generate", help="make a video with the headless SVD pipeline (needs the model folders)",
        description="Run Stable Video Diffusion with the DragAnything ControlNet. Writes video.gif, "
                    "side_by_side.gif ([official-style trajectory map | video]) and tracks.gif (the tracks over "
                    "the video).",
    )
    _add_input_arguments(generate)
    models = generate.add_argument_group("models")
    models.add_argument("--svd", type=Path, required=True, metavar="DIR",
                        help="Stable Video Diffusion img2vid in diffusers layout (model_index.json, unet/, vae/, "
                             "image_encoder/, scheduler/)")
    models.add_argument("--controlnet", type=Path, required=True, metavar="PATH",
                        help="DragAnything ControlNet: a diffusers folder (config.json + "
                             "diffusion_pytorch_model.safetensors) or a single .safetensors file")
    sampling = generate.add_argument_group("sampling")
    sampling.add_argument("--steps", type=_positive_int, default=25, help="denoising steps (default: 25)")
    sampling.add_argument("--preset", choices=("default", "official"), default="default",
                          help="official reproduces the official pipeline's choices (fixed time ids, un-normalised "
                               "CLIP input, old temporal context layout); default fixes those defects")
    sampling.add_argument("--guidance", type=float, nargs=2, default=(1.0, 3.0), metavar=("MIN", "MAX"),
                          help="classifier-free guidance rising linearly from the first to the last frame "
                               "(default: 1 3)")
    sampling.add_argument("--strength", type=float, default=1.0, help="ControlNet conditioning scale (default: 1)")
    sampling.add_argument("--fps", type=_positive_int, default=7,
                          help="frame rate SVD is conditioned on (default preset only; default: 7)")
    sampling.add_argument("--motion-bucket", type=int, default=127,
                          help="SVD motion bucket id (default preset only; default: 127)")
    sampling.add_argument("--noise-aug", type=float, default=0.02,
                          help="noise augmentation of the first frame (default: 0.02)")
    sampling.add_argument("--decode-chunk", type=_positive_int, default=8,
                          help="frames the VAE decodes together (default: 8, as the official pipeline)")
    generate.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (created)")
    generate.add_argument("--mp4", action="store_true", help="also write MP4 files next to the GIFs")
    generate.set_defaults(run=run_generate)

    track = commands.add_parser(
        "track", help="take each entity's motion from a video (no model needed)",
        description="Follow every entity of a video from its first-frame mask (OpenCV Lucas-Kanade on points "
                    "inside the mask, robust to outliers) and write its trajectory: trajectories.json (the pack's "
                    "JSON, one point per frame, with visibility, scale and rotation), tracks.npz (the host's "
                    "TRACKS layout: track_path [F, N, 2], track_visibility [F, N]) and tracks.gif (the video with "
                    "the tracks drawn). The masks come from files (--masks, or those the --entities file names) or "
                    "from one --click per entity on the video's first frame (segment-anything with --sam, else "
                    "OpenCV GrabCut). --size-of or --size scales the result to another first frame.",
    )
    track.add_argument("--video", type=Path, required=True, metavar="PATH",
                       help="the video: a folder of frames (taken in natural name order), a GIF or an MP4")
    track.add_argument("--masks", type=Path, nargs="+", metavar="PATH",
                       help="one first-frame mask per entity (PNG/JPEG, white on black), or one folder of them "
                            "(file-name order); default: the mask files the --entities file names")
    track.add_argument("--click", type=_pair, action="append", metavar="X,Y",
                       help="instead of --masks: make an entity's mask from a click on it (pixels of the video's "
                            "first frame). Without --entities each click is one entity (ids 1, 2, ...), tracked "
                            "from its mask's centre; with --entities give one per entity, in the file's order")
    track.add_argument("--sam", type=Path, metavar="PATH",
                       help="segment-anything checkpoint (sam_vit_h_4b8939.pth, sam_vit_l_0b3195.pth or "
                            "sam_vit_b_01ec64.pth) for the --click masks; without it OpenCV GrabCut makes them")
    track.add_argument("--device", default="cpu", help="torch device --sam runs on, e.g. cpu or cuda (default: cpu)")
    track.add_argument("--entities", type=Path, metavar="PATH",
                       help="the entities as selected on the video's first frame (any trajectory format, e.g. the "
                            "editor's JSON): their ids, labels and clicks (or those of --click) carry over and each "
                            "is tracked from its first point")
    track.add_argument("--frames", type=_positive_int, help="frames to track from the start (default: all)")
    target = track.add_mutually_exclusive_group()
    target.add_argument("--size-of", type=Path, metavar="IMAGE",
                        help="scale the result to this first frame's size (to drive another picture of the scene)")
    target.add_argument("--size", type=_size, metavar="WxH", help="scale the result to this frame size")
    track.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (created)")
    track.add_argument("--mp4", action="store_true", help="also write tracks.mp4")
    track.set_defaults(run=run_track)

    demo = commands.add_parser(
        "demo", help="run the tiny trained model shipped with the package (CPU)",
        description="Drag the sprites of a held-out synthetic scene with the tiny model shipped with the package "
                    "and write a GIF: [first frame with the paths | generated video with the paths].",
    )
    demo.add_argument("--out", type=Path, default=Path("out/demo.gif"), metavar="PATH",
                      help="output GIF (default: out/demo.gif)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument("--steps", type=_positive_int, help="denoising steps (default: the model's)")
    demo.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    demo.set_defaults(run=run_demo)

    evaluate = commands.add_parser(
        "evaluate", help="ObjMC table of the tiny model against its baselines",
        description="Generate the held-out synthetic test videos with the tiny model (full control, and the "
                    "baselines) and print the ObjMC / mask-IoU table; the folder receives table.md, table.json "
                    "and one GIF per video and setting.",
    )
    evaluate.add_argument("--out", type=Path, default=Path("out/evaluate"), metavar="DIR",
                          help="output folder (default: out/evaluate)")
    evaluate.add_argument("--videos", type=_positive_int, default=8, help="test videos (default: 8)")
    evaluate.add_argument("--steps", type=_positive_int, help="denoising steps (default: the model's)")
    evaluate.add_argument("--gaussian-only-controlnet", type=Path, metavar="PATH",
                          help="the ablation ControlNet trained without entity maps, to add its row")
    evaluate.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    evaluate.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    evaluate.set_defaults(run=run_evaluate)
    return parser


# ------------------------------------------------------------------------------------------------ inputs


@dataclass
class Inputs:
    """What the user pointed at, loaded: the first frame, its trajectories and one mask per entity."""

    image: np.ndarray  # uint8 [H, W, 3] at the source size
    trajectories: Trajectories
    masks: list[np.ndarray]  # one per entity, as read from its file or segmented from its click
    mask_notes: list[str]  # where each mask came from
    num_frames: int
    resample: str


def _read_image(path: Path, input_name: str):
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise DragAnythingError(input_name, f"there is no file at {str(path)!r}", "Check the path")
    try:
        with Image.open(path) as image:
            return np.array(image.convert("RGB"))  # a writable copy: torch refuses to wrap read-only memory
    except (UnidentifiedImageError, OSError) as error:
        raise DragAnythingError(input_name, f"{str(path)!r} is not a readable image ({error})",
                                "Pass a PNG or JPEG first frame") from None


def _named_mask(entity, folders: list[Path]) -> Path:
    for folder in folders:
        if (folder / entity.mask_name).is_file():
            return folder / entity.mask_name
    where = " or ".join(repr(str(folder)) for folder in folders)
    raise DragAnythingError(
        f"mask of entity {entity.id!r}",
        f"its file {entity.mask_name!r} is not in {where}",
        "Put the mask next to the trajectory file, or pass --masks with one file per entity (or their folder)",
    )


def _mask_paths(masks: list[Path] | None, trajectories, folders: list[Path], image_path: Path) -> list[Path]:
    entities = list(trajectories)
    ids = ", ".join(entity.id for entity in entities)
    named = all(entity.mask_name for entity in entities)
    if masks and len(masks) == 1 and masks[0].is_dir():
        if named:
            return [_named_mask(entity, [masks[0]]) for entity in entities]
        files = sorted(path for path in masks[0].iterdir()
                       if path.suffix.lower() in MASK_SUFFIXES and path.resolve() != image_path.resolve())
        if len(files) != len(entities):
            raise DragAnythingError(
                "--masks", f"the folder {str(masks[0])!r} holds {len(files)} mask image(s) for {len(entities)} "
                f"entities ({ids}), and the trajectories do not name their masks",
                "Put exactly one mask per entity in the folder (taken in file-name order; the first frame itself "
                "is skipped), or list the files",
            )
        return files
    if masks:
        if len(masks) != len(entities):
            raise DragAnythingError(
                "--masks", f"{len(masks)} mask file(s) for {len(entities)} entities ({ids})",
                "Give one mask per entity, in the trajectories' order (a file may be repeated for entities that "
                "share a mask)",
            )
        for path in masks:
            if not path.is_file():
                raise DragAnythingError("--masks", f"there is no file at {str(path)!r}", "Check the path")
        return list(masks)
    if not named:
        raise DragAnythingError(
            "--masks", f"no masks were given and the trajectories do not name mask files for every entity ({ids})",
            "Pass --masks with one first-frame mask per entity, in that order, or a folder of them",
        )
    return [_named_mask(entity, folders) for entity in entities]


def load_inputs(args: argparse.Namespace) -> Inputs:
    """Resolve --example / --demo-folder / --image + --trajectories + --masks into loaded inputs."""
    from .entity import read_mask
    from .trajectory import load_official_demo, load_trajectories

    default_frames = DEFAULT_FRAMES
    source = "--example" if args.example else "--demo-folder" if args.demo_folder is not None else None
    if source is not None:  # these inputs carry their own frame size (and, for --example, trajectories)
        for flag, value in (("--trajectories", args.trajectories if args.example else None),
                            ("--width", args.width), ("--height", args.height)):
            if value is not None:
                raise DragAnythingError(flag, f"it does not go with {source}", f"Drop {flag}, or use --image")
    if args.example:
        from .assets import EXAMPLE_DIR, EXAMPLE_IMAGE, EXAMPLE_TRAJECTORIES

        image_path, trajectories, folders = EXAMPLE_IMAGE, load_trajectories(EXAMPLE_TRAJECTORIES), [EXAMPLE_DIR]
        image = _read_image(image_path, "example image")
    elif args.demo_folder is not None:
        folder = args.demo_folder
        if not folder.is_dir():
            raise DragAnythingError("--demo-folder", f"{str(folder)!r} is not a folder",
                                    "Pass an official demo folder holding demo.jpg, demo.json and its masks")
        # --trajectories picks another file of the same case (demo1.json, ...), by path or by name in the folder.
        chosen = args.trajectories
        if chosen is not None and not chosen.exists():
            chosen = folder / chosen
        trajectories, image_path = load_official_demo(chosen if chosen is not None else folder)
        folders, default_frames = [image_path.parent], OFFICIAL_DEMO_FRAMES
        image = _read_image(image_path, "demo image")
    else:
        if args.trajectories is None:
            raise DragAnythingError("--trajectories", "it is missing",
                                    "Give the trajectory file that goes with --image")
        image_path = args.image
        image = _read_image(image_path, "--image")
        trajectories = load_trajectories(args.trajectories, width=args.width or image.shape[1],
                                         height=args.height or image.shape[0])
        folders = list(dict.fromkeys([args.trajectories.parent, args.image.parent]))

    _check_aspect(trajectories, image)
    clicked = _click_masks(args, image, trajectories, "the trajectories'")
    if clicked is not None:
        _, masks, mask_notes = clicked
    else:
        mask_paths = _mask_paths(args.masks, trajectories, folders, image_path)
        masks, mask_notes = [read_mask(path) for path in mask_paths], [f"mask {path.name}" for path in mask_paths]
    num_frames = args.frames or trajectories.num_frames or default_frames
    trajectories = _with_camera_move(trajectories, args, num_frames, image)
    resample = resolve_resample_mode(trajectories, num_frames, args.resample)
    return Inputs(image, trajectories, masks, mask_notes, num_frames, resample)


def _click_masks(args: argparse.Namespace, image, trajectories, order: str):
    """The --click masks of every command: one per entity, segmented on the first frame (uint8 [H, W, 3]) from its
    click, by SAM with --sam, else by GrabCut. Returns (the entities with their click as their selection, the
    masks, a note per mask saying how it was made), or None when no --click was given. `order` names the list
    the clicks follow, for the messages ("the trajectories'")."""
    from dataclasses import replace

    from .segmentation import load_sam, segment_entities
    from .trajectory import Click

    if not args.click:
        if args.sam is not None:
            raise DragAnythingError("--sam", "it segments the --click masks, and no --click was given",
                                    "Give one --click X,Y per entity, or drop --sam")
        return None
    entities = list(trajectories)
    if args.masks:
        raise DragAnythingError("--click", "it does not go with --masks", "Give masks as files or as clicks")
    if len(args.click) != len(entities):
        raise DragAnythingError(
            "--click", f"{len(args.click)} click(s) for {len(entities)} entities "
            f"({', '.join(entity.id for entity in entities)})",
            f"Give one --click X,Y per entity, on the entity, in {order} order")
    height, width = image.shape[:2]
    for x, y in args.click:
        if not (0 <= x < width and 0 <= y < height):
            raise DragAnythingError("--click", f"({x:g}, {y:g}) lies outside the {width}x{height} first frame",
                                    "Click on the entity, in pixels of the first frame")
    clicked = replace(trajectories, entities=[replace(entity, clicks=[Click(x, y)], box=None)
                                              for entity, (x, y) in zip(entities, args.click)])
    sam = None if args.sam is None else load_sam(args.sam, "--sam")
    masks, _ = segment_entities(image, clicked, sam, _device(args.device) if sam is not None else "cpu")
    method = "GrabCut" if sam is None else f"SAM {sam.architecture}"
    for mask, (x, y) in zip(masks, args.click):
        # GrabCut always keeps the pixels around the click; SAM may find nothing there.
        if not mask.any():
            raise DragAnythingError("--click", f"{method} found no entity at ({x:g}, {y:g}): the mask is empty",
                                    "Click inside the entity, away from its edge, or give its mask with --masks")
    return clicked, list(masks), [f"mask from the click ({x:g}, {y:g}) by {method}" for x, y in args.click]


def _with_camera_move(trajectories, args: argparse.Namespace, num_frames: int, image):
    """The trajectories with --zoom/--orbit/--pan applied to their held entities (unchanged without them)."""
    from dataclasses import replace

    from .trajectory import CameraMove, apply_camera_move

    move = CameraMove(zoom=args.zoom, orbit=args.orbit, pan=args.pan, centre=args.camera_centre)
    if move.still:
        return trajectories
    if trajectories.width is None or trajectories.height is None:
        trajectories = replace(trajectories, width=image.shape[1], height=image.shape[0])
    return apply_camera_move(trajectories, move, num_frames, easing=args.camera_easing)


def _check_aspect(trajectories, image) -> None:
    """The points' frame must be the image, up to scale: anything else would place them by guesswork."""
    height, width = image.shape[:2]
    if trajectories.width is None or trajectories.height is None:
        return
    if abs(trajectories.width / trajectories.height - width / height) > 0.01 * width / height:
        raise DragAnythingError(
            "trajectories",
            f"the points are in a {trajectories.width}x{trajectories.height} frame but the image is "
            f"{width}x{height}, another aspect ratio",
            "Pass --width/--height of the frame the points were drawn on, or the image they were drawn on",
        )


# ------------------------------------------------------------------------------------------------ models


def _torch_dtype(name: str):
    import torch

    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]


def _device(name: str):
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise DragAnythingError("--device", f"{name!r} is not a torch device", "Use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DragAnythingError("--device", "CUDA was asked for but no CUDA device is available",
                                "Use --device cpu, or run on a machine with a GPU")
    return device


def _load_dift(folder: Path, device, dtype):
    """The DIFT feature extractor from an SD-1.5-architecture diffusers folder."""
    expected = ("unet", "vae", "text_encoder", "tokenizer")
    if not folder.is_dir():
        raise DragAnythingError("--dift", f"{str(folder)!r} is not a folder",
                                "Pass an SD-1.5 diffusers folder (with unet/, vae/, text_encoder/, tokenizer/)")
    missing = [name for name in expected if not (folder / name).is_dir()]
    if missing:
        raise DragAnythingError("--dift", f"{str(folder)!r} has no {', '.join(name + '/' for name in missing)}",
                                "Pass an SD-1.5 diffusers folder (with unet/, vae/, text_encoder/, tokenizer/)")
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    from .features import DiffusersFeatureExtractor

    try:
        unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", torch_dtype=dtype)
        vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", torch_dtype=dtype)
        text_encoder = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder", torch_dtype=dtype)
        tokenizer = CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer")
    except (OSError, ValueError) as error:
        raise DragAnythingError("--dift", f"the model in {str(folder)!r} could not be loaded ({error})",
                                "Check that it is a complete SD-1.5 diffusers folder") from None
    return DiffusersFeatureExtractor(unet.to(device).eval(), vae.to(device).eval(), text_encoder.to(device).eval(),
                                     tokenizer)


def stand_in_vectors(count: int):
    """One distinct vector per entity for previews without a DIFT model: seeded random unit vectors [N, 320], in
    place of the pooled features (the entity mode turns them into painted values as it does real ones)."""
    import torch

    vectors = torch.randn(count, STAND_IN_CHANNELS, generator=torch.Generator().manual_seed(STAND_IN_SEED))
    return vectors / vectors.norm(dim=1, keepdim=True)


# ------------------------------------------------------------------------------------------------ commands


@dataclass
class Prepared:
    inputs: Inputs
    conditions: ConditionMaps
    first_frame: np.ndarray  # uint8 [H, W, 3] at model size
    stand_in: bool  # the entity vectors are stand-ins, not DIFT features


def prepare(args: argparse.Namespace) -> Prepared:
    """Load the inputs and build the conditions (with DIFT features when --dift is given, else stand-ins)."""
    import torch

    from .conditions import build_conditions
    from .framing import Framing

    inputs = load_inputs(args)
    width, height = args.size
    image_h, image_w = inputs.image.shape[:2]
    first_frame = Framing(image_w, image_h, width, height, args.framing).image(inputs.image)

    features = entity_vectors = None
    if args.dift is not None:
        from .features import image_to_vae_input

        device, dtype = _device(args.device), _torch_dtype(args.dtype)
        extractor = _load_dift(args.dift, device, dtype)
        generator = torch.Generator(device=device).manual_seed(args.seed)
        features = extractor(image_to_vae_input(first_frame), generator).float().cpu()
    else:
        entity_vectors = stand_in_vectors(len(inputs.trajectories))

    trajectories = inputs.trajectories
    conditions = build_conditions(
        trajectories, inputs.masks, features, entity_vectors=entity_vectors, height=height, width=width,
        num_frames=inputs.num_frames, framing=args.framing, resample=inputs.resample, offframe=args.offframe,
        entity_mode=args.entity_mode, gaussian_mode=args.gaussian_mode, binarize=args.binarize,
        threshold=args.threshold, source_size=(trajectories.width or image_w, trajectories.height or image_h),
    )
    return Prepared(inputs, conditions, first_frame, stand_in=features is None)


def _describe(prepared: Prepared, args: argparse.Namespace) -> list[str]:
    inputs, conditions = prepared.inputs, prepared.conditions
    width, height = args.size
    lines = [f"{len(inputs.trajectories)} entities, {conditions.num_frames} frames at {width}x{height}, "
             f"{args.framing} framing, {inputs.resample} resampling, {args.gaussian_mode} Gaussians, "
             f"{args.entity_mode} entity map"]
    for entity, side, note in zip(inputs.trajectories, conditions.sides, inputs.mask_notes, strict=True):
        kind = "anchor (holds still)" if entity.anchor else f"{len(entity.points)} point(s)"
        label = f" {entity.label!r}" if entity.label and entity.label != entity.id else ""
        lines.append(f"  {entity.id}{label}: {kind}, radius {int(side)} px, {note}")
    return lines


def run_conditions(args: argparse.Namespace) -> int:
    from . import viz

    args.out.mkdir(parents=True, exist_ok=True)  # fail on an unusable --out before the work
    prepared = prepare(args)
    conditions = prepared.conditions
    overlay = viz.draw_tracks(prepared.first_frame, conditions.points, masks=conditions.masks,
                              anchors=conditions.anchors, visible=conditions.visible)
    gaussian = viz.gaussian_heatmap(conditions.gaussian)
    entity = viz.entity_index_preview(conditions.entity_index, conditions.embeddings)
    panels = viz.side_by_side(overlay, gaussian, entity, gap=4)

    written = [viz.write_gif(args.out / "conditions.gif", panels), viz.write_gif(args.out / "overlay.gif", overlay)]
    if args.mp4:
        written += [viz.write_mp4(args.out / "conditions.mp4", panels),
                    viz.write_mp4(args.out / "overlay.mp4", overlay)]
    rows = [viz.filmstrip(frames) for frames in (overlay, gaussian, entity)]
    written.append(viz.write_png(args.out / "conditions.png", _stack_rows(rows)))
    written.append(save_conditions(args.out / "conditions.npz", prepared))

    for line in _describe(prepared, args):
        print(line)
    if prepared.stand_in:
        print("note: no --dift model was given, so the entity map preview paints a stand-in vector per entity "
              "(distinct random unit vectors): its colours tell entities apart but are not DIFT features.")
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


def save_conditions(path: Path, prepared: Prepared) -> Path:
    """The maps in compact form, for inspection or other tools (numpy .npz, compressed):

    gaussian [F, H, W] (uint8 for template maps, float32 0..255 for analytic ones), entity_index int16 [F, H, W]
    (-1 background, else the entity's row), embeddings float32 [N, D] (stand_in True when they are the stand-in
    vectors), points float64 [N, F, 2] and visible bool [N, F] in model pixels, sides int64 [N], entity_ids [N].
    """
    import numpy as np

    conditions = prepared.conditions
    gaussian = conditions.gaussian[:, 0].numpy()
    if np.array_equal(gaussian, np.round(gaussian)):
        gaussian = gaussian.astype(np.uint8)
    np.savez_compressed(
        path, gaussian=gaussian, entity_index=conditions.entity_index.numpy(),
        embeddings=conditions.embeddings.float().numpy(), stand_in=np.bool_(prepared.stand_in),
        points=conditions.points, visible=conditions.visible, sides=conditions.sides,
        entity_ids=np.array([entity.id for entity in prepared.inputs.trajectories]),
    )
    return path


def _stack_rows(rows, gap: int = 4):
    import numpy as np

    spacer = np.full((gap, rows[0].shape[1], 3), 255, np.uint8)
    return np.concatenate([piece for row in rows for piece in (row, spacer)][:-1], axis=0)


def run_generate(args: argparse.Namespace) -> int:
    import torch

    from . import viz

    from .pipeline import SIZE_MULTIPLE, load_pipeline

    width, height = args.size
    if width % SIZE_MULTIPLE or height % SIZE_MULTIPLE:
        raise DragAnythingError(
            "--size", f"{width}x{height} is not a multiple of {SIZE_MULTIPLE} on both sides, which the SVD UNet needs",
            f"Use e.g. 576x320 (the released model's size) or {width // SIZE_MULTIPLE * SIZE_MULTIPLE or 64}x"
            f"{height // SIZE_MULTIPLE * SIZE_MULTIPLE or 64}",
        )
    if args.dift is None:
        raise DragAnythingError(
            "--dift", "generate needs the entity embeddings, which come from an SD-1.5-architecture model",
            "Pass --dift with a diffusers folder of one (the official demo uses ChilloutMix); `conditions` previews "
            "without it",
        )
    args.out.mkdir(parents=True, exist_ok=True)
    device, dtype = _device(args.device), _torch_dtype(args.dtype)
    pipeline = load_pipeline(str(args.svd), str(args.controlnet), dtype=dtype, device=device)
    prepared = prepare(args)
    conditions = prepared.conditions
    first_frame = torch.tensor(prepared.first_frame).permute(2, 0, 1).float() / 255
    output = pipeline(
        first_frame, conditions.gaussian, conditions.entity_map(device=device, dtype=dtype), preset=args.preset,
        num_inference_steps=args.steps, min_guidance_scale=args.guidance[0], max_guidance_scale=args.guidance[1],
        fps=args.fps, motion_bucket_id=args.motion_bucket, noise_aug_strength=args.noise_aug,
        conditioning_scale=args.strength, decode_chunk_size=args.decode_chunk, seed=args.seed,
    )
    frames = (output.frames[0].permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype("uint8")
    vis = viz.official_trajectory_vis(conditions.gaussian, conditions.points)
    tracks = viz.draw_tracks(frames, conditions.points, masks=conditions.masks, anchors=conditions.anchors,
                             visible=conditions.visible)
    written = [viz.write_gif(args.out / "video.gif", frames),
               viz.write_gif(args.out / "side_by_side.gif", viz.side_by_side(vis, frames)),
               viz.write_gif(args.out / "tracks.gif", tracks)]
    if args.mp4:
        written += [viz.write_mp4(args.out / "video.mp4", frames), viz.write_mp4(args.out / "tracks.mp4", tracks)]
    for line in _describe(prepared, args):
        print(line)
    print(f"{args.steps} steps, {args.preset} preset, seed {args.seed}, {args.dtype} on {device}")
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


def _track_mask_paths(args: argparse.Namespace, prompt) -> list[Path]:
    """--masks as files or a folder, or the files the entities name next to their file."""
    if prompt is not None:
        return _mask_paths(args.masks, prompt, [args.entities.parent], args.video)
    if not args.masks:
        raise DragAnythingError("--masks", "no masks were given", "Pass one first-frame mask per entity (or their "
                                "folder), one --click X,Y on each entity, or --entities naming its mask files")
    if len(args.masks) == 1 and args.masks[0].is_dir():
        files = sorted(path for path in args.masks[0].iterdir() if path.suffix.lower() in MASK_SUFFIXES)
        if not files:
            raise DragAnythingError("--masks", f"the folder {str(args.masks[0])!r} holds no mask image",
                                    "Put one mask image per entity there")
        return files
    for path in args.masks:
        if not path.is_file():
            raise DragAnythingError("--masks", f"there is no file at {str(path)!r}", "Check the path")
    return list(args.masks)


def run_track(args: argparse.Namespace) -> int:
    from dataclasses import replace

    import numpy as np

    from . import viz
    from .entity import binarize_mask, read_mask
    from .tracking import read_frames, track_entities
    from .trajectory import Entity, Trajectories, load_trajectories, to_json, to_tracks

    args.out.mkdir(parents=True, exist_ok=True)
    frames = read_frames(args.video)
    height, width = frames.shape[1:3]
    prompt = None
    if args.entities is not None:
        prompt = load_trajectories(args.entities, width=width, height=height)
        _check_aspect(prompt, frames[0])
        if (prompt.width, prompt.height) != (width, height):
            prompt = prompt.scaled(width, height)
    # Without --entities each click selects an entity of its own, named as track_entities names unnamed ones.
    selection = prompt if prompt is not None or not args.click else Trajectories(
        [Entity(str(index + 1), [point]) for index, point in enumerate(args.click)], width, height)
    clicked = _click_masks(args, frames[0], selection, "the --entities file's")
    if clicked is not None:
        selected, masks, mask_notes = clicked
        if prompt is not None:  # the entities' own clicks give way to the ones that made the masks
            prompt = selected
    else:
        mask_paths = _track_mask_paths(args, prompt)
        masks = [_fit_mask(binarize_mask(read_mask(path), mode="threshold", input_name=str(path)), width, height)
                 for path in mask_paths]
        mask_notes = [f"mask {path.name}" for path in mask_paths]
    # Entities from --entities are tracked from their first points; the others from their masks' centres.
    tracked = track_entities(frames, np.stack(masks), num_frames=args.frames, prompt=prompt)
    if clicked is not None and prompt is None:  # keep each entity's click, as an --entities file keeps its own
        tracked = replace(tracked, entities=[replace(entity, clicks=chosen.clicks)
                                             for entity, chosen in zip(tracked, selected)])
    shown = tracked
    if args.size_of is not None or args.size is not None:
        target_w, target_h = args.size or _read_image(args.size_of, "--size-of").shape[1::-1]
        tracked = tracked.scaled(target_w, target_h)
    (args.out / "trajectories.json").write_text(to_json(tracked, indent=1) + "\n")
    arrays = to_tracks(tracked, tracked.num_frames)
    np.savez_compressed(args.out / "tracks.npz", **arrays)
    motion = shown.motion(shown.num_frames)
    drawn = viz.draw_tracks(frames[:shown.num_frames], motion.points, visible=motion.visible, masks=np.stack(masks),
                            scale=motion.scale, rotation=motion.rotation)
    written = [args.out / "trajectories.json", args.out / "tracks.npz", viz.write_gif(args.out / "tracks.gif", drawn)]
    if args.mp4:
        written.append(viz.write_mp4(args.out / "tracks.mp4", drawn))
    print(f"{len(tracked)} entities over {tracked.num_frames} frames of a {width}x{height} video"
          + (f", scaled to {tracked.width}x{tracked.height}" if tracked.width != width or tracked.height != height
             else ""))
    for entity, note in zip(tracked, mask_notes, strict=True):
        seen = int(entity.visibility.sum())
        print(f"  {entity.id}: seen in {seen}/{tracked.num_frames} frames, moved "
              f"{np.linalg.norm(entity.points[-1] - entity.points[0]):.1f} px, scale {entity.scale[-1]:.3f}, "
              f"rotation {entity.rotation[-1]:.1f} deg, {note}")
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


def _fit_mask(mask, width: int, height: int):
    """A {0, 1} mask at the video's size; a mask of another size is refused (it would be placed by guesswork)."""
    if mask.shape != (height, width):
        raise DragAnythingError("--masks", f"a mask is {mask.shape[1]}x{mask.shape[0]} but the video is "
                                f"{width}x{height}", "Make the masks on the video's first frame, at its size")
    return mask.astype(bool)


def run_demo(args: argparse.Namespace) -> int:
    from .tiny import run_demo as tiny_demo

    path = tiny_demo(args.out, seed=args.seed, steps=args.steps, device=args.device)
    print(f"wrote {path}")
    return EXIT_OK


def run_evaluate(args: argparse.Namespace) -> int:
    from .metrics import evaluate

    table = evaluate(args.out, num_videos=args.videos, seed=args.seed, device=args.device,
                     num_inference_steps=args.steps, gaussian_only_controlnet=args.gaussian_only_controlnet)
    print(table.to_markdown())
    print(f"wrote {args.out}")
    return EXIT_OK


# ------------------------------------------------------------------------------------------------ entry point


def _os_error_message(error: OSError) -> str:
    reason = error.strerror or str(error)
    if error.filename:
        return f"{str(error.filename)!r}: {reason}. Check the path and its permissions"
    return f"{reason}. Check the files and folders involved and their permissions"


def _report_warnings(caught) -> None:
    """The library's own warnings read as notes; other libraries' deprecation notices (addressed to developers,
    not to someone running a command) are dropped; anything else prints as Python prints it."""
    package = str(Path(__file__).resolve().parent)
    for warning in caught:
        if warning.category is UserWarning and warning.filename.startswith(package):
            print(f"note: {warning.message}", file=sys.stderr)
        elif not issubclass(warning.category, (DeprecationWarning, FutureWarning)):
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (never raises for bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 with argparse's usage message on a bad command line
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            status = args.run(args)
        _report_warnings(caught)
        return status
    except DragAnythingError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # the reader of stdout went away (e.g. `| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BAD_INPUT
    except OSError as error:
        print(f"error: {_os_error_message(error)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MemoryError:
        print("error: out of memory. Use a smaller --size or fewer --frames", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug, not bad input: say so in one paragraph, traceback on request
        if args.debug:
            raise
        print(f"error: unexpected {type(error).__name__}: {error}. This is a bug in draganything; rerun with "
              "--debug for the traceback and report it", file=sys.stderr)
        return EXIT_INTERNAL
