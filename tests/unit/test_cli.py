"""`python -m draganything`: success paths write readable files of the right shape; bad input exits 1 with one
paragraph on stderr (never a traceback); a bad command line exits 2."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from draganything import cli, viz
from draganything.assets import EXAMPLE_DIR, EXAMPLE_IMAGE, EXAMPLE_TRAJECTORIES, make_example

PROJECT_DIR = Path(__file__).resolve().parents[2]
# Gaussian stacks of the official demo (spec section 4), as the official code builds them.
OFFICIAL_GAUSSIAN_MD5 = {"ship_@": "b7427e1aa74f4f52574e800fafc229e3", "bird_@": "d7baf48e9ef719923390cf353afe974f"}
W, H = 576, 320
EXAMPLE_FRAMES = 14


def run(capsys, *argv):
    """Run the CLI in-process: (exit status, stdout, stderr)."""
    status = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def gif_frames(path: Path) -> tuple[int, int, int]:
    """(frames played, height, width) of a GIF: runs of identical frames are stored once with a longer delay."""
    with Image.open(path) as gif:
        total = 0
        for index in range(gif.n_frames):
            gif.seek(index)
            total += gif.info["duration"]
        assert total % viz.OFFICIAL_FRAME_MS == 0
        return total // viz.OFFICIAL_FRAME_MS, gif.size[1], gif.size[0]


def assert_bad_input(status, err, *fragments):
    assert status == cli.EXIT_BAD_INPUT
    assert err.startswith("error: ")
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1  # one paragraph
    for fragment in fragments:
        assert fragment in err


@pytest.fixture
def example_copy(tmp_path) -> Path:
    """The shipped example in a scratch folder, to be edited by a test."""
    folder = tmp_path / "input"
    shutil.copytree(EXAMPLE_DIR, folder)
    return folder


def example_args(folder: Path, *extra):
    return ["conditions", "--image", folder / "image.png", "--trajectories", folder / "trajectories.json", *extra]


# ------------------------------------------------------------------------------------------------ the asset


def test_shipped_example_is_what_its_generator_builds(tmp_path):
    make_example.main(tmp_path)
    for name in ("mask_car.png", "mask_balloon.png", "mask_road.png"):
        assert np.array_equal(np.asarray(Image.open(tmp_path / name)), np.asarray(Image.open(EXAMPLE_DIR / name)))
    built, shipped = (np.asarray(Image.open(folder / "image.png")).astype(int) for folder in (tmp_path, EXAMPLE_DIR))
    assert built.shape == shipped.shape == (H, W, 3)
    assert np.abs(built - shipped).mean() < 0.5  # anti-aliased edges may differ by a level across OpenCV builds
    assert (tmp_path / "trajectories.json").read_text() == EXAMPLE_TRAJECTORIES.read_text()
    assert sum(path.stat().st_size for path in EXAMPLE_DIR.iterdir()) < 300_000


def test_shipped_masks_are_binary_and_each_names_its_entity():
    document = json.loads(EXAMPLE_TRAJECTORIES.read_text())
    for entity in document["entities"]:
        mask = np.asarray(Image.open(EXAMPLE_DIR / entity["mask_name"]))
        assert set(np.unique(mask)) == {0, 255}
        x, y = entity["points"][0]
        assert mask[y, x] == 255, f"the first point of {entity['id']} is not on its mask"


# ------------------------------------------------------------------------------------------------ conditions


def test_conditions_example_writes_previews_of_the_right_shape(tmp_path, capsys):
    status, out, err = run(capsys, "conditions", "--example", "--out", tmp_path / "out")
    assert status == cli.EXIT_OK, err
    assert gif_frames(tmp_path / "out" / "conditions.gif") == (EXAMPLE_FRAMES, H, 3 * W + 2 * 4)
    assert gif_frames(tmp_path / "out" / "overlay.gif") == (EXAMPLE_FRAMES, H, W)
    strip = np.asarray(Image.open(tmp_path / "out" / "conditions.png"))
    assert strip.shape == (3 * H + 2 * 4, 5 * W + 4 * 4, 3)
    assert "stand-in" in out
    assert "3 entities, 14 frames at 576x320" in out
    assert out.count("wrote ") == 4


def test_conditions_example_maps_follow_the_trajectory_file(tmp_path, capsys):
    status, _, err = run(capsys, "conditions", "--example", "--out", tmp_path)
    assert status == cli.EXIT_OK, err
    maps = np.load(tmp_path / "conditions.npz")
    document = json.loads(EXAMPLE_TRAJECTORIES.read_text())
    ids = [entity["id"] for entity in document["entities"]]
    assert list(maps["entity_ids"]) == ids
    assert bool(maps["stand_in"])
    assert maps["gaussian"].shape == maps["entity_index"].shape == (EXAMPLE_FRAMES, H, W)
    # Time-stamped waypoints: the car reaches each one at its frame; the road anchor never moves.
    car = document["entities"][ids.index("car")]
    for (x, y), frame in zip(car["points"], car["frames"], strict=True):
        assert np.allclose(maps["points"][ids.index("car"), frame], (x, y), atol=1)
        assert maps["entity_index"][frame, y, x] == ids.index("car")
        window = maps["gaussian"][frame, y - 2:y + 3, x - 2:x + 3]  # the Gaussian's peak sits on the point
        assert window.max() >= 250
        assert window.max() == maps["gaussian"][frame, y - 20:y + 21, x - 20:x + 21].max()
    assert np.ptp(maps["points"][ids.index("road")], axis=0).max() == 0
    # Stand-in embeddings: one distinct vector per entity.
    assert len({row.tobytes() for row in maps["embeddings"]}) == len(ids)


def test_conditions_example_mp4(tmp_path, capsys):
    status, _, err = run(capsys, "conditions", "--example", "--out", tmp_path, "--mp4", "--frames", "6",
                           "--size", "320x192")
    assert status == cli.EXIT_OK, err
    assert viz.read_video(tmp_path / "overlay.mp4").shape == (6, 192, 320, 3)
    assert viz.read_video(tmp_path / "conditions.mp4").shape == (6, 192, 3 * 320 + 8, 3)


def test_conditions_options_change_size_frames_and_modes(tmp_path, capsys):
    status, out, err = run(capsys, "conditions", "--example", "--out", tmp_path, "--size", "448x256", "--frames",
                           "9", "--framing", "center_crop", "--resample", "arc_length", "--gaussian-mode",
                           "analytic", "--entity-mode", "official_demo")
    assert status == cli.EXIT_OK, err
    maps = np.load(tmp_path / "conditions.npz")
    assert maps["gaussian"].shape == (9, 256, 448)
    assert maps["gaussian"].dtype == np.float32
    assert gif_frames(tmp_path / "overlay.gif") == (9, 256, 448)
    # official_demo mode paints one scalar in every channel.
    assert np.all(maps["embeddings"] == maps["embeddings"][:, :1])
    assert "center_crop framing, arc_length resampling, analytic Gaussians, official_demo entity map" in out


def test_conditions_explicit_files_and_a_mask_folder(example_copy, tmp_path, capsys):
    masks = [example_copy / f"mask_{name}.png" for name in ("road", "car", "balloon")]
    status, _, err = run(capsys, *example_args(example_copy, "--masks", *masks, "--out", tmp_path / "a"))
    assert status == cli.EXIT_OK, err
    status, _, err = run(capsys, *example_args(example_copy, "--masks", example_copy, "--out", tmp_path / "b"))
    assert status == cli.EXIT_OK, err
    first, second = (np.load(tmp_path / name / "conditions.npz") for name in "ab")
    assert np.array_equal(first["gaussian"], second["gaussian"])


# One click per entity of the example, in its order (road, car, balloon), where a user would click on each.
EXAMPLE_CLICKS = ["470,296", "105,224", "440,104"]


def click_args(*clicks):
    return [part for click in clicks for part in ("--click", click)]


def test_conditions_makes_the_masks_from_clicks(tmp_path, capsys):
    from draganything.conditions import build_conditions
    from draganything.segmentation import EntityPrompt, segment_with_grabcut
    from draganything.trajectory import load_trajectories

    status, out, err = run(capsys, "conditions", "--example", *click_args(*EXAMPLE_CLICKS), "--out", tmp_path / "c")
    assert status == cli.EXIT_OK, err
    assert "car: 4 point(s), radius" in out and "mask from the click (105, 224) by GrabCut" in out
    clicked = np.load(tmp_path / "c" / "conditions.npz")
    # The maps are built on exactly the masks GrabCut makes from those clicks...
    image = np.asarray(Image.open(EXAMPLE_IMAGE).convert("RGB"))
    prompts = [EntityPrompt(np.array([[float(v) for v in click.split(",")]]), np.ones(1, int)) for click in EXAMPLE_CLICKS]
    trajectories = load_trajectories(EXAMPLE_TRAJECTORIES)
    expected = build_conditions(trajectories, list(segment_with_grabcut(image, prompts)), num_frames=EXAMPLE_FRAMES,
                                resample="time")
    assert clicked["sides"].tolist() == expected.sides.tolist()
    # ...the car's about as large as with the scene's own mask (how well GrabCut does is tested with it).
    status, _, err = run(capsys, "conditions", "--example", "--out", tmp_path / "m")
    assert status == cli.EXIT_OK, err
    shipped = np.load(tmp_path / "m" / "conditions.npz")
    assert abs(int(clicked["sides"][1]) - int(shipped["sides"][1])) <= 0.25 * shipped["sides"][1]
    assert clicked["entity_index"][0, 236, 112] == 1 and clicked["entity_index"][0, 104, 440] == 2


@pytest.mark.parametrize("extra, fragments", [
    (click_args("112,236"), ["--click", "1 click(s) for 3 entities", "road, car, balloon"]),
    (click_args("470,296", "112,236", "900,104"), ["--click", "(900, 104) lies outside the 576x320"]),
    (click_args(*EXAMPLE_CLICKS) + ["--masks", "m.png"], ["--click", "--masks"]),
    (["--sam", "sam_vit_b_01ec64.pth"], ["--sam", "--click"]),
    (click_args(*EXAMPLE_CLICKS) + ["--sam", "missing_sam.pth"], ["--sam", "no file", "sam_vit_b_01ec64.pth"]),
])
def test_bad_clicks_are_refused(tmp_path, capsys, extra, fragments):
    status, _, err = run(capsys, "conditions", "--example", *extra, "--out", tmp_path)
    assert_bad_input(status, err, *fragments)


@pytest.mark.slow
def test_conditions_makes_the_masks_with_sam_from_clicks(tmp_path, capsys):
    import torch
    from segment_anything import sam_model_registry

    torch.manual_seed(0)
    torch.save(sam_model_registry["vit_b"]().state_dict(), tmp_path / "sam_vit_b_random.pth")
    status, out, err = run(capsys, "conditions", "--example", *click_args(*EXAMPLE_CLICKS), "--sam",
                           tmp_path / "sam_vit_b_random.pth", "--frames", "3", "--out", tmp_path / "out")
    # Random weights make arbitrary (small) masks; what matters here is that SAM made them from the clicks.
    assert status == cli.EXIT_OK, err
    assert "mask from the click (105, 224) by SAM vit_b" in out
    assert np.load(tmp_path / "out" / "conditions.npz")["sides"].min() > 0


def test_conditions_reads_kjnodes_coordinates_with_unnamed_masks(example_copy, tmp_path, capsys):
    # KJNodes: a list of tracks of {"x", "y"}; no masks named, so a folder of exactly one mask per track.
    tracks = [[{"x": 112, "y": 236}, {"x": 340, "y": 235}], [{"x": 440, "y": 104}, {"x": 352, "y": 66}]]
    (example_copy / "kj.json").write_text(json.dumps(tracks))
    mask_folder = tmp_path / "masks"
    mask_folder.mkdir()
    shutil.copy(example_copy / "mask_car.png", mask_folder / "1.png")
    shutil.copy(example_copy / "mask_balloon.png", mask_folder / "2.png")
    status, out, err = run(capsys, "conditions", "--image", example_copy / "image.png", "--trajectories",
                           example_copy / "kj.json", "--masks", mask_folder, "--frames", "8", "--out", tmp_path / "o")
    assert status == cli.EXIT_OK, err
    maps = np.load(tmp_path / "o" / "conditions.npz")
    assert "arc_length resampling" in out  # two waypoints, no stamps: constant speed
    assert np.allclose(maps["points"][0, [0, -1]], [[112, 236], [340, 235]], atol=1)


def test_conditions_scales_points_drawn_on_a_larger_frame(example_copy, tmp_path, capsys):
    # Nested [x, y] lists drawn on a 1152x640 copy of the image: --width/--height say so.
    (example_copy / "big.json").write_text(json.dumps([[[224, 472], [680, 470]], [[880, 208], [704, 132]]]))
    masks = [example_copy / "mask_car.png", example_copy / "mask_balloon.png"]
    status, _, err = run(capsys, "conditions", "--image", example_copy / "image.png", "--trajectories",
                         example_copy / "big.json", "--masks", *masks, "--width", "1152", "--height", "640",
                         "--frames", "5", "--out", tmp_path)
    assert status == cli.EXIT_OK, err
    points = np.load(tmp_path / "conditions.npz")["points"]
    assert np.allclose(points[0, 0], (112, 236), atol=1)
    assert np.allclose(points[1, -1], (352, 66), atol=1)


@pytest.mark.parametrize("case", sorted(OFFICIAL_GAUSSIAN_MD5))
def test_conditions_on_an_official_demo_folder_reproduces_the_official_gaussians(official_demo_dir, case, tmp_path,
                                                                                 capsys):
    status, _, err = run(capsys, "conditions", "--demo-folder", official_demo_dir / case, "--out", tmp_path)
    assert status == cli.EXIT_OK, err
    gaussian = np.load(tmp_path / "conditions.npz")["gaussian"]
    assert gaussian.shape == (20, H, W)
    assert gaussian.dtype == np.uint8
    assert hashlib.md5(np.ascontiguousarray(gaussian).tobytes()).hexdigest() == OFFICIAL_GAUSSIAN_MD5[case]
    assert gif_frames(tmp_path / "overlay.gif") == (20, H, W)


def test_conditions_demo_folder_takes_another_json_of_the_case(official_demo_dir, tmp_path, capsys):
    case = next(folder for folder in sorted(official_demo_dir.iterdir()) if (folder / "demo1.json").is_file())
    status, _, err = run(capsys, "conditions", "--demo-folder", case, "--trajectories", "demo1.json",
                         "--frames", "4", "--out", tmp_path)
    assert status == cli.EXIT_OK, err
    expected = json.loads((case / "demo1.json").read_text())
    assert list(np.load(tmp_path / "conditions.npz")["entity_ids"]) == list(expected)


# ------------------------------------------------------------------------------------------------ bad input


def test_missing_image(tmp_path, capsys):
    status, _, err = run(capsys, "conditions", "--image", tmp_path / "none.png", "--trajectories",
                         EXAMPLE_TRAJECTORIES, "--out", tmp_path)
    assert_bad_input(status, err, "--image", "none.png")


def test_image_that_is_not_an_image(example_copy, tmp_path, capsys):
    (example_copy / "image.png").write_text("hello")
    status, _, err = run(capsys, *example_args(example_copy, "--out", tmp_path))
    assert_bad_input(status, err, "not a readable image")


def test_missing_trajectory_file(example_copy, tmp_path, capsys):
    status, _, err = run(capsys, "conditions", "--image", example_copy / "image.png", "--trajectories",
                         example_copy / "absent.json", "--out", tmp_path)
    assert_bad_input(status, err, "absent.json")


def test_trajectories_required_with_image(capsys, tmp_path):
    status, _, err = run(capsys, "conditions", "--image", EXAMPLE_IMAGE, "--out", tmp_path)
    assert_bad_input(status, err, "--trajectories")


@pytest.mark.parametrize(("text", "fragment"), [
    ('{"format": "draganything/trajectories", "version": 1, "entities": [', "not valid JSON"),
    ("[]", "holds no trajectory"),
    ('{"format": "draganything/trajectories", "version": 9, "entities": []}', "version"),
    ('[[[1, 2], [3, "x"]]]', "not a number"),
])
def test_malformed_trajectory_files(example_copy, tmp_path, capsys, text, fragment):
    (example_copy / "trajectories.json").write_text(text)
    status, _, err = run(capsys, *example_args(example_copy, "--out", tmp_path))
    assert_bad_input(status, err, fragment)


def test_wrong_number_of_mask_files(example_copy, tmp_path, capsys):
    status, _, err = run(capsys, *example_args(example_copy, "--masks", example_copy / "mask_car.png", "--out",
                                              tmp_path))
    assert_bad_input(status, err, "1 mask file(s) for 3 entities")


def test_missing_mask_file(example_copy, tmp_path, capsys):
    (example_copy / "mask_car.png").unlink()
    status, _, err = run(capsys, *example_args(example_copy, "--out", tmp_path))
    assert_bad_input(status, err, "entity 'car'", "mask_car.png")


def test_mask_folder_with_the_wrong_count(example_copy, tmp_path, capsys):
    (example_copy / "kj.json").write_text('[[{"x": 10, "y": 10}]]')
    status, _, err = run(capsys, "conditions", "--image", example_copy / "image.png", "--trajectories",
                         example_copy / "kj.json", "--masks", example_copy, "--out", tmp_path)
    assert_bad_input(status, err, "3 mask image(s) for 1 entities")  # the first frame itself is not counted


def test_unnamed_masks_must_be_given(example_copy, tmp_path, capsys):
    (example_copy / "kj.json").write_text('[[{"x": 10, "y": 10}]]')
    status, _, err = run(capsys, "conditions", "--image", example_copy / "image.png", "--trajectories",
                         example_copy / "kj.json", "--out", tmp_path)
    assert_bad_input(status, err, "--masks")


def test_empty_mask(example_copy, tmp_path, capsys):
    Image.fromarray(np.zeros((H, W), np.uint8)).save(example_copy / "mask_car.png")
    status, _, err = run(capsys, *example_args(example_copy, "--out", tmp_path))
    assert_bad_input(status, err, "entity 'car'", "empty")


def test_mask_of_another_aspect_ratio(example_copy, tmp_path, capsys):
    Image.fromarray(np.full((100, 100), 255, np.uint8)).save(example_copy / "mask_car.png")
    status, _, err = run(capsys, *example_args(example_copy, "--out", tmp_path))
    assert_bad_input(status, err, "entity 'car'", "aspect ratio")


def test_points_frame_of_another_aspect_ratio(example_copy, tmp_path, capsys):
    (example_copy / "kj.json").write_text('[[{"x": 10, "y": 10}]]')
    status, _, err = run(capsys, "conditions", "--image", example_copy / "image.png", "--trajectories",
                         example_copy / "kj.json", "--masks", example_copy / "mask_car.png", "--width", "100",
                         "--height", "100", "--out", tmp_path)
    assert_bad_input(status, err, "100x100", "576x320")


def test_frame_count_the_trajectories_cannot_serve(tmp_path, capsys):
    status, _, err = run(capsys, "conditions", "--example", "--resample", "index", "--frames", "20", "--out", tmp_path)
    assert_bad_input(status, err, "14 frames")


def test_demo_folder_that_is_not_a_folder(tmp_path, capsys):
    status, _, err = run(capsys, "conditions", "--demo-folder", tmp_path / "nowhere", "--out", tmp_path)
    assert_bad_input(status, err, "--demo-folder")


def test_demo_folder_without_demo_json(tmp_path, capsys):
    status, _, err = run(capsys, "conditions", "--demo-folder", tmp_path, "--out", tmp_path / "o")
    assert_bad_input(status, err, "demo.json")


def test_example_rejects_its_own_inputs_being_overridden(tmp_path, capsys):
    status, _, err = run(capsys, "conditions", "--example", "--trajectories", EXAMPLE_TRAJECTORIES, "--out", tmp_path)
    assert_bad_input(status, err, "--trajectories", "--example")


def test_out_is_an_existing_file(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    status, _, err = run(capsys, "conditions", "--example", "--frames", "2", "--out", blocker)
    assert_bad_input(status, err, "File exists", str(blocker))


def test_dift_folder_missing_or_incomplete(tmp_path, capsys):
    status, _, err = run(capsys, "conditions", "--example", "--dift", tmp_path / "nowhere", "--out", tmp_path)
    assert_bad_input(status, err, "--dift", "not a folder")
    (tmp_path / "sd" / "unet").mkdir(parents=True)
    status, _, err = run(capsys, "conditions", "--example", "--dift", tmp_path / "sd", "--out", tmp_path)
    assert_bad_input(status, err, "--dift", "vae/")


def test_unknown_device(tmp_path, capsys):
    (tmp_path / "sd").mkdir()
    status, _, err = run(capsys, "conditions", "--example", "--dift", tmp_path / "sd", "--device", "toaster",
                         "--out", tmp_path)
    assert_bad_input(status, err, "--device")


@pytest.mark.parametrize("argv", [
    [],
    ["paint"],
    ["conditions", "--example"],  # no --out
    ["conditions", "--out", "x"],  # no input
    ["conditions", "--example", "--image", "a.png", "--out", "x"],  # two inputs
    ["conditions", "--example", "--size", "576by320", "--out", "x"],
    ["conditions", "--example", "--frames", "0", "--out", "x"],
    ["conditions", "--example", "--framing", "zoom", "--out", "x"],
    ["conditions", "--example", "--click", "112", "--out", "x"],
    ["conditions", "--example", "--click", "a,b", "--out", "x"],
])
def test_bad_command_lines_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == cli.EXIT_USAGE
    assert "usage:" in capsys.readouterr().err


def test_unexpected_errors_are_one_paragraph_unless_debugging(monkeypatch, tmp_path, capsys):
    def broken(args):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "run_conditions", broken)
    status, _, err = run(capsys, "conditions", "--example", "--out", tmp_path)
    assert status == cli.EXIT_INTERNAL
    assert "RuntimeError: boom" in err
    assert "--debug" in err
    assert "Traceback" not in err
    with pytest.raises(RuntimeError, match="boom"):
        cli.main(["--debug", "conditions", "--example", "--out", str(tmp_path)])


# ------------------------------------------------------------------------------------------------ generate


def write_random_models(root: Path) -> dict[str, Path]:
    """Small random models in the layouts the command reads: an SVD img2vid diffusers folder, a DragAnything
    ControlNet folder (config.json + safetensors) and an SD-1.5-layout folder for DIFT whose last up block has
    320 channels, so the entity vectors have the 160 channels the ControlNet takes."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPImageProcessor, CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from draganything.testing import random_controlnet, random_image_encoder, random_unet, random_vae

    svd = root / "svd"
    random_unet().save_pretrained(svd / "unet")
    random_vae().save_pretrained(svd / "vae")
    random_image_encoder().save_pretrained(svd / "image_encoder")
    CLIPImageProcessor(crop_size=224, size={"shortest_edge": 224}).save_pretrained(svd / "feature_extractor")
    from draganything.pipeline import build_scheduler

    build_scheduler().save_pretrained(svd / "scheduler")
    (svd / "model_index.json").write_text(json.dumps({
        "_class_name": "StableVideoDiffusionPipeline", "_diffusers_version": "0.24.0",
        "feature_extractor": ["transformers", "CLIPImageProcessor"],
        "image_encoder": ["transformers", "CLIPVisionModelWithProjection"],
        "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        "unet": ["diffusers", "UNetSpatioTemporalConditionModel"],
        "vae": ["diffusers", "AutoencoderKLTemporalDecoder"],
    }))
    random_controlnet().save_pretrained(root / "controlnet")

    dift = root / "dift"
    torch.manual_seed(0)
    UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, cross_attention_dim=32,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(320, 32, 64, 64), attention_head_dim=8, norm_num_groups=16,
    ).save_pretrained(dift / "unet")
    AutoencoderKL(
        latent_channels=4, layers_per_block=1, norm_num_groups=4, block_out_channels=(8, 8, 16, 16),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
    ).save_pretrained(dift / "vae")
    vocabulary = root / "vocabulary"
    vocabulary.mkdir()
    (vocabulary / "vocab.json").write_text(json.dumps({"<|startoftext|>": 0, "<|endoftext|>": 1, "a</w>": 2}))
    (vocabulary / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(vocabulary / "vocab.json"), str(vocabulary / "merges.txt"), model_max_length=77)
    tokenizer.save_pretrained(dift / "tokenizer")
    CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer) + 4, hidden_size=32, intermediate_size=37, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )).save_pretrained(dift / "text_encoder")
    return {"svd": svd, "controlnet": root / "controlnet", "dift": dift}


