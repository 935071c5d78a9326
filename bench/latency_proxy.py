#!/usr/bin/env python
"""A TCP proxy that delays every byte by a fixed time each way: a local server behind a network.

    python bench/latency_proxy.py --target 127.0.0.1:5432 --one-way-ms 0.5

Prints the port it listens on (127.0.0.1), then forwards until killed. Order is kept
per direction; the delay is added on delivery, so a burst of pipelined queries pays it
once, as on a real link, while a query-and-wait loop pays a full round trip each time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                break
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    delivery = asyncio.create_task(deliver())
    try:
        while data := await reader.read(1 << 16):
            queue.put_nowait((loop.time() + delay_s, data))
    except ConnectionError:
        pass
    queue.put_nowait((0.0, b""))
    try:
        await delivery
    except ConnectionError:
        pass


async def _serve(target_host: str, target_port: int, delay_s: float) -> None:
    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(target_host, target_port)
        await asyncio.gather(_pump(client_reader, server_writer, delay_s),
                             _pump(server_reader, client_writer, delay_s))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--one-way-ms", type=float, required=True, help="delay added in each direction")
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    try:
        asyncio.run(_serve(host, int(port), args.one_way_ms / 1000))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
