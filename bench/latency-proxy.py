#!/usr/bin/env python3
"""TCP proxy on loopback that delays every byte by DELAY ms in each direction, without capping
bandwidth (chunks are queued with a due time, so a window of data is always in flight) — the
round-trip cost of clusters that are not on one host.

usage: latency-proxy.py LISTEN_PORT TARGET_PORT DELAY_MS   (runs until killed)
"""
import asyncio, sys, time

async def pump(reader, writer, delay):
    q = asyncio.Queue()
    async def deliver():
        while True:
            due, data = await q.get()
            if data is None:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        try:
            writer.write_eof()
        except OSError:
            pass
    task = asyncio.ensure_future(deliver())
    try:
        while True:
            data = await reader.read(256 * 1024)
            await q.put((time.monotonic() + delay, data or None))
            if not data:
                break
    except (ConnectionError, OSError):
        await q.put((0, None))
    await task

async def handle(creader, cwriter, target, delay):
    try:
        ureader, uwriter = await asyncio.open_connection("127.0.0.1", target)
    except OSError:
        cwriter.close(); return
    await asyncio.gather(pump(creader, uwriter, delay), pump(ureader, cwriter, delay), return_exceptions=True)
    for w in (cwriter, uwriter):
        try: w.close()
        except OSError: pass

async def main():
    listen, target, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000
    server = await asyncio.start_server(lambda r, w: handle(r, w, target, delay), "127.0.0.1", listen)
    async with server:
        await server.serve_forever()

asyncio.run(main())
