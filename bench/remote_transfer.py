"""How images should reach a remote engine (issue 15), measured on the demo Stash over loopback:

- ``stream``: the plugin (beside Stash) reads each image file and sends the bytes in one request
  (what ``RemoteService`` does);
- ``engine_fetch``: the engine fetches each image from Stash's ``/image/{id}/image`` with the
  plugin's session cookie (what it would do without the plugin streaming).

Both then hold the same bytes at the engine; the rest of the work is identical. Not a test.

    python -m bench.remote_transfer [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from devtools.demo import scenario as demo
from devtools.demo.server import DemoStash
from stash_sense.service.remote_client import RemoteService
from stash_sense.service.wire import recv_message
from stash_sense.stash.client import StashClient


def sink() -> tuple[socket.socket, threading.Thread]:
    """A loopback peer that reads whole requests (the engine's receiving side, without the engine)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            while True:
                try:
                    recv_message(conn)
                except Exception:
                    return
                conn.sendall(b"")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="remote-transfer-"))
    scenario = demo.build_scenario(work)
    demo.seed_stash(work / "stash.sqlite", scenario)
    server = DemoStash(work / "stash.sqlite", session="bench")
    server.start()
    try:
        client = StashClient.from_plugin_input(server.server_connection("127.0.0.1"))
        images = [i for g in client.iter_galleries() for i in client.gallery_images(str(g["id"]))]
        paths = [i["visual_files"][0]["path"] if i.get("visual_files") else i["files"][0]["path"] for i in images]
        listener, _ = sink()
        sock = socket.create_connection(listener.getsockname())

        def stream() -> None:
            from stash_sense.service.wire import send_message

            refs, blobs = RemoteService._as_bytes([(str(n), p) for n, p in enumerate(paths)])
            send_message(sock, {"op": "analyze", "items": refs}, blobs)

        def engine_fetch() -> None:
            for image in images:
                client.fetch(f"/image/{image['id']}/image")

        timings = {}
        for name, run in (("stream", stream), ("engine_fetch", engine_fetch)):
            run()
            samples = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                run()
                samples.append(time.perf_counter() - started)
            timings[name] = round(1000 * statistics.median(samples) / len(images), 3)
        size = sum(Path(p).stat().st_size for p in paths if "/" in p and Path(p).is_file())
        print(json.dumps({"images": len(images), "bytes": size, "ms_per_image": timings}, indent=2))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
