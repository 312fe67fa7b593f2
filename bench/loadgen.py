"""A small asyncio load generator: HTTP/1.1 requests and SSE readers.

It speaks just enough HTTP for the benchmark (Content-Length and chunked
bodies); event streams are read over HTTP/1.0, so their bodies end with the
connection and need no chunk decoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class HttpConnection:
    """One keep-alive connection that sends requests one after another."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.headers = headers or {}
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def request(
        self, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, bytes]:
        if self.writer is None:
            await self._connect()
        if self.reader is None or self.writer is None:
            raise ConnectionError("not connected")
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        status_line = await self.reader.readline()
        if not status_line:
            await self.close()
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split()[1])
        length, chunked, close = None, False, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and value == "close":
                close = True
        if status in (204, 304) or method == "HEAD":
            data = b""
        elif chunked:
            parts = []
            while True:
                size = int((await self.reader.readline()).strip() or b"0", 16)
                if size == 0:
                    await self.reader.readline()
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readline()
            data = b"".join(parts)
        elif length is not None:
            data = await self.reader.readexactly(length)
        else:
            data = await self.reader.read()
            close = True
        if close:
            await self.close()
        return status, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None


@dataclass
class SseStream:
    """An open event stream that reports each event with its arrival time."""

    port: int
    path: str
    headers: dict[str, str]
    on_event: Callable[[str, str, float], None]
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    writer: asyncio.StreamWriter | None = None

    def start(self) -> SseStream:
        self.task = asyncio.ensure_future(self._run())
        return self

    async def _run(self) -> None:
        reader, self.writer = await asyncio.open_connection(
            "127.0.0.1", self.port, limit=1 << 20
        )
        lines = [f"GET {self.path} HTTP/1.0", f"Host: 127.0.0.1:{self.port}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        status = await reader.readline()
        if b" 200 " not in status:
            raise ConnectionError(f"stream refused: {status!r}")
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass
        kind, data = "message", []
        while True:
            raw = await reader.readline()
            if not raw:
                return
            line = raw.rstrip(b"\r\n").decode()
            if line:
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "event":
                    kind = value
                elif name == "data":
                    data.append(value)
                continue
            arrived = time.perf_counter()
            if kind in ("stream-open", "open"):
                self.opened.set()
            self.on_event(kind, "\n".join(data), arrived)
            kind, data = "message", []

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task


async def open_streams(streams: list[SseStream], timeout: float = 120) -> None:
    """Start the streams a few at a time and wait until all are open."""
    for index, stream in enumerate(streams):
        stream.start()
        if index % 50 == 49:
            await asyncio.sleep(0.05)
    await asyncio.wait_for(
        asyncio.gather(*(stream.opened.wait() for stream in streams)), timeout
    )


async def close_streams(streams: list[SseStream]) -> None:
    await asyncio.gather(*(stream.close() for stream in streams))


def field_of(data: str, name: str) -> object:
    try:
        return json.loads(data).get(name)
    except (ValueError, AttributeError):
        return None
