"""A one-process Redis front end over a LocalBackend, for tests of the front end:

    python -m raftredis.server.devserver --port 7000 [--requirepass pw]

Prints "READY <port>" on stdout once it accepts connections; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import uvloop

from raftredis.server.local_backend import LocalBackend
from raftredis.server.resp_server import RespServer
from raftredis.server.settings import ServerSettings


async def _main(args: argparse.Namespace) -> None:
    settings = ServerSettings()
    if args.requirepass:
        settings.set_value("requirepass", args.requirepass)
    settings.set_value("maxclients", args.maxclients)
    settings.set_value("timeout", args.timeout)
    backend = LocalBackend(host=args.host)
    server = RespServer(backend, settings, args.host, args.port)
    await server.start()
    backend.port = server.port
    print(f"READY {server.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="raftredis-devserver")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=6379)
    p.add_argument("--requirepass", default="")
    p.add_argument("--maxclients", type=int, default=10000)
    p.add_argument("--timeout", type=int, default=0)
    args = p.parse_args(argv)
    uvloop.run(_main(args))
    sys.exit(0)


if __name__ == "__main__":
    main()
