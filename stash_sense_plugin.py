"""Stash Sense: the file Stash runs (``exec: [python3, {pluginDir}/stash_sense_plugin.py]``).

Stash never installs a plugin's requirements, and the Python it runs may lack numpy, onnxruntime
and the rest. So this file uses only the standard library until it has checked the environment:
on first run it creates a virtual environment inside the plugin folder (``<plugin>/.venv``),
installs ``requirements.txt`` (and ``requirements-nodeps.txt`` with ``--no-deps``) with progress in
Stash's log, and re-executes itself with that environment's Python, handing over the PluginInput
Stash wrote on stdin. Later runs find the environment ready (a stamp records what was installed)
and go straight to it. A failed install ends with one error naming the command to run by hand.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

PLUGIN_ID = "stash_sense"
PLUGIN_DIR = Path(__file__).resolve().parent
REQUIREMENTS = "requirements.txt"
REQUIREMENTS_NODEPS = "requirements-nodeps.txt"
STAMP = ".stash-sense-stamp"
MAKEFILE_STAMP = ".installed-stamp"  # `make` installs the same requirements (plus dev tools)
MIN_PYTHON = (3, 11)


class BootstrapError(RuntimeError):
    """The environment could not be prepared; the message says what to run by hand."""


# --- Stash protocol, stdlib only ------------------------------------------------------------------


def log(level: str, message: str) -> None:
    for line in str(message).splitlines() or [""]:
        sys.stderr.write(f"\x01{level}\x02{line[:60000]}\n")
    sys.stderr.flush()


def emit_error(message: str) -> None:
    log("e", message)
    sys.stdout.write(json.dumps({"error": message}) + "\n")
    sys.stdout.flush()


# --- where things are -------------------------------------------------------------------------------


def venv_dir(plugin_dir: Path = PLUGIN_DIR) -> Path:
    return Path(os.environ.get("STASH_SENSE_VENV") or plugin_dir / ".venv")


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def running_in(venv: Path) -> bool:
    try:
        return Path(sys.prefix).resolve() == venv.resolve()
    except OSError:
        return False


def requirement_lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def requirements_hash(plugin_dir: Path) -> str:
    digest = hashlib.sha256()
    for name in (REQUIREMENTS, REQUIREMENTS_NODEPS):
        digest.update(name.encode() + b"\0" + "\n".join(requirement_lines(plugin_dir / name)).encode() + b"\0")
    return digest.hexdigest()


# --- is the environment ready? ----------------------------------------------------------------------


def read_stamp(venv: Path) -> dict:
    try:
        return json.loads((venv / STAMP).read_text())
    except (OSError, ValueError):
        return {}


def write_stamp(venv: Path, plugin_dir: Path, override: str) -> None:
    (venv / STAMP).write_text(json.dumps({"requirements": requirements_hash(plugin_dir), "python": override}))


def satisfied(venv: Path, plugin_dir: Path, override: str | None = None) -> bool:
    """The venv exists and holds the current requirements (and was made with ``override``, if given;
    "" = the Python Stash runs)."""
    if not venv_python(venv).exists():
        return False
    stamp = read_stamp(venv)
    if stamp:
        same_python = override is None or stamp.get("python", "") == override
        return stamp.get("requirements") == requirements_hash(plugin_dir) and same_python
    make_stamp = venv / MAKEFILE_STAMP
    if make_stamp.exists() and not override:
        newest = max((plugin_dir / n).stat().st_mtime for n in (REQUIREMENTS, REQUIREMENTS_NODEPS)
                     if (plugin_dir / n).exists())
        return make_stamp.stat().st_mtime >= newest
    return False


# --- the python path override (plugin setting, read from Stash with the stdlib) ----------------------


def python_override(plugin_input: dict) -> str:
    """``STASH_SENSE_PYTHON``, else the plugin's ``pythonPath`` setting, else "" (Stash's own Python)."""
    if os.environ.get("STASH_SENSE_PYTHON"):
        return os.environ["STASH_SENSE_PYTHON"]
    conn = plugin_input.get("server_connection") or {}
    host = conn.get("Host") or "localhost"
    host = "127.0.0.1" if host == "0.0.0.0" else host
    url = f"{conn.get('Scheme') or 'http'}://{host}:{conn.get('Port') or 9999}/graphql"
    body = json.dumps({"query": f'query {{ configuration {{ plugins(include: ["{PLUGIN_ID}"]) }} }}'}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    cookie = (conn.get("SessionCookie") or {}).get("Value")
    if cookie:
        request.add_header("Cookie", f"session={cookie}")
    if conn.get("ApiKey"):
        request.add_header("ApiKey", conn["ApiKey"])
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            plugins = json.load(response)["data"]["configuration"]["plugins"] or {}
        return str((plugins.get(PLUGIN_ID) or {}).get("pythonPath") or "").strip()
    except Exception:
        return ""  # Stash unreachable here: the plugin itself reports that clearly later


# --- installing ---------------------------------------------------------------------------------------


def install_commands(venv: Path, plugin_dir: Path, base_python: str) -> list[list[str]]:
    py = str(venv_python(venv))
    commands = [[base_python, "-m", "venv", str(venv)]]
    if requirement_lines(plugin_dir / REQUIREMENTS):
        commands.append([py, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                         "-r", str(plugin_dir / REQUIREMENTS)])
    if requirement_lines(plugin_dir / REQUIREMENTS_NODEPS):
        commands.append([py, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--no-deps",
                         "-r", str(plugin_dir / REQUIREMENTS_NODEPS)])
    return commands


def _shell(command: list[str]) -> str:
    return " ".join(f'"{part}"' if " " in part else part for part in command)


def manual_hint(commands: list[list[str]]) -> str:
    return "Run this by hand, then try again:\n  " + " && ".join(_shell(c) for c in commands)


def check_python_version(base_python: str) -> None:
    try:
        out = subprocess.run([base_python, "-c", "import sys; print('%d %d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=60)
        version = tuple(int(v) for v in out.stdout.split())
    except (OSError, ValueError, subprocess.SubprocessError):
        raise BootstrapError(f"Cannot run Python at {base_python!r}: set the plugin setting "
                             "\"Python path override\" to a Python 3.11+ executable") from None
    if version < MIN_PYTHON:
        raise BootstrapError(f"Stash Sense needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]}+, but {base_python} is "
                             f"{'.'.join(map(str, version))}. Install a newer Python and set the plugin setting "
                             "\"Python path override\" to it")


def run_logged(command: list[str]) -> tuple[int, str]:
    """Run a command, relaying its output to Stash's log (never to our stdout); (exit code, last lines)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               stdin=subprocess.DEVNULL)
    tail: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        line = line.rstrip()
        if line:
            log("i", line)
            tail = (tail + [line])[-5:]
    return process.wait(), " | ".join(tail)