@pytest.fixture(scope="module")
def random_models(tmp_path_factory) -> dict[str, Path]:
    return write_random_models(tmp_path_factory.mktemp("models"))


def generate_args(models, out, *extra):
    return ["generate", "--example", "--svd", models["svd"], "--controlnet", models["controlnet"], "--dift",
            models["dift"], "--size", "128x64", "--frames", "3", "--steps", "1", "--out", out, *extra]


@pytest.mark.slow
def test_generate_writes_the_video_and_its_panels(random_models, tmp_path, capsys):
    status, out, err = run(capsys, *generate_args(random_models, tmp_path, "--mp4", "--preset", "official"))
    assert status == cli.EXIT_OK, err
    assert viz.read_video(tmp_path / "video.gif").shape == (3, 64, 128, 3)
    assert viz.read_video(tmp_path / "video.mp4").shape == (3, 64, 128, 3)
    assert gif_frames(tmp_path / "side_by_side.gif") == (3, 64, 256)
    assert gif_frames(tmp_path / "tracks.gif") == (3, 64, 128)
    assert "1 steps, official preset, seed 0" in out
    assert "stand-in" not in out


@pytest.mark.slow
def test_conditions_with_a_dift_model_paints_its_features(random_models, tmp_path, capsys):
    status, out, err = run(capsys, "conditions", "--example", "--dift", random_models["dift"], "--size", "256x128",
                           "--frames", "3", "--out", tmp_path)
    assert status == cli.EXIT_OK, err
    maps = np.load(tmp_path / "conditions.npz")
    assert not bool(maps["stand_in"])
    assert "stand-in" not in out
    assert maps["embeddings"].shape == (3, 160)
    stand_in = cli.stand_in_vectors(3)
    assert not np.allclose(maps["embeddings"], stand_in.reshape(3, 160, 2).mean(-1).numpy())
    # Same seed, same features.
    status, _, err = run(capsys, "conditions", "--example", "--dift", random_models["dift"], "--size", "256x128",
                         "--frames", "3", "--out", tmp_path / "again")
    assert status == cli.EXIT_OK, err
    assert np.array_equal(np.load(tmp_path / "again" / "conditions.npz")["embeddings"], maps["embeddings"])


