"""Finding the worker of this plugin install, or starting it: at most one, whoever asks first.

Start protocol: try the socket; if nobody answers, take ``<pack>.lock`` (fcntl, non-blocking
polls up to a deadline), try again (another starter may have finished meanwhile), remove a stale
socket file, spawn ``python -m stash_sense.service serve`` detached, and hold the lock until its
socket answers. A second starter waits on the lock and then finds the socket. A worker running
other code (plugin updated) is asked to shut down and replaced.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from stash_sense.contracts import DAMAGED_DATABASE, ServiceError
from stash_sense.paths import PLUGIN_DIR
from stash_sense.service.location import WorkerPaths, open_private, prepare, worker_paths
from stash_sense.service.versions import build_id
from stash_sense.service.wire import PROTOCOL_VERSION, ProtocolError, recv_message, send_message

DEFAULT_IDLE_SECONDS = 600.0
DEFAULT_START_SECONDS = 180.0  # model load + a ~1 GB database on a slow disk
STOP_WAIT_SECONDS = 15.0
LOG_LIMIT = 1024 * 1024  # the worker log is cut back to nothing beyond this on each start
WORKER_COMMAND = [sys.executable, "-m", "stash_sense.service"]  # a module global so tests can break it


class WorkerUnavailable(RuntimeError):
    """The worker cannot be reached or started here; the caller runs the engine in-process."""


class WorkerCrashed(ServiceError):
    """The worker died natively while loading: running the same load in-process would crash the caller."""


def idle_timeout() -> float:
    return float(os.environ.get("STASH_SENSE_WORKER_IDLE", DEFAULT_IDLE_SECONDS))


def start_timeout() -> float:
    return float(os.environ.get("STASH_SENSE_WORKER_START_TIMEOUT", DEFAULT_START_SECONDS))


def connect_or_start(pack: str, threads: int = 2) -> tuple[socket.socket, dict]:
    """A connection to a worker running this code for ``pack``, and its ``ping`` answer."""
    if not hasattr(socket, "AF_UNIX"):
        raise WorkerUnavailable("this platform has no Unix domain sockets")
    try:
        where = worker_paths(pack)
        prepare(where)
    except (OSError, ValueError) as exc:
        raise WorkerUnavailable(f"the data folder cannot hold the worker: {exc}") from exc
    build = build_id()
    attached = attach(where, build)
    if attached:
        return attached
    try:
        with start_lock(where, start_timeout() + STOP_WAIT_SECONDS + 10):
            attached = attach(where, build, replace_other=True)
            if attached:
                return attached
            remove_stale_socket(where.socket)
            return _wait_ready(where, spawn(where, threads), build)
    except OSError as exc:  # e.g. a socket file we may not remove
        raise WorkerUnavailable(f"cannot start the worker: {exc}") from exc


def attach(where: WorkerPaths, build: str, replace_other: bool = False,
           spawned_pid: int | None = None) -> tuple[socket.socket, dict] | None:
    """Connect and ping; a worker of other code is left alone, or stopped when ``replace_other``.

    The worker we just spawned is accepted whatever its build: it runs the code now on disk,
    which may have changed since this process computed ``build`` (an update in progress).
    """
    sock = open_connection(where.socket)
    if sock is None:
        return None
    try:
        answer = request(sock, {"op": "ping"})
    except (OSError, ProtocolError, WorkerUnavailable):
        sock.close()
        return None
    if answer.get("protocol") == PROTOCOL_VERSION and (answer.get("build") == build
                                                       or answer.get("pid") == spawned_pid):
        return sock, answer
    if replace_other:
        _stop_and_wait(sock, where.socket)
    sock.close()
    return None


def open_connection(path: Path, timeout: float = 5.0) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    sock.settimeout(None)  # a big gallery may take minutes; a dead worker shows up as EOF
    return sock


def is_live(path: Path) -> bool:
    """Whether something accepts connections on the socket file (a killed worker leaves a dead one)."""
    sock = open_connection(path, timeout=2.0)
    if sock is None:
        return False
    sock.close()
    return True


def request(sock: socket.socket, header: dict) -> dict:
    send_message(sock, header)
    reply, _ = recv_message(sock)
    if not reply.get("ok"):
        raise WorkerUnavailable(reply.get("error", "worker refused the request"))
    return reply["result"]


def remove_stale_socket(path: Path) -> None:
    """Delete a socket file nobody listens on (the start lock is held, so no worker is binding)."""
    if os.path.lexists(path) and not is_live(path):
        with suppress(FileNotFoundError):
            path.unlink()


def _stop_and_wait(sock: socket.socket, path: Path) -> None:
    with suppress(OSError, ProtocolError, WorkerUnavailable):
        request(sock, {"op": "shutdown"})
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while is_live(path) and time.monotonic() < deadline:
        time.sleep(0.05)


@contextmanager
def start_lock(where: WorkerPaths, timeout: float) -> Iterator[None]:
    """Exclusive right to start this install's worker; released when the block ends."""
    try:
        import fcntl
    except ImportError as exc:  # pragma: no cover - Windows
        raise WorkerUnavailable("no fcntl locking on this platform") from exc
    try:
        fd = open_private(where.lock, os.O_RDWR)
    except OSError as exc:
        raise WorkerUnavailable(f"cannot create {where.lock}: {exc}") from exc
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WorkerUnavailable("another invocation has been starting the worker for too long") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def spawn(where: WorkerPaths, threads: int) -> subprocess.Popen:
    """The worker, detached: own session, stdin/stdout/stderr never tied to Stash's pipes.

    Stash reads a plugin's stdout and stderr until EOF; a worker holding them open would make
    every invocation look like it runs until the worker exits.
    """
    command = [*WORKER_COMMAND, "serve", "--pack", where.pack, "--threads", str(threads),
               "--idle-timeout", str(idle_timeout()), "--data-dir", str(where.data_dir)]
    env = {**os.environ, "STASH_SENSE_DATA_DIR": str(where.data_dir),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PLUGIN_DIR), os.environ.get("PYTHONPATH")]))}
    try:
        log_fd = _open_log(where.log)
    except OSError as exc:
        raise WorkerUnavailable(f"cannot write {where.log}: {exc}") from exc
    try:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log_fd, stderr=log_fd, cwd=PLUGIN_DIR,
                                env=env, start_new_session=True, close_fds=True)
    except OSError as exc:
        raise WorkerUnavailable(f"cannot start {command[0]}: {exc}") from exc
    finally:
        os.close(log_fd)


