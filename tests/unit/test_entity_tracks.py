"""Dense entity tracks for Wan-Move: points spread over each mask move with the entity (translation, zoom, turn),
stay inside the moved mask, carry the visibility rule, land in the video's pixels after framing; bad input."""

import cv2
import numpy as np
import pytest

from draganything.entity_tracks import entity_point_tracks, sample_mask_points
from draganything.errors import DragAnythingError
from draganything.framing import Framing
from draganything.trajectory import CameraMove, Entity, Trajectories, apply_camera_move, rotate

W, H = 200, 120


def disc(cx, cy, radius):
    mask = np.zeros((H, W), np.uint8)
    cv2.circle(mask, (cx, cy), radius, 1, -1)
    return mask.astype(bool)


def scene():
    masks = np.stack([disc(50, 60, 20), np.ones((H, W), bool) & ~disc(50, 60, 22)])
    trajectories = Trajectories([Entity("ball", [[50, 60], [150, 40]], hidden=[[7, 8]]),
                                 Entity("ground", [[150, 100]], anchor=True)], W, H)
    return trajectories, masks


def moved_mask(mask, start, point, scale, degrees):
    """The source mask moved as the entity moves (p -> point + scale R (p - start)), dilated by a pixel."""
    linear = scale * rotate(np.eye(2), degrees).T  # columns: the images of the x and y unit vectors
    matrix = np.concatenate([linear, (np.asarray(point) - linear @ start)[:, None]], axis=1)
    warped = cv2.warpAffine(mask.astype(np.uint8), matrix, (W, H), flags=cv2.INTER_NEAREST)
    return cv2.dilate(warped, np.ones((3, 3), np.uint8)).astype(bool)


def inside(mask, points):
    cols = np.clip(np.floor(points[:, 0]).astype(int), 0, mask.shape[1] - 1)
    rows = np.clip(np.floor(points[:, 1]).astype(int), 0, mask.shape[0] - 1)
    return mask[rows, cols]


def test_sampled_points_cover_the_mask_evenly_and_deterministically():
    mask = disc(100, 60, 40)
    points = sample_mask_points(mask, 50)
    assert points.shape == (50, 2) and inside(mask, points).all()
    assert np.array_equal(points, sample_mask_points(mask, 50))
    spacing = np.sort(np.linalg.norm(points[:, None] - points[None], axis=2), axis=1)[:, 1]
    # Fifty points over a disc of radius 40 are about 10 px apart; none crowd together.
    assert spacing.min() > 6
    assert len(sample_mask_points(disc(10, 10, 1), 50)) == 5  # a small mask gives what it has


def test_points_move_with_the_entity_and_stay_inside_the_moved_mask():
    trajectories, masks = scene()
    tracks = entity_point_tracks(trajectories, masks, 10, points_per_entity=40, mode="arc_length")
    path, visible, rows = tracks["track_path"], tracks["track_visibility"], tracks["entity"]
    assert path.shape == (10, 80, 2) and visible.shape == (10, 80) and rows.tolist() == [0] * 40 + [1] * 40
    motion = trajectories.motion(10, "arc_length")
    for frame in range(10):
        ball = moved_mask(masks[0], motion.points[0, 0], motion.points[0, frame], 1.0, 0.0)
        assert inside(ball, path[frame, :40]).all()
        # The ground holds still.
        assert np.array_equal(path[frame, 40:], path[0, 40:])
    # Hidden frames 7-8 hide every point of the ball, and only the ball's.
    assert visible[:, :40].all(axis=1).tolist() == [True] * 7 + [False] * 2 + [True]
    assert not visible[[7, 8], :40].any() and visible[:, 40:].all()


