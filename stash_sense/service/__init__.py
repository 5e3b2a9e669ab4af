"""A warm engine for the plugin: one local worker process per plugin install, reached over a
Unix socket, so a click does not pay for loading models and a ~1 GB database every time.

Stash starts a new Python process per plugin invocation. ``get_service`` returns a ``Service``
backed by the worker (started on first use, gone after ``STASH_SENSE_WORKER_IDLE`` seconds idle,
600 by default), or by an engine in this process when the worker cannot run here. Knows nothing
of Stash; importing this package does not import the engine (that takes seconds).

    with get_service("stash-sense-v1") as service:
        result = service.identify([("img1.jpg", b"..."), ("img2.jpg", "/path/to/img2.jpg")])

Settings (environment): ``STASH_SENSE_WORKER=0`` always runs in-process,
``STASH_SENSE_WORKER_IDLE`` idle timeout in seconds, ``STASH_SENSE_WORKER_START_TIMEOUT`` how long
a first invocation waits for a worker to load, ``STASH_SENSE_PACK`` pack used when none is given.
Fallback reasons go to the ``stash_sense.service`` logger (stderr by default, never stdout).
"""

from __future__ import annotations

import importlib.util
import logging
import os

from stash_sense.contracts import EngineUnreachable, Progress, Service, ServiceError
from stash_sense.paths import DEFAULT_PACK
from stash_sense.service.items import Item
from stash_sense.service.launcher import WorkerUnavailable

log = logging.getLogger("stash_sense.service")
NO_LOCAL_ENGINE = ("This Stash Sense environment has only the plugin side (no face engine: musl/Alpine, or it was "
                   "set up for a remote engine). Run the engine elsewhere (`pip install \"stash-sense[engine]\"`, "
                   "`stash-sense serve`) and set the plugin settings \"Engine URL\" and \"Engine token\", or run "
                   "the task \"Set up / repair environment\" with \"Engine URL\" empty on a glibc system.")

__all__ = ["DEFAULT_PACK", "InProcessService", "Item", "Progress", "Service", "ServiceError", "WorkerClient",
           "WorkerUnavailable", "get_service", "remote_engine"]


def remote_engine() -> tuple[str, str] | None:
    """(URL, token) of the remote engine when the plugin settings "Engine URL"/"Engine token" name one.

    The plugin's settings reach here through ``STASH_SENSE_ENGINE_URL``/``_TOKEN`` (set per call by
    the plugin, or in Stash's environment, e.g. a Docker compose file).
    """
    url = os.environ.get("STASH_SENSE_ENGINE_URL", "").strip()
    return (url, os.environ.get("STASH_SENSE_ENGINE_TOKEN", "").strip()) if url else None


def get_service(pack: str | None = None, threads: int = 2, *, allow_worker: bool = True) -> Service:
    """The remote engine when one is set (never a silent local fallback), else the worker when it can
    run here, else the engine in this process (reason logged)."""
    pack = pack or os.environ.get("STASH_SENSE_PACK") or DEFAULT_PACK
    remote = remote_engine()
    if remote is not None:
        from stash_sense.service.remote_client import RemoteService

        return RemoteService(*remote)
    if importlib.util.find_spec("onnxruntime") is None:  # a light install (musl, or set up for a remote engine)
        raise EngineUnreachable(NO_LOCAL_ENGINE)
    if allow_worker and os.environ.get("STASH_SENSE_WORKER", "1") != "0":
        from stash_sense.service.worker_client import WorkerClient

        try:
            return WorkerClient(pack, threads)
        except WorkerUnavailable as exc:
            log.warning("engine worker unavailable (%s); running the engine in this process", exc)
    from stash_sense.service.inprocess import InProcessService

    return InProcessService(pack, threads)


def __getattr__(name: str):
    """``InProcessService`` and ``WorkerClient`` on first use (the former imports the engine)."""
    if name == "InProcessService":
        from stash_sense.service.inprocess import InProcessService

        return InProcessService
    if name == "WorkerClient":
        from stash_sense.service.worker_client import WorkerClient

        return WorkerClient
    raise AttributeError(name)
