"""The editor's HTTP routes on a real server: they answer what the nodes compute and refuse bad requests with a
400 and a message, never crashing the server."""

from __future__ import annotations

import base64
import io
import json
import shutil
import uuid

import numpy as np
import pytest
import requests
from PIL import Image

from draganything.trajectory import parse_trajectories

pytestmark = pytest.mark.host

KJNODES = "[[{'x': 100, 'y': 100}, {'x': 300, 'y': 200}, {'x': 500, 'y': 150}], [{'x': 800, 'y': 500}]]"
FISH = {"width": 1124, "height": 668}


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
    # The largest radius the maps use: 50 px at a 320 px short side, scaled to this frame's short side.
    assert body["radius_cap"] == int(50 * 668 / 320)


def test_preview_auto_mode_times_entities_that_have_frames(server):
    value = {"format": "draganything/trajectories", "version": 1, **FISH, "entities": [
        {"id": "1", "points": [[100, 100], [300, 100]], "frames": [4, 8]},
        {"id": "2", "points": [[500, 500], [700, 500], [900, 500]]}]}
    body = post(server, "preview", {"trajectories": value, "num_frames": 10, "mode": "auto"}).json()
    assert body["modes"] == ["time", "pchip"]
    assert body["tracks"][0][0] == [100, 100] and body["tracks"][0][4] == [100, 100] and body["tracks"][0][8] == [300, 100]


def test_preview_reads_the_official_demo_json_keeping_mask_names(server, official_demo_dir):
    demo = (official_demo_dir / "fish_@" / "demo.json").read_text()
    body = post(server, "preview", {"trajectories": demo, "num_frames": 20, "mode": "index", **FISH}).json()
    entities = body["document"]["entities"]
    assert [e["mask_name"] for e in entities] == ["1_fish1.jpg", "1_fish2.jpg"]
    official = json.loads(demo)
    assert body["tracks"][0] == [[float(x), float(y)] for x, y in official["1"]["trajectory"]]


def test_gaussian_preview_is_the_libraries_map_at_frame_k(server):
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


def test_a_failing_sam_leaves_the_fallback_working(server):
    body = post(server, "mask", {"image": "draganything_fish.jpg", "clicks": [{"x": 366, "y": 325}],
                                 "sam": "no_such_checkpoint.pth"}).json()
    assert body["method"] == "GrabCut" and "SAM failed" in body["note"]
    assert decode_mask(body)[325, 366]


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
