"""Stash Sense: the file Stash runs (``exec: [python3, {pluginDir}/stash_sense_plugin.py]``).

Stash never installs a plugin's requirements, and the Python it runs may lack numpy, onnxruntime
and the rest. So this file uses only the standard library until it has checked the environment.

- Where: the plugin's virtual environment and data live beside Stash's configuration
  (``<Stash config dir>/stash-sense/{venv,data}``), not in the plugins folder, which Stash walks on
  every plugin reload. A data folder left inside the plugin folder by an older version is moved there.
- Who installs: only a task (Stash runs tasks as jobs, with progress, not inside an HTTP request).
  A click (``runPluginOperation``) that finds no environment answers at once and starts the
  "Set up / repair environment" task; it never runs pip itself, because Stash kills the plugin
  when the browser's request is cancelled (a reverse proxy's timeout, a closed tab).
- Safely: one installer at a time (a lock), and an install that was interrupted (a marker left
  behind) is rebuilt from scratch rather than trusted.
- Then it re-executes itself with the environment's Python, handing over the PluginInput Stash
  wrote on stdin. A failed install ends with one error naming the command to run by hand.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

# Standard library only, like this file: the client's rules for where Stash is, so both reach the same address
from stash_sense.hosts import url_host, verify_certificate

PLUGIN_ID = "stash_sense"
PLUGIN_DIR = Path(__file__).resolve().parent
REQUIREMENTS = "requirements.txt"
REQUIREMENTS_NODEPS = "requirements-nodeps.txt"
# The plugin side alone (no face engine): installed when the engine runs elsewhere ("Engine URL" set)
# or when this platform has no wheels for the engine (musl: Alpine, the official Stash image).
REQUIREMENTS_LIGHT = "requirements-light.txt"
STAMP = ".stash-sense-stamp"
MAKEFILE_STAMP = ".installed-stamp"  # `make` installs the same requirements (plus dev tools)
MIN_PYTHON = (3, 11)
HOME_NAME = "stash-sense"  # <Stash config dir>/stash-sense: beside Stash's config, outside its plugins folder
INSTALLING = ".installing"  # suffix of the marker an install leaves until it has finished
SETUP_MODE = "setup"
SETUP_TASK = "Set up / repair environment"  # the manifest's task name (Stash starts tasks by name)
# Modes Stash runs as tasks (the manifest's tasks): the only ones allowed to install.
TASK_MODES = frozenset({SETUP_MODE, "bulk_galleries", "bulk_galleries_untagged", "bulk_galleries_tagged",
                        "identify_scenes", "download_db", "enroll_local", "undo_last_run",
                        "unknown_people", "library_index_rebuild", "identify_new_content"})
NO_MUSL = ("Stash Sense cannot run its face engine inside this Stash: its Python uses musl libc (Alpine Linux, "
           "as in the official Stash Docker image), and onnxruntime, OpenCV and Voyager publish no musl builds. "
           "Run the engine on the host or another machine (`pip install \"stash-sense[engine]\"` then "
           "`stash-sense serve`) and set the plugin settings \"Engine URL\" and \"Engine token\"; the plugin "
           "here then installs only its light side.")


class BootstrapError(RuntimeError):
    """The environment could not be prepared; the message says what to run by hand."""


# --- Stash protocol, stdlib only ------------------------------------------------------------------


def log(level: str, message: str) -> None:
    for line in str(message).splitlines() or [""]:
        sys.stderr.write(f"\x01{level}\x02{line[:60000]}\n")
    sys.stderr.flush()


def emit_error(message: str, level: str = "e") -> None:
    log(level, message)
    sys.stdout.write(json.dumps({"error": message}) + "\n")
    sys.stdout.flush()


# --- where things are -------------------------------------------------------------------------------


def home_dir(plugin_input: dict) -> Path | None:
    """``STASH_SENSE_HOME``, else ``<Stash config dir>/stash-sense``; None outside Stash (no ``Dir``)."""
    if os.environ.get("STASH_SENSE_HOME"):
        return Path(os.environ["STASH_SENSE_HOME"])
    stash_dir = ((plugin_input or {}).get("server_connection") or {}).get("Dir")
    return Path(stash_dir) / HOME_NAME if stash_dir else None


def venv_dir(plugin_dir: Path = PLUGIN_DIR, home: Path | None = None) -> Path:
    """``STASH_SENSE_VENV``; a development checkout's ``.venv`` made by ``make``; else ``<home>/venv``."""
    if os.environ.get("STASH_SENSE_VENV"):
        return Path(os.environ["STASH_SENSE_VENV"])
    dev = plugin_dir / ".venv"
    if home is None or (dev / MAKEFILE_STAMP).exists():
        return dev
    return home / "venv"


