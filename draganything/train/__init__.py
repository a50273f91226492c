"""Training DragAnything models with this project's own code (the official training script was never released).

Modules, in the order a run uses them:

- :mod:`.synthetic`: procedural, seeded sprite videos with ground-truth masks and tracks, written in VIPSeg's layout.
- :mod:`.dataset`: reads that layout (a real VIPSeg folder too) into training samples; the conditioning maps come
  from the library's :mod:`draganything.gaussian` and :mod:`draganything.entity`, as at inference.
- :mod:`.edm`: the SVD training objective (EDM preconditioning, v-prediction).
- :mod:`.extract`: entity embeddings from the trained base (:mod:`draganything.base_features`), offline (one file
  per video, like the official pre-extraction) or in the trainer.
- :mod:`.config` and :mod:`.trainer`: the VAE, base and ControlNet stages on accelerate (one GPU or several),
  resumable, logging losses, saving safetensors; ``python -m draganything.train CONFIG``.
- :mod:`.recipe`: the DragAnything-Tiny recipe end to end (``python -m draganything.train.recipe``).

The model parts it builds and saves are :mod:`draganything.components` (diffusers' SVD classes plus the
library's ControlNet, from JSON configs or a diffusers-layout folder). Importing this package does not import
accelerate; :mod:`.trainer` does.
"""

from .config import STAGES, TrainConfig
from .synthetic import SceneConfig, SyntheticClip, generate_clip, write_dataset

__all__ = ["STAGES", "SceneConfig", "SyntheticClip", "TrainConfig", "generate_clip", "write_dataset"]
