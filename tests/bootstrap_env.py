"""The entry script under test (``stash_sense_plugin.py``): loaded as a module, and copied into a
fake plugin folder whose ``stash_sense.plugin.main`` is a stub that echoes what it was handed.

The fake folder holds the real entry script and the real standard-library module it imports
(``stash_sense/hosts.py``), plus requirements that need nothing from the network, so only
``python -m venv`` is real.
"""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path
from types import ModuleType

from conftest import REPO

__all__ = ["STUB_MAIN", "fake_plugin_folder", "load_bootstrap"]

# What the bootstrap started, with which Python, handing over which arguments and data folder.
STUB_MAIN = textwrap.dedent("""
    import json, os, sys
    def main():
        data = json.loads(sys.stdin.read())
        print(json.dumps({"output": {"python": sys.executable, "prefix": sys.prefix, "args": data["args"],
                                     "data_dir": os.environ.get("STASH_SENSE_DATA_DIR")}}))
        return 0
""")


def load_bootstrap(name: str) -> ModuleType:
    """The entry script as a module of its own (``name``), so its functions can be called directly."""
    spec = importlib.util.spec_from_file_location(name, REPO / "stash_sense_plugin.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_plugin_folder(folder: Path) -> Path:
    """A plugin folder at ``folder`` as Stash's plugin manager lays it out, with the stub main."""
    (folder / "stash_sense" / "plugin").mkdir(parents=True)
    (folder / "stash_sense_plugin.py").write_text((REPO / "stash_sense_plugin.py").read_text())
    (folder / "stash_sense" / "__init__.py").write_text("")
    (folder / "stash_sense" / "hosts.py").write_text((REPO / "stash_sense" / "hosts.py").read_text())
    (folder / "stash_sense" / "plugin" / "__init__.py").write_text("")
    (folder / "stash_sense" / "plugin" / "main.py").write_text(STUB_MAIN)
    (folder / "requirements.txt").write_text("# nothing to install in this test\n")
    return folder