def legacy_venv(plugin_dir: Path, venv: Path) -> Path | None:
    """The venv an older version made inside the plugin folder (not ``make``'s), if unused now."""
    old = plugin_dir / ".venv"
    if old.resolve() == venv.resolve() or (old / MAKEFILE_STAMP).exists() or not (old / STAMP).exists():
        return None
    return old


def use_home_data(home: Path | None, plugin_dir: Path = PLUGIN_DIR, migrate: bool = False) -> None:
    """Point the plugin at ``<home>/data`` (unless ``STASH_SENSE_DATA_DIR`` is set); with ``migrate``
    (tasks only: moving gigabytes across file systems has no place in a click) first move there what
    an older version kept in ``<plugin folder>/data``, which is used as is until then."""
    if home is None or os.environ.get("STASH_SENSE_DATA_DIR"):
        return
    target = home / "data"
    old = plugin_dir / "data"
    leftovers = [p for p in old.iterdir() if p.name != "README.md"] if old.is_dir() else []
    if leftovers and not migrate:
        os.environ["STASH_SENSE_DATA_DIR"] = str(old)
        return
    os.environ["STASH_SENSE_DATA_DIR"] = str(target)
    if not leftovers:
        return
    target.mkdir(parents=True, exist_ok=True)
    with locked(home / "migrate.lock"):
        for item in leftovers:
            if item.exists() and not (target / item.name).exists():
                shutil.move(str(item), str(target / item.name))
        if not any(old.iterdir()):
            old.rmdir()
    log("i", f"Stash Sense: moved its data from {old} to {target} (out of Stash's plugins folder, which Stash "
             "scans on every plugin reload)")


class locked:
    """An exclusive lock on a file, held for a ``with`` block (a no-op where ``fcntl`` is missing)."""

    def __init__(self, path: Path, wait: bool = True):
        self.path, self.wait, self.file = path, wait, None

    def __enter__(self) -> bool:
        """True when held; False when ``wait=False`` and another process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.path, "w")
        try:
            import fcntl
        except ImportError:  # Windows: no flock; a second concurrent first run is unlikely
            return True
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
        except BlockingIOError:
            return False
        return True

    def __exit__(self, *exc: object) -> None:
        self.file.close()  # closing releases the lock


def lock_path(venv: Path) -> Path:
    return venv.parent / (venv.name + ".lock")


def marker_path(venv: Path) -> Path:
    return venv.parent / (venv.name + INSTALLING)


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


def requirement_files(light: bool = False) -> tuple[str, ...]:
    return (REQUIREMENTS_LIGHT,) if light else (REQUIREMENTS, REQUIREMENTS_NODEPS)


def requirements_hash(plugin_dir: Path, light: bool = False) -> str:
    digest = hashlib.sha256()
    for name in requirement_files(light):
        digest.update(name.encode() + b"\0" + "\n".join(requirement_lines(plugin_dir / name)).encode() + b"\0")
    return digest.hexdigest()


# --- is the environment ready? ----------------------------------------------------------------------


def read_stamp(venv: Path) -> dict:
    try:
        return json.loads((venv / STAMP).read_text())
    except (OSError, ValueError):
        return {}


def write_stamp(venv: Path, plugin_dir: Path, override: str, light: bool = False) -> None:
    (venv / STAMP).write_text(json.dumps({"requirements": requirements_hash(plugin_dir, light), "python": override,
                                          "light": light}))


def satisfied(venv: Path, plugin_dir: Path, override: str | None = None, light: bool = False) -> bool:
    """The venv exists and holds the current requirements (and was made with ``override``, if given;
    "" = the Python Stash runs). ``light``: the plugin side is enough (a full environment is too)."""
    if not venv_python(venv).exists() or marker_path(venv).exists():
        return False
    stamp = read_stamp(venv)
    if stamp:
        same_python = override is None or stamp.get("python", "") == override
        wanted = {requirements_hash(plugin_dir)} | ({requirements_hash(plugin_dir, True)} if light else set())
        return stamp.get("requirements") in wanted and same_python
    make_stamp = venv / MAKEFILE_STAMP
    if make_stamp.exists() and not override:
        newest = max((plugin_dir / n).stat().st_mtime for n in (REQUIREMENTS, REQUIREMENTS_NODEPS)
                     if (plugin_dir / n).exists())
        return make_stamp.stat().st_mtime >= newest
    return False


# --- the python path override (plugin setting, read from Stash with the stdlib) ----------------------


def stash_url(conn: dict) -> str:
    """``<scheme>://<host>:<port>`` of the Stash that started us, at the client's address for it
    (``stash_sense.hosts.url_host``: Stash sends where it listens, such as ``0.0.0.0`` or ``::``)."""
    return f"{conn.get('Scheme') or 'http'}://{url_host(str(conn.get('Host') or ''))}:{conn.get('Port') or 9999}"


def stash_graphql(plugin_input: dict, query: str, variables: dict | None = None, timeout: float = 5) -> dict:
    """One GraphQL request to Stash with the plugin's credentials; ``data`` or an exception."""
    conn = plugin_input.get("server_connection") or {}
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(stash_url(conn) + "/graphql", data=body,
                                     headers={"Content-Type": "application/json"})
    cookie = (conn.get("SessionCookie") or {}).get("Value")
    if cookie:
        request.add_header("Cookie", f"session={cookie}")
    if conn.get("ApiKey"):
        request.add_header("ApiKey", conn["ApiKey"])
    # Stash on loopback with its own certificate: its name cannot match 127.0.0.1 / ::1
    verify = verify_certificate(conn.get("Scheme") or "http", url_host(str(conn.get("Host") or "")))
    context = None if verify else ssl._create_unverified_context()
    with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
        answer = json.load(response)
    if answer.get("errors"):
        raise RuntimeError("; ".join(str(e.get("message", e)) for e in answer["errors"]))
    return answer["data"]


