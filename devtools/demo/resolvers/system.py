"""Root fields about the server itself: version, configuration, jobs and plugins."""

from __future__ import annotations

from typing import Any

from .base import Resolvers
from .ui import DEFAULT_UI


class SystemResolvers(Resolvers):
    """version, configuration, configurePlugin, jobs, runPluginOperation/Task, metadataScan, stopJob."""

    def version(self, info: Any) -> dict:
        return {"version": self.server.version, "hash": "d3m0s7a5h", "build_time": "2025-12-18 00:00:00"}

    def configuration(self, info: Any) -> dict:
        c = self.ctx

        def plugins(info: Any, include: list[str] | None = None) -> dict:
            all_cfg = c.config("plugins", {})
            return {k: v for k, v in all_cfg.items() if include is None or k in include}

        boxes = c.config("stash_boxes", [])
        return {
            "general": {
                "apiKey": self.server.api_key or "",
                "stashBoxes": [
                    {
                        "endpoint": b["endpoint"],
                        "name": b.get("name", ""),
                        "api_key": "",
                        "max_requests_per_minute": 240,
                    }
                    for b in boxes
                ],
            },
            "plugins": plugins,
            "ui": c.config("ui", DEFAULT_UI),
        }

    def configurePlugin(self, info: Any, plugin_id: str, input: dict) -> dict:
        cfg = self.ctx.config("plugins", {})
        cfg[plugin_id] = input
        self.ctx.set_config("plugins", cfg)
        return input

    def findJob(self, info: Any, input: dict) -> dict | None:
        job = self.server.jobs.get(str(input["id"]))
        return dict(job) if job else None

    def jobQueue(self, info: Any) -> list[dict]:
        return [dict(j) for j in self.server.jobs.values() if j["status"] in ("READY", "RUNNING", "STOPPING")]

    def runPluginOperation(self, info: Any, plugin_id: str, args: dict | None = None) -> Any:
        return self.server.run_plugin_operation(plugin_id, args or {})

    def runPluginTask(
        self,
        info: Any,
        plugin_id: str,
        task_name: str | None = None,
        description: str | None = None,
        args: list[dict] | None = None,
        args_map: dict | None = None,
    ) -> str:
        merged: dict[str, Any] = {}
        for a in args or []:  # deprecated PluginArgInput form
            v = a.get("value") or {}
            merged[a["key"]] = next((v[k] for k in ("str", "i", "b", "f", "o", "a") if v.get(k) is not None), None)
        merged.update(args_map or {})
        return self.server.start_plugin_task(plugin_id, task_name, description, merged)

    def metadataScan(self, info: Any, input: dict) -> str:
        return self.server.start_scan(list(input.get("paths") or []))

    def stopJob(self, info: Any, job_id: str) -> bool:
        return self.server.stop_job(job_id)
