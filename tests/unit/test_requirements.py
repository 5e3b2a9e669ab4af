"""pyproject.toml is the one place requirements are declared; the requirements*.txt files that the
plugin's bootstrap and `make` install from must say the same."""

from __future__ import annotations

import tomllib

from conftest import REPO

from devtools.requirements import wanted


def test_requirement_files_match_pyproject():
    for name, text in wanted().items():
        assert (REPO / name).read_text(encoding="utf-8") == text, f"{name}: run `python -m devtools.requirements`"


def test_base_dependencies_are_the_light_plugin_side():
    """The engine's heavy packages come only with the `engine` extra."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    heavy = {"numpy", "onnxruntime", "opencv-python-headless", "voyager", "onnx", "scipy"}
    base = {r.split(">")[0].split("=")[0].split("<")[0] for r in project["dependencies"]}
    assert not base & heavy
    assert heavy <= {r.split(">")[0].split("=")[0].split("<")[0] for r in project["optional-dependencies"]["engine"]}