def saved_settings(plugin_input: dict) -> dict:
    """The plugin's saved settings, read once per run ({} when Stash cannot be asked here)."""
    if "_settings" not in plugin_input:
        try:
            data = stash_graphql(plugin_input, f'query {{ configuration {{ plugins(include: ["{PLUGIN_ID}"]) }} }}')
            plugins = data["configuration"]["plugins"] or {}
            plugin_input["_settings"] = plugins.get(PLUGIN_ID) or {}
        except Exception:
            plugin_input["_settings"] = {}  # Stash unreachable here: the plugin itself reports that clearly later
    return plugin_input["_settings"]


def python_override(plugin_input: dict) -> str:
    """``STASH_SENSE_PYTHON``, else the plugin's ``pythonPath`` setting, else "" (Stash's own Python)."""
    if os.environ.get("STASH_SENSE_PYTHON"):
        return os.environ["STASH_SENSE_PYTHON"]
    return str(saved_settings(plugin_input).get("pythonPath") or "").strip()


def engine_url_set(plugin_input: dict) -> bool:
    return bool(os.environ.get("STASH_SENSE_ENGINE_URL") or str(saved_settings(plugin_input).get("engineUrl") or "")
                .strip())


def wants_light(plugin_input: dict, base_python: str) -> bool:
    """Only the plugin side: an engine URL is set (here or in Stash's environment), or the Python is
    musl (no engine wheels exist for it)."""
    if engine_url_set(plugin_input):
        return True
    if base_python == sys.executable:  # the usual case: ask this interpreter, no subprocess per click
        import platform
        import sysconfig

        libc = platform.libc_ver()[0]
        return "musl" in (sysconfig.get_config_var("HOST_GNU_TYPE") or "") or (
            sys.platform.startswith("linux") and libc != "glibc")
    try:
        return interpreter_facts(base_python)[1]
    except BootstrapError:
        return False  # reported by check_python when the install starts


def start_setup_task(plugin_input: dict) -> bool:
    """Queue the "Set up / repair environment" task in Stash (what its Tasks page does); False if refused."""
    try:
        stash_graphql(plugin_input, "mutation StashSenseSetup($id: ID!, $task: String) "
                                    "{ runPluginTask(plugin_id: $id, task_name: $task) }",
                      {"id": PLUGIN_ID, "task": SETUP_TASK})
        return True
    except Exception as exc:
        log("w", f"Stash Sense: could not start the task {SETUP_TASK!r}: {exc}")
        return False


