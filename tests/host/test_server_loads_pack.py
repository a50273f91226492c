"""The pack loads in a real ComfyUI and its nodes are listed with their inputs."""

import json

import pytest

pytestmark = pytest.mark.host

# Node id -> inputs every client (the frontend, API users, the example workflows) relies on.
EXPECTED_NODES = {
    "DragAnythingControlNetLoader": {"controlnet_name", "dtype", "compile"},
    "DragAnythingSAMLoader": {"sam_name"},
    "DragAnythingTinyLoader": set(),
    "DragAnythingTinyEntityEmbeddings": {"entity_encoder", "image", "masks", "seed", "width", "height", "framing",
                                         "timestep", "ensemble_size"},
    "DragAnythingTrajectories": {"trajectories", "image", "sam", "tracks", "masks", "tracks_frames"},
    "DragAnythingEntityMasks": {"image", "entities", "sam"},
    "DragAnythingEntityEmbeddings": {"model", "clip", "vae", "image", "masks", "seed", "width", "height", "framing",
                                     "timestep", "ensemble_size"},
    "DragAnythingConditions": {"trajectories", "masks", "embeddings", "entity_mode", "resampling", "framing",
                               "radius_overrides", "image", "preview_width", "preview_height", "preview_frames"},
    "DragAnythingApply": {"positive", "negative", "controlnet", "conditions", "strength", "start_percent",
                          "end_percent"},
    "DragAnythingSVDSampler": {"model", "clip_vision", "vae", "image", "controlnet", "conditions", "seed", "videos",
                               "width", "height", "video_frames", "steps", "cfg", "min_cfg", "sampler_name",
                               "scheduler", "fps", "motion_bucket_id", "augmentation_level", "strength"},
    "DragAnythingVisualizeTrajectories": {"images", "trajectories", "masks", "conditions", "framing", "resampling"},
    "DragAnythingCameraMove": {"trajectories", "zoom", "orbit", "pan_x", "pan_y", "centre_x", "centre_y", "frames",
                               "easing"},
    "DragAnythingTrajectoriesFromVideo": {"video", "entities", "frames", "masks", "sam", "image"},
    "DragAnythingEntityTracks": {"trajectories", "masks", "width", "height", "length", "points_per_entity",
                                 "resampling", "framing"},
}
# Inputs a host with per-input "advanced" folds away (ComfyUI 0.8.0 has no such option and shows them all).
ADVANCED_INPUTS = {
    "DragAnythingControlNetLoader": {"dtype", "compile"},
    "DragAnythingTrajectories": {"tracks_frames"},
    "DragAnythingEntityEmbeddings": {"framing", "timestep", "ensemble_size"},
    "DragAnythingTinyEntityEmbeddings": {"framing", "timestep", "ensemble_size"},
    "DragAnythingConditions": {"resampling", "framing", "radius_overrides"},
    "DragAnythingVisualizeTrajectories": {"framing", "resampling"},
    "DragAnythingEntityTracks": {"points_per_entity", "resampling", "framing"},
}
# Inputs only a host with the CURVE type (a Curve Editor node's output; ComfyUI 0.8.0 has neither) declares.
CURVE_INPUTS = {"DragAnythingCameraMove": {"easing_curve"}}
# Ids an older, abandoned pack registers; a duplicate id silently replaces a node, so none may be used here.
FORBIDDEN_IDS = {"DragAnythingLoader", "DragAnythingRun", "DragAnythingPipelineRun", "DragAnythingRunRandom",
                 "DragAnythingPipelineRunRandom"}


def test_pack_imports_without_error(server):
    log = server.log()
    assert not server.pack_import_failures(), log[-4000:]
    assert "ComfyUI-DragAnything" in log


