"""Makes the pack's pictures with its own code: the help pages' (web/docs/images/) and the Registry icon
(web/icon.png). Run from the project root:

    python web/docs/make_images.py                      # icon.png, conditions.png, overlay.png (library only)
    COMFYUI_DIR=/path/to/ComfyUI python web/docs/make_images.py --editor   # also editor.jpg

The icon is one entity's 2D Gaussian maps along a curved path, drawn by the library's Gaussian and heatmap code
(older frames fainter). conditions.png and overlay.png come from `python -m draganything conditions --example` (the example scene
shipped in draganything/assets/example). editor.jpg is a screenshot of the trajectory editor in the real frontend
(a ComfyUI started as the host tests start it, Playwright driving Debian's Chromium) with the same scene; rerun it
after changing how the editor looks.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
PROJECT_DIR = HERE.parents[1]
IMAGES_DIR = HERE / "images"
EXAMPLE_DIR = PROJECT_DIR / "draganything" / "assets" / "example"
# Help pages sit in a side panel about 400-500 CSS pixels wide.
WIDTH = 900


def save_small(image: Image.Image, path: Path, width: int = WIDTH) -> None:
    image = image.convert("RGB")
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    if path.suffix == ".png":
        image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    else:
        image.save(path, quality=82, optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


def icon(size: int = 256, frames: int = 9) -> None:
    import numpy as np

    from draganything.gaussian import template_gaussian_maps
    from draganything.viz import gaussian_heatmap

    time = np.linspace(0.0, 1.0, frames)
    path = np.stack([48 + 160 * time, 200 - 150 * np.sin(0.75 * np.pi * time)], axis=-1)[None]
    maps = template_gaussian_maps(path, np.array([72]), size, size).astype(np.float32)
    trail = (maps * (0.35 + 0.65 * time)[:, None, None]).max(axis=0)
    save_small(Image.fromarray(gaussian_heatmap(trail[None].round().astype(np.uint8))[0]), HERE.parent / "icon.png")


def library_images() -> None:
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, "-m", "draganything", "conditions", "--example", "--out", folder],
                       cwd=PROJECT_DIR, check=True, stdout=subprocess.DEVNULL)
        save_small(Image.open(Path(folder) / "conditions.png"), IMAGES_DIR / "conditions.png")
        overlay = Image.open(Path(folder) / "overlay.gif")
        overlay.seek(overlay.n_frames - 1)  # the last frame: every path drawn to its end
        save_small(overlay, IMAGES_DIR / "overlay.png", width=overlay.width)


def editor_image() -> None:
    spec = importlib.util.spec_from_file_location("host_conftest", PROJECT_DIR / "tests" / "host" / "conftest.py")
    host = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(host)
    comfyui_dir = Path(os.environ["COMFYUI_DIR"])
    trajectories = json.loads((EXAMPLE_DIR / "trajectories.json").read_text())
    trajectories["image"] = "draganything_example.png"
    inputs = {"draganything_example.png": (EXAMPLE_DIR / "image.png").read_bytes()}
    with tempfile.TemporaryDirectory() as folder, host.frontend_page(
            comfyui_dir, inputs, viewport={"width": 1400, "height": 1100}, device_scale_factor=1) as page:
        node_id = page.evaluate(
            """(text) => {
                app.graph.clear(); app.canvas.ds.scale = 1; app.canvas.ds.offset = [0, 0];
                const load = LiteGraph.createNode('LoadImage'); app.graph.add(load); load.pos = [20, 160];
                load.widgets.find((w) => w.name === 'image').value = 'draganything_example.png';
                const node = LiteGraph.createNode('DragAnythingTrajectories'); app.graph.add(node);
                node.pos = [360, 160];
                load.connect(0, node, node.inputs.findIndex((i) => i.name === 'image'));
                const widget = node.widgets.find((w) => w.name === 'trajectories');
                widget.value = text; widget.callback?.(text);
                app.canvas.setDirty(true, true); return node.id; }""", json.dumps(trajectories, indent=1))
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(3000)  # the masks come back from the server one by one
        box = page.evaluate(
            """(id) => { const node = app.graph.getNodeById(id); const [x, y] = app.canvas.ds.convertOffsetToCanvas(node.pos);
               const r = app.canvas.canvas.getBoundingClientRect();
               const title = LiteGraph.NODE_TITLE_HEIGHT, margin = 8;
               return [r.left + x - margin, r.top + y - title - margin, node.size[0] + 2 * margin,
                       node.size[1] + title + 2 * margin]; }""",
            node_id)
        shot = Path(folder) / "editor.png"
        page.screenshot(path=str(shot), clip=dict(zip(("x", "y", "width", "height"), box)))
        save_small(Image.open(shot), IMAGES_DIR / "editor.jpg", width=640)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--editor", action="store_true", help="also the editor screenshot (needs COMFYUI_DIR)")
    arguments = parser.parse_args()
    IMAGES_DIR.mkdir(exist_ok=True)
    icon()
    library_images()
    if arguments.editor:
        editor_image()


if __name__ == "__main__":
    main()
