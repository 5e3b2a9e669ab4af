"""The engine service started on the first image that needs it (the bulk tasks' service)."""

from __future__ import annotations

from stash_sense.contracts import Item, Progress, Service


class LazyService(Service):
    """A re-run over a library already done (or fully cached) then never loads models at all; the
    database version that decides what is "already done" is read from the manifests on disk."""

    mode = "lazy"

    def __init__(self, pack: str, threads: int):
        self.pack, self.threads = pack, threads
        self._service: Service | None = None

    def _started(self) -> Service:
        if self._service is None:
            from stash_sense.service import get_service

            self._service = get_service(self.pack, self.threads)
        return self._service

    @property
    def remote(self) -> bool:  # type: ignore[override]
        from stash_sense.service import remote_engine

        return remote_engine() is not None

    def database_version(self) -> str:
        from stash_sense.service import access

        if self.remote:
            return self._started().database_version()
        return access.database_info()["version"] or ""

    def pack_description(self) -> dict | None:
        return self._started().pack_description() if self.remote else None

    def analyze_video(self, *args, **kwargs) -> dict:
        return self._started().analyze_video(*args, **kwargs)  # type: ignore[attr-defined]

    def frame_crops(self, *args, **kwargs) -> list:
        return self._started().frame_crops(*args, **kwargs)  # type: ignore[attr-defined]

    def image_crops(self, *args, **kwargs) -> list:
        return self._started().image_crops(*args, **kwargs)  # type: ignore[attr-defined]

    def identify(self, items: list[Item], progress: Progress | None = None) -> dict:
        return self._started().identify(items, progress)

    def analyze(self, items: list[Item], progress: Progress | None = None, scene: bool = False) -> list[dict]:
        return self._started().analyze(items, progress, scene)

    def identify_analyzed(self, analyzed: list[dict]) -> dict:
        return self._started().identify_analyzed(analyzed)

    def info(self) -> dict:
        return self._started().info()

    def close(self) -> None:
        if self._service is not None:
            self._service.close()
