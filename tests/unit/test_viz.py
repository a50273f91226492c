"""Overlays, previews, composition and the GIF/MP4 writers of draganything.viz."""

import importlib.util

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from draganything import viz
from draganything.errors import DragAnythingError

H, W, F = 64, 96, 6


def jet(value: int) -> np.ndarray:
    """OpenCV's JET colour for one grey level, as RGB (the official demo's colormap)."""
    return cv2.applyColorMap(np.uint8([[value]]), cv2.COLORMAP_JET)[0, 0, ::-1]


def grey_frames(level: int = 100) -> np.ndarray:
    return np.full((F, H, W, 3), level, np.uint8)


def near(pixel, color, tolerance: int = 40) -> bool:
    """Anti-aliased 1 px lines blend with the background a little."""
    return bool(np.abs(pixel.astype(int) - color).max() <= tolerance)


def line_track(start, end, frames: int = F) -> np.ndarray:
    return np.linspace(start, end, frames)


# ------------------------------------------------------------------------------------------------ plumbing


def test_as_rgb_frames_accepts_images_floats_and_tensors():
    image = np.zeros((H, W, 3), np.uint8)
    assert viz.as_rgb_frames(image).shape == (1, H, W, 3)
    floats = np.full((2, H, W, 3), 0.5, np.float32)
    assert np.all(viz.as_rgb_frames(floats) == 128)
    assert np.all(viz.as_rgb_frames(torch.full((2, H, W, 3), 2.0)) == 255)  # clipped
    pil = [Image.new("RGB", (W, H), (10, 20, 30))] * 3
    assert viz.as_rgb_frames(pil).shape == (3, H, W, 3)


@pytest.mark.parametrize("shape", [(H, W), (F, 3, H, W), (F, H, W, 4), (1, 1, H, W, 3)])
def test_as_rgb_frames_rejects_other_shapes(shape):
    with pytest.raises(DragAnythingError, match="frames"):
        viz.as_rgb_frames(np.zeros(shape, np.uint8))


def test_entity_colors_are_distinct_and_stable():
    colors = viz.entity_colors(12)
    assert colors.shape == (12, 3)
    assert colors.dtype == np.uint8
    assert len({tuple(c) for c in colors}) == 12
    assert np.array_equal(viz.entity_colors(3), colors[:3])
    # Saturated: no colour is a grey that could vanish on a grey image.
    assert np.all(colors.max(axis=1).astype(int) - colors.min(axis=1) > 100)


# ------------------------------------------------------------------------------------------------ overlay


def test_draw_tracks_puts_a_dot_in_the_entity_colour_at_each_current_point():
    points = np.stack([line_track((10, 20), (80, 20)), line_track((20, 50), (20, 50))])
    out = viz.draw_tracks(grey_frames(), points)
    colors = viz.entity_colors(2)
    assert out.shape == (F, H, W, 3)
    assert out.dtype == np.uint8
    for frame in range(F):
        x, y = np.round(points[0, frame]).astype(int)
        assert np.array_equal(out[frame, y, x], colors[0])
    # The dot moves: the last point carries no dot in the first frame, and the far corner is untouched.
    assert not np.array_equal(out[0, 20, 80], colors[0])
    assert np.all(out[:, 0, W - 1] == 100)


def test_draw_tracks_repeats_a_single_image_and_leaves_the_input_alone():
    image = np.full((H, W, 3), 30, np.uint8)
    out = viz.draw_tracks(image, line_track((10, 10), (50, 40))[None])
    assert out.shape == (F, H, W, 3)
    assert np.all(image == 30)


def test_draw_tracks_travelled_path_grows_frame_by_frame():
    points = line_track((8, 32), (88, 32))[None]
    out = viz.draw_tracks(grey_frames(), points, thickness=1)
    color = viz.entity_colors(1)[0]
    solid = np.all(out[:, 32] == color, axis=-1)  # [F, W] pixels of row 32 in the full entity colour
    counts = solid.sum(axis=1)
    assert np.all(np.diff(counts) > 0)


def test_draw_tracks_anchor_is_a_square_without_a_path():
    anchor = np.repeat([[40.0, 30.0]], F, axis=0)[None]
    out = viz.draw_tracks(grey_frames(), anchor, anchors=[True], thickness=2)
    color = viz.entity_colors(1)[0]
    # Square of half size 6 around (40, 30): its corners are filled (a dot would leave them empty).
    assert np.array_equal(out[0, 30 - 4, 40 - 4], color)
    assert np.array_equal(out[0, 30, 40], color)
    assert np.all(out[:, :, :25] == 100)
    assert np.all(out[:, :, 56:] == 100)


def test_draw_tracks_mask_outline_follows_the_entity():
    mask = np.zeros((1, H, W), bool)
    mask[0, 20:40, 10:30] = True
    points = line_track((20, 30), (60, 30))[None]
    out = viz.draw_tracks(grey_frames(), points, masks=mask, thickness=1)
    color = viz.entity_colors(1)[0]
    # The mask's left edge (x=10) is outlined in frame 0 and shifted by +40 px in the last frame.
    assert near(out[0, 25, 10], color)
    assert near(out[-1, 25, 50], color)
    assert not near(out[-1, 25, 10], color)


