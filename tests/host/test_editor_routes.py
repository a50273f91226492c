"""The editor's HTTP routes on a real server: they answer what the nodes compute (the Gaussian preview is the
map build_conditions gives the model, laid over the picture) and refuse bad requests with a 400 and a message,
never crashing the server."""

from __future__ import annotations

import base64
import io
import json
import shutil
import time
import uuid

import numpy as np
import pytest
import requests
from PIL import Image

from draganything.conditions import build_conditions
from draganything.entity import inscribed_circle
from draganything.framing import Framing
from draganything.trajectory import Entity, Trajectories, parse_trajectories, to_json

pytestmark = pytest.mark.host

KJNODES = "[[{'x': 100, 'y': 100}, {'x': 300, 'y': 200}, {'x': 500, 'y': 150}], [{'x': 800, 'y': 500}]]"
FISH = {"width": 1124, "height": 668}
FISH_NAME = "draganything_fish.jpg"


@pytest.fixture(scope="module", autouse=True)
def fish(server, first_frame_path):
    """The official goldfish frame in the server's input folder, as the editor uploads a picture."""
    shutil.copy(first_frame_path, server.base_directory / "input" / FISH_NAME)


def post(server, route: str, body, **kwargs) -> requests.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(f"{server.url}/draganything/editor/{route}", data=data, timeout=120, **kwargs)


def refused(response: requests.Response, *words: str) -> str:
    assert response.status_code == 400, response.text
    message = response.json()["error"]
    for word in words:
        assert word in message, message
    return message


@pytest.mark.parametrize("mode", ["pchip", "index", "arc_length"])
def test_preview_resamples_like_the_nodes(server, mode):
    answer = post(server, "preview", {"trajectories": KJNODES, "num_frames": 14, "mode": mode, **FISH})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    points, visible = parse_trajectories(KJNODES, **FISH).resampled(14, mode)
    np.testing.assert_allclose(body["tracks"], points, atol=1e-3)
    assert body["visible"] == visible.tolist()
    assert body["document"]["format"] == "draganything/trajectories"
    assert [len(e["points"]) for e in body["document"]["entities"]] == [3, 1]
    assert len(body["colors"]) == 2 and all(c.startswith("#") and len(c) == 7 for c in body["colors"])
    # The largest mask-derived radius: 50 px of the default 576x320 model frame, centre-cropped from this
    # picture (1124x624 of it are kept, 22 rows cut at the top and bottom), in picture pixels.
    assert body["radius_cap"] == pytest.approx(50 / np.sqrt(576 / 1124 * 320 / 624), abs=1e-3)
    # No mask radius was sent: a placeholder of 6% of the short side, said to be one.
    assert body["radius_sources"] == ["placeholder", "placeholder"]


@pytest.mark.parametrize("entities, mode", [
    # Every moving entity timed, within the video: the frames drive it.
    ([{"id": "1", "points": [[100, 100], [300, 100]], "frames": [4, 8]},
      {"id": "2", "points": [[500, 500], [700, 500]], "frames": [0, 9]}], "time"),
    # One entity without frames: constant speed for all, as the command line's auto does.
    ([{"id": "1", "points": [[100, 100], [300, 100]], "frames": [4, 8]},
      {"id": "2", "points": [[500, 500], [700, 500], [900, 500]]}], "arc_length"),
])
def test_preview_auto_mode_is_the_librarys_rule(server, entities, mode):
    value = {"format": "draganything/trajectories", "version": 1, **FISH, "entities": entities}
    body = post(server, "preview", {"trajectories": value, "num_frames": 10, "mode": "auto"}).json()
    assert body["modes"] == [mode, mode]
    points, _ = parse_trajectories(value).resampled(10, mode)
    np.testing.assert_allclose(body["tracks"], points, atol=1e-3)
    if mode == "time":
        assert body["tracks"][0][4] == [100, 100] and body["tracks"][0][8] == [300, 100]


def test_preview_reads_the_official_demo_json_keeping_mask_names(server, official_demo_dir):
    demo = (official_demo_dir / "fish_@" / "demo.json").read_text()
    body = post(server, "preview", {"trajectories": demo, "num_frames": 20, "mode": "index", **FISH}).json()
    entities = body["document"]["entities"]
    assert [e["mask_name"] for e in entities] == ["1_fish1.jpg", "1_fish2.jpg"]
    official = json.loads(demo)
    assert body["tracks"][0] == [[float(x), float(y)] for x, y in official["1"]["trajectory"]]


