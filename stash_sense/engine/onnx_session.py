"""One place that creates onnxruntime sessions, so thread settings apply to every model."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort


def create_session(model_path: str | Path, threads: int = 0) -> ort.InferenceSession:
    """CPU session; ``threads`` = intra-op threads (0 lets onnxruntime use every core)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])
