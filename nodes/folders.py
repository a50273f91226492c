"""Model folders of the pack, merged into the host's folder registry.

`models/draganything` holds DragAnything ControlNet weights and `models/sams` segment-anything checkpoints (the
folder name other SAM packs already use). Paths a user declared in extra_model_paths.yaml are kept and stay first;
the default folder is appended after them.
"""

from __future__ import annotations

import os

import folder_paths

from ..draganything.errors import DragAnythingError

CONTROLNET_FOLDER = "draganything"
SAM_FOLDER = "sams"

CONTROLNET_EXTENSIONS = {".safetensors", ".sft"}
SAM_EXTENSIONS = {".pth", ".pt", ".safetensors", ".bin"}


def register_model_folder(folder_name: str, extensions: set[str]) -> None:
    default_path = os.path.join(folder_paths.models_dir, folder_name)
    registered = folder_paths.folder_names_and_paths.get(folder_name)
    if registered is None:
        folder_paths.folder_names_and_paths[folder_name] = ([default_path], set(extensions))
        return
    paths, known_extensions = registered
    if default_path not in paths:
        paths.append(default_path)
    # A folder first declared in a yaml file arrives with an empty "accept anything" set; give it ours so that
    # config.json and notes beside the weights are not offered as models.
    merged_extensions = set(known_extensions) | set(extensions)
    folder_paths.folder_names_and_paths[folder_name] = (paths, merged_extensions)


def register_model_folders() -> None:
    register_model_folder(CONTROLNET_FOLDER, CONTROLNET_EXTENSIONS)
    register_model_folder(SAM_FOLDER, SAM_EXTENSIONS)


def model_choices(folder_name: str) -> list[str]:
    return folder_paths.get_filename_list(folder_name)


def missing_model_error(folder_name: str, input_name: str, requested: str | None, what: str,
                        where_to_get: str) -> DragAnythingError:
    """Names the folders searched, what they hold, and where the file comes from."""
    searched = ", ".join(folder_paths.get_folder_paths(folder_name)) or "(no folder registered)"
    available = model_choices(folder_name)
    holds = f"they hold {', '.join(available)}" if available else "they are empty"
    asked = f"'{requested}' is not among" if requested else "no file was chosen from"
    return DragAnythingError(
        input_name, f"{asked} the {what} files in {searched} ({holds})",
        f"{where_to_get} Put the file in one of those folders (or declare '{folder_name}: <path>' in "
        f"extra_model_paths.yaml) and press R in the browser to refresh the list.")
