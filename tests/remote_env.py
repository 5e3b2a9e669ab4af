"""A remote engine for tests: ``python -m stash_sense serve`` on 127.0.0.1 (port chosen by the OS) in
its own data folder holding the demo reference database, started as a user would start it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from conftest import REPO

__all__ = ["EngineProcess", "engine_data_dir", "start_engine"]


@dataclass
class EngineProcess:
    proc: subprocess.Popen
    url: str
    token: str
    stdout: list[str]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("?")[0])

    def settings(self) -> dict:
        return {"engineUrl": self.url, "engineToken": self.token}


def engine_data_dir(folder: Path, reference: Path | None) -> Path:
    """An engine data folder with the reference database where ``databases`` looks for the local one."""
    from stash_sense.service import databases

    old = os.environ.get("STASH_SENSE_DATA_DIR")
    os.environ["STASH_SENSE_DATA_DIR"] = str(folder)
    try:
        target = databases.local_db_path()
    finally:
        if old is None:
            os.environ.pop("STASH_SENSE_DATA_DIR")
        else:
            os.environ["STASH_SENSE_DATA_DIR"] = old
    folder.mkdir(parents=True, exist_ok=True)
    if reference is not None and not target.exists():
        shutil.copytree(reference, target)
    return folder


def start_engine(data_dir: Path, *args: str, python: str = sys.executable, port: int = 0,
                 timeout: float = 120, pythonpath: str | None = str(REPO)) -> EngineProcess:
    """Start the engine and wait for the settings it prints (it prints them once it accepts).

    ``pythonpath=None``: the package installed in ``python``'s environment, not the checkout."""
    env = dict(os.environ, STASH_SENSE_WORKER="0")
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    env.pop("STASH_SENSE_DATA_DIR", None)
    proc = subprocess.Popen([python, "-m", "stash_sense", "serve", "--listen", f"127.0.0.1:{port}",
                             "--pack", "test-mbf128", "--threads", "1", "--data-dir", str(data_dir), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=str(REPO if pythonpath else data_dir))
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Engine token:" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    threading.Thread(target=lambda: proc.stderr and proc.stderr.read(), daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.2):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the engine did not start (exit {proc.poll()}): {''.join(lines)}")
    text = "".join(lines)
    url = re.search(r"Engine URL: +(\S+)", text).group(1)
    token = re.search(r"Engine token: +(\S+)", text).group(1)
    return EngineProcess(proc, url, token, lines)
