"""A bound on every HTTP request's body, whatever it holds.

Gradio's `max_file_size` bounds each uploaded file, not a request: five 25 MB files in one upload
were accepted. The app's widgets send one picture or one design per request, so a request body may
hold one largest file and its multipart framing, no more. A declared Content-Length over the bound
is refused before anything is read; a body sent without one (chunked) is cut off once it passes
the bound. Either way the client gets 413 with a plain-text reason.
"""
from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MEGABYTE = 1024 * 1024
MAX_FILE_MB = 25  # the largest picture or design file (Gradio's max_file_size)
MAX_BODY_BYTES = (MAX_FILE_MB + 1) * MEGABYTE  # one such file plus its multipart framing
TOO_LARGE = f"Request body over {MAX_FILE_MB + 1} MB: upload one file of at most {MAX_FILE_MB} MB at a time.".encode()


async def refuse(send: Send) -> None:
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(TOO_LARGE)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": TOO_LARGE})


class BodyLimit:
    """ASGI middleware: 413 for any request whose body is longer than `limit` bytes."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await refuse(send)
            return
        received, over, started = 0, False, False

        async def counted_receive() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    over = True
                    return {"type": "http.disconnect"}  # the app stops reading; we answer below
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:
                return  # the app's answer to a body it never fully had
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not over:
                raise  # a real error: not ours to hide
        if over and not started:
            await refuse(send)
