"""The motion nodes in a real host: Entity Tracks feeding core's Wan-Move nodes (conditioning built with a small
random Wan 2.1 VAE, one sampling step of a small random Wan 2.1 image-to-video model, the visualizer), Camera
Move (paced by core's Curve Editor where the host has one), Trajectories From Video (in-process and on the server),
the editor's camera and easing routes, bad input."""

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

pytestmark = pytest.mark.host

IMAGE = "draganything_example.png"  # 576 x 320, copied into the server's input folder by host_base
VIDEO_W, VIDEO_H, LENGTH = 96, 64, 9


def example_scene(host):
    """The shipped example's car, balloon and road (held), with their shipped masks, as the library reads them."""
    trajectory = host.module("draganything.trajectory")
    assets = host.module("draganything.assets")
    entity = host.module("draganything.entity")
    trajectories = trajectory.load_trajectories(assets.EXAMPLE_TRAJECTORIES)
    masks = np.stack([entity.binarize_mask(entity.read_mask(assets.EXAMPLE_DIR / item.mask_name)).astype(bool)
                      for item in trajectories])
    image = np.asarray(Image.open(assets.EXAMPLE_IMAGE).convert("RGB"))
    return trajectories, masks, image


def tiny_wan_vae():
    """A Wan 2.1 VAE of the real layout at width 8 (the host reads the width from the weights), random weights."""
    import comfy.ldm.wan.vae
    import comfy.sd

    model = comfy.ldm.wan.vae.WanVAE(dim=8, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                                     temperal_downsample=[False, True, True], image_channels=3, dropout=0.0)
    # The host's layers skip weight initialisation: every weight is set here (RMS-norm gains to 1).
    generator = torch.Generator().manual_seed(0)
    weights = {key: torch.ones_like(value) if key.endswith("gamma") else
               torch.randn(value.shape, generator=generator) * 0.1 for key, value in model.state_dict().items()}
    vae = comfy.sd.VAE(sd=weights)
    assert vae.latent_channels == 16
    return vae


def entity_tracks(host, trajectories, masks, length=LENGTH):
    node = host.module("nodes.motion_nodes").DragAnythingEntityTracks
    return node.execute(trajectories, torch.from_numpy(masks).float(), VIDEO_W, VIDEO_H, length, 12, "pchip",
                        "center_crop").result[0]


