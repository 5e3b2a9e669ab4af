"""The face engine: detection, alignment, embedding, databases and matching.

Knows nothing of Stash. The small public API:
``Engine`` (images -> faces with embeddings), ``load_pack``, ``load_rgb``.
"""

from stash_sense.engine.imageio import ImageDecodeError, load_rgb
from stash_sense.engine.packs import ModelUnavailable, Pack, available_packs, load_pack
from stash_sense.engine.pipeline import Engine, Face, ImageResult
from stash_sense.engine.recipe import Recipe

__all__ = ["Engine", "Face", "ImageResult", "ImageDecodeError", "ModelUnavailable", "Pack",
           "Recipe", "available_packs", "load_pack", "load_rgb"]
