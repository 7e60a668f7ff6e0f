"""A lean HTTP layer for python-telegram-bot (issue 15: capacity).

PTB sends every Bot API call through httpx -> httpcore, which cost most of the bot's CPU under
load (its pool checks every connection for expiry on each request, and the layers build a lot
of objects per call). :class:`LeanRequest` is a :class:`telegram.request.BaseRequest`: PTB still
builds the call and reads the answer (status codes become ``RetryAfter``, ``BadRequest``,
``Forbidden``, ``NetworkError`` ... in ``BaseRequest.post``), only the HTTP is done here, as
keep-alive HTTP/1.1 over asyncio streams to the configured base URL (TLS for https).

- Connections: at most ``connections`` open, idle ones reused (newest first), dropped when the
  server closed them or after ``keepalive`` seconds idle; a request waits ``pool_timeout`` for a
  free one, then fails with ``TimedOut`` before anything was sent.
- Errors: a timeout while connecting or waiting for a connection -> ``TimedOut`` caused by
  :class:`NotSent` (the request never left); a read or write timeout -> ``TimedOut`` (it may have
  arrived); a refused or dropped connection -> ``NetworkError``. A connection is never reused
  after an error.
- Uploads (multipart: documents, photos) are rare: they go through PTB's own
  ``HTTPXRequest``, as do all calls when a proxy is configured in the environment.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest, RequestData

#: a response head larger than this is not the Bot API
MAX_HEAD = 64 * 1024
USER_AGENT = "Teamspiegel (python-telegram-bot)"


class NotSent(Exception):
    """The cause of a ``TimedOut`` whose request never left (connect or pool timeout)."""


class _Conn:
    __slots__ = ("reader", "writer", "idle_since")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def usable(self, now: float, keepalive: float) -> bool:
        return (not self.writer.is_closing() and not self.reader.at_eof()
                and not self.reader._buffer  # type: ignore[attr-defined]  # stray bytes
                and now - self.idle_since < keepalive)

    def close(self) -> None:
        self.writer.close()


def proxy_configured() -> bool:
    """True when the environment names a proxy (httpx, and so PTB's default, would use it)."""
    proxies = urllib.request.getproxies()
    return any(proxies.get(k) for k in ("https", "http", "all"))


class LeanRequest(BaseRequest):
    """Keep-alive HTTP/1.1 for the Bot API (see the module's docstring)."""

    def __init__(self, *, connections: int = 16, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0, media_write_timeout: float | None = 20.0,
                 keepalive: float = 5.0,
                 uploads: Callable[[], BaseRequest] | None = None) -> None:
        self._connections = connections
        self._read = read_timeout
        self._write = write_timeout
        self._connect = connect_timeout
        self._pool = pool_timeout
        self._keepalive = keepalive
        self._idle: list[_Conn] = []
        self._slots: asyncio.Semaphore | None = None
        self._uploads_factory = uploads or (lambda: HTTPXRequest(
            connection_pool_size=2, read_timeout=read_timeout, write_timeout=write_timeout,
            connect_timeout=connect_timeout, pool_timeout=pool_timeout,
            media_write_timeout=media_write_timeout))
        self._uploads: BaseRequest | None = None
        self._ssl: ssl.SSLContext | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._connections)

    async def shutdown(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        if self._uploads is not None:
            await self._uploads.shutdown()
            self._uploads = None

    # -- the request -------------------------------------------------------------------

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if request_data is not None and request_data.contains_files:
            if self._uploads is None:
                self._uploads = self._uploads_factory()
                await self._uploads.initialize()
            return await self._uploads.do_request(
                url, method, request_data, read_timeout=read_timeout,
                write_timeout=write_timeout, connect_timeout=connect_timeout,
                pool_timeout=pool_timeout)
        read = self._read if read_timeout is BaseRequest.DEFAULT_NONE else read_timeout
        write = self._write if write_timeout is BaseRequest.DEFAULT_NONE else write_timeout
        connect = self._connect if connect_timeout is BaseRequest.DEFAULT_NONE else connect_timeout
        pool = self._pool if pool_timeout is BaseRequest.DEFAULT_NONE else pool_timeout
        if self._slots is None:
            raise RuntimeError("LeanRequest is not initialized")
        parts = urlsplit(url)
        body = urlencode(request_data.json_parameters).encode() if request_data else b""
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        head = (f"{method} {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                f"User-Agent: {USER_AGENT}\r\nAccept: application/json\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
        try:
            if self._slots.locked():
                async with asyncio.timeout(pool):
                    await self._slots.acquire()
            else:
                await self._slots.acquire()
        except TimeoutError:
            raise TimedOut("Pool timeout: all connections are busy; the request was not sent"
                           ) from NotSent("pool")
        try:
            conn = await self._take(parts, connect)
            try:
                status, data, reuse = await self._exchange(conn, head + body, read, write)
            except BaseException:
                conn.close()
                raise
            if reuse:
                conn.idle_since = time.monotonic()
                self._idle.append(conn)
            else:
                conn.close()
            return status, data
        finally:
            self._slots.release()

    async def _take(self, parts: Any, timeout: float | None) -> _Conn:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if conn.usable(now, self._keepalive):
                return conn
            conn.close()
        https = parts.scheme == "https"
        host = parts.hostname or "localhost"
        port = parts.port or (443 if https else 80)
        if https and self._ssl is None:
            self._ssl = ssl.create_default_context()
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=self._ssl if https else None,
                    server_hostname=host if https else None, limit=MAX_HEAD)
        except TimeoutError:
            raise TimedOut("Connect timeout") from NotSent("connect")
        except OSError as exc:
            raise NetworkError(f"connect failed: {type(exc).__name__}: {exc}") from exc
        return _Conn(reader, writer)

    async def _exchange(self, conn: _Conn, request: bytes, read: float | None,
                        write: float | None) -> tuple[int, bytes, bool]:
        """Send the request, read the response: (status, body, whether to keep the
        connection)."""
        try:
            conn.writer.write(request)
            async with asyncio.timeout(write):
                await conn.writer.drain()
        except TimeoutError:
            raise TimedOut("Write timeout") from None
        except OSError as exc:
            raise NetworkError(f"send failed: {type(exc).__name__}") from exc
        try:
            async with asyncio.timeout(read):
                return await self._response(conn.reader)
        except TimeoutError:
            raise TimedOut("Read timeout") from None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError) as exc:
            raise NetworkError(f"connection dropped: {type(exc).__name__}") from exc

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        version, status_text = lines[0].split(" ", 2)[:2]
        status = int(status_text)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")  # no trailers from the Bot API
                    break
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            return status, b"".join(chunks), keep
        length = headers.get("content-length")
        if length is not None:
            return status, await reader.readexactly(int(length)), keep
        return status, await reader.read(), False  # until the server closes