# --- installing ---------------------------------------------------------------------------------------


def install_commands(venv: Path, plugin_dir: Path, base_python: str, light: bool = False) -> list[list[str]]:
    py = str(venv_python(venv))
    commands = [[base_python, "-m", "venv", str(venv)]]
    if light:
        return commands + [[py, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                            "-r", str(plugin_dir / REQUIREMENTS_LIGHT)]]
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


def interpreter_facts(base_python: str) -> tuple[tuple[int, ...], bool]:
    """(version, uses musl libc) of the Python the venv would be made from, asked of that Python."""
    probe = ("import platform, sys, sysconfig; print('%d %d' % sys.version_info[:2]); "
             "print(sysconfig.get_config_var('HOST_GNU_TYPE') or ''); print(sys.platform); "
             "print(platform.libc_ver()[0])")
    try:
        out = subprocess.run([base_python, "-c", probe], capture_output=True, text=True, timeout=60)
        lines = out.stdout.splitlines() + ["", "", "", ""]
        version = tuple(int(v) for v in lines[0].split())
    except (OSError, ValueError, subprocess.SubprocessError):
        raise BootstrapError(f"Cannot run Python at {base_python!r}: set the plugin setting "
                             "\"Python path override\" to a Python 3.11+ executable") from None
    host_type, platform_name, libc = lines[1], lines[2], lines[3]
    musl = "musl" in host_type or (platform_name.startswith("linux") and libc != "glibc")
    return version, musl


def check_python(base_python: str, light: bool = False) -> None:
    """The Python can build the environment: new enough, and not musl (no wheels for the engine)
    unless only the light plugin side is installed."""
    version, musl = interpreter_facts(base_python)
    if version < MIN_PYTHON:
        raise BootstrapError(f"Stash Sense needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]}+, but {base_python} is "
                             f"{'.'.join(map(str, version))}. Install a newer Python and set the plugin setting "
                             "\"Python path override\" to it")
    if musl and not light:
        raise BootstrapError(NO_MUSL)


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


def install(venv: Path, plugin_dir: Path, override: str, light: bool = False) -> None:
    """Create the venv if needed and install the requirements; raises BootstrapError with a hint.

    Call with the install lock held. The marker written first and removed last tells the next
    installer that this one was interrupted (killed mid-pip), so that venv is rebuilt, not trusted.
    """
    base_python = override or sys.executable
    changed = venv_python(venv).exists() and read_stamp(venv).get("python", override) != override
    interrupted = marker_path(venv).exists()
    if changed or interrupted or (venv.exists() and not venv_python(venv).exists()):
        reason = "an earlier install was interrupted" if interrupted else "its Python changed or is gone"
        log("i", f"Stash Sense: rebuilding its Python environment in {venv} ({reason})")
        shutil.rmtree(venv, ignore_errors=True)
    commands = install_commands(venv, plugin_dir, base_python, light)
    hint = manual_hint(commands)
    if venv_python(venv).exists():
        commands = commands[1:]
    else:
        check_python(base_python, light)
    venv.parent.mkdir(parents=True, exist_ok=True)
    marker_path(venv).write_text(str(os.getpid()))
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
    write_stamp(venv, plugin_dir, override, light)
    marker_path(venv).unlink()
    log("p", "1.0")
    log("i", "Stash Sense: Python environment ready")


def ensure_environment(venv: Path, plugin_dir: Path, override: str = "", light: bool = False) -> None:
    """Install unless ready; one installer at a time (a second starter waits, then finds it ready).

    ``override``: the Python to build the venv with ("" = the Python Stash runs this file with).
    """
    if satisfied(venv, plugin_dir, override, light):
        return
    with locked(lock_path(venv)):
        if not satisfied(venv, plugin_dir, override, light):
            install(venv, plugin_dir, override, light)


def installing_now(venv: Path) -> bool:
    """Another process holds the install lock (a setup is running)."""
    with locked(lock_path(venv), wait=False) as held:
        return not held


