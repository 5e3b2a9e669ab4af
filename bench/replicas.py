"""Production-shaped pack for benchmarks: architecture-equivalent replicas of `stash-sense-v1`.

The production embedders (DeepFace's FaceNet512, an InceptionResNetV1, 93,985,006 bytes, and
ArcFace, an IResNet34, 136,564,309 bytes) cannot be downloaded here. Speed and memory depend on
the layers, their shapes and the input/output shapes, not on the weights, so this module builds
ONNX graphs with the same layers and RANDOM weights:

* FaceNet512: the InceptionResnetV1 of facenet-pytorch (stem, 5x Block35, Mixed_6a, 10x Block17,
  Mixed_7a, 5x Block8 + a final Block8 without ReLU, global average pool, Linear(1792, 512), BN),
  batch norms after convolutions folded into the convolutions as an inference export does;
* ArcFace: an IResNet34 (3x3 stem at 112x112 with BN+PReLU, stages 3-4-6-3 of IBasicBlocks
  BN-conv-BN-PReLU-conv-BN, head BN-Dropout-Flatten-Dense(512)-BN);

both NHWC with a dynamic batch, input named ``input``, opset 17, as tf2onnx exports them. With the
SCRFD-500M detector of ../shared/models they form the pack ``stash-sense-v1-replica``, written to
bench/cache/replicas/ (git-ignored, never shipped).

REPLICAS MEASURE TIME AND MEMORY ONLY: their embeddings are noise, so no accuracy figure may ever
come from them.

Why onnx.helper and not torch + facenet-pytorch: PyPI's torch wheel for Linux pulls the CUDA
runtime packages (several GB) and the CPU-only wheels live on an index this project cannot reach;
writing the graphs node by node needs only ``onnx`` (already a dependency) and builds in seconds.

    python -m bench.replicas          # builds once (about 230 MB), prints the pack file
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from bench.common import REPO, SHARED

CACHE = REPO / "bench" / "cache" / "replicas"
PACK_FILE = CACHE / "stash-sense-v1-replica.json"
PRODUCTION_BYTES = {"facenet512": 93_985_006, "arcface": 136_564_309}
OPSET = 17
REPLICA_NOTE = "random-weight replicas: time and memory only, never accuracy"


class GraphBuilder:
    """Accumulates ONNX nodes and random initializers; names are generated, shapes are NCHW."""

    def __init__(self, seed: int) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.TensorProto] = []
        self.rng = np.random.default_rng(seed)
        self.count = 0

    def name(self, kind: str) -> str:
        self.count += 1
        return f"{kind}_{self.count}"

    def constant(self, array: np.ndarray, kind: str = "w") -> str:
        name = self.name(kind)
        self.weights.append(numpy_helper.from_array(np.asarray(array, np.float32), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        out = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def conv(self, x: str, cin: int, cout: int, kernel: tuple[int, int] = (1, 1), stride: int = 1,
             pad: tuple[int, int] = (0, 0), gain: float = 1.0) -> str:
        """Convolution with bias (a folded BatchNorm), He-initialised so activations stay finite."""
        fan_in = cin * kernel[0] * kernel[1]
        weight = self.rng.standard_normal((cout, cin, *kernel), np.float32) * gain * np.sqrt(2.0 / fan_in)
        bias = np.zeros(cout, np.float32)
        return self.op("Conv", [x, self.constant(weight), self.constant(bias, "b")], kernel_shape=list(kernel),
                       strides=[stride, stride], pads=[pad[0], pad[1], pad[0], pad[1]])

    def batchnorm(self, x: str, channels: int) -> str:
        params = [np.ones(channels), np.zeros(channels), np.zeros(channels), np.ones(channels)]
        return self.op("BatchNormalization", [x, *(self.constant(p, "bn") for p in params)], epsilon=1e-5)

    def relu(self, x: str) -> str:
        return self.op("Relu", [x])

    def prelu(self, x: str, channels: int) -> str:
        return self.op("PRelu", [x, self.constant(np.full((channels, 1, 1), 0.25), "slope")])

    def basic(self, x: str, cin: int, cout: int, kernel: tuple[int, int] = (1, 1), stride: int = 1,
              pad: tuple[int, int] = (0, 0)) -> str:
        """facenet-pytorch's BasicConv2d: conv + BN (folded) + ReLU."""
        return self.relu(self.conv(x, cin, cout, kernel, stride, pad))

    def maxpool(self, x: str) -> str:
        return self.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2])

    def scaled_residual(self, x: str, branch: str, scale: float, relu: bool = True) -> str:
        scaled = self.op("Mul", [branch, self.constant(np.array(scale), "scale")])
        out = self.op("Add", [scaled, x])
        return self.relu(out) if relu else out

    def model(self, output: str, input_hw: int, dim: int, doc: str) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, "replica",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", input_hw, input_hw, 3])],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", dim])],
            initializer=self.weights)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="stash-sense bench.replicas", doc_string=doc)
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def facenet512() -> onnx.ModelProto:
    """InceptionResnetV1 (facenet-pytorch) with a 512-d head, input NHWC 160x160."""
    g = GraphBuilder(seed=512)
    x = g.op("Transpose", ["input"], perm=[0, 3, 1, 2])
    x = g.basic(x, 3, 32, (3, 3), 2)
    x = g.basic(x, 32, 32, (3, 3))
    x = g.basic(x, 32, 64, (3, 3), pad=(1, 1))
    x = g.maxpool(x)
    x = g.basic(x, 64, 80)
    x = g.basic(x, 80, 192, (3, 3))
    x = g.basic(x, 192, 256, (3, 3), 2)
    for _ in range(5):
        x = _block35(g, x)
    x = _mixed_6a(g, x)
    for _ in range(10):
        x = _block17(g, x)
    x = _mixed_7a(g, x)
    for _ in range(5):
        x = _block8(g, x, scale=0.2, relu=True)
    x = _block8(g, x, scale=1.0, relu=False)
    x = g.op("GlobalAveragePool", [x])
    x = g.op("Flatten", [x])
    weight = g.rng.standard_normal((1792, 512), np.float32) * np.sqrt(1.0 / 1792)
    x = g.op("MatMul", [x, g.constant(weight)])
    x = g.batchnorm(x, 512)
    g.nodes.append(helper.make_node("Identity", [x], ["embedding"]))
    return g.model("embedding", 160, 512, f"FaceNet512 replica ({REPLICA_NOTE})")


