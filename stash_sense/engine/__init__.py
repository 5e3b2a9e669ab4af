"""The face engine: detection, alignment, embedding, databases and matching.

Knows nothing of Stash. The small public API:
``Engine`` (images -> faces with embeddings), ``Identifier`` (a group of images -> persons with
calibrated candidates), ``load_pack``, ``load_rgb``.

Names are imported on first use: importing a light submodule (``engine.releases``, ``engine.fetch``)
must not load onnxruntime and insightface, or every plugin click would pay seconds for them.
"""

from importlib import import_module

_HOMES = {"Engine": "pipeline", "Face": "pipeline", "ImageResult": "pipeline", "GroupResult": "identify",
          "Identifier": "identify", "ImageDecodeError": "imageio", "load_rgb": "imageio",
          "ModelUnavailable": "packs", "Pack": "packs", "available_packs": "packs", "load_pack": "packs",
          "Recipe": "recipe"}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(import_module(f"stash_sense.engine.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