def test_gaussian_preview_is_the_libraries_map_at_frame_k(server):
    # "radii" is what older pages send for the masks' radii.
    body = {"trajectories": KJNODES, "num_frames": 14, "frame": 13, "max_side": 256, "radii": [40, 40], **FISH}
    answer = post(server, "gaussian", body)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "image/png"
    rgba = np.asarray(Image.open(io.BytesIO(answer.content)))
    assert rgba.shape == (152, 256, 4)
    # Peaks where the two entities are at the last frame (pchip ends on the last points), in preview pixels.
    scale = 256 / 1124
    alpha = rgba[..., 3].astype(int)
    for x, y in ((500, 150), (800, 500)):
        cx, cy = int(x * scale), int(y * scale)
        assert alpha[cy - 1:cy + 2, cx - 1:cx + 2].max() >= 200
    assert alpha[5:20, 5:20].max() == 0


@pytest.mark.parametrize("body, words", [
    (b"{not json", ["not valid JSON"]),
    ([1, 2], ["JSON object"]),
    ({}, ["'trajectories' is missing"]),
    ({"trajectories": "[[1, 2], [3]]"}, ["trajectories"]),
    ({"trajectories": KJNODES, "num_frames": 0}, ["num_frames"]),
    ({"trajectories": KJNODES, "num_frames": 100_000}, ["num_frames"]),
    ({"trajectories": KJNODES, "mode": "cubic"}, ["mode"]),
    ({"trajectories": KJNODES, "width": -3}, ["width"]),
    ({"trajectories": KJNODES, "framing": "letterbox"}, ["framing"]),
    ({"trajectories": KJNODES, "model_width": 0}, ["model_width"]),
    ({"trajectories": KJNODES, "mask_radii": 40}, ["mask_radii"]),
    ({"trajectories": KJNODES, "mask_radii": [40, "big"]}, ["mask_radii", "big"]),
    ({"trajectories": KJNODES, "radii": [-4]}, ["radii"]),
    ({"trajectories": [[[i, i] for i in range(3000)]]}, ["at most"]),
    ({"trajectories": [[[1, 1]]] * 100}, ["at most"]),
])
def test_preview_refuses_malformed_requests(server, body, words):
    refused(post(server, "preview", body), *words)


def test_oversized_bodies_are_refused_before_parsing(server):
    refused(post(server, "preview", b"{" + b" " * (5 * 1024 * 1024) + b"}"), "at most")


def test_gaussian_needs_the_frame_size(server):
    refused(post(server, "gaussian", {"trajectories": KJNODES}), "width")


@pytest.mark.parametrize("image", [
    "../../etc/passwd",
    "/etc/passwd",
    "draganything_fish.jpg [output]",
    {"filename": "passwd", "subfolder": "../../../etc", "type": "input"},
    {"filename": "draganything_fish.jpg", "subfolder": "", "type": "output"},
    {"filename": "draganything_fish.jpg", "type": "models"},
    42,
])
def test_mask_images_stay_inside_the_input_and_temp_folders(server, image):
    refused(post(server, "mask", {"image": image, "clicks": [{"x": 1, "y": 1}]}), "image")


def test_mask_for_a_missing_picture_says_what_to_do(server):
    refused(post(server, "mask", {"image": "nobody_uploaded_this.png", "clicks": [{"x": 1, "y": 1}]}), "drop the picture")


@pytest.mark.parametrize("body, words", [
    ({"clicks": []}, ["at least one click"]),
    ({"clicks": [{"x": 5000, "y": 1}]}, ["outside"]),
    ({"clicks": [{"x": "a", "y": 1}]}, ["numeric"]),
    ({"clicks": [{"x": 1, "y": 1}] * 100}, ["at most"]),
    ({"box": [10, 10, 10, 50]}, ["no area"]),
])
def test_mask_refuses_bad_prompts(server, body, words):
    refused(post(server, "mask", {"image": "draganything_fish.jpg", **body}), *words)


def decode_mask(answer: dict) -> np.ndarray:
    png = base64.b64decode(answer["mask"].split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(png)).convert("LA"))[..., 1] > 127


