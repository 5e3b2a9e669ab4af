"""stash_sense.yml against the strict field set Stash parses it with (unknown keys = plugin refused)."""

from __future__ import annotations

import re

import yaml
from conftest import REPO

from stash_sense.plugin.operations import OPERATIONS, TASK_MODES
from stash_sense.settings import SETTINGS

# Go structs in stashapp/stash pkg/plugin/config.go (see ../shared/docs/stash-plugin-api.md §1.2)
CONFIG_KEYS = {"name", "description", "url", "version", "interface", "exec", "errLog", "tasks", "hooks", "ui",
               "settings"}
UI_KEYS = {"requires", "csp", "javascript", "css", "assets"}
SETTING_KEYS = {"type", "displayName", "description"}
TASK_KEYS = {"name", "description", "execArgs", "defaultArgs"}
TASKS = {
    "Set up / repair environment": "setup",
    "Identify performers in all galleries": "bulk_galleries",
    "Identify performers in galleries without performers": "bulk_galleries_untagged",
    "Identify performers in galleries with a tag": "bulk_galleries_tagged",
    "Re-identify all galleries (force)": "bulk_galleries",
    "Identify scenes": "identify_scenes",
    "Download/update face database": "download_db",
    "Build local reference from my performers": "enroll_local",
    "Find recurring unknown people": "unknown_people",
    "Rebuild the library face index": "library_index_rebuild",
    "Identify new content": "identify_new_content",
    "Undo last bulk run": "undo_last_run",
}
HOOK_KEYS = {"name", "description", "execArgs", "defaultArgs", "triggeredBy"}
HOOK_TRIGGERS = {"Gallery.Create.Post", "Scene.Create.Post", "Image.Create.Post"}


def manifest() -> dict:
    return yaml.safe_load((REPO / "stash_sense.yml").read_text())


def test_only_fields_stash_knows():
    m = manifest()
    assert set(m) <= CONFIG_KEYS and {"name", "description", "version", "url", "exec", "interface"} <= set(m)
    assert set(m["ui"]) <= UI_KEYS
    assert m["interface"] == "raw" and m["errLog"] in {"trace", "debug", "info", "warning", "error", "none"}
    assert re.fullmatch(r"\d+(\.\d+)?(\.\d+)?", str(m["version"]))  # CommunityScripts validator rule
    for value in (m["name"], m["description"], m["version"]):
        assert "\n" not in str(value)  # the index build greps single lines


def test_exec_runs_the_bootstrap_with_plugin_dir():
    exec_ = manifest()["exec"]
    assert exec_[0] in ("python", "python3")  # Stash resolves these to the configured Python
    assert exec_[1:] == ["{pluginDir}/stash_sense_plugin.py"] and (REPO / "stash_sense_plugin.py").is_file()


def test_settings_match_the_code():
    settings = manifest()["settings"]
    assert set(settings) == set(SETTINGS)
    for key, entry in settings.items():
        assert set(entry) <= SETTING_KEYS and entry["type"] in ("STRING", "NUMBER", "BOOLEAN")
        assert (entry["type"], entry["displayName"]) == SETTINGS[key][:2]


def test_tasks_and_modes():
    tasks = manifest()["tasks"]
    assert {t["name"]: t["defaultArgs"]["mode"] for t in tasks} == TASKS
    for task in tasks:
        assert set(task) <= TASK_KEYS and task["description"]
        assert all(isinstance(v, str) for v in task["defaultArgs"].values())  # map[string]string
        assert task["defaultArgs"]["mode"] in OPERATIONS
        # the UI follows a task it started and asks the plugin how it ended (task_outcome)
        assert task["defaultArgs"]["mode"] in TASK_MODES, task["name"]


def test_ui_files_exist_and_no_other_yml_in_the_plugin_folder():
    ui = manifest()["ui"]
    assert ui["css"] == ["stash_sense/js/stash_sense.css"]
    # every UI file, once; core.js opens the namespace the others fill in, main.js starts the UI last
    js = ui["javascript"]
    assert js[0] == "stash_sense/js/core.js" and js[-1] == "stash_sense/js/main.js" and len(set(js)) == len(js)
    assert sorted(js) == sorted(str(p.relative_to(REPO)) for p in (REPO / "stash_sense" / "js").glob("*.js"))
    for path in js + ui["css"]:
        assert (REPO / path).is_file()
    skip = {".git", ".venv", "data", "node_modules", "dist"}  # dist: `make package` output, never installed as is
    found = [p.relative_to(REPO) for p in REPO.rglob("*.yml")]
    stray = [p for p in found if not skip & set(p.parts) and str(p) != "stash_sense.yml"]
    assert stray == []  # Stash would load every *.yml as a plugin


def test_hooks_only_queue_new_content():
    hooks = manifest()["hooks"]
    assert [h["defaultArgs"]["mode"] for h in hooks] == ["new_content_hook"]
    assert set(hooks[0]) <= HOOK_KEYS and set(hooks[0]["triggeredBy"]) == HOOK_TRIGGERS
    assert "new_content_hook" in OPERATIONS
