"""The layout's rules, checked on the import graph: one role per folder, dependencies pointing one
way (the layers in pyproject.toml's [tool.importlinter]), the shipped package never importing
dev-only code, and no import cycle inside any folder."""

from __future__ import annotations

import subprocess
import sys

import grimp
from conftest import REPO


def test_import_linter_contracts_are_kept():
    lint = REPO / ".venv" / "bin" / "lint-imports"
    command = [str(lint)] if lint.exists() else [sys.executable, "-m", "importlinter.cli"]
    proc = subprocess.run(command + ["--no-cache"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_import_cycles():
    graph = grimp.build_graph("stash_sense", cache_dir=None)
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if imported != module and graph.chain_exists(importer=imported, imported=module):
                cycles.append(f"{module} <-> {imported}")
    assert not cycles, cycles


def test_the_rule_catches_an_upward_import(tmp_path):
    """The contract is not vacuous: the engine importing the plugin layer breaks it."""
    graph = grimp.build_graph("stash_sense", cache_dir=None)
    graph.add_import(importer="stash_sense.engine.pipeline", imported="stash_sense.plugin.operations")
    assert graph.find_illegal_dependencies_for_layers(
        layers=["stash_sense.plugin", "stash_sense.engine"], containers=set())
