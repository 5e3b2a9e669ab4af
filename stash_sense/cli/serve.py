"""``serve``: the warm engine as a network service for plugins on other machines or in Docker."""

from __future__ import annotations

import argparse

from stash_sense.cli.options import add_device_option, apply_device
from stash_sense.paths import DEFAULT_PACK


def add_serve_command(commands) -> None:
    from stash_sense.service.remote_server import DEFAULT_MAX_REQUEST_MB, DEFAULT_PORT, Limits

    parser = commands.add_parser(
        "serve", help="run the engine as a network service (plugin settings \"Engine URL\" / \"Engine token\")",
        description="Loads the models and databases once and answers Stash Sense plugins over TCP (or TLS). "
                    "Prints the plugin settings to paste on start; the token is made on first start and kept "
                    "in <data dir>/engine/token.")
    parser.add_argument("--listen", default=f"0.0.0.0:{DEFAULT_PORT}", help="HOST:PORT (default %(default)s)")
    parser.add_argument("--pack", default=DEFAULT_PACK, help="model pack (default %(default)s)")
    parser.add_argument("--threads", type=int, default=4, help="engine threads (default %(default)s)")
    parser.add_argument("--data-dir", default=None, help="databases, models and the token (default: the "
                        "Stash Sense data folder, $STASH_SENSE_DATA_DIR)")
    parser.add_argument("--tls-cert", default=None, help="PEM certificate: serve TLS (tls:// URLs)")
    parser.add_argument("--tls-key", default=None, help="PEM private key of --tls-cert")
    parser.add_argument("--max-request-mb", type=int, default=DEFAULT_MAX_REQUEST_MB,
                        help="largest request accepted, images included (default %(default)s)")
    parser.add_argument("--queue", type=int, default=Limits.queue,
                        help="requests that may wait while one runs; more get a 'busy' answer (default %(default)s)")
    parser.add_argument("--client-timeout", type=float, default=Limits.client_timeout,
                        help="seconds a client may take to send one request (default %(default)s)")
    add_device_option(parser)
    parser.set_defaults(run=_serve)


def _serve(args: argparse.Namespace) -> int:
    from stash_sense.service.remote_server import Limits, run

    apply_device(args)
    limits = Limits(max_request=args.max_request_mb * 1024 * 1024, queue=max(0, args.queue),
                    client_timeout=args.client_timeout)
    return run(args.listen, args.pack, args.threads, args.data_dir, args.tls_cert, args.tls_key, limits)