def test_draw_tracks_marks_invisible_points_with_a_cross():
    points = np.repeat([[48.0, 32.0]], F, axis=0)[None]
    visible = np.ones((1, F), bool)
    visible[0, 2] = False
    out = viz.draw_tracks(grey_frames(), points, visible=visible, thickness=2)
    color = viz.entity_colors(1)[0]
    assert np.array_equal(out[1, 32, 48], color)
    assert np.array_equal(out[2, 32, 48], color)
    # A filled dot (radius 6) covers a pixel off the diagonals; the cross does not, but covers its diagonal.
    assert near(out[1, 32, 51], color)
    assert not near(out[2, 32, 51], color)
    assert near(out[2, 35, 51], color)


def test_draw_tracks_rejects_mismatched_inputs():
    points = line_track((1, 1), (5, 5))[None]
    with pytest.raises(DragAnythingError, match="points"):
        viz.draw_tracks(grey_frames(), points[0])
    with pytest.raises(DragAnythingError, match="frames"):
        viz.draw_tracks(grey_frames()[:4], points)
    with pytest.raises(DragAnythingError, match="masks"):
        viz.draw_tracks(grey_frames(), points, masks=np.zeros((1, H // 2, W), bool))
    with pytest.raises(DragAnythingError, match="anchors"):
        viz.draw_tracks(grey_frames(), points, anchors=[True, False])


# ------------------------------------------------------------------------------------------------ previews


def test_gaussian_heatmap_uses_opencv_jet_on_the_0_255_map():
    maps = np.zeros((2, 3, H, W), np.float32)
    maps[1, :, 10, 20] = 255.0
    maps[1, :, 11, 20] = 128.0
    heat = viz.gaussian_heatmap(maps)
    assert heat.shape == (2, H, W, 3)
    assert np.array_equal(heat[0, 0, 0], jet(0))
    assert np.array_equal(heat[0, 0, 0], [0, 0, 128])
    assert np.array_equal(heat[1, 10, 20], jet(255))
    assert np.array_equal(heat[1, 11, 20], jet(128))
    # The [F, H, W] uint8 form gives the same picture.
    assert np.array_equal(viz.gaussian_heatmap(maps[:, 0].astype(np.uint8)), heat)


def test_gaussian_heatmap_rejects_other_shapes():
    with pytest.raises(DragAnythingError, match="gaussian"):
        viz.gaussian_heatmap(np.zeros((H, W)))


def test_official_trajectory_vis_draws_the_previous_points_in_white():
    maps = np.zeros((3, H, W), np.uint8)
    points = np.array([[[10.7, 12.2], [40.0, 12.0], [70.0, 12.0]]])
    vis = viz.official_trajectory_vis(maps, points)
    white = jet(255)
    assert np.all(vis[0] == jet(0))  # no earlier point in frame 0
    # One earlier point: a single pixel at the truncated coordinate.
    assert np.array_equal(vis[1, 12, 10], white)
    assert (np.all(vis[1] == white, axis=-1).sum() == 1)
    # Two earlier points: a 3 px polyline from the first to the second, none beyond it.
    assert np.array_equal(vis[2, 12, 25], white)
    assert np.array_equal(vis[2, 13, 25], white)
    assert not np.any(np.all(vis[2, :, 45:] == white, axis=-1))


def _index_maps_and_table():
    index = np.full((F, H, W), -1, np.int16)
    index[:, 5:15, 5:15] = 0
    index[:, 40:50, 60:70] = 1
    index[3:, 20:30, 30:40] = 2
    table = torch.randn(3, 160, generator=torch.Generator().manual_seed(0))
    return index, table


def test_entity_index_preview_gives_each_entity_its_colour_on_black():
    index, table = _index_maps_and_table()
    preview = viz.entity_index_preview(index, table)
    assert preview.shape == (F, H, W, 3)
    assert np.all(preview[index < 0] == 0)
    colors = [preview[3, 10, 10], preview[3, 45, 65], preview[3, 25, 35]]
    assert len({tuple(c) for c in colors}) == 3
    assert all(c.max() >= 50 for c in colors)
    assert np.all(preview[:, 10, 10] == colors[0])  # the same entity keeps its colour over frames


def test_entity_preview_of_official_demo_scalars_still_separates_entities():
    # The official demo paints one scalar in every channel: the vectors differ along one direction only.
    index, _ = _index_maps_and_table()
    table = torch.tensor([[0.5], [-1.0], [2.0]]).expand(3, 160)
    preview = viz.entity_index_preview(index, table)
    colors = {tuple(preview[3, 10, 10]), tuple(preview[3, 45, 65]), tuple(preview[3, 25, 35])}
    assert len(colors) == 3


def test_entity_preview_of_a_single_entity_is_visible():
    index = np.full((2, H, W), -1, np.int16)
    index[:, 10:20, 10:20] = 0
    preview = viz.entity_index_preview(index, torch.ones(1, 160))
    assert preview[0, 15, 15].max() > 0
    assert np.all(preview[0, 0, 0] == 0)


def test_entity_index_preview_rejects_indices_beyond_the_table():
    index, table = _index_maps_and_table()
    with pytest.raises(DragAnythingError, match="entity_map"):
        viz.entity_index_preview(index, table[:2])


# ------------------------------------------------------------------------------------------------ composition


def test_side_by_side_scales_to_the_first_height_and_repeats_stills():
    left = grey_frames(10)
    right = np.full((1, H // 2, W // 2, 3), 200, np.uint8)  # a still at half size
    combined = viz.side_by_side(left, right, gap=2)
    assert combined.shape == (F, H, W + 2 + W, 3)
    assert np.all(combined[:, :, :W] == 10)
    assert np.all(combined[:, :, W:W + 2] == 255)
    assert np.all(combined[:, :, W + 2:] == 200)


def test_side_by_side_rejects_different_lengths():
    with pytest.raises(DragAnythingError, match="frame counts"):
        viz.side_by_side(grey_frames(), grey_frames()[:3])


def test_filmstrip_takes_first_and_last_frames():
    frames = np.stack([np.full((H, W, 3), 40 * k, np.uint8) for k in range(F)])
    strip = viz.filmstrip(frames, count=3, gap=0)
    assert strip.shape == (H, 3 * W, 3)
    assert strip[0, 0, 0] == 0
    assert strip[0, -1, 0] == 40 * (F - 1)


# ------------------------------------------------------------------------------------------------ files


def moving_square_frames(count: int = F, height: int = H, width: int = W) -> np.ndarray:
    frames = np.zeros((count, height, width, 3), np.uint8)
    frames[..., 2] = 160
    for k in range(count):
        frames[k, 10:30, 5 + 8 * k: 25 + 8 * k] = (250, 200, 0)
    return frames


def test_gif_round_trip_keeps_frames_size_and_timing(tmp_path):
    frames = moving_square_frames()
    path = viz.write_gif(tmp_path / "sub" / "clip.gif", frames)
    back = viz.read_video(path)
    assert back.shape == frames.shape
    assert np.array_equal(back, frames)  # two colours survive the palette exactly
    with Image.open(path) as gif:
        assert gif.info["duration"] == viz.OFFICIAL_FRAME_MS
        assert gif.info["loop"] == 0


def test_mp4_round_trip_with_opencv(tmp_path):
    frames = moving_square_frames()
    path = viz.write_mp4(tmp_path / "clip.mp4", frames, fps=8, codec="mp4v")
    back = viz.read_video(path)
    assert back.shape == frames.shape
    assert np.abs(back.astype(int) - frames).mean() < 8
    capture = cv2.VideoCapture(str(path))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(8, abs=0.01)
    capture.release()


def test_mp4_pads_odd_sizes_to_even(tmp_path):
    frames = moving_square_frames(height=H + 1, width=W + 1)
    back = viz.read_video(viz.write_mp4(tmp_path / "odd.mp4", frames, codec="mp4v"))
    assert back.shape == (F, H + 2, W + 2, 3)


@pytest.mark.skipif(importlib.util.find_spec("imageio_ffmpeg") is None, reason="imageio-ffmpeg is not installed")
def test_mp4_h264_when_imageio_ffmpeg_is_installed(tmp_path):
    frames = moving_square_frames()
    back = viz.read_video(viz.write_mp4(tmp_path / "clip.mp4", frames, codec="h264"))
    assert back.shape == frames.shape
    assert np.abs(back.astype(int) - frames).mean() < 8


def test_write_video_picks_the_format_by_suffix(tmp_path):
    frames = moving_square_frames()
    assert viz.read_video(viz.write_video(tmp_path / "a.GIF", frames)).shape == frames.shape
    assert viz.read_video(viz.write_video(tmp_path / "a.mp4", frames)).shape == frames.shape
    with pytest.raises(DragAnythingError, match=r"\.gif or \.mp4"):
        viz.write_video(tmp_path / "a.avi", frames)


def test_write_mp4_rejects_an_unknown_codec(tmp_path):
    with pytest.raises(DragAnythingError, match="codec"):
        viz.write_mp4(tmp_path / "a.mp4", moving_square_frames(), codec="vp9")


def test_read_video_reports_missing_and_unreadable_files(tmp_path):
    with pytest.raises(DragAnythingError, match="no file"):
        viz.read_video(tmp_path / "absent.gif")
    junk = tmp_path / "junk.gif"
    junk.write_bytes(b"not a gif")
    with pytest.raises(DragAnythingError, match="not a readable"):
        viz.read_video(junk)


def test_write_png_writes_one_image(tmp_path):
    image = moving_square_frames()[0]
    path = viz.write_png(tmp_path / "still.png", image)
    assert np.array_equal(np.asarray(Image.open(path)), image)
