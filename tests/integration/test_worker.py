"""The warm engine worker with the real test-mbf128 pack and real LFW faces.

Each test has its own data folder (conftest), hence its own worker; every worker a test starts is
stopped when it ends. Idle timeouts are short so a leaked worker cannot outlive the run by much.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import LFW, REPO

from stash_sense.engine.builder import build_database
from stash_sense.service import ServiceError, get_service, launcher
from stash_sense.service.inprocess import InProcessService
from stash_sense.service.location import worker_paths
from stash_sense.service.wire import MAX_HEADER, PREFIX, ProtocolError, recv_message, send_message

PACK = "test-mbf128"
PEOPLE = ["Colin_Powell", "Tony_Blair", "Donald_Rumsfeld", "Gerhard_Schroeder", "Hugo_Chavez"]


def _images(person: str) -> list[Path]:
    return sorted((LFW / person).glob("*.jpg"))


@pytest.fixture(scope="module")
def reference_db(engine, tmp_path_factory) -> Path:
    """A tiny database: three images of each person (the gallery uses other images of them)."""
    out = tmp_path_factory.mktemp("worker_db") / "local_db"
    identities = {f"local:{p}": _images(p)[:3] for p in PEOPLE}
    build_database(engine, identities, {f"local:{p}": {"name": p} for p in PEOPLE}, out)
    return out


@pytest.fixture
def gallery() -> list[tuple[str, bytes | str]]:
    """Six images, half as bytes and half as paths, plus one that is not an image."""
    paths = [image for person in PEOPLE[:3] for image in _images(person)[5:7]]
    items = [(p.name, p.read_bytes() if i % 2 else str(p)) for i, p in enumerate(paths)]
    return [*items, ("broken.jpg", b"this is not an image")]


@pytest.fixture
def with_db(isolated_data_dir, reference_db) -> Path:
    shutil.copytree(reference_db, isolated_data_dir / "local_db")
    return isolated_data_dir


@pytest.fixture(autouse=True)
def stop_workers(isolated_data_dir, monkeypatch):
    """Short idle timeout as a safety net; whatever worker this test's data folder has is stopped."""
    monkeypatch.setenv("STASH_SENSE_WORKER_IDLE", "60")
    monkeypatch.delenv("STASH_SENSE_WORKER", raising=False)
    yield
    if isolated_data_dir.is_dir():
        launcher.stop_worker(PACK)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def _wait_for(condition, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_started_on_demand_then_reused_with_private_files():
    with get_service(PACK) as first:
        assert first.mode == "worker"
        pid = first.info()["pid"]
    assert pid != os.getpid() and _alive(pid)
    with get_service(PACK) as second:
        assert second.mode == "worker"
        assert second.info()["pid"] == pid
    where = worker_paths(PACK)
    assert stat.S_ISSOCK(os.stat(where.socket).st_mode)
    assert stat.S_IMODE(os.stat(where.socket).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(where.socket.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(where.folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(where.lock).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(where.log).st_mode) == 0o600


def test_two_concurrent_starters_share_one_worker():
    script = ("import json; from stash_sense.service import get_service; s = get_service('test-mbf128'); "
              "print(json.dumps({'mode': s.mode, 'pid': s.info()['pid']}))")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    starters = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env=env, cwd=REPO, text=True) for _ in range(3)]
    answers = [json.loads(p.communicate(timeout=120)[0]) for p in starters]
    assert {a["mode"] for a in answers} == {"worker"}
    assert len({a["pid"] for a in answers}) == 1
    log = worker_paths(PACK).log.read_text()
    assert log.count(" serving ") == 1, log


def test_exits_after_idle_timeout(monkeypatch):
    monkeypatch.setenv("STASH_SENSE_WORKER_IDLE", "1")
    with get_service(PACK) as service:
        pid = service.info()["pid"]
    assert _wait_for(lambda: not _alive(pid))
    assert not os.path.lexists(worker_paths(PACK).socket)
    assert "idle for" in worker_paths(PACK).log.read_text()


def test_stale_socket_file_is_replaced():
    where = worker_paths(PACK)
    where.socket.parent.mkdir(parents=True, exist_ok=True)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(where.socket))
    dead.close()  # the file stays, nobody listens: what a SIGKILLed worker leaves behind
    with get_service(PACK) as service:
        assert service.mode == "worker"
        assert _alive(service.info()["pid"])


def test_unusable_data_dir_falls_back_to_in_process(isolated_data_dir, caplog, capfd, gallery):
    """The worker's folder cannot be created (as root, a read-only folder would not stop us)."""
    isolated_data_dir.mkdir(parents=True)
    (isolated_data_dir / "worker").write_text("")
    with caplog.at_level(logging.WARNING, logger="stash_sense.service"), get_service(PACK) as service:
        assert isinstance(service, InProcessService)
        assert service.info()["pid"] == os.getpid()
        assert len(service.identify(gallery[:2])["persons"]) == 1  # two photos of one man
    assert "running the engine in this process" in caplog.text
    assert "cannot hold the worker" in caplog.text
    assert capfd.readouterr().out == ""  # stdout belongs to the Stash protocol


def test_spawn_failure_and_missing_af_unix_fall_back(monkeypatch, caplog):
    monkeypatch.setattr(launcher, "WORKER_COMMAND", [sys.executable, "-c", "import sys; sys.exit(5)"])
    with caplog.at_level(logging.WARNING, logger="stash_sense.service"), get_service(PACK) as service:
        assert service.mode == "in-process"
    assert "exited with code 5" in caplog.text
    with monkeypatch.context() as patched:
        patched.delattr(socket, "AF_UNIX")
        with get_service(PACK) as service:
            assert service.mode == "in-process"
    assert "no Unix domain sockets" in caplog.text


