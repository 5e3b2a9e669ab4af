"""``python -m devtools.requirements [--check]``: write the requirements*.txt files from pyproject.toml.

pyproject.toml is the one place requirements are declared. The text files exist because the
plugin's bootstrap (standard library only, any Python Stash runs) and ``make`` install with plain
``pip install -r``, and because some packages must go in with ``--no-deps``.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEADER = "# Generated from pyproject.toml by `python -m devtools.requirements`: edit pyproject.toml, not this file.\n"


def wanted(pyproject: Path = REPO / "pyproject.toml") -> dict[str, str]:
    """File name -> contents, derived from pyproject.toml."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    project, extras = data["project"], data["project"]["optional-dependencies"]
    no_deps = data["tool"]["stash_sense"]["no-deps"]
    files = {
        "requirements.txt": ("The plugin and its engine (the bootstrap installs this, then requirements-nodeps.txt).",
                             project["dependencies"] + extras["engine"]),
        "requirements-light.txt": ("The plugin side alone, for a remote engine or a musl (Alpine) Stash "
                                   "(the bootstrap installs only this then).", project["dependencies"]),
        "requirements-cuda.txt": ("Optional: the CUDA build of onnxruntime for `--device cuda` "
                                  "(pip uninstall -y onnxruntime first).", extras["cuda"]),
        "requirements-directml.txt": ("Optional: the DirectML build of onnxruntime for `--device directml` "
                                      "(pip uninstall -y onnxruntime first).", extras["directml"]),
        "requirements-openvino.txt": ("Optional: the OpenVINO build of onnxruntime for `--device openvino` "
                                      "(pip uninstall -y onnxruntime first).", extras["openvino"]),
        "requirements-nodeps.txt": ("Installed with `pip install --no-deps -r` after requirements.txt.",
                                    no_deps["engine"]),
        "requirements-dev.txt": ("Tests, lint and the demo Stash (`make test`).", extras["dev"]),
        "requirements-deepface.txt": ("Optional: only tests/test_deepface_parity.py.", extras["deepface"]),
        "requirements-peers.txt": ("Optional: `make bench-peers`, installed with `pip install --no-deps -r`.",
                                   no_deps["peers"]),
    }
    return {name: f"{HEADER}# {about}\n" + "".join(f"{r}\n" for r in reqs) for name, (about, reqs) in files.items()}


def main(argv: list[str]) -> int:
    stale = [name for name, text in wanted().items() if _read(REPO / name) != text]
    if "--check" in argv:
        for name in stale:
            print(f"{name} differs from pyproject.toml: run `python -m devtools.requirements`", file=sys.stderr)
        return 1 if stale else 0
    for name, text in wanted().items():
        (REPO / name).write_text(text, encoding="utf-8")
    return 0


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