def test_trajectories_input_is_a_string_widget_named_trajectories(server):
    # The editor widget (a separate frontend extension) binds to exactly this widget.
    spec = server.get("/object_info/DragAnythingTrajectories")["DragAnythingTrajectories"]
    kind, options = spec["input"]["required"]["trajectories"]
    assert kind == "STRING" and options["multiline"] is True


def host_has_curves(info: dict) -> bool:
    """Read from the host's own core node: a Curve Editor whose output is a CURVE."""
    return info.get("CurveEditor", {}).get("output") == ["CURVE"]


def test_object_info_lists_every_node_with_inputs(server):
    info = server.get("/object_info")
    ours = {name for name, node in info.items() if node["python_module"].endswith("ComfyUI-DragAnything")}
    assert ours == set(EXPECTED_NODES)
    assert not ours & FORBIDDEN_IDS
    for name, inputs in EXPECTED_NODES.items():
        node = info[name]
        declared = set(node["input"].get("required", {})) | set(node["input"].get("optional", {}))
        assert declared == inputs | (CURVE_INPUTS.get(name, set()) if host_has_curves(info) else set()), name
        assert node["category"].startswith("DragAnything")
        assert node["display_name"]


def test_model_folders_are_registered(server):
    folders = set(server.get("/models"))
    assert {"draganything", "sams"} <= folders


def input_options(node: dict) -> dict[str, dict]:
    return {name: spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            for section in ("required", "optional") for name, spec in node["input"].get(section, {}).items()}


def test_search_aliases_and_advanced_inputs_exactly_where_the_host_supports_them(server):
    """What the host supports is read from its own core nodes: search aliases are listed for KSampler on a host
    that has them, and some input of a core V3 node (comfy_extras) is advanced on a host whose V3 inputs take
    that. On a host without them (0.8.0) the pack's node definitions carry neither key. (0.8.0's V1 CLIPLoader
    passes "advanced" in its raw option dict; its V3 inputs have no such option, hence comfy_extras only.)"""
    info = server.get("/object_info")
    ours = {name: node for name, node in info.items() if name in EXPECTED_NODES}
    core = [node for node in info.values() if node["python_module"].startswith("comfy_extras.")]
    host_has_aliases = "search_aliases" in info["KSampler"]
    host_has_advanced = any(options.get("advanced") for node in core for options in input_options(node).values())

    for name, node in ours.items():
        if host_has_aliases:
            aliases = node["search_aliases"]
            assert aliases and len(set(aliases)) == len(aliases), name
            assert all(alias == alias.lower().strip() and alias not in node["display_name"].lower()
                       for alias in aliases), name
        else:
            assert "search_aliases" not in node, name
        advanced = {input_name for input_name, options in input_options(node).items() if "advanced" in options}
        assert advanced == (ADVANCED_INPUTS.get(name, set()) if host_has_advanced else set()), name


CAMERA_MOVE_WIDGETS = ["zoom", "orbit", "pan_x", "pan_y", "centre_x", "centre_y", "frames", "easing"]


def test_camera_move_takes_a_curve_socket_exactly_where_the_host_has_curves(server):
    """On a host with Curve Editor (0.33.0), Camera Move has one more input, optional and last: a CURVE socket
    (forceInput: the frontend gives it no widget, so saved widgets_values keep their positions). On a host without
    (0.8.0) the node's definition has no trace of it: no optional section, the inputs in their old order."""
    info = server.get("/object_info")
    node = info["DragAnythingCameraMove"]
    assert node["input_order"]["required"] == ["trajectories", *CAMERA_MOVE_WIDGETS]
    if host_has_curves(info):
        assert node["input_order"]["optional"] == ["easing_curve"]
        kind, options = node["input"]["optional"]["easing_curve"]
        assert kind == "CURVE" and options["forceInput"] is True and "replaces easing" in options["tooltip"]
        assert set(node["input_order"]) == {"required", "optional"}
    else:
        assert "optional" not in node["input"] and set(node["input_order"]) == {"required"}
        assert "curve" not in json.dumps(node).lower()
