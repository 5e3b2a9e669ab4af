"""Face crops to L2-normalised embeddings with one ONNX model and its recipe."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stash_sense.engine.onnx_session import create_session, on_gpu
from stash_sense.engine.recipe import Recipe, to_tensor

# Crops per model call on the CPU. onnxruntime's buffers for one call grow with the batch (about
# 12 MB a crop for an IResNet34 at 112x112: a batch of 32 held ~385 MB per thread) while its speed
# does not, as measured: single-thread CPU ms per face with the replicas, batch 32 / 8 / 4 / 2,
# ArcFace 93.0 / 92.9 / 93.5 / 95.5, FaceNet512 25.4 / 25.2 / 24.9 / 28.9 (issue 16, README).
DEFAULT_BATCH = 4
GPU_BATCH = 256  # faces per call on a GPU provider (the production embedders have a dynamic batch)


class Embedder:
    """An ONNX recogniser; layout and batch capability are read from the graph, not assumed."""

    def __init__(self, name: str, model_path: str | Path, recipe: Recipe, threads: int = 0,
                 batch_size: int = DEFAULT_BATCH) -> None:
        self.name = name
        self.recipe = recipe
        self.session = create_session(model_path, threads)
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.output_name = self.session.get_outputs()[0].name
        self.layout = _layout(model_input.shape)
        batch_dim = model_input.shape[0]
        # Fixed-batch graphs (the test MobileFaceNet is [1,3,112,112]) are fed one crop per call.
        self.batch_size = int(batch_dim) if isinstance(batch_dim, int) and batch_dim > 0 else batch_size
        if not (isinstance(batch_dim, int) and batch_dim > 0) and on_gpu(self.session):
            self.batch_size = max(batch_size, GPU_BATCH)  # a GPU takes every face of a chunk of images at once
        self.dim = int(self.session.get_outputs()[0].shape[-1])

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        """Embed aligned RGB crops -> (n, dim) float32, unit length.

        With flip averaging the crop and its mirror go through the model together; their *raw*
        outputs are averaged first and the mean is L2-normalised after (the order Stash Sense
        uses, so query directions match its database).
        """
        if not crops:
            return np.zeros((0, self.dim), np.float32)
        inputs = list(crops)
        if self.recipe.flip_average:
            inputs = [view for crop in crops for view in (crop, crop[:, ::-1])]
        raw = self.forward(inputs)
        if self.recipe.flip_average:
            raw = (raw[0::2] + raw[1::2]) / 2.0
        return l2_normalise(raw)

    def forward_views(self, crops: list[np.ndarray], mirrored: bool) -> np.ndarray:
        """Raw outputs of the crops or of their mirror images: the two halves of ``embed``, run
        apart so the mirror can be skipped where it cannot change a decision (``engine.mirror``)."""
        if not crops:
            return np.zeros((0, self.dim), np.float32)
        return self.forward([crop[:, ::-1] for crop in crops] if mirrored else list(crops))

    def forward(self, crops: list[np.ndarray]) -> np.ndarray:
        """Raw model outputs for crops, preprocessed by the recipe (no flip, no normalisation)."""
        outputs = []
        for start in range(0, len(crops), self.batch_size):
            batch = to_tensor(crops[start:start + self.batch_size], self.recipe, self.layout)
            outputs.append(self.session.run([self.output_name], {self.input_name: batch})[0])
        return np.concatenate(outputs).astype(np.float32).reshape(len(crops), -1)


def _layout(shape: list) -> str:
    if len(shape) != 4:
        raise ValueError(f"embedder input must be rank 4, got {shape}")
    if shape[1] == 3:
        return "NCHW"
    if shape[3] == 3:
        return "NHWC"
    raise ValueError(f"cannot tell channel axis of embedder input {shape}")


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