def _block35(g: GraphBuilder, x: str) -> str:
    b0 = g.basic(x, 256, 32)
    b1 = g.basic(g.basic(x, 256, 32), 32, 32, (3, 3), pad=(1, 1))
    b2 = g.basic(g.basic(g.basic(x, 256, 32), 32, 32, (3, 3), pad=(1, 1)), 32, 32, (3, 3), pad=(1, 1))
    mixed = g.op("Concat", [b0, b1, b2], axis=1)
    return g.scaled_residual(x, g.conv(mixed, 96, 256, gain=0.3), 0.17)


def _mixed_6a(g: GraphBuilder, x: str) -> str:
    b0 = g.basic(x, 256, 384, (3, 3), 2)
    b1 = g.basic(g.basic(g.basic(x, 256, 192), 192, 192, (3, 3), pad=(1, 1)), 192, 256, (3, 3), 2)
    return g.op("Concat", [b0, b1, g.maxpool(x)], axis=1)  # 384 + 256 + 256 = 896


def _block17(g: GraphBuilder, x: str) -> str:
    b0 = g.basic(x, 896, 128)
    b1 = g.basic(g.basic(g.basic(x, 896, 128), 128, 128, (1, 7), pad=(0, 3)), 128, 128, (7, 1), pad=(3, 0))
    mixed = g.op("Concat", [b0, b1], axis=1)
    return g.scaled_residual(x, g.conv(mixed, 256, 896, gain=0.3), 0.10)


def _mixed_7a(g: GraphBuilder, x: str) -> str:
    b0 = g.basic(g.basic(x, 896, 256), 256, 384, (3, 3), 2)
    b1 = g.basic(g.basic(x, 896, 256), 256, 256, (3, 3), 2)
    b2 = g.basic(g.basic(g.basic(x, 896, 256), 256, 256, (3, 3), pad=(1, 1)), 256, 256, (3, 3), 2)
    return g.op("Concat", [b0, b1, b2, g.maxpool(x)], axis=1)  # 384 + 256 + 256 + 896 = 1792


