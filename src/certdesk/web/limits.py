"""A cap on request bodies, enforced while they stream in.

A declared Content-Length over the cap is refused before any of the body is
read; a chunked body is counted as it arrives and cut off at the cap, so an
upload never has to fit in memory to be refused. The overflow is raised as
`TooLarge` inside the app, whose handlers answer 413 in the page's or the
API's own form; only if nothing answered does this answer itself.
"""

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from certdesk.errors import TooLarge


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        declared = dict(scope["headers"]).get(b"content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return

        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise TooLarge(self.message())
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except TooLarge:
            if not started:
                await self._refuse(send)

    def message(self) -> str:
        limit = self.max_bytes / (1024 * 1024)
        return (
            f"the request is larger than the {limit:g} MiB limit; send fewer or "
            "smaller files, or raise max_upload_mib under [web] in certdesk.toml"
        )

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"error": self.message(), "status": 413}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