def _open_log(path: Path) -> int:
    fd = open_private(path, os.O_WRONLY | os.O_APPEND)
    if os.fstat(fd).st_size > LOG_LIMIT:
        os.ftruncate(fd, 0)
    return fd


def _wait_ready(where: WorkerPaths, process: subprocess.Popen, build: str) -> tuple[socket.socket, dict]:
    deadline = time.monotonic() + start_timeout()
    while time.monotonic() < deadline:
        if process.poll() is not None:
            attached = attach(where, build)  # exit 3: a worker started outside the lock answers
            if attached:
                return attached
            if process.returncode < 0:  # killed by a signal while loading models and databases
                raise WorkerCrashed(f"the engine worker crashed while loading (signal {-process.returncode}); "
                                    f"{DAMAGED_DATABASE}. {log_tail(where.log)}")
            raise WorkerUnavailable(f"the worker exited with code {process.returncode} while starting: "
                                    f"{log_tail(where.log)}")
        attached = attach(where, build, spawned_pid=process.pid)
        if attached:
            threading.Thread(target=process.wait, daemon=True).start()  # reap it if it exits before us
            return attached
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise WorkerUnavailable(f"the worker did not answer within {start_timeout():.0f}s: {log_tail(where.log)}")


def log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no worker log)"
    return " | ".join(text[-lines:]) or "(worker log empty)"


def stop_worker(pack: str) -> bool:
    """Ask this install's worker for ``pack`` to exit (``python -m stash_sense.service stop``)."""
    sock = open_connection(worker_paths(pack).socket)
    if sock is None:
        return False
    with sock:
        _stop_and_wait(sock, worker_paths(pack).socket)
    return True
