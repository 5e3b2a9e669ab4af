"""Root fields only Stash's own web UI asks for: system status, the plugin list, UI configuration.

Why: the real UI (``../shared/stash-ui/build``) refuses to show a page until ``systemStatus`` says
OK, builds its plugin loader from ``plugins`` (absolute ``paths`` under the request's base URL) and
loops on ``configureUI`` unless it persists.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from .base import Resolvers

# Stash's current UI settings; lastNoteSeen past the newest release note keeps its modal closed.
DEFAULT_UI: dict[str, Any] = {"lastNoteSeen": 20260101}


def plugin_manifest(plugin_dir: str, plugin_id: str) -> dict:
    """The plugin's ``<id>.yml`` from its folder, as Stash's plugin loader reads it."""
    return yaml.safe_load((Path(plugin_dir) / f"{plugin_id}.yml").read_text(encoding="utf-8")) or {}


class UIResolvers(Resolvers):
    """systemStatus, plugins, pluginTasks, configureUI, configureUISetting, logs."""

    def systemStatus(self, info: Any) -> dict:
        db = str(Path(self.server.db_path).resolve())
        return {
            "databaseSchema": 75,
            "databasePath": db,
            "configPath": str(Path(db).parent / "config.yml"),
            "appSchema": 75,
            "status": "OK",
            "os": "linux",
            "workingDir": os.getcwd(),
            "homeDir": str(Path.home()),
        }

    def _plugin(self) -> dict:
        server, base = self.server, self.ctx.base_url
        manifest = plugin_manifest(server.plugin_dir, server.plugin_id)
        plugin: dict[str, Any] = {
            "id": server.plugin_id,
            "name": manifest.get("name") or server.plugin_id,
            "description": manifest.get("description"),
            "url": manifest.get("url"),
            "version": manifest.get("version"),
            "enabled": True,
            "hooks": [],
            "requires": [],
            "settings": [
                {"name": key, "display_name": s.get("displayName"), "description": s.get("description"),
                 "type": s.get("type", "STRING")}
                for key, s in (manifest.get("settings") or {}).items()
            ],
            "paths": {
                "javascript": [f"{base}/plugin/{server.plugin_id}/javascript"] if (manifest.get("ui") or {}).get(
                    "javascript") else [],
                "css": [f"{base}/plugin/{server.plugin_id}/css"] if (manifest.get("ui") or {}).get("css") else [],
            },
        }
        plugin["tasks"] = [
            {"name": t["name"], "description": t.get("description"), "plugin": plugin}
            for t in manifest.get("tasks") or []
        ]
        return plugin

    def plugins(self, info: Any) -> list[dict]:
        return [self._plugin()]

    def pluginTasks(self, info: Any) -> list[dict]:
        return self._plugin()["tasks"]

    def configureUI(self, info: Any, input: dict | None = None, partial: dict | None = None) -> dict:
        """Stash: ``input`` replaces the UI config, ``partial`` is merged into it; returns the result."""
        ui = dict(input) if input is not None else self.ctx.config("ui", DEFAULT_UI)
        ui.update(partial or {})
        self.ctx.set_config("ui", ui)
        return ui

    def configureUISetting(self, info: Any, key: str, value: Any = None) -> dict:
        return self.configureUI(info, partial={key: value})

    def logs(self, info: Any) -> list[dict]:
        return [{"level": level.capitalize(), "message": msg} for level, msg in self.server.log_entries]
