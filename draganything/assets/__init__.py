"""The example input shipped with the package, built from shapes by `make_example.py` (no third-party images).

`example/` holds a 576x320 scene (`image.png`), one 0/255 PNG mask per entity and `trajectories.json` in the
pack's own format, whose entities name their masks; `python -m draganything conditions --example` reads it.
"""

from pathlib import Path

EXAMPLE_DIR = Path(__file__).resolve().parent / "example"
EXAMPLE_IMAGE = EXAMPLE_DIR / "image.png"
EXAMPLE_TRAJECTORIES = EXAMPLE_DIR / "trajectories.json"