def test_zoom_and_orbit_scale_and_turn_the_held_entity_about_the_centre():
    trajectories, masks = scene()
    moved = apply_camera_move(trajectories, CameraMove(zoom=1.5, orbit=20.0, centre=(100, 60)), 9)
    tracks = entity_point_tracks(moved, masks, 9, points_per_entity=60, mode="pchip")
    ground = tracks["track_path"][:, tracks["entity"] == 1]
    start = ground[0]
    for frame, u in enumerate(np.linspace(0, 1, 9)):
        expected = np.array([100, 60]) + 1.5**u * rotate(start - [100, 60], 20.0 * u)
        assert np.allclose(ground[frame], expected, atol=1e-3)
    motion = moved.motion(9, "pchip")
    last = moved_mask(masks[1], motion.points[1, 0], motion.points[1, -1], 1.5, 20.0)
    shown = tracks["track_visibility"][-1, tracks["entity"] == 1]
    assert inside(last, ground[-1][shown]).all()
    # Zooming in pushes points near the edge out of the picture: those are not visible, the rest are.
    off = (ground[-1] < 0).any(axis=1) | (ground[-1, :, 0] > W) | (ground[-1, :, 1] > H)
    assert off.any() and np.array_equal(shown, ~off)


def test_tracks_are_in_the_video_pixels_after_the_host_centre_crop():
    trajectories, masks = scene()
    tracks = entity_point_tracks(trajectories, masks, 5, width=96, height=96, framing="center_crop",
                                 points_per_entity=30)
    source = entity_point_tracks(trajectories, masks, 5, points_per_entity=30)
    to_video = Framing(W, H, 96, 96, "center_crop")
    # Points are sampled only where the crop shows the mask, so frame 0 is all visible and inside the video.
    assert tracks["track_visibility"][0].all()
    assert (tracks["track_path"][0] >= 0).all() and (tracks["track_path"][0] <= 96).all()
    assert to_video.crop_box == (40, 0, 160, 120)
    ball_x = to_video.points_to_source(tracks["track_path"][0, tracks["entity"] == 0])[:, 0]
    assert (ball_x >= 40).all() and not np.array_equal(tracks["track_path"], source["track_path"])


def test_bad_masks_and_entities_are_refused_with_a_message():
    trajectories, masks = scene()
    cases = [
        (dict(masks=masks[:1]), "masks", "1 masks"),
        (dict(masks=masks[:, :60]), "masks", "the masks are 200x60"),
        (dict(masks=np.stack([masks[0], np.zeros_like(masks[1])])), "mask of entity 'ground'", "it is empty"),
        (dict(masks=np.stack([disc(10, 60, 8), masks[1]]), width=96, height=96), "mask of entity 'ball'",
         "nothing of it is inside the 96x96 video after center_crop"),
    ]
    for arguments, name, problem in cases:
        with pytest.raises(DragAnythingError) as error:
            entity_point_tracks(trajectories, **{"masks": masks, **arguments}, num_frames=4)
        assert error.value.input_name == name and problem in error.value.problem
    flagged = Trajectories([Entity("ball", [[50, 60], [60, 60]], visible=[False, True]), trajectories.entities[1]],
                           W, H)
    with pytest.raises(DragAnythingError, match="not visible on the first frame"):
        entity_point_tracks(flagged, masks, 4)
    with pytest.raises(DragAnythingError, match="frame size"):
        entity_point_tracks(Trajectories(trajectories.entities), masks, 4)


def test_masks_as_bool_0_1_0_255_and_0_to_1_give_the_same_tracks():
    trajectories, masks = scene()
    reference = entity_point_tracks(trajectories, masks, 4, points_per_entity=10)
    for encoded in (masks.astype(np.uint8), masks.astype(np.uint8) * 255, masks.astype(np.float32) * 0.9):
        tracks = entity_point_tracks(trajectories, encoded, 4, points_per_entity=10)
        assert np.array_equal(tracks["track_path"], reference["track_path"])
    with pytest.raises(DragAnythingError, match="masks: it holds <U1 values"):
        entity_point_tracks(trajectories, np.full((2, H, W), "x"), 4)