def test_entity_tracks_build_wan_move_conditioning_at_their_points(host):
    from comfy_extras.nodes_wanmove import WanMoveTrackToVideo

    trajectories, masks, image = example_scene(host)
    tracks = entity_tracks(host, trajectories, masks)
    path, visible = tracks["track_path"], tracks["track_visibility"]
    assert path.shape == (LENGTH, 36, 2) and visible.dtype == torch.bool and visible[0].all()
    start = torch.from_numpy(image[None].astype(np.float32) / 255)
    conditioning = [[torch.zeros(1, 4, 32), {}]]
    vae = tiny_wan_vae()
    arguments = dict(positive=conditioning, negative=conditioning, vae=vae, width=VIDEO_W, height=VIDEO_H,
                     length=LENGTH, batch_size=1, strength=1.0, start_image=start)
    with_tracks = WanMoveTrackToVideo.execute(tracks=tracks, **arguments).result
    without = WanMoveTrackToVideo.execute(tracks=None, **arguments).result
    moved = with_tracks[0][0][1]["concat_latent_image"][0]  # [16, T', h, w]
    plain = without[0][0][1]["concat_latent_image"][0]
    assert moved.shape == (16, 3, VIDEO_H // 8, VIDEO_W // 8)
    # Wan-Move samples every 4th frame and copies each visible track's frame-0 latent cell to its cell there.
    changed = (moved != plain).any(dim=0).nonzero().tolist()
    targets = {}
    for frame in range(4, LENGTH, 4):
        for (x, y), (x0, y0), shown in zip(path[frame].tolist(), path[0].tolist(), visible[frame].tolist()):
            if shown and 0 <= x < VIDEO_W and 0 <= y < VIDEO_H:
                targets.setdefault((frame // 4, int(y // 8), int(x // 8)), []).append((int(y0 // 8), int(x0 // 8)))
    assert len(targets) > 10
    assert sorted(map(tuple, changed)) == sorted(targets)
    for (t, y, x), sources in targets.items():
        assert any(torch.allclose(moved[:, t, y, x], plain[:, 0, sy, sx], atol=1e-6) for sy, sx in sources)


def test_entity_track_points_stay_inside_the_moved_masks(host):
    framing = host.module("draganything.framing")
    camera = host.module("draganything.trajectory.camera")
    trajectories, masks, _ = example_scene(host)
    node = host.module("nodes.motion_nodes").DragAnythingCameraMove
    moved = node.execute(trajectories, 1.3, 12.0, 0.0, 0.0, 0.5, 0.5, LENGTH, "linear").result[0]
    tracks = entity_tracks(host, moved, masks)
    to_video = framing.Framing(576, 320, VIDEO_W, VIDEO_H, "center_crop")
    motion = moved.motion(LENGTH, "pchip")
    import cv2

    for row in range(len(moved)):
        columns = slice(12 * row, 12 * row + 12)
        for frame in range(LENGTH):
            linear = motion.scale[row, frame] * camera.rotate(np.eye(2), motion.rotation[row, frame]).T
            offset = motion.points[row, frame] - linear @ motion.points[row, 0]
            warped = cv2.warpAffine(masks[row].astype(np.uint8), np.concatenate([linear, offset[:, None]], axis=1),
                                    (576, 320), flags=cv2.INTER_NEAREST)
            region = cv2.dilate(to_video.mask(warped).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
            points = tracks["track_path"][frame, columns].numpy()
            shown = tracks["track_visibility"][frame, columns].numpy()
            cols = np.floor(points[shown, 0]).astype(int).clip(0, VIDEO_W - 1)
            rows = np.floor(points[shown, 1]).astype(int).clip(0, VIDEO_H - 1)
            assert region[rows, cols].all(), (moved.entities[row].id, frame)


def test_one_sampling_step_of_a_small_wan_model_reads_the_track_conditioning(host):
    import comfy.model_patcher
    import comfy.sample
    import comfy.supported_models
    from comfy_extras.nodes_wanmove import WanMoveTrackToVideo

    trajectories, masks, image = example_scene(host)
    tracks = entity_tracks(host, trajectories, masks, length=5)
    config = comfy.supported_models.WAN21_I2V({"image_model": "wan2.1", "model_type": "i2v", "in_dim": 36,
                                               "dim": 32, "ffn_dim": 64, "freq_dim": 256, "text_dim": 32,
                                               "out_dim": 16, "num_heads": 2, "num_layers": 1})
    config.set_inference_dtype(torch.float32, None)
    model = config.get_model({})
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.diffusion_model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    patcher = comfy.model_patcher.ModelPatcher(model, load_device=torch.device("cpu"),
                                               offload_device=torch.device("cpu"))
    conditioning = [[torch.zeros(1, 4, 32), {}]]
    start = torch.from_numpy(image[None].astype(np.float32) / 255)
    results = []
    for chosen in (tracks, None):
        positive, negative, latent = WanMoveTrackToVideo.execute(
            conditioning, conditioning, tiny_wan_vae(), VIDEO_W, VIDEO_H, 5, 1, 1.0, tracks=chosen,
            start_image=start).result
        samples = latent["samples"]
        noise = torch.randn(samples.shape, generator=torch.Generator().manual_seed(3))
        results.append(comfy.sample.sample(patcher, noise, 1, 1.0, "euler", "simple", positive, negative, samples,
                                           disable_pbar=True, seed=3))
    assert results[0].shape == (1, 16, 2, VIDEO_H // 8, VIDEO_W // 8) and torch.isfinite(results[0]).all()
    assert not torch.equal(results[0], results[1])  # the tracks changed what the model was given


def test_wan_move_visualizer_draws_the_entity_tracks(host):
    from comfy_extras.nodes_wanmove import WanMoveVisualizeTracks

    trajectories, masks, image = example_scene(host)
    tracks = entity_tracks(host, trajectories, masks)
    frames = torch.full((LENGTH, VIDEO_H, VIDEO_W, 3), 0.5)
    drawn = WanMoveVisualizeTracks.execute(frames, 24, 2, 1.0, 2, tracks=tracks).result[0]
    assert drawn.shape == (LENGTH, VIDEO_H, VIDEO_W, 3)
    x, y = tracks["track_path"][-1, 0].round().int().tolist()
    assert (drawn[-1, y, x] - 0.5).abs().max() > 0.1


def test_trajectories_from_video_node_tracks_a_sprite_video(host):
    synthetic = host.module("draganything.train.synthetic")
    clip = synthetic.generate_clip(1004)
    node = host.module("nodes.motion_nodes").DragAnythingTrajectoriesFromVideo
    video = torch.from_numpy(clip.frames.astype(np.float32) / 255)
    masks = torch.from_numpy(np.stack([clip.panoptic[0] == entity for entity in clip.ids])).float()
    target = torch.zeros(1, 256, 256, 3)
    trajectories, out_masks, tracks, text, info = node.execute(video, "", 10, masks=masks, image=target).result
    assert (trajectories.width, trajectories.height, trajectories.num_frames) == (256, 256, 10)
    assert out_masks.shape == (len(clip.ids), 256, 256) and tracks["track_path"].shape == (10, len(clip.ids), 2)
    assert f"{len(clip.ids)} entities tracked over 10 frames of a 128x128 video" in info
    parsed = host.module("draganything.trajectory").parse_trajectories(text)
    assert parsed == trajectories
    moved = (trajectories.motion(10).points[:, -1] - trajectories.motion(10).points[:, 0]) / 2
    truth = clip.tracks[:, 9] - clip.tracks[:, 0]
    assert np.median(np.linalg.norm(moved - truth, axis=1)) < 0.5
    error = host.module("draganything.errors").DragAnythingError
    with pytest.raises(error, match="it has 14 frames, fewer than the 20 asked for"):
        node.execute(video, "", 20, masks=masks)
    with pytest.raises(error, match="neither a MASK batch nor an entities JSON"):
        node.execute(video, "", 0)


# ------------------------------------------------------------------------------------------------ the server


def scene(entities: list[dict]) -> str:
    return json.dumps({"format": "draganything/trajectories", "version": 1, "width": 576, "height": 320,
                       "entities": entities})


def test_camera_move_entity_tracks_and_wan_visualizer_on_the_server(server, host_base):
    trajectories = scene([
        {"id": "car", "points": [[112, 236], [300, 236]], "clicks": [{"x": 112, "y": 236, "positive": True}]},
        {"id": "sky", "points": [[300, 40]], "anchor": True, "box": [150, 0, 400, 80]},
    ])
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": IMAGE}},
        "2": {"class_type": "DragAnythingTrajectories",
              "inputs": {"trajectories": trajectories, "tracks_frames": LENGTH, "image": ["1", 0]}},
        "3": {"class_type": "DragAnythingCameraMove",
              "inputs": {"trajectories": ["2", 0], "zoom": 1.2, "orbit": 0.0, "pan_x": 0.0, "pan_y": 0.0,
                         "centre_x": 0.5, "centre_y": 0.5, "frames": LENGTH, "easing": "ease_in_out"}},
        "4": {"class_type": "DragAnythingEntityTracks",
              "inputs": {"trajectories": ["3", 0], "masks": ["2", 1], "width": 160, "height": 96,
                         "length": LENGTH, "points_per_entity": 8, "resampling": "pchip",
                         "framing": "center_crop"}},
        "5": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "bilinear",
                                                     "width": 160, "height": 96, "crop": "center"}},
        "6": {"class_type": "WanMoveVisualizeTracks",
              "inputs": {"images": ["5", 0], "tracks": ["4", 0], "line_resolution": 24, "circle_size": 3,
                         "opacity": 1.0, "line_width": 2}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "wan_tracks"}},
    }
    entry = server.run(prompt)
    assert entry["status"]["status_str"] == "success", server.error_message(entry)
    frames = entry["outputs"]["7"]["images"]
    assert len(frames) == LENGTH
    first = np.asarray(Image.open(host_base / "output" / frames[0]["subfolder"] / frames[0]["filename"]))
    assert first.shape == (96, 160, 3)


def test_trajectories_from_a_gif_on_the_server_and_its_errors(server, host_base):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from draganything.train.synthetic import generate_clip

    clip = generate_clip(1004)
    # A frame duration of its own: newer hosts decode GIFs with PyAV, which reads a GIF without one as one frame.
    Image.fromarray(clip.frames[0]).save(host_base / "input" / "sprites.gif", save_all=True, duration=100, loop=0,
                                         append_images=[Image.fromarray(frame) for frame in clip.frames[1:]])
    row = 1
    ys, xs = np.nonzero(clip.panoptic[0] == clip.ids[row])
    entities = scene([{"id": "sprite", "points": [clip.tracks[row, 0].tolist()],
                       "box": [int(xs.min()) - 2, int(ys.min()) - 2, int(xs.max()) + 3, int(ys.max()) + 3]}])
    entities = json.dumps({**json.loads(entities), "width": 128, "height": 128})

    def prompt(frames):
        return {
            "1": {"class_type": "LoadImage", "inputs": {"image": "sprites.gif"}},
            "2": {"class_type": "DragAnythingTrajectoriesFromVideo",
                  "inputs": {"video": ["1", 0], "entities": entities, "frames": frames}},
            "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 3]}},
        }

    entry = server.run(prompt(0))
    assert entry["status"]["status_str"] == "success", server.error_message(entry)
    text = entry["outputs"]["3"]["text"][0]
    document = json.loads(text)
    track = np.array(document["entities"][0]["points"])
    assert len(track) == len(clip.frames) and "GrabCut" in json.dumps(entry["outputs"]["2"])
    assert np.linalg.norm((track[-1] - track[0]) - (clip.tracks[row, -1] - clip.tracks[row, 0])) < 1.0

    entry = server.run(prompt(30))
    assert entry["status"]["status_str"] == "error"
    assert "video: it has 14 frames, fewer than the 30 asked for" in server.error_message(entry)


def test_editor_camera_and_easing_routes(server):
    value = scene([{"id": "car", "points": [[112, 236], [300, 236]]},
                   {"id": "road", "points": [[470, 296]], "anchor": True}])
    response = server.post("/draganything/editor/camera", {"trajectories": value, "zoom": 2.0, "orbit": 0,
                                                           "num_frames": 5, "easing": "ease_in"})
    assert response.status_code == 200, response.text
    document = response.json()["document"]
    road = document["entities"][1]
    assert document["version"] == 2 and road["easing"] == "ease_in" and not road["anchor"]
    assert road["points"][-1] == [288 + 2 * (470 - 288), 160 + 2 * (296 - 160)]
    assert document["entities"][0]["points"] == [[112, 236], [300, 236]]
    response = server.post("/draganything/editor/easing", {"easing": [[0, 0], [0.5, 0.8], [1, 1]], "samples": 3})
    assert response.status_code == 200 and response.json() == {"t": [0, 0.5, 1], "progress": [0, 0.8, 1]}
    bad = server.post("/draganything/editor/camera", {"trajectories": value, "zoom": -1})
    assert bad.status_code == 400 and "camera zoom" in bad.json()["error"]
    bad = server.post("/draganything/editor/easing", {"easing": "wobble"})
    assert bad.status_code == 400 and "not a preset" in bad.json()["error"]
    held = scene([{"id": "car", "points": [[112, 236], [300, 236]]}])
    bad = server.post("/draganything/editor/camera", {"trajectories": held, "zoom": 2})
    assert bad.status_code == 400 and "no entity holds still" in bad.json()["error"]


def test_entity_tracks_errors_reach_the_user_on_the_server(server):
    trajectories = scene([{"id": "car", "points": [[50, 236], [300, 236]]}])

    def prompt(width, height):
        return {
            "1": {"class_type": "LoadImage", "inputs": {"image": IMAGE}},
            "2": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 576, "height": 320}},
            "3": {"class_type": "DragAnythingTrajectories",
                  "inputs": {"trajectories": trajectories, "tracks_frames": 5, "image": ["1", 0],
                             "masks": ["2", 0]}},
            # The car's mask for the tracks: the left 100 columns of the picture.
            "4": {"class_type": "SolidMask", "inputs": {"value": 0.0, "width": 576, "height": 320}},
            "5": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 100, "height": 320}},
            "6": {"class_type": "MaskComposite", "inputs": {"destination": ["4", 0], "source": ["5", 0], "x": 0,
                                                            "y": 0, "operation": "add"}},
            "7": {"class_type": "DragAnythingEntityTracks",
                  "inputs": {"trajectories": ["3", 0], "masks": ["6", 0], "width": width, "height": height,
                             "length": 5, "points_per_entity": 8, "resampling": "pchip", "framing": "center_crop"}},
            "8": {"class_type": "WanMoveVisualizeTracks",
                  "inputs": {"images": ["1", 0], "tracks": ["7", 0], "line_resolution": 24, "circle_size": 3,
                             "opacity": 1.0, "line_width": 2}},
            "9": {"class_type": "PreviewImage", "inputs": {"images": ["8", 0]}},
        }

    # A square video centre-crops columns 128-448 of the picture: the mask lies outside what the video shows.
    entry = server.run(prompt(96, 96))
    assert entry["status"]["status_str"] == "error"
    assert ("mask of entity 'car': nothing of it is inside the 96x96 video after center_crop framing"
            in server.error_message(entry))
    entry = server.run(prompt(160, 96))
    assert entry["status"]["status_str"] == "success", server.error_message(entry)


