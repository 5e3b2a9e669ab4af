"""The engine's memory mode, read where memory is spent (decoding, onnxruntime buffers, batches).

``STASH_SENSE_MEMORY=low`` is the plugin's "Low memory" setting (``bulk --low-memory`` sets it
too). The plugin may set it after the engine is imported, so it is read when a budget, a session
or a batch size is chosen, not at import. A warm worker started in the other mode is not reused
(the mode is part of its build id), so an engine never changes mode while it runs.
"""

from __future__ import annotations

import os


def low_memory() -> bool:
    """True in low-memory mode: smaller decode budget, no onnxruntime arena, smaller model batches."""
    return os.environ.get("STASH_SENSE_MEMORY", "").strip().lower() == "low"
