"""A reverse proxy on 127.0.0.1 that can hold requests, for crash tests against a real server.

Everything is forwarded to ``target`` (long polls and uploads included). Requests that match
``matches(method, path)`` are numbered from 1 in arrival order; a number in ``lose`` is held
before it is forwarded (the server never sees it), a number in ``unanswered`` is forwarded and
its answer is held (the server did it, the client never hears). Held requests wait until the
client goes away (a killed bot) or :meth:`release` drops them. That is exactly the window a
crash leaves open: requests in flight that may or may not have arrived.

    with HoldingProxy(synapse.base_url, lambda m, p: m == "PUT" and "/send/" in p) as proxy:
        proxy.lose, proxy.unanswered = {2}, {3}
        ...  # point the bot at proxy.url, wait for proxy.held == 2, SIGKILL the bot
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import aiohttp
from aiohttp import web

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
        "content-encoding", "upgrade", "proxy-authorization", "te", "trailer"}


class HoldingProxy:
    def __init__(self, target: str, matches: Callable[[str, str], bool], *,
                 port: int = 0) -> None:
        self.target = target.rstrip("/")
        self.matches = matches
        self.lose: set[int] = set()
        self.unanswered: set[int] = set()
        #: matching requests seen, and how many are held right now
        self.seen = 0
        self.held = 0
        self.requests: list[tuple[int, str]] = []  # (number, path) of every matching request
        self.forwarded: list[tuple[int, str, int]] = []  # (number, path, status)
        #: 0: any free port (read it after start); else this one (a server that comes up late)
        self.port = port
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._release: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> HoldingProxy:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True,
                                        name="HoldingProxy")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("HoldingProxy did not start")
        return self

    def paths(self, numbers: set[int]) -> list[str]:
        """The paths of the matching requests with these numbers."""
        with self._lock:
            return [path for n, path in self.requests if n in numbers]

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def release(self) -> None:
        """Drop every held request (their clients get no answer) and hold nothing more."""
        with self._lock:
            self.lose, self.unanswered = set(), set()
        if self._loop is not None and self._release is not None:
            self._loop.call_soon_threadsafe(self._release.set)

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready))
        finally:
            loop.close()

    async def _serve(self, ready: threading.Event) -> None:
        self._stop = asyncio.Event()
        self._release = asyncio.Event()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None),
                                              auto_decompress=False)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True,
                               shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self.port = runner.addresses[0][1]
        ready.set()
        await self._stop.wait()
        await self._session.close()
        await runner.cleanup()

    async def _hold(self) -> None:
        assert self._release is not None
        with self._lock:
            self.held += 1
        try:
            await self._release.wait()
        finally:
            with self._lock:
                self.held -= 1

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        number = 0
        if self.matches(request.method, request.path):
            with self._lock:
                self.seen += 1
                number = self.seen
                self.requests.append((number, request.path))
                lose, unanswered = number in self.lose, number in self.unanswered
            if lose:
                await self._hold()
                raise web.HTTPServiceUnavailable()
        else:
            unanswered = False
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with self._session.request(request.method, self.target + request.path_qs,
                                         data=body or None, headers=headers) as upstream:
            payload = await upstream.read()
            status = upstream.status
            out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP}
        if number:
            with self._lock:
                self.forwarded.append((number, request.path, status))
        if unanswered:
            await self._hold()
            raise web.HTTPServiceUnavailable()
        return web.Response(status=status, body=payload, headers=out_headers)