def install(venv: Path, plugin_dir: Path, override: str) -> None:
    """Create the venv if needed and install the requirements; raises BootstrapError with a hint."""
    base_python = override or sys.executable
    changed = venv_python(venv).exists() and read_stamp(venv).get("python", override) != override
    if changed or (venv.exists() and not venv_python(venv).exists()):
        log("i", f"Stash Sense: rebuilding its Python environment in {venv} (its Python changed or is gone)")
        shutil.rmtree(venv, ignore_errors=True)
    commands = install_commands(venv, plugin_dir, base_python)
    hint = manual_hint(commands)
    if venv_python(venv).exists():
        commands = commands[1:]
    else:
        check_python_version(base_python)
    log("i", f"Stash Sense: preparing its Python environment in {venv} (first run or update; this can take "
             "a few minutes and happens once)")
    for step, command in enumerate(commands):
        log("p", f"{step / max(len(commands), 1):.2f}")
        log("i", f"Stash Sense: running {_shell(command)}")
        try:
            code, tail = run_logged(command)
        except OSError as exc:
            code, tail = -1, str(exc)
        if code != 0:
            raise BootstrapError(f"Installing Stash Sense's Python packages failed (exit {code}: {tail}). {hint}")
    write_stamp(venv, plugin_dir, override)
    log("p", "1.0")
    log("i", "Stash Sense: Python environment ready")


def ensure_environment(venv: Path, plugin_dir: Path, override: str = "") -> None:
    """Install unless ready; one installer at a time (two Stash clicks must not both run pip).

    ``override``: the Python to build the venv with ("" = the Python Stash runs this file with).
    """
    if satisfied(venv, plugin_dir, override):
        return
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / (venv.name + ".lock"), "w") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:  # Windows: no flock; a second concurrent first run is unlikely
            pass
        if not satisfied(venv, plugin_dir, override):
            install(venv, plugin_dir, override)


# --- re-exec ----------------------------------------------------------------------------------------


def exec_in(venv: Path, stdin_data: bytes) -> None:
    """Replace this process with the venv's Python running this file, stdin handed over unchanged.

    exec (not a child process) so that Stash's "stop task", which kills our pid, stops the work.
    """
    handover = tempfile.TemporaryFile()
    handover.write(stdin_data)
    handover.flush()
    handover.seek(0)
    os.dup2(handover.fileno(), 0)
    python = str(venv_python(venv))
    env = dict(os.environ, STASH_SENSE_BOOTSTRAPPED="1")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(python, [python, str(Path(__file__).resolve())], env)


def run_plugin() -> int:
    sys.path.insert(0, str(PLUGIN_DIR))
    from stash_sense.plugin.main import main as plugin_main

    return plugin_main()


def main() -> int:
    venv = venv_dir()
    if running_in(venv) or os.environ.get("STASH_SENSE_SKIP_BOOTSTRAP"):
        return run_plugin()
    if os.environ.get("STASH_SENSE_BOOTSTRAPPED"):
        emit_error(f"Stash Sense re-started itself with {venv_python(venv)} but is not running in {venv}; "
                   "delete that folder and try again")
        return 1
    stdin_data = sys.stdin.buffer.read()
    try:
        plugin_input = json.loads(stdin_data or b"{}")
    except ValueError:
        plugin_input = {}
    override = python_override(plugin_input if isinstance(plugin_input, dict) else {})
    try:
        ensure_environment(venv, PLUGIN_DIR, override)
    except BootstrapError as exc:
        emit_error(str(exc))
        return 1
    exec_in(venv, stdin_data)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