# ------------------------------------------------------------------------------- Camera Move paced by a curve

PAN_X = 200.0
STEEP_LATE = [[0.0, 0.0], [0.6, 0.05], [1.0, 1.0]]  # slow for most of the move, then fast


def skip_without_curves(server):
    node = server.get("/object_info/DragAnythingCameraMove")["DragAnythingCameraMove"]
    if "easing_curve" not in node["input"].get("optional", {}):
        pytest.skip("this ComfyUI has no CURVE type and no Curve Editor (0.8.0): Camera Move has no easing_curve")


def printed_tensor(text: str, key: str) -> np.ndarray:
    """The numbers of one tensor in Preview as Text's print of a dict of tensors."""
    body = text.split(f"'{key}': tensor(", 1)[1].split(")", 1)[0]
    return np.array([float(number) for number in re.findall(r"-?\d+(?:\.\d*)?(?:e[+-]?\d+)?", body)])


def run_pan(server, easing_curve, easing: str = "linear") -> dict:
    """Runs Trajectories (one held background) -> Camera Move (a pan of PAN_X pixels, `easing_curve` a Curve Editor
    node to connect, a value to give, or None) -> Entity Tracks -> Preview as Text; returns the /history entry."""
    trajectories = scene([{"id": "background", "points": [[288, 160]], "anchor": True}])
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": IMAGE}},
        "2": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 576, "height": 320}},
        "3": {"class_type": "DragAnythingTrajectories",
              "inputs": {"trajectories": trajectories, "tracks_frames": LENGTH, "image": ["1", 0],
                         "masks": ["2", 0]}},
        "5": {"class_type": "DragAnythingCameraMove",
              "inputs": {"trajectories": ["3", 0], "zoom": 1.0, "orbit": 0.0, "pan_x": PAN_X, "pan_y": 0.0,
                         "centre_x": 0.5, "centre_y": 0.5, "frames": LENGTH, "easing": easing}},
        "6": {"class_type": "DragAnythingEntityTracks",
              "inputs": {"trajectories": ["5", 0], "masks": ["3", 1], "width": 576, "height": 320,
                         "length": LENGTH, "points_per_entity": 4, "resampling": "pchip",
                         "framing": "center_crop"}},
        "7": {"class_type": "PreviewAny", "inputs": {"source": ["6", 0]}},
    }
    if isinstance(easing_curve, dict) and "class_type" in easing_curve:
        prompt["4"] = easing_curve
        prompt["5"]["inputs"]["easing_curve"] = ["4", 0]
    elif easing_curve is not None:
        prompt["5"]["inputs"]["easing_curve"] = easing_curve
    return server.run(prompt)