def _block8(g: GraphBuilder, x: str, scale: float, relu: bool) -> str:
    b0 = g.basic(x, 1792, 192)
    b1 = g.basic(g.basic(g.basic(x, 1792, 192), 192, 192, (1, 3), pad=(0, 1)), 192, 192, (3, 1), pad=(1, 0))
    mixed = g.op("Concat", [b0, b1], axis=1)
    return g.scaled_residual(x, g.conv(mixed, 384, 1792, gain=0.3), scale, relu)


def arcface() -> onnx.ModelProto:
    """IResNet34 (insightface arcface_torch), input NHWC 112x112, 512-d output."""
    g = GraphBuilder(seed=34)
    x = g.op("Transpose", ["input"], perm=[0, 3, 1, 2])
    x = g.prelu(g.batchnorm(g.conv(x, 3, 64, (3, 3), pad=(1, 1)), 64), 64)
    channels = 64
    for planes, blocks in ((64, 3), (128, 4), (256, 6), (512, 3)):
        for index in range(blocks):
            x = _ibasic_block(g, x, channels, planes, stride=2 if index == 0 else 1)
            channels = planes
    x = g.batchnorm(x, 512)
    x = g.op("Dropout", [x])
    x = g.op("Flatten", [x])  # 512 x 7 x 7 = 25,088
    weight = g.rng.standard_normal((512 * 7 * 7, 512), np.float32) * np.sqrt(1.0 / (512 * 49))
    x = g.op("Add", [g.op("MatMul", [x, g.constant(weight)]), g.constant(np.zeros(512), "b")])
    x = g.batchnorm(x, 512)
    g.nodes.append(helper.make_node("Identity", [x], ["embedding"]))
    return g.model("embedding", 112, 512, f"ArcFace IResNet34 replica ({REPLICA_NOTE})")


def _ibasic_block(g: GraphBuilder, x: str, cin: int, planes: int, stride: int) -> str:
    """BN - conv3x3 - BN - PReLU - conv3x3(stride) - BN (folded), plus the (downsampled) input."""
    out = g.conv(g.batchnorm(x, cin), cin, planes, (3, 3), pad=(1, 1))
    out = g.prelu(out, planes)
    out = g.conv(out, planes, planes, (3, 3), stride, pad=(1, 1), gain=0.3)
    shortcut = g.conv(x, cin, planes, (1, 1), stride) if stride != 1 or cin != planes else x
    return g.op("Add", [out, shortcut])


def parameter_bytes(model: onnx.ModelProto) -> int:
    return sum(int(np.prod(t.dims)) * 4 for t in model.graph.initializer)


def build(force: bool = False) -> Path:
    """Write both replicas and the pack file once; later calls return the cached pack file."""
    if PACK_FILE.exists() and not force:
        return PACK_FILE
    CACHE.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, make in (("facenet512", facenet512), ("arcface", arcface)):
        model = make()
        size = parameter_bytes(model)
        if abs(size - PRODUCTION_BYTES[name]) > 0.15 * PRODUCTION_BYTES[name]:
            raise RuntimeError(f"{name} replica has {size} parameter bytes, not within 15% of "
                               f"{PRODUCTION_BYTES[name]}")
        path = CACHE / f"{name}_replica.onnx"
        onnx.save(model, str(path))
        files[name] = (path, size)
    PACK_FILE.write_text(json.dumps(_pack_spec(files), indent=2) + "\n")
    return PACK_FILE


def _pack_spec(files: dict[str, tuple[Path, int]]) -> dict:
    production = json.loads((REPO / "stash_sense/engine/packs/stash-sense-v1.json").read_text())
    detector_file = SHARED / "models/scrfd_500m_bnkps/scrfd_500m_bnkps.onnx"
    detector = {**production["detector"], "file": str(detector_file), "sha256": _sha256(detector_file)}
    detector.pop("url")
    detector.pop("archive_member")
    embedders = []
    for entry in production["embedders"]:
        path, size = files[entry["name"]]
        embedders.append({**{k: v for k, v in entry.items() if k not in ("url", "size")},
                          "file": str(path), "sha256": _sha256(path), "parameter_bytes": size})
    return {"name": "stash-sense-v1-replica",
            "description": f"stash-sense-v1's layers and shapes with {REPLICA_NOTE}; bench only.",
            "detector": detector, "embedders": embedders}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def replica_pack():
    """The replica pack, built on first use (bench/cache/replicas)."""
    from stash_sense.engine.packs import load_pack_file

    return load_pack_file(build())


if __name__ == "__main__":
    print(build())
