"""Model files downloaded on first use (how the stash-sense-v1 pack gets its models), against a
local HTTP server: verified by sha256, resumed after a cut, refused when tampered, and a message
that says what to do by hand when the machine is offline."""

from __future__ import annotations

import hashlib
import io
import logging
import zipfile

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from werkzeug import Request, Response

from stash_sense.engine.onnx_session import create_session
from stash_sense.engine.packs import ModelSpec, ModelUnavailable, resolve_model

WIDTH = 80_000  # float32 weights: a ~320 KB model, several 64 KiB reads
CUT = 2 * 65536  # urllib3 drops a read that hits the cut, so cut on a chunk boundary


def _model_bytes(seed: int = 0) -> bytes:
    """A real ONNX model (y = x + w) big enough for a download to be cut in the middle."""
    weights = np.random.default_rng(seed).standard_normal((1, WIDTH)).astype(np.float32)
    node = helper.make_node("Add", ["x", "w"], ["y"])
    graph = helper.make_graph([node], "probe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, WIDTH])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, WIDTH])],
                              initializer=[numpy_helper.from_array(weights, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


MODEL = _model_bytes()
SHA = hashlib.sha256(MODEL).hexdigest()


def _spec(httpserver, path: str = "/models/probe.onnx", sha256: str | None = SHA, **kwargs) -> ModelSpec:
    return ModelSpec(file="probe/probe.onnx", sha256=sha256, url=httpserver.url_for(path), **kwargs)


def _runs(path) -> bool:
    session = create_session(path, 1)
    out = session.run(None, {"x": np.zeros((1, WIDTH), np.float32)})[0]
    return bool(np.allclose(out, onnx.numpy_helper.to_array(onnx.load(path).graph.initializer[0])))


def test_downloaded_once_verified_and_then_found_locally(httpserver, isolated_data_dir, caplog):
    caplog.set_level(logging.INFO, logger="stash_sense")
    httpserver.expect_request("/models/probe.onnx").respond_with_data(MODEL)
    spec = _spec(httpserver)
    path = resolve_model(spec)
    assert path == isolated_data_dir / "models" / "probe" / "probe.onnx"
    assert path.read_bytes() == MODEL and _runs(path)
    assert "downloading probe.onnx" in caplog.text
    assert not list(path.parent.glob("*.part"))
    assert resolve_model(spec) == path
    assert len(httpserver.log) == 1  # the second call found the verified file


def test_cut_download_resumes_with_a_range_request(httpserver, isolated_data_dir):
    ranges = []

    def handler(request: Request) -> Response:
        ranges.append(request.headers.get("Range"))
        if request.headers.get("Range") is None:
            def cut_off():
                yield MODEL[:CUT]
                raise ConnectionResetError("simulated network cut")
            return Response(cut_off(), headers={"Content-Length": str(len(MODEL))})
        start = int(request.headers["Range"].removeprefix("bytes=").rstrip("-"))
        return Response(MODEL[start:], status=206,
                        headers={"Content-Range": f"bytes {start}-{len(MODEL) - 1}/{len(MODEL)}"})

    httpserver.expect_request("/models/probe.onnx").respond_with_handler(handler)
    spec = _spec(httpserver)
    target = isolated_data_dir / "models" / "probe" / "probe.onnx"
    with pytest.raises(ModelUnavailable) as caught:
        resolve_model(spec)
    assert spec.url in str(caught.value) and str(target.parent) in str(caught.value)
    part = target.with_name("probe.onnx.part")
    assert part.stat().st_size == CUT and not target.exists()
    assert resolve_model(spec) == target
    assert ranges == [None, f"bytes={CUT}-"]
    assert target.read_bytes() == MODEL and not part.exists() and _runs(target)


def test_wrong_checksum_is_rejected_and_nothing_kept(httpserver, isolated_data_dir):
    httpserver.expect_request("/models/probe.onnx").respond_with_data(_model_bytes(seed=1))  # another model
    spec = _spec(httpserver)
    with pytest.raises(ModelUnavailable, match="checksum mismatch") as caught:
        resolve_model(spec)
    assert SHA in str(caught.value) and spec.url in str(caught.value)
    folder = isolated_data_dir / "models" / "probe"
    assert not (folder / "probe.onnx").exists() and not list(folder.glob("*.part"))


def test_local_file_with_wrong_checksum_is_refused(httpserver, isolated_data_dir):
    target = isolated_data_dir / "models" / "probe" / "probe.onnx"
    target.parent.mkdir(parents=True)
    target.write_bytes(_model_bytes(seed=2))
    with pytest.raises(ModelUnavailable, match="does not match its sha256"):
        resolve_model(_spec(httpserver))
    assert not httpserver.log


def test_offline_names_the_url_and_the_folder_to_drop_the_file_into(isolated_data_dir):
    spec = ModelSpec(file="probe/probe.onnx", sha256=SHA, url="http://127.0.0.1:9/models/probe.onnx")
    with pytest.raises(ModelUnavailable) as caught:
        resolve_model(spec)
    message = str(caught.value)
    target = isolated_data_dir / "models" / "probe" / "probe.onnx"
    assert spec.url in message and str(target) in message and str(target.parent) in message
    assert message.count("by hand") == 1 and "STASH_SENSE_MODEL_DIR" in message


def _zip(member: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr(f"bundle/{member}", data)
        bundle.writestr("bundle/other.onnx", b"not this one")
    return buffer.getvalue()


def test_archive_member_is_extracted_and_pinned_on_first_use(httpserver, isolated_data_dir):
    """buffalo_sc ships as a zip without an official checksum: the first download pins it."""
    httpserver.expect_request("/models/bundle.zip").respond_with_data(_zip("probe.onnx", MODEL))
    spec = _spec(httpserver, "/models/bundle.zip", sha256=None, archive_member="probe.onnx")
    path = resolve_model(spec)
    assert path.read_bytes() == MODEL and _runs(path)
    assert path.with_name("probe.onnx.sha256").read_text().strip() == SHA
    assert not list(path.parent.glob("*.zip"))
    path.write_bytes(_model_bytes(seed=3))
    with pytest.raises(ModelUnavailable, match="changed since it was first verified"):
        resolve_model(spec)


def test_offline_archive_says_which_member_to_take(isolated_data_dir):
    spec = ModelSpec(file="probe/probe.onnx", url="http://127.0.0.1:9/models/bundle.zip",
                     archive_member="probe.onnx")
    with pytest.raises(ModelUnavailable) as caught:
        resolve_model(spec)
    message = str(caught.value)
    target = isolated_data_dir / "models" / "probe" / "probe.onnx"
    assert spec.url in message and "probe.onnx out of it" in message and str(target) in message