def test_mask_without_sam_uses_the_nodes_fallback(server):
    answer = post(server, "mask", {"image": "draganything_fish.jpg", "clicks": [{"x": 366, "y": 325}]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["method"] == "GrabCut" and "no SAM model" in body["note"]
    mask = decode_mask(body)
    # A region around the click at the picture's full size (how well GrabCut finds the fish is the fallback's
    # own concern, tested with it), with its inscribed circle and box reported in picture pixels.
    assert mask.shape == (668, 1124) and mask[325, 366]
    assert 0 < mask.mean() < 0.4 and not mask[20:60, 1050:1100].any()
    assert body["area"] == mask.sum() and body["radius"] > 0 and mask[body["centre"][1], body["centre"][0]]
    x0, y0, x1, y1 = body["bbox"]
    assert mask[y0:y1, x0:x1].sum() == mask.sum()


def test_negative_clicks_alone_are_refused_by_the_fallback(server):
    refused(post(server, "mask", {"image": "draganything_fish.jpg", "clicks": [{"x": 366, "y": 325, "positive": False}]}),
            "negative")


def test_a_failing_sam_leaves_the_fallback_working_and_logs_one_line(server):
    logged = len(server.log())
    body = post(server, "mask", {"image": "draganything_fish.jpg", "clicks": [{"x": 366, "y": 325}],
                                 "sam": "no_such_checkpoint.pth"}).json()
    assert body["method"] == "GrabCut" and "SAM failed" in body["note"]
    assert decode_mask(body)[325, 366]
    # The server log says it once, in one line, with no traceback.
    deadline = time.monotonic() + 10
    while "SAM failed" not in server.log()[logged:] and time.monotonic() < deadline:
        time.sleep(0.2)
    new = server.log()[logged:]
    lines = [line for line in new.splitlines() if "SAM failed" in line]
    assert len(lines) == 1 and "no_such_checkpoint.pth" in lines[0], new
    assert "Traceback" not in new, new


def test_the_server_keeps_serving_after_bad_requests(server):
    for payload in (b"\xff\xfe", b"null", b"[]", b'{"trajectories": {"format": "draganything/trajectories"}}'):
        assert post(server, "preview", payload).status_code == 400
    assert post(server, "preview", {"trajectories": KJNODES, **FISH}).status_code == 200


def test_sam_runs_on_the_server_and_reuses_the_image_embedding(server, random_sam, first_frame_path):
    # A picture no earlier test segmented, so its embedding cannot be cached yet.
    picture = f"sam_{uuid.uuid4().hex}.jpg"
    shutil.copy(first_frame_path, server.base_directory / "input" / picture)
    first = post(server, "mask", {"image": picture, "clicks": [{"x": 366, "y": 325}], "sam": random_sam})
    assert first.status_code == 200, first.text
    first = first.json()
    assert first["method"] == f"SAM vit_b ({random_sam})" and first["note"] == ""
    assert first["embedding_cached"] is False
    assert decode_mask(first).shape == (668, 1124)
    # The next click on the same picture runs only SAM's prompt decoder on the stored embedding.
    second = post(server, "mask", {"image": picture, "sam": random_sam,
                                   "clicks": [{"x": 366, "y": 325}, {"x": 714, "y": 250, "positive": False}]}).json()
    assert second["embedding_cached"] is True and second["method"] == first["method"]


# ------------------------------------------------------------------------------ the Gaussian preview vs the model

# (source width, height, framing, model width, height, radius kind, radius in source pixels). Explicit radii are
# never capped; mask radii are (50 px at a 320 px short side of the model frame, scaled with it).
AGREEMENT_CASES = [
    (1124, 668, "stretch", 576, 320, "radius", 200),
    (1124, 668, "center_crop", 576, 320, "radius", 200),
    (1124, 668, "center_crop", 576, 320, "radius", 40),
    (640, 960, "center_crop", 576, 320, "radius", 120),
    (640, 960, "stretch", 512, 512, "radius", 90),
    (1024, 576, "stretch", 1024, 576, "mask", 60),
    (1124, 668, "center_crop", 576, 320, "mask", 300),
    (800, 800, "center_crop", 576, 320, "mask", 250),
]


def agreement_scene(width: int, height: int, kind: str, radius: float) -> tuple[Trajectories, np.ndarray]:
    """Two entities far apart moving across the middle of the frame, and their disc masks of that radius."""
    ys, xs = np.mgrid[:height, :width]
    starts = [(0.3 * width, 0.5 * height), (0.75 * width, 0.45 * height)]
    entities, masks = [], []
    for index, (x, y) in enumerate(starts):
        path = [[x, y], [x + 0.05 * width, y + 0.04 * height], [x - 0.02 * width, y + 0.06 * height]]
        entities.append(Entity(id=f"e{index}", points=path, radius=radius if kind == "radius" else None))
        masks.append((xs + 0.5 - x) ** 2 + (ys + 0.5 - y) ** 2 <= radius**2)
    return Trajectories(entities, width=width, height=height), np.stack(masks)


def bump(alpha: np.ndarray, centre, reach: float):
    """(peak position, area above half the maximum) of the bump around `centre` in a map (pixels of that map)."""
    ys, xs = np.mgrid[:alpha.shape[0], :alpha.shape[1]]
    near = np.hypot(xs + 0.5 - centre[0], ys + 0.5 - centre[1]) <= reach
    local = np.where(near, alpha, 0).astype(float)
    peak = np.unravel_index(np.argmax(local), local.shape)
    return (peak[1] + 0.5, peak[0] + 0.5), float((local > 127).sum())


@pytest.mark.parametrize("width, height, framing, model_width, model_height, kind, radius", AGREEMENT_CASES,
                         ids=[f"{c[0]}x{c[1]}-{c[2]}-{c[3]}x{c[4]}-{c[5]}{c[6]}" for c in AGREEMENT_CASES])
def test_gaussian_preview_agrees_with_build_conditions(server, width, height, framing, model_width, model_height,
                                                       kind, radius):
    trajectories, masks = agreement_scene(width, height, kind, radius)
    frames, frame, mode = 10, 7, "arc_length"
    model = build_conditions(trajectories, masks, height=model_height, width=model_width, num_frames=frames,
                             framing=framing, resample=mode, binarize="threshold")
    to_model = Framing(width, height, model_width, model_height, framing)
    request = {"trajectories": to_json(trajectories), "num_frames": frames, "mode": mode, "framing": framing,
               "model_width": model_width, "model_height": model_height}
    if kind == "mask":
        # What /mask answers: the inscribed radius of the mask in picture pixels.
        request["mask_radii"] = [inscribed_circle(mask.astype(np.uint8)).radius for mask in masks]

    # The radii the editor draws: the model's sides in picture pixels. A mask's inscribed circle measured on the
    # picture and on the model frame differs by the resize's rounding, a pixel at most.
    preview = post(server, "preview", request).json()
    model_radii = [to_model.radius_to_source(side) for side in model.sides]
    np.testing.assert_allclose(preview["radii"], model_radii, atol=1e-3 if kind == "radius" else 1.5 / min(
        to_model.scale))
    assert preview["radius_sources"] == [kind, kind]

    max_side = min(1024, max(width, height))
    answer = post(server, "gaussian", {**request, "frame": frame, "max_side": max_side})
    assert answer.status_code == 200, answer.text
    alpha = np.asarray(Image.open(io.BytesIO(answer.content)))[..., 3]
    shown = max_side / max(width, height)  # the PNG shows the picture at this scale
    assert alpha.shape == (round(height * shown), round(width * shown))
    px, py = alpha.shape[1] / width, alpha.shape[0] / height
    # Nothing outside the part of the picture the model sees.
    x0, y0, x1, y1 = to_model.crop_box
    outside = np.ones_like(alpha, dtype=bool)
    outside[round(y0 * py):round(y1 * py), round(x0 * px):round(x1 * px)] = False
    assert alpha[outside].max(initial=0) == 0
    model_map = model.gaussian[frame, 0].numpy()
    sx, sy = to_model.scale
    for entity in range(2):
        centre = model.points[entity, frame] + 0.5
        reach = model.sides.max() * 1.5 + 4
        model_peak, model_area = bump(model_map, centre, reach)
        shown_centre = to_model.points_to_source(centre) * [px, py]
        shown_peak, shown_area = bump(alpha, shown_centre, reach / min(sx, sy) * max(px, py))
        # Where the model's bump is and how large, seen on the picture.
        np.testing.assert_allclose(to_model.points(np.asarray(shown_peak) / [px, py]), model_peak, atol=2.5)
        assert shown_area / (px * py) * sx * sy == pytest.approx(model_area, rel=0.12), (entity, model.sides)