def panned_pace(server, easing_curve, easing: str = "linear") -> np.ndarray:
    """How far along the pan of `run_pan` the tracks are in each frame, 0 to 1."""
    entry = run_pan(server, easing_curve, easing)
    assert entry["status"]["status_str"] == "success", server.error_message(entry)
    path = printed_tensor(entry["outputs"]["7"]["text"][0], "track_path").reshape(LENGTH, 4, 2)
    moved = path - path[:1]
    assert np.allclose(moved[..., 1], 0, atol=0.02) and np.allclose(moved[..., 0], moved[:, :1, 0], atol=0.02)
    return moved[:, 0, 0] / PAN_X


def curve_editor(points, interpolation: str = "monotone_cubic") -> dict:
    return {"class_type": "CurveEditor", "inputs": {"curve": {"points": points, "interpolation": interpolation}}}


@pytest.mark.parametrize("interpolation", ["monotone_cubic", "linear"])
def test_a_curve_editor_sets_the_camera_moves_pace_on_the_server(server, host, interpolation):
    """Curve Editor -> Camera Move: the tracks are where the curve, as the host evaluates it, puts the pan in every
    frame; not where the easing preset, linear time or the library's own PCHIP through the same points would."""
    skip_without_curves(server)
    from comfy_api.input import CurveInput

    easing = host.module("draganything.trajectory.easing")
    times = np.linspace(0.0, 1.0, LENGTH)
    drawn = CurveInput.from_raw({"points": STEEP_LATE, "interpolation": interpolation})
    pace = panned_pace(server, curve_editor(STEEP_LATE, interpolation), easing="ease_out")

    assert np.allclose(pace, drawn.interp_array(times), atol=2e-4), (pace, drawn.interp_array(times))
    library_pace = easing.ease(easing.sampled_easing("easing_curve", drawn.points, drawn.interp_array), times)
    assert np.allclose(pace, library_pace, atol=2e-4)
    assert np.abs(pace - times).max() > 0.5  # a strongly eased move, far from linear time
    assert np.abs(pace - easing.ease("ease_out", times)).max() > 0.5  # the curve replaced the preset
    pchip_of_points = easing.ease(easing.easing_value("e", STEEP_LATE), times)
    assert np.abs(pace - pchip_of_points).max() > 0.03
    # Without the curve, the preset sets the pace, as before.
    assert np.allclose(panned_pace(server, None, easing="ease_out"), easing.ease("ease_out", times), atol=2e-4)


