"""Execution provider choice (``--device``) and its CPU fallback, on this CPU-only machine: a device
that is not available, a provider that fails to create a session, and what ``identify --json``
reports. Never run with a GPU here (see README "GPU check")."""

from __future__ import annotations

import json

import onnxruntime as ort
import pytest
from plugin_env import *  # noqa: F403  (fixtures: stash)

from stash_sense.engine import onnx_session
from stash_sense.engine.onnx_session import CPU, choose_provider, create_session
from stash_sense.engine.packs import load_pack, resolve_model

AVAILABLE_CPU_ONLY = ["AzureExecutionProvider", "CPUExecutionProvider"]


def model_path():
    return resolve_model(load_pack("test-mbf128").embedders[0].model)


def test_auto_picks_the_best_listed_gpu_provider_and_says_why_when_none():
    assert choose_provider("auto", ["CUDAExecutionProvider", "OpenVINOExecutionProvider", CPU]) == (
        "CUDAExecutionProvider", "")
    assert choose_provider("auto", ["DmlExecutionProvider", CPU])[0] == "DmlExecutionProvider"
    assert choose_provider("rocm", ["MIGraphXExecutionProvider", CPU])[0] == "MIGraphXExecutionProvider"
    provider, reason = choose_provider("auto", AVAILABLE_CPU_ONLY)
    assert provider == CPU and "no GPU execution provider" in reason
    assert choose_provider("cpu", ["CUDAExecutionProvider", CPU]) == (CPU, "")


def test_unavailable_device_falls_back_to_the_cpu_with_the_reason(caplog):
    with caplog.at_level("WARNING", logger="stash_sense.engine.onnx_session"):
        session = create_session(model_path(), 1, device="cuda")
    assert session.get_providers() == [CPU]
    choice = onnx_session.last_choice
    assert choice.device == "cuda" and choice.provider == CPU and "no CUDAExecutionProvider" in choice.reason
    assert any("using the CPU" in r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        create_session(model_path(), 1, device="tpu")


def test_a_provider_that_fails_to_create_a_session_falls_back_to_the_cpu(monkeypatch):
    """onnxruntime lists the provider but cannot build a session with it (missing CUDA libraries)."""
    real = ort.InferenceSession

    def failing(path, sess_options=None, providers=None):
        if providers and providers[0] != CPU:
            raise RuntimeError("libcublasLt.so.12: cannot open shared object file")
        return real(path, sess_options=sess_options, providers=providers)

    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", CPU])
    monkeypatch.setattr(ort, "InferenceSession", failing)
    session = create_session(model_path(), 1, device="auto")
    assert session.get_providers() == [CPU]
    assert onnx_session.last_choice.provider == CPU and "libcublasLt" in onnx_session.last_choice.reason


def test_identify_json_reports_the_device_and_provider(capsys, monkeypatch):
    import os

    from stash_sense.cli.main import main

    photo = sorted((__import__("pathlib").Path(os.environ.get("STASH_SENSE_SHARED", "../shared")) / "datasets"
                    / "lfw_deepfunneled" / "Tony_Blair").glob("*.jpg"))[0]
    monkeypatch.setenv("STASH_SENSE_DEVICE", "auto")  # restored after the test (--device sets it)
    assert main(["identify", "--json", "--pack", "test-mbf128", "--device", "openvino", str(photo)]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results[0]["faces"] and results[0]["provider"]["device"] == "openvino"
    assert results[0]["provider"]["provider"] == CPU and "OpenVINOExecutionProvider" in results[0]["provider"]["reason"]


def test_gpu_check_says_why_it_cannot_run_on_a_cpu_only_build(capsys):
    from bench.gpu_check import main

    assert main(["--images", "8"]) == 2
    assert "nothing to compare: no GPU execution provider" in capsys.readouterr().err


def test_device_setting_reaches_the_plugins_engine_and_the_footer(stash):
    from stash_sense import settings

    assert settings.DEVICES == ("auto", *onnx_session.DEVICES)
    stash.configure({"device": "openvino"})
    out = stash.run({"mode": "identify_gallery", "gallery_id": stash.gallery("Rumsfeld and Chirac")}).output
    assert out["engine"]["provider"]["device"] == "openvino" and out["engine"]["provider"]["provider"] == CPU
    stash.configure({"device": "gpu"})
    error = stash.run({"mode": "identify_gallery", "gallery_id": stash.gallery("Rumsfeld and Chirac")}).error
    assert error.startswith('Setting "Device": \'gpu\' is not one of auto, cpu, cuda')
