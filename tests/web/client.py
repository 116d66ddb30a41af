"""Requests straight into the ASGI app, as uvicorn would hand them over (no HTTP client library needed).

``path`` is the raw request target: percent-escapes are decoded into ``scope["path"]`` the
way uvicorn does, so ``/files/..%2F..%2Fetc%2Fpasswd`` reaches the app as uvicorn gives it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import unquote


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def get(app, target: str) -> Answer:
    raw_path, _, query = target.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": unquote(raw_path), "raw_path": raw_path.encode("latin-1"), "query_string": query.encode("latin-1"),
        "root_path": "", "headers": [(b"host", b"testserver")], "server": ("testserver", 80),
        "client": ("127.0.0.1", 5000), "state": {},
    }
    sent: list[dict] = []

    async def run() -> None:
        done = asyncio.Event()
        first = True

        async def receive() -> dict:
            nonlocal first
            if first:
                first = False
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                done.set()

        await app(scope, receive, send)

    asyncio.run(run())
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
    return Answer(start["status"], headers, body)