def test_a_raw_curve_in_an_api_prompt_sets_the_pace(server, host):
    skip_without_curves(server)
    raw = {"points": STEEP_LATE, "interpolation": "linear"}
    pace = panned_pace(server, raw)
    knots = np.array(STEEP_LATE)
    assert np.allclose(pace, np.interp(np.linspace(0.0, 1.0, LENGTH), knots[:, 0], knots[:, 1]), atol=2e-4)


BAD_CURVES = [
    (curve_editor([[0, 0], [0.5, 0.8], [0.7, 0.3], [1, 1]]),
     "easing_curve: its easing curve runs backwards (point 2: progress 0.3 after 0.8)"),
    (curve_editor([[0, 0.2], [1, 1]], "linear"),
     "easing_curve: its easing curve starts at 0, 0.2 and ends at 1, 1; it must run from [0, 0] to [1, 1]"),
    (curve_editor([[0, 0], [0.5, 0.2], [0.5, 0.6], [1, 1]]),
     "easing_curve: its easing curve's t values are not strictly increasing (point 2: t = 0.5)"),
    ({"pts": [[0, 0], [1, 1]]}, "easing_curve: {'pts': [[0, 0], [1, 1]]} is not a curve (KeyError('points'))"),
]


@pytest.mark.parametrize("curve, message", BAD_CURVES, ids=["runs back", "off the origin", "two at one time",
                                                            "not a curve"])
def test_a_curve_that_is_no_easing_stops_the_run_with_a_clear_error(server, curve, message):
    skip_without_curves(server)
    entry = run_pan(server, curve)
    assert entry["status"]["status_str"] == "error"
    shown = server.error_message(entry)  # what the frontend's error dialog shows
    assert shown.startswith(message), shown
    assert "Draw the curve from (0, 0) to (1, 1)" in shown or "Connect the CURVE output of a Curve Editor" in shown
    # The server is still serving: a good curve runs next.
    assert panned_pace(server, curve_editor(STEEP_LATE))[-1] == pytest.approx(1.0, abs=2e-4)
