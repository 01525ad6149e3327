"""A TCP proxy on 127.0.0.1 that delays every byte by a fixed time each way, in its own process:
the network between a sending host and its provider's SMTP server (a round trip of 10-50 ms to
smtp.gmail.com or smtp.exmail.qq.com from a server elsewhere), on loopback.

    with DelayProxy(target_port, rtt_ms=20) as proxy:   # connect to proxy.port
        ...

Each read is forwarded, in order, ``rtt_ms / 2`` after it arrived; TLS passes through as bytes.
Run directly, it is the child: ``python bench/delayproxy.py TARGET_PORT ONE_WAY_SECONDS``.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from leansink import Child


class DelayProxy(Child):
    def __init__(self, target_port: int, rtt_ms: float) -> None:
        self.target_port, self.rtt_ms = target_port, rtt_ms

    def argv(self) -> list[str]:
        return [__file__, str(self.target_port), str(self.rtt_ms / 2000)]


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
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

    task = asyncio.create_task(deliver())
    try:
        while data := await reader.read(1 << 16):
            queue.put_nowait((loop.time() + delay, data))
    except OSError:
        pass
    queue.put_nowait((loop.time() + delay, b""))
    try:
        await task
    except OSError:
        pass


async def _serve(target_port: int, delay: float) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(_pump(reader, up_writer, delay), _pump(up_reader, writer, delay))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1]), float(sys.argv[2])))
