"""How Stash runs a raw-interface plugin: operations synchronously, tasks as queued jobs, hooks
one process each (``run_hooks``).

Why: the plugin must behave under the demo exactly as under Stash: PluginInput JSON on stdin (then
closed), stdout read to EOF and parsed as ``{"output"|"error"}``, stderr parsed line by line with
the ``\\x01<level>\\x02`` protocol (progress lines move the job's progress), one task at a time.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from graphql import GraphQLError

from .seed import now

LEVELS = {"t": "trace", "d": "debug", "i": "info", "w": "warning", "e": "error", "p": "progress"}


def load_hooks(plugin_dir: str, plugin_id: str) -> dict[str, list[dict]]:
    """Trigger -> defaultArgs of each hook the plugin's manifest (``<plugin_dir>/<plugin_id>.yml``)
    registers with ``triggeredBy``; none when there is no manifest."""
    import yaml

    manifest = Path(plugin_dir) / f"{plugin_id}.yml"
    if not manifest.is_file():
        return {}
    hooks: dict[str, list[dict]] = {}
    for hook in yaml.safe_load(manifest.read_text()).get("hooks") or []:
        for trigger in hook.get("triggeredBy") or []:
            hooks.setdefault(trigger, []).append(dict(hook.get("defaultArgs") or {}))
    return hooks


class PluginRunner:
    """The plugin half of the demo Stash: runs the plugin, keeps its log lines and task jobs."""

    def __init__(
        self,
        plugin_command: list[str],
        plugin_id: str,
        plugin_dir: str,
        task_default_args: dict[str, dict],
        err_log_level: str,
        hooks: dict[str, list[dict]] | None = None,
    ):
        self.plugin_command = plugin_command
        self.plugin_id = plugin_id
        self.plugin_dir = plugin_dir
        self.task_default_args = task_default_args
        self.err_log_level = err_log_level
        self.log_entries: list[tuple[str, str]] = []
        self.jobs: dict[str, dict] = {}
        self.hooks = load_hooks(plugin_dir, plugin_id) if hooks is None else hooks
        self.hook_runs: list[dict] = []  # one entry per hook process: what Stash passed and got back
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._task_lock = threading.Lock()  # Stash's job queue runs one job at a time
        self._job_seq = 0

    def server_connection(self, host: str = "0.0.0.0") -> dict:
        """The ``server_connection`` part of PluginInput (provided by the server)."""
        raise NotImplementedError

    def stop_all_jobs(self) -> None:
        for job_id in list(self._procs):
            self.stop_job(job_id)

    def logs(self, level: str | None = None) -> list[str]:
        """Messages the plugin logged (stderr protocol), optionally only one level."""
        with self._lock:
            return [m for lv, m in self.log_entries if level is None or lv == level]

    def clear_logs(self) -> None:
        with self._lock:
            self.log_entries.clear()

    def _log(self, level: str, message: str) -> None:
        with self._lock:
            self.log_entries.append((level, message))

    def _plugin_input(self, args: dict) -> dict:
        return {"server_connection": self.server_connection(), "args": args}

    def _check_plugin(self, plugin_id: str) -> None:
        if plugin_id != self.plugin_id:
            raise GraphQLError(f"plugin {plugin_id!r} not found")

    def _run(self, args: dict, job: dict | None = None, log: list[str] | None = None) -> tuple[Any, str | None]:
        """Run the plugin like Stash's raw interface; returns (output, error)."""
        env = dict(os.environ)
        parent = str(Path(self.plugin_dir).resolve().parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), parent) if p)
        proc = subprocess.Popen(
            self.plugin_command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        if job is not None:
            with self._lock:
                self._procs[job["id"]] = proc
        reader = threading.Thread(target=self._read_stderr, args=(proc.stderr, job, log), daemon=True)
        reader.start()
        try:
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(json.dumps(self._plugin_input(args)).encode())
                proc.stdin.close()
            except BrokenPipeError:
                pass
            out = proc.stdout.read()
            rc = proc.wait()
            reader.join()
        finally:
            if job is not None:
                with self._lock:
                    self._procs.pop(job["id"], None)
        text = out.decode("utf-8", "replace")
        output: Any = text
        error: str | None = None
        try:
            parsed = json.loads(text)
            if isinstance(parsed, dict):
                output = parsed.get("output")
                error = parsed.get("error")
        except ValueError:
            pass  # not JSON: Stash returns the raw stdout
        if rc != 0 and error is None:
            error = f"exit status {rc}" if rc > 0 else f"signal: killed ({-rc})"
        return output, error

    def _read_stderr(self, stream: Any, job: dict | None, log: list[str] | None = None) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if log is not None:
                log.append(line)
            if len(line) >= 4 and line[0] == "\x01" and line[2] == "\x02" and line[1] in LEVELS:
                level, text = LEVELS[line[1]], line[3:].strip()
            else:
                level, text = self.err_log_level, line.strip()
            if not text or level == "none":
                continue
            if level == "progress":
                if job is not None:
                    try:
                        job["progress"] = min(max(float(text), 0.0), 1.0)
                    except ValueError:
                        pass
                continue
            self._log(level, text)
        stream.close()

    def run_plugin_operation(self, plugin_id: str, args: dict) -> Any:
        """Synchronous ``runPluginOperation``: output returned, ``{"error"}`` becomes a GraphQL error."""
        self._check_plugin(plugin_id)
        output, error = self._run(args)
        if error is not None:
            raise GraphQLError(error)
        return output

    def start_plugin_task(self, plugin_id: str, task_name: str | None, description: str | None, args: dict) -> str:
        """Queue ``runPluginTask``: defaultArgs fill missing keys; returns the job id at once."""
        self._check_plugin(plugin_id)
        if task_name is not None:
            if task_name not in self.task_default_args and self.task_default_args:
                raise GraphQLError(f"task {task_name!r} not found in plugin {plugin_id!r}")
            for k, v in (self.task_default_args.get(task_name) or {}).items():
                args.setdefault(k, v)
        job = self._new_job(f"Running plugin task: {description or task_name or plugin_id}")
        threading.Thread(target=self._run_job, args=(job, args), daemon=True).start()
        return job["id"]

    def _new_job(self, description: str) -> dict:
        """A job in Stash's queue (plugin tasks, scans): READY until the queue reaches it."""
        with self._lock:
            self._job_seq += 1
            job_id = str(self._job_seq)
        job = {"id": job_id, "status": "READY", "subTasks": [], "description": description, "progress": None,
               "startTime": None, "endTime": None, "addTime": now(), "error": None}
        self.jobs[job_id] = job
        return job

    def run_hooks(self, trigger: str, object_id: int) -> None:
        """Stash's ``executePostHooks`` for one object: for each hook of the plugin triggered by
        ``trigger``, one plugin process with the hook's defaultArgs and ``args.hookContext``
        (``input``/``inputFields`` nil: a scan has no GraphQL input), waited for; the answer is only
        logged (an error at error level, an output at debug level)."""
        for default_args in self.hooks.get(trigger, []):
            context = {"id": int(object_id), "type": trigger, "input": None, "inputFields": None}
            args = {**{k: str(v) for k, v in default_args.items()}, "hookContext": context}
            run: dict[str, Any] = {"type": trigger, "id": int(object_id), "args": args, "log": []}
            started = time.monotonic()
            output, error = self._run(args, log=run["log"])
            run.update(output=output, error=error, seconds=time.monotonic() - started)
            with self._lock:
                self.hook_runs.append(run)
            if error is not None:
                self._log("error", f"{trigger} [{self.plugin_id}]: returned error: {error}")
            elif output is not None:
                self._log("debug", f"{trigger} [{self.plugin_id}]: returned: {json.dumps(output)[:2000]}")

    def _run_job(self, job: dict, args: dict) -> None:
        with self._task_lock:
            if job["status"] == "CANCELLED":
                return
            job.update(status="RUNNING", startTime=now())
            try:
                output, error = self._run(args, job)
            except Exception as exc:  # e.g. the command does not exist
                self._log("error", f"Error running plugin task: {exc}")
                output, error = None, None
            if job["status"] == "STOPPING":
                job.update(status="CANCELLED", endTime=now())
                return
            # Stash's RunPluginTask only logs the plugin's answer: the job ends FINISHED, with no
            # error, even when the plugin answered {"error": ...} or exited non-zero
            if error is not None:
                self._log("error", f"Plugin returned error: {error}")
            elif output is not None:
                self._log("debug", f"Plugin returned: {json.dumps(output)[:2000]}")
            job.update(status="FINISHED", progress=1.0, endTime=now())

    def stop_job(self, job_id: str) -> bool:
        """Stash kills a raw plugin's process without warning."""
        job = self.jobs.get(str(job_id))
        if job is None:
            return False
        with self._lock:
            proc = self._procs.get(str(job_id))
        if job["status"] == "READY":
            job["status"] = "CANCELLED"
        elif proc is not None:
            job["status"] = "STOPPING"
            proc.kill()
        return True

    def wait_job(self, job_id: str, timeout: float = 60.0) -> dict:
        """Block until a task job ends (tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.jobs[str(job_id)]
            if job["status"] in ("FINISHED", "FAILED", "CANCELLED"):
                return dict(job)
            time.sleep(0.05)
        raise TimeoutError(f"job {job_id} still {self.jobs[str(job_id)]['status']} after {timeout}s")
