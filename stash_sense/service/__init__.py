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

import logging
import os

from stash_sense.contracts import Progress, Service, ServiceError
from stash_sense.paths import DEFAULT_PACK
from stash_sense.service.items import Item
from stash_sense.service.launcher import WorkerUnavailable

log = logging.getLogger("stash_sense.service")

__all__ = ["DEFAULT_PACK", "InProcessService", "Item", "Progress", "Service", "ServiceError", "WorkerClient",
           "WorkerUnavailable", "get_service"]


def get_service(pack: str | None = None, threads: int = 2, *, allow_worker: bool = True) -> Service:
    """The worker when it can run here, else the engine in this process (reason logged)."""
    pack = pack or os.environ.get("STASH_SENSE_PACK") or DEFAULT_PACK
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