def test_generate_checks_the_size_rule_before_loading_anything(tmp_path, capsys):
    status, _, err = run(capsys, "generate", "--example", "--svd", tmp_path, "--controlnet", tmp_path, "--dift",
                         tmp_path, "--size", "600x320", "--out", tmp_path / "o")
    assert_bad_input(status, err, "--size", "multiple of 64")


def test_generate_needs_a_dift_model(tmp_path, capsys):
    status, _, err = run(capsys, "generate", "--example", "--svd", tmp_path, "--controlnet", tmp_path, "--out",
                         tmp_path / "o")
    assert_bad_input(status, err, "--dift")


def test_generate_reports_a_controlnet_file_that_is_not_safetensors(tmp_path, capsys):
    weights = tmp_path / "controlnet.safetensors"
    weights.write_bytes(b"PK\x03\x04 a zip, not safetensors")
    status, _, err = run(capsys, "generate", "--example", "--svd", tmp_path, "--controlnet", weights, "--dift",
                         tmp_path, "--out", tmp_path / "o")
    assert_bad_input(status, err)


@pytest.mark.slow
def test_generate_reports_a_checkpoint_of_another_model(random_models, tmp_path, capsys):
    models = dict(random_models, controlnet=random_models["dift"] / "unet")
    status, _, err = run(capsys, *generate_args(models, tmp_path))
    assert_bad_input(status, err)