def test_worker_and_in_process_give_identical_results(with_db, gallery):
    progress = []
    with get_service(PACK) as worker, InProcessService(PACK) as local:
        assert worker.mode == "worker"
        remote = worker.identify(gallery, progress=progress.append)
        assert remote == local.identify(gallery)
        analyzed = worker.analyze(gallery)
        assert analyzed == local.analyze(gallery)
        assert worker.identify_analyzed(analyzed) == remote
        assert local.identify_analyzed(json.loads(json.dumps(analyzed))) == remote  # as from a JSON cache
    assert progress == list(range(1, len(gallery) + 1))
    named = {p["identified"]["performer"]["name"] for p in remote["persons"] if p["identified"]}
    assert named == set(PEOPLE[:3])
    assert remote["errors"] == [{"image": "broken.jpg", "error": remote["errors"][0]["error"]}]
    assert all(p["best_face"]["image"] in p["images"] and len(p["best_face"]["box"]) == 4 for p in remote["persons"])


def test_killed_worker_is_restarted_transparently(with_db, gallery):
    with get_service(PACK) as service:
        before = service.identify(gallery[:4])
        pid = service.info()["pid"]
        assert pid != os.getpid()
        os.kill(pid, signal.SIGKILL)
        assert _wait_for(lambda: not _alive(pid))
        assert service.identify(gallery[:4]) == before
        assert service.mode == "worker"
        assert service.info()["pid"] != pid


def test_unrecoverable_worker_falls_back_mid_session(with_db, gallery, monkeypatch):
    with get_service(PACK) as service:
        before = service.identify(gallery[:2])
        pid = service.info()["pid"]
        assert pid != os.getpid()
        monkeypatch.setattr(launcher, "WORKER_COMMAND", [sys.executable, "-c", "raise SystemExit(7)"])
        os.kill(pid, signal.SIGKILL)
        assert service.identify(gallery[:2]) == before
        assert service.mode == "in-process"


def test_database_change_is_picked_up_by_the_running_worker(isolated_data_dir, reference_db, gallery):
    with get_service(PACK) as service:
        pid = service.info()["pid"]
        assert service.info()["databases"] == []
        assert all(p["identified"] is None for p in service.identify(gallery[:2])["persons"])
        shutil.copytree(reference_db, isolated_data_dir / "local_db")  # e.g. a local enrollment ran
        assert any(p["identified"] for p in service.identify(gallery[:2])["persons"])
        info = service.info()
        assert info["pid"] == pid and len(info["databases"]) == 1


def test_worker_of_other_code_is_replaced(monkeypatch):
    """A worker started by other code (here: another model folder setting) is stopped and replaced."""
    monkeypatch.setenv("STASH_SENSE_MODEL_DIR", os.environ["STASH_SENSE_MODEL_DIR"] + os.sep)
    with get_service(PACK) as old:
        old_pid = old.info()["pid"]
    monkeypatch.setenv("STASH_SENSE_MODEL_DIR", os.environ["STASH_SENSE_MODEL_DIR"].rstrip(os.sep))
    with get_service(PACK) as new:
        assert new.info()["pid"] != old_pid
    assert _wait_for(lambda: not _alive(old_pid))


def test_engine_errors_are_raised_alike(isolated_data_dir, reference_db):
    """A database built for another pack: the worker still starts, both services raise the same
    ServiceError per request, and once the database is fixed the same worker serves again."""
    bad = isolated_data_dir / "local_db"
    shutil.copytree(reference_db, bad)
    manifest = json.loads((bad / "manifest.json").read_text())
    (bad / "manifest.json").write_text(json.dumps({**manifest, "pack": "stash-sense-v1"}))
    with get_service(PACK) as service:
        assert service.mode == "worker"
        with pytest.raises(ServiceError) as remote:
            service.identify([])
        with pytest.raises(ServiceError) as local, InProcessService(PACK) as in_process:
            in_process.identify([])
        assert str(remote.value) == str(local.value) and "DatabaseError" in str(remote.value)
        shutil.rmtree(bad)
        assert service.identify([])["persons"] == []
        assert service.mode == "worker"


def test_deep_data_dir_gets_a_short_private_socket(tmp_path, monkeypatch):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    monkeypatch.setenv("STASH_SENSE_DATA_DIR", str(deep))
    where = worker_paths(PACK)
    assert len(os.fsencode(where.socket)) <= 100 and where.folder == deep / "worker"
    try:
        with get_service(PACK) as service:
            assert service.mode == "worker"
            assert stat.S_IMODE(os.stat(where.socket.parent).st_mode) == 0o700
    finally:
        launcher.stop_worker(PACK)


def test_protocol_frames_and_limits():
    left, right = socket.socketpair()
    with left, right:
        send_message(left, {"op": "x", "n": [1, 2.5]}, [b"\x00\xff" * 1000, b""])
        assert recv_message(right) == ({"op": "x", "n": [1, 2.5]}, [b"\x00\xff" * 1000, b""])
        left.sendall(PREFIX.pack(MAX_HEADER + 1, 0))
        with pytest.raises(ProtocolError):
            recv_message(right)


def test_client_import_stays_light():
    """The warm path must not import the engine (numpy/onnxruntime/insightface cost seconds)."""
    code = ("import sys; import stash_sense.service, stash_sense.service.worker_client; "
            "print(sorted(m for m in ('numpy', 'onnxruntime', 'stash_sense.engine') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"
