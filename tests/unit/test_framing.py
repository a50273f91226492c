"""Framing: points, masks and images mapped exactly as the first frame is mapped to the model's size."""

import json

import numpy as np
import pytest

from draganything.errors import DragAnythingError
from draganything.framing import Framing
from draganything.trajectory import load_official_demo


def test_official_rounding_matches_demo_py_for_every_official_demo(official_demo_dir):
    # demo.py: [int(x / W0 * W), int(y / H0 * H)] for every JSON point, at 576x320.
    for json_path in sorted(official_demo_dir.glob("*/demo*.json")):
        trajectories, _ = load_official_demo(json_path)
        framing = Framing(trajectories.width, trajectories.height, 576, 320, "stretch")
        raw = json.loads(json_path.read_text())
        for entity, record in zip(trajectories, raw.values()):
            expected = [
                [int(x / trajectories.width * 576), int(y / trajectories.height * 320)]
                for x, y in record["trajectory"]
            ]
            assert framing.points(entity.points, official_rounding=True).tolist() == expected, json_path


def test_ship_path_endpoints_match_the_spec(official_demo_dir):
    trajectories, _ = load_official_demo(official_demo_dir / "ship_@")
    points, visible = trajectories.resampled(20, mode="index")
    mapped = Framing(trajectories.width, trajectories.height, 576, 320).points(points, official_rounding=True)
    assert mapped[0, 0].tolist() == [343, 225] and mapped[0, -1].tolist() == [140, 252]
    assert visible.all()