def plugin_starts(venv: Path, plugin_dir: Path) -> bool:
    """The environment can import the plugin (what "repair" checks beyond the stamp)."""
    env = dict(os.environ, PYTHONPATH=str(plugin_dir))
    try:
        return subprocess.run([str(venv_python(venv)), "-c", "import stash_sense.plugin.main"], cwd=plugin_dir,
                              env=env, capture_output=True, timeout=300, stdin=subprocess.DEVNULL).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def setup(venv: Path, plugin_dir: Path, override: str, light: bool = False) -> dict:
    """The "Set up / repair environment" task: install, or rebuild an environment that cannot start
    the plugin; then remove a venv an older version left inside the plugin folder."""
    ensure_environment(venv, plugin_dir, override, light)
    if not plugin_starts(venv, plugin_dir):
        with locked(lock_path(venv)):
            log("w", f"Stash Sense: the environment in {venv} cannot start the plugin: rebuilding it")
            shutil.rmtree(venv, ignore_errors=True)
            install(venv, plugin_dir, override, light)
        if not plugin_starts(venv, plugin_dir):
            raise BootstrapError(f"The environment in {venv} was rebuilt but still cannot start Stash Sense; "
                                 "see the lines above in the Stash log")
    old = legacy_venv(plugin_dir, venv)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
        log("i", f"Stash Sense: removed the old environment {old} from Stash's plugins folder")
    return {"environment": str(venv), "python": str(venv_python(venv)), "ready": True, "light": light}


def not_ready_answer(plugin_input: dict, venv: Path, override: str, light: bool = False) -> str:
    """What a click gets while the environment is missing: at once, never an install."""
    if installing_now(venv):
        return (f"Stash Sense is still setting up its Python environment (first run; a few minutes). Follow the "
                f"task \"{SETUP_TASK}\" in Stash's Tasks / log, then try again.")
    # musl without an engine URL: say what to do now (a setup could only give an engine-less plugin)
    check_python(override or sys.executable, light and engine_url_set(plugin_input))
    started = start_setup_task(plugin_input)
    lead = "Stash Sense needs a one-time setup of its Python environment (a few minutes)."
    if started:
        return f"{lead} The task \"{SETUP_TASK}\" has been started: try again when it has finished."
    return f"{lead} Run the task \"{SETUP_TASK}\" (Settings > Tasks > Plugin Tasks), then try again."


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


def run_plugin(stdin_data: bytes | None = None) -> int:
    sys.path.insert(0, str(PLUGIN_DIR))
    if stdin_data is not None:  # already read here: hand it to the plugin's reader
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin_data), encoding="utf-8")
    from stash_sense.plugin.main import main as plugin_main

    return plugin_main()


def emit_output(output: object) -> None:
    sys.stdout.write(json.dumps({"output": output}) + "\n")
    sys.stdout.flush()


def main() -> int:
    if os.environ.get("STASH_SENSE_SKIP_BOOTSTRAP"):
        return run_plugin()
    stdin_data = sys.stdin.buffer.read()
    try:
        plugin_input = json.loads(stdin_data or b"{}")
    except ValueError:
        plugin_input = {}
    plugin_input = plugin_input if isinstance(plugin_input, dict) else {}
    args = plugin_input.get("args")
    mode = str(args.get("mode") or "") if isinstance(args, dict) else ""  # the plugin itself refuses bad args
    home = home_dir(plugin_input)
    use_home_data(home, migrate=mode in TASK_MODES)
    venv = venv_dir(PLUGIN_DIR, home)
    if running_in(venv) and mode != SETUP_MODE:
        return run_plugin(stdin_data)
    if os.environ.get("STASH_SENSE_BOOTSTRAPPED"):
        emit_error(f"Stash Sense re-started itself with {venv_python(venv)} but is not running in {venv}; "
                   "delete that folder and try again")
        return 1
    override = python_override(plugin_input)
    light = wants_light(plugin_input, override or sys.executable)
    try:
        if mode == SETUP_MODE:
            emit_output(setup(venv, PLUGIN_DIR, override, light))
            return 0
        if mode in TASK_MODES:
            ensure_environment(venv, PLUGIN_DIR, override, light)
        elif not satisfied(venv, PLUGIN_DIR, override, light):
            emit_error(not_ready_answer(plugin_input, venv, override, light), level="i")
            return 0
    except BootstrapError as exc:
        emit_error(str(exc))
        return 1
    exec_in(venv, stdin_data)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