@pytest.mark.slow
def test_generate_reports_an_svd_folder_that_is_not_one(random_models, tmp_path, capsys):
    models = dict(random_models, svd=random_models["dift"])
    status, _, err = run(capsys, *generate_args(models, tmp_path))
    assert_bad_input(status, err, "svd")


# ------------------------------------------------------------------------------------------------ demo, evaluate


@pytest.mark.slow
def test_demo_writes_a_video(tmp_path, capsys):
    status, out, err = run(capsys, "demo", "--out", tmp_path / "demo.gif", "--steps", "1")
    assert status == cli.EXIT_OK, err
    frames = viz.read_video(tmp_path / "demo.gif")
    assert frames.ndim == 4
    assert frames.shape[0] > 1
    assert f"wrote {tmp_path / 'demo.gif'}" in out


def test_demo_wants_a_gif_name(tmp_path, capsys):
    status, _, err = run(capsys, "demo", "--out", tmp_path / "demo.mp4")
    assert_bad_input(status, err, ".gif")


@pytest.mark.slow
def test_evaluate_prints_the_table_and_writes_it(tmp_path, capsys):
    status, out, err = run(capsys, "evaluate", "--out", tmp_path, "--videos", "1", "--steps", "1")
    assert status == cli.EXIT_OK, err
    assert "ObjMC" in out
    assert (tmp_path / "table.md").is_file()


# ------------------------------------------------------------------------------------------------ as a program


def _python_m(*argv, cwd: Path):
    env = dict(os.environ, PYTHONPATH=str(PROJECT_DIR) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "draganything", *map(str, argv)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_python_m_draganything_conditions_example(tmp_path):
    result = _python_m("conditions", "--example", "--out", "out/example", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert gif_frames(tmp_path / "out" / "example" / "conditions.gif") == (EXAMPLE_FRAMES, H, 3 * W + 8)
    # A bad input through the real entry point: status 1, one line, no traceback.
    result = _python_m("conditions", "--image", "missing.png", "--trajectories", "t.json", "--out", "o", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_help_does_not_import_torch(tmp_path):
    code = "import sys, draganything.cli as c; c.build_parser(); print('torch' in sys.modules)"
    env = dict(os.environ, PYTHONPATH=str(PROJECT_DIR))
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            check=False)
    assert result.stdout.strip() == "False", result.stderr
    help_result = _python_m("--help", cwd=tmp_path)
    assert help_result.returncode == 0
    assert "conditions" in help_result.stdout
